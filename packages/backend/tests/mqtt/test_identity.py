"""Who may connect: a certificate from the data dir's CA, not revoked, client id = thing name.

Oracles beside paho: Python's own ``ssl`` client, ``mosquitto_pub`` (Debian's
mosquitto-clients) and ``openssl verify`` for the CA and CRL files, each skipped when absent.
"""

from __future__ import annotations

import json
import queue
import shutil
import socket
import ssl
import subprocess
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from click.testing import CliRunner
from iot_pipeline_backend.cli import main
from iot_pipeline_backend.mqtt.certificates import DeviceAuthority
from paho.mqtt.enums import CallbackAPIVersion

from .conftest import WAIT_S, MqttPipeline, connect
from .test_publish import SENSORS, _raw

# paho reports a 3.1.1 CONNACK code as its MQTT 5 reason code: 5 → 135, 2 → 133.
NOT_AUTHORIZED = 135
IDENTIFIER_REJECTED = 133


def _talk_without_certificate(port: int, ca: Path) -> bytes:
    context = ssl.create_default_context(cafile=str(ca))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=WAIT_S) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        # TLS 1.3 reports the missing certificate on the first read after the handshake.
        tls.sendall(b"\x10\x00")
        return tls.recv(1)


def test_given_no_client_certificate_then_the_tls_handshake_is_refused(
    mqtt_pipeline: MqttPipeline,
) -> None:
    try:
        answer = _talk_without_certificate(mqtt_pipeline.port, mqtt_pipeline.ca)
    except (ssl.SSLError, ConnectionError):
        return  # refused in the handshake (or in its TLS 1.3 aftermath)
    assert answer == b"", "the server answered a client without a certificate"


def test_given_a_certificate_of_another_ca_then_the_device_never_connects(
    mqtt_pipeline: MqttPipeline, tmp_path: Path
) -> None:
    stranger = DeviceAuthority.open(tmp_path / "elsewhere").add_device("stranger")
    device = connect(
        mqtt_pipeline.port, stranger, ca=mqtt_pipeline.ca, client_id="stranger", wait=False
    )
    try:
        assert device.disconnected.wait(WAIT_S)
        assert device.connack.empty()
    finally:
        device.close()


def test_given_a_revoked_certificate_then_the_connect_is_refused(
    mqtt_pipeline: MqttPipeline,
) -> None:
    device = mqtt_pipeline.connect("soon-revoked")
    result = CliRunner().invoke(
        main,
        ["devices", "revoke", "soon-revoked", "--data-dir", str(mqtt_pipeline.pipeline.data_dir)],
    )
    assert result.exit_code == 0, result.output
    device.close()
    credentials = mqtt_pipeline.pipeline.data_dir / "mqtt" / "devices"
    again = connect(
        mqtt_pipeline.port,
        mqtt_pipeline.credentials("soon-revoked"),
        ca=mqtt_pipeline.ca,
        client_id="soon-revoked",
        wait=False,
    )
    try:
        assert again.connack.get(timeout=WAIT_S) == NOT_AUTHORIZED
        assert (credentials / "soon-revoked.crt").exists()
    finally:
        again.close()


def test_given_a_client_id_other_than_the_thing_name_then_the_connect_is_refused(
    mqtt_pipeline: MqttPipeline,
) -> None:
    credentials = mqtt_pipeline.add_device("honest")
    device = connect(
        mqtt_pipeline.port, credentials, ca=mqtt_pipeline.ca, client_id="pretender", wait=False
    )
    try:
        assert device.connack.get(timeout=WAIT_S) == IDENTIFIER_REJECTED
    finally:
        device.close()


@pytest.mark.skipif(shutil.which("mosquitto_pub") is None, reason="mosquitto-clients absent")
def test_given_mosquitto_pub_with_a_device_certificate_then_the_reading_is_stored(
    mqtt_pipeline: MqttPipeline,
) -> None:
    credentials = mqtt_pipeline.add_device("mosq-1")
    common = [
        "mosquitto_pub", "-h", "127.0.0.1", "-p", str(mqtt_pipeline.port),
        "--cafile", str(credentials.ca), "-i", "mosq-1", "-q", "1",
        "-t", "iot-pipeline/mosq-1/readings",
        "-m", json.dumps({"device_id": "mosq-1", "reading_id": "m1", "sensor_data": SENSORS}),
    ]  # fmt: skip
    with_cert = [
        *common, "--cert", str(credentials.certificate), "--key", str(credentials.private_key)
    ]  # fmt: skip
    done = subprocess.run(with_cert, capture_output=True, text=True, timeout=WAIT_S, check=False)
    assert done.returncode == 0, done.stderr
    # mosquitto_pub exits 0 only after the PUBACK, so the reading is stored by now.
    assert [r.reading_id for r in _raw(mqtt_pipeline.pipeline.data_dir, "mosq-1")] == ["m1"]
    refused = subprocess.run(common, capture_output=True, text=True, timeout=WAIT_S, check=False)
    assert refused.returncode != 0


