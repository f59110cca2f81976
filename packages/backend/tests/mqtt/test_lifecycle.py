"""The MQTT endpoint starts and stops with the runtime: a taken port is a clear error, and a
stop lets a publish being stored finish (its PUBACK included) before closing connections."""

from __future__ import annotations

import socket
import sqlite3
import ssl
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from iot_pipeline_backend.adapters.local import DATABASE_FILE
from iot_pipeline_backend.cli import main
from iot_pipeline_backend.errors import SettingsError
from iot_pipeline_backend.local.runtime import LocalPipeline

from .conftest import WAIT_S, MqttPipeline, connect
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


def _tls_device_socket(running: MqttPipeline, name: str) -> ssl.SSLSocket:
    credentials = running.add_device(name)
    context = ssl.create_default_context(cafile=str(credentials.ca))
    context.load_cert_chain(str(credentials.certificate), str(credentials.private_key))
    raw = socket.create_connection(("127.0.0.1", running.port), timeout=WAIT_S)
    return context.wrap_socket(raw, server_hostname="localhost")


def _connect_packet(client_id: str, *, keep_alive: int) -> bytes:
    # CONNECT, MQTT 3.1.1, clean session (written out here: the test's own oracle).
    name = client_id.encode()
    variable = b"\x00\x04MQTT\x04\x02" + keep_alive.to_bytes(2, "big")
    payload = len(name).to_bytes(2, "big") + name
    body = variable + payload
    return b"\x10" + bytes([len(body)]) + body


def _read_until_closed(tls: ssl.SSLSocket) -> bytes:
    received = b""
    try:
        while chunk := tls.recv(64):
            received += chunk
    except (ssl.SSLError, ConnectionError):
        pass
    return received


def test_given_a_silent_device_then_its_keep_alive_ends_the_connection(
    mqtt_pipeline: MqttPipeline,
) -> None:
    with _tls_device_socket(mqtt_pipeline, "quiet-1") as tls:
        tls.sendall(_connect_packet("quiet-1", keep_alive=1))
        # CONNACK accepted, then silence for 1.5 keep-alives closes it.
        assert _read_until_closed(tls) == b"\x20\x02\x00\x00"


def test_given_garbage_after_connect_then_that_connection_ends_and_others_go_on(
    mqtt_pipeline: MqttPipeline,
) -> None:
    with _tls_device_socket(mqtt_pipeline, "noisy-1") as tls:
        tls.sendall(_connect_packet("noisy-1", keep_alive=30) + b"\x30\xff\xff\xff\xff\x7f")
        assert _read_until_closed(tls) == b"\x20\x02\x00\x00"
    device = mqtt_pipeline.connect("calm-1")
    info = device.publish(
        "iot-pipeline/calm-1/readings", {"device_id": "calm-1", "sensor_data": SENSORS}
    )
    info.wait_for_publish(WAIT_S)
    assert info.is_published()


@pytest.mark.parametrize("extra", [[], ["--no-mqtt"]])
def test_the_local_command_serves_mqtt_unless_told_not_to(tmp_path: Path, extra: list[str]) -> None:
    from iot_pipeline_backend.local.testing import running_pipeline_process

    command = [sys.executable, "-m", "iot_pipeline_backend.local", "--port", "0", *extra]
    with running_pipeline_process(data_dir=tmp_path, command=command) as child:
        endpoint_file = child.data_dir / "mqtt" / "endpoint"
        if extra:
            assert not endpoint_file.exists()
            return
        endpoint = endpoint_file.read_text().strip()
        assert endpoint.startswith("mqtts://127.0.0.1:") and not endpoint.endswith(":8883")
        give_up = time.monotonic() + WAIT_S
        log = child.data_dir / "runtime.log"
        while f"mqtt         {endpoint}" not in log.read_text():
            assert time.monotonic() < give_up, log.read_text()
            time.sleep(0.05)
    assert not endpoint_file.exists()
