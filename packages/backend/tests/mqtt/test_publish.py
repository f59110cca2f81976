"""Readings over MQTT: stored → processed → queryable; PUBACK only after the store; the rules.

A real TLS server (the local runtime's), a real client (paho-mqtt), a real SQLite file.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from typing import Any

from iot_pipeline_backend.adapters.local import DATABASE_FILE, LocalAdapters
from iot_pipeline_sdk import Client

from .conftest import WAIT_S, MqttPipeline

SENSORS = {"temperature": 21.5, "humidity": 40, "pressure": 1013}


def _raw(data_dir: Any, device_id: str) -> list[Any]:
    adapters = LocalAdapters.open(data_dir)
    try:
        page = adapters.raw.query_raw(
            device_id=device_id,
            start_ms=0,
            end_ms=2**53,
            limit=100,
            descending=False,
            after_sk=None,
        )
        return page.records
    finally:
        adapters.close()


def test_given_a_certificate_when_a_reading_is_published_then_it_is_processed_and_queryable(
    mqtt_pipeline: MqttPipeline,
) -> None:
    device = mqtt_pipeline.connect("sensor-1")
    info = device.publish(
        "iot-pipeline/sensor-1/readings",
        {
            "readings": [
                {"device_id": "sensor-1", "reading_id": f"r{i}", "sensor_data": SENSORS}
                for i in range(3)
            ]
        },
    )
    info.wait_for_publish(WAIT_S)
    assert info.is_published()
    assert mqtt_pipeline.pipeline.wait_idle(WAIT_S)

    pipeline = mqtt_pipeline.pipeline
    creds = pipeline.credentials
    with Client(
        endpoint=pipeline.endpoint,
        region=pipeline.region,
        credentials=(creds.access_key, creds.secret_key),
    ) as client:
        items = list(client.iter_query("sensor-1"))
    assert sorted(item.reading_id for item in items) == ["r0", "r1", "r2"]
    assert {item.temperature_fahrenheit for item in items} == {21.5 * 9 / 5 + 32}
    assert device.errors.empty()


def test_given_the_store_is_busy_when_publishing_then_the_puback_waits_until_stored_and_queued(
    mqtt_pipeline_without_poller: MqttPipeline,
) -> None:
    running = mqtt_pipeline_without_poller
    data_dir = running.pipeline.data_dir
    device = running.connect("sensor-2")
    seen_at_puback: dict[str, Any] = {}
    acked = threading.Event()

    def on_publish(client: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        # Runs in paho's network thread the moment the PUBACK arrives.
        adapters = LocalAdapters.open(data_dir)
        try:
            seen_at_puback["raw"] = [r.reading_id for r in _raw(data_dir, "sensor-2")]
            seen_at_puback["queued"] = adapters.queue.depth()
        finally:
            adapters.close()
        acked.set()

    device.client.on_publish = on_publish
    # Hold SQLite's write lock: the server's ingest must wait for it, and so must the PUBACK.
    blocker = sqlite3.connect(data_dir / DATABASE_FILE, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        device.publish(
            "iot-pipeline/sensor-2/readings",
            {"device_id": "sensor-2", "reading_id": "held", "sensor_data": SENSORS},
        )
        assert not acked.wait(0.5), "PUBACK sent while the reading could not be stored"
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert acked.wait(WAIT_S)
    assert seen_at_puback == {"raw": ["held"], "queued": 1}


def test_given_another_devices_id_in_the_payload_then_nothing_is_stored_and_the_device_is_told(
    mqtt_pipeline: MqttPipeline,
) -> None:
    device = mqtt_pipeline.connect("sensor-3")
    info = device.publish(
        "iot-pipeline/sensor-3/readings",
        {
            "readings": [
                {"device_id": "sensor-3", "sensor_data": SENSORS},
                {"device_id": "someone-else", "sensor_data": SENSORS},
            ]
        },
    )
    error = device.next_error()
    info.wait_for_publish(WAIT_S)
    assert info.is_published()  # refused for good: acknowledged, so it is not resent
    assert error["error"] == "validation_error"
    assert [d["field"] for d in error["details"]] == ["readings[1].device_id"]
    assert _raw(mqtt_pipeline.pipeline.data_dir, "sensor-3") == []
    assert _raw(mqtt_pipeline.pipeline.data_dir, "someone-else") == []


def test_given_an_invalid_payload_then_nothing_is_stored_and_the_error_names_the_field(
    mqtt_pipeline: MqttPipeline,
) -> None:
    device = mqtt_pipeline.connect("sensor-4")
    device.publish(
        "iot-pipeline/sensor-4/readings",
        {"device_id": "sensor-4", "sensor_data": {"humidity": 140}},
    )
    error = device.next_error()
    assert error["error"] == "validation_error"
    assert error["message"]
    assert [d["field"] for d in error["details"]] == ["sensor_data.humidity"]
    device.publish("iot-pipeline/sensor-4/readings", "not json")
    assert device.next_error()["error"] == "validation_error"
    assert _raw(mqtt_pipeline.pipeline.data_dir, "sensor-4") == []


def test_given_another_devices_topic_when_publishing_then_the_connection_is_closed_unstored(
    mqtt_pipeline: MqttPipeline,
) -> None:
    mqtt_pipeline.add_device("victim")
    device = mqtt_pipeline.connect("intruder")
    info = device.publish(
        "iot-pipeline/victim/readings", {"device_id": "victim", "sensor_data": SENSORS}
    )
    error = device.next_error()
    assert error["error"] == "access_denied"
    assert device.disconnected.wait(WAIT_S)
    assert not info.is_published()
    assert _raw(mqtt_pipeline.pipeline.data_dir, "victim") == []


def test_given_another_devices_errors_topic_then_the_subscription_is_refused(
    mqtt_pipeline: MqttPipeline,
) -> None:
    device = mqtt_pipeline.connect("sensor-5", subscribe_errors=False)
    device.client.subscribe(
        [
            ("iot-pipeline/sensor-6/errors", 1),
            ("iot-pipeline/+/errors", 1),
            ("iot-pipeline/sensor-5/errors", 1),
        ]
    )
    assert device.suback.get(timeout=WAIT_S) == [0x80, 0x80, 0]


def test_given_qos0_and_qos2_publishes_then_both_are_stored(mqtt_pipeline: MqttPipeline) -> None:
    device = mqtt_pipeline.connect("sensor-7")
    for qos in (0, 2):
        info = device.publish(
            "iot-pipeline/sensor-7/readings",
            {"device_id": "sensor-7", "reading_id": f"q{qos}", "sensor_data": SENSORS},
            qos=qos,
        )
        info.wait_for_publish(WAIT_S)
    give_up = time.monotonic() + WAIT_S
    while len(_raw(mqtt_pipeline.pipeline.data_dir, "sensor-7")) < 2:
        assert time.monotonic() < give_up
        time.sleep(0.05)
    assert {r.reading_id for r in _raw(mqtt_pipeline.pipeline.data_dir, "sensor-7")} == {
        "q0",
        "q2",
    }