def test_devices_cli_add_json_list_revoke(tmp_path: Path) -> None:
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path)]
    added = runner.invoke(main, ["devices", "add", "cli-1", "--json", *data])
    assert added.exit_code == 0, added.output
    paths = json.loads(added.output)
    assert set(paths) == {"certificate", "private_key", "ca"}
    assert all(Path(p).is_file() for p in paths.values())
    assert Path(paths["private_key"]).stat().st_mode & 0o077 == 0

    twice = runner.invoke(main, ["devices", "add", "cli-1", *data])
    assert twice.exit_code == 2 and "already has a certificate" in twice.output
    bad = runner.invoke(main, ["devices", "add", "no spaces", *data])
    assert bad.exit_code == 2 and "not a valid device_id" in bad.output
    unknown = runner.invoke(main, ["devices", "revoke", "ghost", *data])
    assert unknown.exit_code == 2 and "ghost" in unknown.output

    assert runner.invoke(main, ["devices", "revoke", "cli-1", *data]).exit_code == 0
    listed = json.loads(runner.invoke(main, ["devices", "list", "--json", *data]).output)
    assert [(d["name"], d["revoked"]) for d in listed] == [("cli-1", True)]
    # Revoked, it may be issued a fresh certificate, which is active.
    assert runner.invoke(main, ["devices", "add", "cli-1", *data]).exit_code == 0
    listed = json.loads(runner.invoke(main, ["devices", "list", "--json", *data]).output)
    assert [(d["name"], d["revoked"]) for d in listed] == [("cli-1", False)]


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl absent")
def test_openssl_accepts_the_chain_and_sees_the_revocation(tmp_path: Path) -> None:
    authority = DeviceAuthority.open(tmp_path)
    credentials = authority.add_device("checked")

    def verify(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["openssl", "verify", "-CAfile", str(credentials.ca), *extra,
             str(credentials.certificate)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip

    crl = ["-crl_check", "-CRLfile", str(authority.crl_path)]
    assert verify().returncode == 0
    assert verify(*crl).returncode == 0
    authority.revoke("checked")
    revoked = verify(*crl)
    assert revoked.returncode != 0 and "revoked" in revoked.stdout + revoked.stderr


def test_devices_add_for_a_fleet_reuses_active_certificates(tmp_path: Path) -> None:
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path)]
    first = runner.invoke(main, ["devices", "add", "f-1", "f-2", "--json", *data])
    assert first.exit_code == 0, first.output
    issued = [json.loads(line) for line in first.output.splitlines()]
    assert [Path(i["certificate"]).name for i in issued] == ["f-1.crt", "f-2.crt"]
    again = runner.invoke(main, ["devices", "add", "f-1", "f-2", "f-3", "--reuse", "--json", *data])
    assert again.exit_code == 0, again.output
    reused = [json.loads(line) for line in again.output.splitlines()]
    assert reused[:2] == issued
    assert (
        Path(reused[2]["certificate"]).read_bytes() != Path(issued[0]["certificate"]).read_bytes()
    )


@pytest.mark.parametrize(
    ("protocol", "expected"),
    # MQTT 5's CONNACK 0x84, and 3.1's return code 1, which paho reports as the same 132.
    [(paho.MQTTv5, 132), (paho.MQTTv31, 132)],
)
def test_given_another_protocol_version_then_the_connect_is_refused_in_its_own_terms(
    mqtt_pipeline: MqttPipeline, protocol: int, expected: int
) -> None:
    credentials = mqtt_pipeline.add_device(f"proto-{protocol}")
    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=f"proto-{protocol}", protocol=protocol
    )
    client.tls_set(
        ca_certs=str(credentials.ca),
        certfile=str(credentials.certificate),
        keyfile=str(credentials.private_key),
    )
    codes: queue.Queue[int] = queue.Queue()
    client.on_connect = lambda c, u, f, reason, p: codes.put(reason.value)
    client.reconnect_delay_set(min_delay=60, max_delay=60)
    client.connect("127.0.0.1", mqtt_pipeline.port)
    client.loop_start()
    try:
        assert codes.get(timeout=WAIT_S) == expected
    finally:
        client.disconnect()
        client.loop_stop()
