"""``iot-pipeline demo``: a short run ends with a summary and exit code 0."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner
from iot_pipeline_backend.cli import main


def test_given_two_devices_for_a_second_then_every_acknowledged_reading_is_processed(
    tmp_path: Path,
) -> None:
    result = CliRunner().invoke(
        main, ["demo", "--devices", "2", "--duration", "1", "--data-dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    counts = dict(re.findall(r"^  (\w+)\s+(\d+)$", result.output, flags=re.MULTILINE))
    assert int(counts["acknowledged"]) > 0
    assert counts["processed"] == counts["acknowledged"]
    assert counts["missing"] == "0"
    assert '"status": "processed"' in result.output
    assert "OK: every acknowledged reading was processed" in result.output
