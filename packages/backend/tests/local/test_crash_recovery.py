"""kill -9 and restart: nothing acknowledged is lost, unfinished queue work is redelivered,
and every reading ends up exactly once in raw and processed."""

from __future__ import annotations

import json
import time
from pathlib import Path

from iot_pipeline_backend.adapters.local import LocalAdapters
from iot_pipeline_backend.local.testing import running_pipeline_process
from iot_pipeline_common import limits

from .conftest import signed_http_for

DEVICES = ("crash-a", "crash-b")
REQUESTS_PER_DEVICE = 6
READINGS_PER_REQUEST = 20


def _processed_ids(data_dir: Path) -> list[str]:
    adapters = LocalAdapters.open(data_dir)
    try:
        return [
            record.reading_id
            for device in DEVICES
            for record in adapters.processed.query_processed(
                device_id=device,
                start_ms=0,
                end_ms=limits.TIMESTAMP_MAX_MS,
                limit=1000,
                descending=False,
                after_sk=None,
            ).records
        ]
    finally:
        adapters.close()


def _queue_depth(data_dir: Path) -> int:
    adapters = LocalAdapters.open(data_dir)
    try:
        return adapters.queue.depth()
    finally:
        adapters.close()


def test_given_sigkill_while_batches_are_in_flight_when_restarted_then_nothing_lost(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    # GIVEN a poller that holds its batch open for a while (a batching window), so the
    # kill lands while received messages are in flight and not yet processed
    (data_dir / "config.json").write_text(
        json.dumps({"batch_size": 10_000, "batching_window_seconds": 20, "processing_timeout": 2})
    )
    acknowledged: set[str] = set()
    with running_pipeline_process(data_dir=data_dir) as first:
        http = signed_http_for(first)
        for request in range(REQUESTS_PER_DEVICE):
            for device in DEVICES:
                readings = [
                    {
                        "device_id": device,
                        "reading_id": f"{device}-{request}-{n}",
                        "timestamp": 1_705_314_600_000 + request * 1000 + n,
                        "sensor_data": {"temperature": 21.5, "humidity": 40},
                    }
                    for n in range(READINGS_PER_REQUEST)
                ]
                response = http.ingest({"readings": readings})
                assert response.status_code == 200, response.text
                acknowledged.update(item["reading_id"] for item in response.json()["items"])
        # WHEN the process is killed with SIGKILL (no cleanup at all)
        first.kill()
    # THEN the work was unfinished at the kill: messages queued, nothing processed yet
    assert _queue_depth(data_dir) > 0
    assert _processed_ids(data_dir) == []
    # WHEN it restarts (config edited: no batching window) on the same data dir
    (data_dir / "config.json").write_text(json.dumps({"processing_timeout": 2}))
    with running_pipeline_process(data_dir=data_dir) as second:
        http = signed_http_for(second)
        deadline = time.monotonic() + 60
        processed: list[str] = []
        while time.monotonic() < deadline:
            processed = [
                item["reading_id"]
                for device in DEVICES
                for item in http.query_all(device_id=device)
            ]
            if len(processed) >= len(acknowledged):
                break
            time.sleep(0.2)
        raw = [
            item["reading_id"]
            for device in DEVICES
            for item in http.query_all(device_id=device, table="raw")
        ]
    # THEN every acknowledged reading is in raw and processed, exactly once each
    expected = len(DEVICES) * REQUESTS_PER_DEVICE * READINGS_PER_REQUEST
    assert len(acknowledged) == expected
    assert sorted(raw) == sorted(acknowledged)
    assert sorted(processed) == sorted(acknowledged)
    assert _queue_depth(data_dir) == 0
