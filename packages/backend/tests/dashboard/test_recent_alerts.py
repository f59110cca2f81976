"""alerts.jsonl read from its end: the newest alerts, whole lines only."""

from __future__ import annotations

from pathlib import Path

import pytest
from iot_pipeline_backend.adapters.local import files
from iot_pipeline_backend.adapters.local.files import JsonLinesAlertSink
from iot_pipeline_backend.ports import Alert


def _publish(sink: JsonLinesAlertSink, count: int) -> None:
    for n in range(count):
        sink.publish_alert(Alert(subject=f"alert {n}", message="m" * 50, kind="alert_rule"))


@pytest.mark.parametrize("window", [16, 100, 64 * 1024])
def test_recent_alerts_are_the_newest_first_whatever_the_read_window(
    tmp_path: Path, window: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a file much larger than the first window read (so lines are cut at its start)
    monkeypatch.setattr(files, "RECENT_ALERTS_WINDOW_BYTES", window)
    sink = JsonLinesAlertSink(tmp_path / "alerts.jsonl")
    _publish(sink, 30)
    # THEN the last ones come back whole, newest first, and the same as a full read
    recent = sink.recent_alerts(5)
    assert [a["subject"] for a in recent] == [f"alert {n}" for n in (29, 28, 27, 26, 25)]
    assert recent == list(reversed(sink.read_alerts()))[:5]
    assert len(sink.recent_alerts(100)) == 30


def test_a_line_still_being_written_is_left_out(tmp_path: Path) -> None:
    sink = JsonLinesAlertSink(tmp_path / "alerts.jsonl")
    _publish(sink, 2)
    with sink.path.open("a") as out:
        out.write('{"subject": "half')
    assert [a["subject"] for a in sink.recent_alerts(5)] == ["alert 1", "alert 0"]


def test_no_file_means_no_alerts(tmp_path: Path) -> None:
    assert JsonLinesAlertSink(tmp_path / "alerts.jsonl").recent_alerts(5) == []
