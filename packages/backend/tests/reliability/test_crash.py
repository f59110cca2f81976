"""SIGKILL under load: the local runtime (a child process) is killed three times while devices
send signed batches without pause, and restarted on the same data directory each time.

Devices behave as real ones do: a batch that got no ``200`` (connection reset by the kill, a
``503``) is sent again with the same reading ids. Afterwards every acknowledged reading is in
the raw table exactly once and in the processed table exactly once, and nothing else is.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import requests
from iot_pipeline_backend.local.testing import PipelineProcess, running_pipeline_process

from .conftest import JSON_HEADERS, BotocoreSigV4, store_counts, stored_reading_ids

KILLS = 3
DEVICES = 2
READINGS_PER_BATCH = 5
#: Each round lasts until the devices got this many batches acknowledged (or the deadline).
BATCHES_PER_ROUND = 6
ROUND_DEADLINE_SECONDS = 30
DRAIN_DEADLINE_SECONDS = 60
PROCESSING_TIMEOUT_SECONDS = 3


class SteadyDevice(threading.Thread):
    """Sends batches back to back to whatever runtime is up; retries a batch until a 200."""

    def __init__(self, device_id: str) -> None:
        super().__init__(name=f"device-{device_id}", daemon=True)
        self.device_id = device_id
        self.acknowledged: list[str] = []
        self.unexpected: list[str] = []
        self.retries = 0
        self._target: tuple[str, requests.Session] | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    def point_at(self, process: PipelineProcess | None) -> None:
        """Send to ``process`` from now on (``None``: it is down, wait)."""
        session = None
        if process is not None:
            session = requests.Session()
            session.auth = BotocoreSigV4(
                access_key=process.access_key,
                secret_key=process.secret_key,
                region=process.region,
            )
        with self._lock:
            self._target = None if process is None else (process.endpoint, session)  # type: ignore[assignment]

    def stop(self) -> None:
        """Stop after the batch in hand is acknowledged (so every sent reading is acked)."""
        self._stopping.set()

    def acked_batches(self) -> int:
        return len(self.acknowledged) // READINGS_PER_BATCH

    def run(self) -> None:
        sequence = 0
        batch: list[dict[str, object]] = []
        while True:
            if not batch:
                if self._stopping.is_set():
                    return
                batch = [
                    {
                        "device_id": self.device_id,
                        "reading_id": f"{self.device_id}-{sequence + n}",
                        "seq": sequence + n,
                        "sensor_data": {"temperature": 20 + n / 10, "humidity": 45},
                    }
                    for n in range(READINGS_PER_BATCH)
                ]
                sequence += READINGS_PER_BATCH
            with self._lock:
                target = self._target
            if target is None:
                time.sleep(0.02)
                continue
            endpoint, session = target
            try:
                response = session.post(
                    endpoint + "/ingest",
                    json={"readings": batch},
                    headers=JSON_HEADERS,
                    timeout=10,
                )
            except requests.RequestException:
                self.retries += 1  # the runtime went away mid-request: send it again
                time.sleep(0.02)
                continue
            if response.status_code == 200:
                self.acknowledged += [item["reading_id"] for item in response.json()["items"]]
                batch = []
            elif response.status_code in (502, 503):
                self.retries += 1
            else:
                self.unexpected.append(f"{response.status_code} {response.text[:200]}")
                batch = []


def _wait_for(condition: object, *, seconds: float, what: str) -> None:
    give_up = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < give_up, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_given_steady_signed_load_when_sigkilled_three_times_then_every_ack_is_stored_once(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    # A short visibility timeout: batches in flight at a kill are redelivered within seconds
    # of the restart instead of 30 s (the test would only take longer, not differ).
    (data_dir / "config.json").write_text(
        json.dumps({"processing_timeout": PROCESSING_TIMEOUT_SECONDS})
    )
    devices = [SteadyDevice(f"crash-{n}") for n in range(DEVICES)]
    for device in devices:
        device.start()
    acked_at_kill: list[int] = []

    # GIVEN devices sending without pause WHEN the runtime is SIGKILLed mid-load, three times
    for _ in range(KILLS):
        with running_pipeline_process(data_dir=data_dir) as runtime:
            start = sum(d.acked_batches() for d in devices)
            for device in devices:
                device.point_at(runtime)
            _wait_for(
                lambda start=start: (
                    sum(d.acked_batches() for d in devices) >= start + BATCHES_PER_ROUND
                ),
                seconds=ROUND_DEADLINE_SECONDS,
                what="load on the runtime",
            )
            runtime.kill()
            for device in devices:
                device.point_at(None)
            acked_at_kill.append(sum(len(d.acknowledged) for d in devices))

    # WHEN it restarts a last time and the devices finish the batches they hold
    with running_pipeline_process(data_dir=data_dir) as runtime:
        for device in devices:
            device.point_at(runtime)
            device.stop()
        for device in devices:
            device.join(ROUND_DEADLINE_SECONDS)
            assert not device.is_alive(), "a device could not get its last batch acknowledged"

        def drained() -> bool:
            counts = store_counts(data_dir)
            return counts.queue == 0 and counts.processed >= counts.raw

        _wait_for(drained, seconds=DRAIN_DEADLINE_SECONDS, what="the queue to drain")

    # THEN the load was steady across the kills, with requests cut off by them
    assert all(not d.unexpected for d in devices), [d.unexpected for d in devices]
    assert acked_at_kill == sorted(set(acked_at_kill)), "a round acknowledged nothing"
    assert sum(d.retries for d in devices) >= 1, "no request ever failed against a killed runtime"
    # AND every acknowledged reading is in raw and processed exactly once, nothing else is
    acknowledged = sorted(r for d in devices for r in d.acknowledged)
    assert len(acknowledged) == len(set(acknowledged))
    assert sorted(stored_reading_ids(data_dir, "raw")) == acknowledged
    assert sorted(stored_reading_ids(data_dir, "processed")) == acknowledged
    counts = store_counts(data_dir)
    assert (counts.queue, counts.dlq) == (0, 0)
