"""The dashboard in a real browser: what a person opening the printed URL sees.

A runtime in a child process (``iot-pipeline local`` as a user starts it), devices sending
through the SDK (one too hot, which trips an alert rule), and headless Chromium driven over
the DevTools protocol. Set ``IOT_PIPELINE_DASHBOARD_SCREENSHOT=docs/dashboard.png`` to keep
a screenshot of the page.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from iot_pipeline_backend.dashboard import DASHBOARD_TOKEN_FILE
from iot_pipeline_backend.local.testing import PipelineProcess, running_pipeline_process

from .chromium import Chromium, find_chromium
from .conftest import sdk_for

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="the dashboard's browser test needs Chromium: apt-get install -y chromium "
    "(Debian/Ubuntu; .ci/run installs it when it can)",
)

#: Any pixel of the chart with some opacity: uPlot draws lines on a transparent canvas.
_DRAWN_PIXELS = """(() => {
  const canvas = document.querySelector('#chart canvas');
  if (!canvas || canvas.width === 0) return 0;
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let drawn = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) drawn++;
  return drawn;
})()"""


def _cell(device: str, column: str) -> str:
    """The text a person reads in the device's row under the column headed ``column``."""
    return (
        "(() => { const heads = [...document.querySelectorAll('#devices thead th')]"
        f".map(th => th.textContent); const row = document.querySelector("
        f"'#devices tr[data-device=\"{device}\"]'); return row ? "
        f"row.children[heads.indexOf({json.dumps(column)})].textContent : ''; }})()"
    )


def _type_filter(browser: Chromium, text: str) -> None:
    browser.evaluate(
        f"{{ const box = document.querySelector('#device-filter'); box.value = {json.dumps(text)};"
        " box.dispatchEvent(new Event('input')); }"
    )


@pytest.fixture
def runtime(data_dir: Path) -> Iterator[PipelineProcess]:
    with running_pipeline_process(data_dir=data_dir) as process:
        yield process


def _greenhouse(now: int) -> list[dict[str, object]]:
    readings: list[dict[str, object]] = []
    for n, device in enumerate(("greenhouse-1", "greenhouse-2", "cellar-7")):
        for age in range(40, -1, -1):
            readings.append(
                {
                    "device_id": device,
                    "timestamp": now - 60_000 * age,
                    "sensor_data": {
                        "temperature": round(18.0 + n * 2 + (age % 12) * 0.4, 1),
                        "humidity": 55.0 - n * 5,
                        "pressure": 1012.0,
                    },
                }
            )
    return readings


def test_a_person_with_the_url_sees_the_fleet_move_and_without_it_sees_nothing(
    runtime: PipelineProcess,
) -> None:
    assert CHROMIUM is not None
    origin = runtime.endpoint.removesuffix("/prod")
    token = (runtime.data_dir / DASHBOARD_TOKEN_FILE).read_text()
    now = int(time.time() * 1000)
    with sdk_for(runtime) as sdk:
        # GIVEN three devices reporting for 40 minutes, and one reading too hot
        sdk.ingest_batch(_greenhouse(now))
        hot = {"temperature": 55.2, "humidity": 41.0, "pressure": 1011.0}
        sdk.ingest_batch([{"device_id": "greenhouse-2", "timestamp": now + 1, "sensor_data": hot}])
        with Chromium(CHROMIUM) as browser:
            # WHEN someone opens the dashboard without the token THEN 401 and no data
            browser.open(f"{origin}/dashboard")
            text = browser.evaluate("document.body.innerText")
            assert "401 Unauthorized" in text
            assert "greenhouse" not in text

            # WHEN they open the printed URL
            browser.open(f"{origin}/dashboard?token={token}")
            # THEN the token is gone from the address bar (a cookie holds it)
            assert browser.evaluate("location.href") == f"{origin}/dashboard"
            # AND the devices are listed with their latest values and status
            browser.wait_for("document.querySelectorAll('#devices tbody tr').length === 3")
            assert browser.wait_for(_cell("greenhouse-2", "temperature")) == "55.2"
            assert "anomaly" in browser.evaluate(_cell("greenhouse-2", "status"))
            assert browser.evaluate(_cell("greenhouse-1", "humidity")) == "55.0"
            assert browser.evaluate(_cell("greenhouse-1", "readings")) == "41"
            # AND the alert rule's alert is shown
            browser.wait_for(
                "document.querySelector('#alerts')?.innerText.includes('too-hot: greenhouse-2')"
            )
            # AND a chart is drawn for the selected device
            assert browser.wait_for(_DRAWN_PIXELS) > 500
            assert browser.evaluate("document.querySelector('#chart-device').textContent") in (
                "cellar-7",
                "greenhouse-1",
                "greenhouse-2",
            )
            # AND the figures show what was stored
            browser.wait_for("document.querySelector('#readings-stored').textContent === '124'")
            assert browser.evaluate("document.querySelector('#dlq-size').textContent") == "0"

            # WHEN a new device reports while the page is open THEN it appears without a reload
            browser.evaluate("window.notReloaded = true")
            new = {"temperature": 12.3, "humidity": 70.0}
            sdk.ingest_batch([{"device_id": "shed-9", "sensor_data": new}])
            assert browser.wait_for(_cell("shed-9", "temperature"), timeout=10) == "12.3"
            assert browser.evaluate("window.notReloaded") is True

            # AND its chart, of one bucket, spans the chosen hour (not an arbitrary stretch)
            browser.evaluate(
                "document.querySelector('#devices tr[data-device=\"shed-9\"]').click()"
            )
            browser.wait_for("document.querySelector('#chart-device').textContent === 'shed-9'")
            span = "state.chart.scales.x.max - state.chart.scales.x.min"
            assert 3500 < browser.wait_for(f"state.chartKey.startsWith('shed-9') && {span}") < 3700

            # AND the filter box narrows the table
            _type_filter(browser, "green")
            rows = "[...document.querySelectorAll('#devices tbody tr')].map(r => r.dataset.device)"
            assert browser.wait_for(f"{rows}.length === 2 && {rows}")

            screenshot = os.environ.get("IOT_PIPELINE_DASHBOARD_SCREENSHOT")
            if screenshot:
                _type_filter(browser, "")
                browser.evaluate(
                    "document.querySelector('#devices tr[data-device=\"greenhouse-2\"]').click()"
                )
                browser.wait_for(_DRAWN_PIXELS)
                time.sleep(1.5)
                browser.screenshot(Path(screenshot))
