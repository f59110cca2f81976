"""The MQTT endpoint starts and stops with the runtime: a taken port is a clear error, and a
stop lets a publish being stored finish (its PUBACK included) before closing connections."""

from __future__ import annotations

import socket
import sqlite3
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from iot_pipeline_backend.adapters.local import DATABASE_FILE
from iot_pipeline_backend.cli import main
from iot_pipeline_backend.errors import SettingsError
from iot_pipeline_backend.local.runtime import LocalPipeline

from .conftest import WAIT_S, connect
from .test_publish import SENSORS, _raw


def test_given_a_taken_mqtt_port_then_the_start_fails_naming_mqtt(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        pipeline = LocalPipeline(data_dir=tmp_path, port=0, mqtt_port=port)
        with pytest.raises(SettingsError, match=f"MQTT on 127.0.0.1:{port}"):
            pipeline.start()
        result = CliRunner().invoke(
            main, ["local", "--port", "0", "--mqtt-port", str(port), "--data-dir", str(tmp_path)]
        )
    assert result.exit_code == 2 and "MQTT" in result.output
    assert not (tmp_path / "endpoint").exists()


def test_given_a_publish_being_stored_when_stopping_then_it_is_acknowledged_first(
    tmp_path: Path,
) -> None:
    pipeline = LocalPipeline(data_dir=tmp_path, port=0, mqtt_port=0, poll_queue=False)
    pipeline.start()
    assert pipeline.mqtt is not None
    authority = pipeline.mqtt.authority
    device = connect(
        pipeline.mqtt.port,
        authority.add_device("late-1"),
        ca=authority.ca_certificate_path,
        client_id="late-1",
    )
    idle = connect(
        pipeline.mqtt.port,
        authority.add_device("idle-1"),
        ca=authority.ca_certificate_path,
        client_id="idle-1",
    )
    acked = threading.Event()
    device.client.on_publish = lambda *args: acked.set()
    blocker = sqlite3.connect(tmp_path / DATABASE_FILE, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    stopper: threading.Thread | None = None
    try:
        device.publish(
            "iot-pipeline/late-1/readings",
            {"device_id": "late-1", "reading_id": "last", "sensor_data": SENSORS},
        )
        assert not acked.wait(0.3)
        stopper = threading.Thread(target=pipeline.stop)
        stopper.start()
        assert idle.disconnected.wait(WAIT_S)  # idle connections are closed at once
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert acked.wait(WAIT_S)
    assert stopper is not None
    stopper.join(WAIT_S)
    assert not stopper.is_alive()
    assert device.disconnected.wait(WAIT_S)
    for client in (device, idle):
        client.close()
    assert [r.reading_id for r in _raw(tmp_path, "late-1")] == ["last"]
    assert not (tmp_path / "mqtt" / "endpoint").exists()
