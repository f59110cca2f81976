"""``iot-pipeline local`` runs the poller and processor in a child process: it lives and dies
with the runtime, and one that exits is replaced without losing what was queued."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import psutil
import pytest
from iot_pipeline_backend.local.testing import PipelineProcess, running_pipeline_process

from .conftest import signed_http_for

T0 = 1_705_314_600_000


def _processor_pid(runtime: PipelineProcess, *, other_than: int | None = None) -> int:
    """The runtime's processor child, waited for (a replacement starts after a delay)."""
    give_up = time.monotonic() + 30
    while time.monotonic() < give_up:
        for child in psutil.Process(runtime.process.pid).children():
            try:
                command = " ".join(child.cmdline())
            except psutil.NoSuchProcess:
                continue
            if "processor_process" in command and child.pid != other_than:
                return child.pid
        time.sleep(0.05)
    raise AssertionError("no processor process under the runtime")


def _ingest(runtime: PipelineProcess, device: str, count: int) -> None:
    http = signed_http_for(runtime)
    readings = [
        {
            "device_id": device,
            "reading_id": f"{device}-{n}",
            "timestamp": T0 + n,
            "sensor_data": {"temperature": 20.5, "humidity": 40},
        }
        for n in range(count)
    ]
    response = http.ingest({"readings": readings})
    assert response.status_code == 200, response.text


def _processed(runtime: PipelineProcess, device: str, count: int) -> int:
    http = signed_http_for(runtime)
    give_up = time.monotonic() + 30
    found: list[object] = []
    while time.monotonic() < give_up:
        found = list(http.query_all(device_id=device))
        if len(found) >= count:
            break
        time.sleep(0.05)
    return len(found)


def test_given_the_runtime_sigkilled_then_its_processor_process_dies_with_it(
    tmp_path: Path,
) -> None:
    # GIVEN a running runtime that has processed a batch in its processor process
    with running_pipeline_process(data_dir=tmp_path / "data") as runtime:
        _ingest(runtime, "dev-a", 5)
        assert _processed(runtime, "dev-a", 5) == 5
        child = psutil.Process(_processor_pid(runtime))
        # WHEN the runtime is killed with SIGKILL (no cleanup of its own)
        runtime.kill()
        # THEN the processor process is gone too: nothing keeps writing to the data dir
        child.wait(timeout=10)
        assert not child.is_running()


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_given_the_processor_process_stopped_then_a_new_one_processes_what_is_queued(
    tmp_path: Path, how: signal.Signals
) -> None:
    with running_pipeline_process(data_dir=tmp_path / "data") as runtime:
        _ingest(runtime, "dev-a", 3)
        assert _processed(runtime, "dev-a", 3) == 3
        first = _processor_pid(runtime)
        # WHEN the processor process ends on its own (killed, or told to stop)
        # One handle: after SIGKILL the runtime may reap the process before a second
        # psutil.Process(first) is made, which then raises NoSuchProcess (seen in a full run).
        process = psutil.Process(first)
        process.send_signal(how)
        process.wait(timeout=30)
        # AND readings are ingested while none runs
        _ingest(runtime, "dev-b", 4)
        # THEN the runtime starts another, which processes them
        second = _processor_pid(runtime, other_than=first)
        assert second != first
        assert _processed(runtime, "dev-b", 4) == 4
        # AND the runtime still stops cleanly, taking the new one with it
        assert runtime.terminate() == 0
        assert not psutil.pid_exists(second) or psutil.Process(second).status() == "zombie"


def test_given_an_embedded_runtime_with_a_processor_process_then_wait_idle_means_processed(
    tmp_path: Path,
) -> None:
    from iot_pipeline_backend.local.runtime import LocalPipeline

    pipeline = LocalPipeline(data_dir=tmp_path / "data", port=0, processor_process=True)
    pipeline.start()
    try:
        http = signed_http_for(
            SimpleNamespace(
                endpoint=pipeline.endpoint,
                region=pipeline.region,
                access_key=pipeline.credentials.access_key,
                secret_key=pipeline.credentials.secret_key,
            )
        )
        readings = [
            {
                "device_id": "dev-e",
                "reading_id": f"e-{n}",
                "timestamp": T0 + n,
                "sensor_data": {"temperature": 21.0},
            }
            for n in range(7)
        ]
        assert http.ingest({"readings": readings}).status_code == 200
        # WHEN waiting for the runtime to be idle
        assert pipeline.wait_idle(30)
        # THEN every reading is processed, by the child (the runtime runs no poller thread)
        assert len(list(http.query_all(device_id="dev-e"))) == 7
        assert not any(t.name.startswith("iot-pipeline-poller") for t in threading.enumerate())
    finally:
        pipeline.stop()
