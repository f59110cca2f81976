"""A real local pipeline with its MQTT endpoint, and devices driven by paho-mqtt.

paho-mqtt is an off-the-shelf MQTT 3.1.1 client (Eclipse), so the server is never only
agreeing with a client of its own. Every wait is bounded.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from iot_pipeline_backend.local.runtime import LocalPipeline
from iot_pipeline_backend.mqtt.certificates import DeviceCredentials
from paho.mqtt.enums import CallbackAPIVersion

WAIT_S = 10.0


@dataclass
class MqttDevice:
    """One paho client with a certificate; records CONNACK, errors-topic messages, drops."""

    client: paho.Client
    connack: queue.Queue[int] = field(default_factory=queue.Queue)
    errors: queue.Queue[dict[str, Any]] = field(default_factory=queue.Queue)
    suback: queue.Queue[list[int]] = field(default_factory=queue.Queue)
    disconnected: threading.Event = field(default_factory=threading.Event)

    def publish(self, topic: str, payload: dict[str, Any] | str, *, qos: int = 1) -> Any:
        data = payload if isinstance(payload, str) else json.dumps(payload)
        return self.client.publish(topic, data, qos=qos)

    def next_error(self) -> dict[str, Any]:
        return self.errors.get(timeout=WAIT_S)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def connect(
    port: int,
    credentials: DeviceCredentials | None,
    *,
    ca: Path,
    client_id: str,
    wait: bool = True,
) -> MqttDevice:
    """A started paho client (MQTT 3.1.1, TLS); with ``wait``, returns after the CONNACK."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv311)
    if credentials is None:
        client.tls_set(ca_certs=str(ca))
    else:
        client.tls_set(
            ca_certs=str(ca),
            certfile=str(credentials.certificate),
            keyfile=str(credentials.private_key),
        )
    device = MqttDevice(client=client)

    def on_connect(c: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        device.connack.put(reason.value)

    def on_message(c: Any, userdata: Any, message: paho.MQTTMessage) -> None:
        device.errors.put(json.loads(message.payload))

    def on_subscribe(c: Any, userdata: Any, mid: int, reasons: Any, props: Any) -> None:
        device.suback.put([r.value for r in reasons])

    def on_disconnect(c: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        device.disconnected.set()

    client.on_connect = on_connect
    client.on_message = on_message
    client.on_subscribe = on_subscribe
    client.on_disconnect = on_disconnect
    # Keep paho from reconnecting behind the test's back after a refusal or a drop.
    client.reconnect_delay_set(min_delay=60, max_delay=60)
    client.connect("127.0.0.1", port, keepalive=30)
    client.loop_start()
    if wait:
        assert device.connack.get(timeout=WAIT_S) == 0
    return device


@dataclass
class MqttPipeline:
    """A running local pipeline with MQTT on a free port."""

    pipeline: LocalPipeline
    devices: list[MqttDevice] = field(default_factory=list)

    @property
    def port(self) -> int:
        assert self.pipeline.mqtt is not None
        return self.pipeline.mqtt.port

    @property
    def ca(self) -> Path:
        assert self.pipeline.mqtt is not None
        return self.pipeline.mqtt.authority.ca_certificate_path

    def add_device(self, name: str) -> DeviceCredentials:
        assert self.pipeline.mqtt is not None
        return self.pipeline.mqtt.authority.add_device(name)

    def credentials(self, name: str) -> DeviceCredentials:
        assert self.pipeline.mqtt is not None
        return self.pipeline.mqtt.authority.credentials(name)

    def connect(self, name: str, *, subscribe_errors: bool = True) -> MqttDevice:
        device = connect(self.port, self.add_device(name), ca=self.ca, client_id=name)
        self.devices.append(device)
        if subscribe_errors:
            device.client.subscribe(f"iot-pipeline/{name}/errors", qos=1)
            assert device.suback.get(timeout=WAIT_S) == [0]
        return device


def _running(data_dir: Path, *, poll_queue: bool) -> Iterator[MqttPipeline]:
    pipeline = LocalPipeline(data_dir=data_dir, port=0, mqtt_port=0, poll_queue=poll_queue)
    pipeline.start()
    running = MqttPipeline(pipeline=pipeline)
    try:
        yield running
    finally:
        for device in running.devices:
            device.close()
        pipeline.stop()


@pytest.fixture
def mqtt_pipeline(tmp_path: Path) -> Iterator[MqttPipeline]:
    """The whole pipeline (gateway, poller, MQTT) over a fresh data dir."""
    yield from _running(tmp_path / "data", poll_queue=True)


@pytest.fixture
def mqtt_pipeline_without_poller(tmp_path: Path) -> Iterator[MqttPipeline]:
    """No queue poller: what ingest enqueued stays in the queue, where a test can count it."""
    yield from _running(tmp_path / "data", poll_queue=False)
