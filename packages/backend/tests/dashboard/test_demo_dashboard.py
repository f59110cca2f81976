"""``iot-pipeline demo`` prints the dashboard URL and, when asked, keeps the pipeline up."""

from __future__ import annotations

from pathlib import Path

import httpx
from iot_pipeline_backend.local.demo import run_demo
from iot_pipeline_backend.local.testing import RunningPipeline


def test_with_keep_running_the_dashboard_shows_the_demo_devices_until_stopped(
    tmp_path: Path,
) -> None:
    printed: list[str] = []
    seen: list[set[str]] = []

    def look_at_the_dashboard(pipeline: RunningPipeline) -> None:
        # The URL as printed, opened as a browser would (the redirect sets the cookie).
        url = next(line.split()[-1] for line in printed if line.startswith("dashboard: "))
        assert url == pipeline.dashboard_url
        with httpx.Client(follow_redirects=True, timeout=10) as browser:
            assert browser.get(url).status_code == 200
            devices = browser.get(url.split("?")[0] + "/api/devices").json()["devices"]
        seen.append({d["device_id"] for d in devices})

    ok = run_demo(
        devices=2,
        duration=0.5,
        data_dir=tmp_path,
        echo=printed.append,
        keep_running=True,
        wait_for_stop=look_at_the_dashboard,
    )
    assert ok
    assert seen == [{"demo-device-000", "demo-device-001"}]
    assert any("keeps running" in line for line in printed)
    assert "Ctrl-C stops it." in printed
