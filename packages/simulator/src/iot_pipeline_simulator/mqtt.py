"""The runner's sink over MQTT: each device its own TLS connection, certificate and topic.

Every simulated device connects as its thing name (client id = ``device_id``) with its own
certificate, publishes the ``POST /ingest`` body to ``iot-pipeline/<device_id>/readings`` at
QoS 1 and listens on ``iot-pipeline/<device_id>/errors``. A publish counts as acknowledged
when its PUBACK arrives, which the local pipeline sends only once the readings are stored
and queued. The local server answers a refused payload on the errors topic *before* that
payload's PUBACK, on the same connection, so the first error waiting when a PUBACK arrives
is that publish's: it becomes an :class:`MqttRejectedError` (400, like HTTP's).

paho-mqtt runs one network thread per device; callbacks hand results to the asyncio loop
with ``call_soon_threadsafe``, so futures are only ever touched on the loop.
"""

from __future__ import annotations

import asyncio
import collections
import json
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from iot_pipeline_simulator.errors import RunConfigError

#: The local runtime writes its MQTT endpoint here (``mqtts://host:port``).
ENDPOINT_FILE = Path("mqtt") / "endpoint"
_CONNECT_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceCertificate:
    """A device's certificate, private key and the CA that signed the server's."""

    certificate: Path
    private_key: Path
    ca: Path


@dataclass(frozen=True, slots=True)
class MqttAck:
    """A PUBACK for one reading: what was published (MQTT sends nothing back)."""

    timestamp: int
    reading_id: str


@dataclass(frozen=True, slots=True)
class MqttBatchAck:
    """A PUBACK for a batch: one item per reading, in order."""

    items: Sequence[MqttAck]


class MqttRejectedError(Exception):
    """The pipeline refused a payload; its errors topic said why (``code``, ``details``)."""

    status_code = 400

    def __init__(self, body: Mapping[str, Any]) -> None:
        super().__init__(str(body.get("message", "refused")))
        self.code = str(body.get("error", "validation_error"))
        self.details = body.get("details", [])
        #: Not None: the payload did reach the pipeline (the runner tells the cases apart).
        self.request_id = ""


def parse_endpoint(endpoint: str) -> tuple[str, int]:
    """``mqtts://host:port`` → ``(host, port)``; a clear error for anything else."""
    parts = urlsplit(endpoint)
    if parts.scheme != "mqtts" or not parts.hostname:
        raise RunConfigError(f"--mqtt-endpoint {endpoint!r} is not mqtts://HOST:PORT")
    return parts.hostname, parts.port or 8883


def local_endpoint(data_dir: Path) -> str:
    """The MQTT endpoint a running ``iot-pipeline local`` of ``data_dir`` listens on."""
    path = data_dir / ENDPOINT_FILE
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise RunConfigError(
            f"{path} does not exist: is `iot-pipeline local --data-dir {data_dir}` running "
            "with MQTT? Or give --mqtt-endpoint"
        ) from None


def certificates_in(
    certs_dir: Path, device_ids: Sequence[str], *, ca: Path | None
) -> dict[str, DeviceCertificate]:
    """``<dir>/<device>.crt`` and ``.key`` for each device (the layout ``devices add`` writes).

    The CA defaults to ``<dir>/ca.crt``, else ``<dir>/../ca.crt`` (a data dir's layout).
    """
    if ca is None:
        ca = next(
            (p for p in (certs_dir / "ca.crt", certs_dir.parent / "ca.crt") if p.is_file()),
            certs_dir / "ca.crt",
        )
    if not ca.is_file():
        raise RunConfigError(f"no CA certificate at {ca}; give --ca")
    found = {}
    for device_id in device_ids:
        cert, key = certs_dir / f"{device_id}.crt", certs_dir / f"{device_id}.key"
        if not cert.is_file() or not key.is_file():
            raise RunConfigError(
                f"no certificate for {device_id} in {certs_dir} (expected {cert.name} and "
                f"{key.name}); `iot-pipeline devices add {device_id}` issues one"
            )
        found[device_id] = DeviceCertificate(certificate=cert, private_key=key, ca=ca)
    return found


def provision(data_dir: Path, device_ids: Sequence[str]) -> dict[str, DeviceCertificate]:
    """Certificates for the fleet from the local CA: ``iot-pipeline devices add --reuse``."""
    program = shutil.which("iot-pipeline")
    if program is None:
        raise RunConfigError("`iot-pipeline` is not on PATH; give --certs-dir instead")
    done = subprocess.run(
        [program, "devices", "add", "--reuse", "--json", "--data-dir", str(data_dir),
         *device_ids],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RunConfigError(f"iot-pipeline devices add failed: {done.stderr.strip()}")
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return {
        device_id: DeviceCertificate(
            certificate=Path(item["certificate"]),
            private_key=Path(item["private_key"]),
            ca=Path(item["ca"]),
        )
        for device_id, item in zip(device_ids, lines, strict=True)
    }


class _Device:
    """One paho client; results of its publishes land in ``loop`` futures by message id."""

    def __init__(
        self,
        device_id: str,
        certificate: DeviceCertificate,
        *,
        loop: asyncio.AbstractEventLoop,
        max_in_flight: int,
    ) -> None:
        self.device_id = device_id
        self._loop = loop
        self.readings_topic = f"iot-pipeline/{device_id}/readings"
        self._errors_topic = f"iot-pipeline/{device_id}/errors"
        self._waiting: dict[int, asyncio.Future[Mapping[str, Any] | None]] = {}
        self._early: dict[int, Mapping[str, Any] | None] = {}
        # Written and read on paho's network thread only.
        self._errors: collections.deque[Mapping[str, Any]] = collections.deque()
        self.ready: asyncio.Future[None] = loop.create_future()
        client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=device_id, protocol=paho.MQTTv311
        )
        client.tls_set(
            ca_certs=str(certificate.ca),
            certfile=str(certificate.certificate),
            keyfile=str(certificate.private_key),
        )
        client.max_inflight_messages_set(max_in_flight)
        client.max_queued_messages_set(0)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        client.on_disconnect = self._on_disconnect
        self.client = client

    # paho's network thread --------------------------------------------------------------

    def _on_connect(self, c: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            self._loop.call_soon_threadsafe(self._not_ready, f"refused: {reason}")
        else:
            c.subscribe(self._errors_topic, qos=1)

    def _on_subscribe(self, c: Any, userdata: Any, mid: int, reasons: Any, props: Any) -> None:
        self._loop.call_soon_threadsafe(self._now_ready)

    def _on_message(self, c: Any, userdata: Any, message: paho.MQTTMessage) -> None:
        try:
            body = json.loads(message.payload)
        except ValueError:
            body = {"message": message.payload.decode("utf-8", "replace")}
        self._errors.append(body if isinstance(body, dict) else {"message": str(body)})

    def _on_publish(self, c: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        error = self._errors.popleft() if self._errors else None
        self._loop.call_soon_threadsafe(self._resolve, mid, error)

    def _on_disconnect(self, c: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self._loop.call_soon_threadsafe(self._drop_all, f"disconnected: {reason}")

    # the asyncio loop ------------------------------------------------------------------

    def _now_ready(self) -> None:
        if not self.ready.done():
            self.ready.set_result(None)

    def _not_ready(self, why: str) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"{self.device_id}: {why}"))

    def _resolve(self, mid: int, error: Mapping[str, Any] | None) -> None:
        future = self._waiting.pop(mid, None)
        if future is None:
            self._early[mid] = error
        elif not future.done():
            future.set_result(error)

    def _drop_all(self, why: str) -> None:
        self._not_ready(why)
        waiting, self._waiting = self._waiting, {}
        for future in waiting.values():
            if not future.done():
                future.set_exception(ConnectionError(f"{self.device_id}: {why}"))

    async def publish(self, body: Mapping[str, Any], *, timeout_s: float) -> None:
        """Publish at QoS 1; return on PUBACK, raise MqttRejectedError if it was refused."""
        info = self.client.publish(self.readings_topic, json.dumps(body), qos=1)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            raise ConnectionError(
                f"{self.device_id}: publish failed ({paho.error_string(info.rc)})"
            )
        if info.mid in self._early:
            error = self._early.pop(info.mid)
        else:
            future: asyncio.Future[Mapping[str, Any] | None] = self._loop.create_future()
            self._waiting[info.mid] = future
            error = await asyncio.wait_for(future, timeout_s)
        if error is not None:
            raise MqttRejectedError(error)


class MqttSink:
    """The runner's :class:`~iot_pipeline_simulator.runner.ReadingSink` over MQTT."""

    def __init__(
        self,
        *,
        endpoint: str,
        certificates: Mapping[str, DeviceCertificate],
        max_in_flight: int = 64,
        timeout_s: float = 30.0,
    ) -> None:
        self._host, self._port = parse_endpoint(endpoint)
        self.endpoint = endpoint
        self._certificates = certificates
        self._max_in_flight = max_in_flight
        self._timeout_s = timeout_s
        self._devices: dict[str, _Device] = {}

    async def preflight(self) -> None:
        """Connect every device and subscribe it to its errors topic before the clock starts."""
        loop = asyncio.get_running_loop()
        for device_id, certificate in self._certificates.items():
            device = _Device(device_id, certificate, loop=loop, max_in_flight=self._max_in_flight)
            self._devices[device_id] = device
            device.client.connect_async(self._host, self._port, keepalive=60)
            device.client.loop_start()
        try:
            await asyncio.wait_for(
                asyncio.gather(*(d.ready for d in self._devices.values())), _CONNECT_TIMEOUT_S
            )
        except (TimeoutError, ConnectionError) as exc:
            raise RunConfigError(
                f"MQTT devices could not connect to {self.endpoint}: {exc}"
            ) from None

    async def close(self) -> None:
        """Disconnect every device and stop its network thread."""
        for device in self._devices.values():
            device.client.disconnect()
            device.client.loop_stop()
        self._devices.clear()

    def _device(self, device_id: str) -> _Device:
        device = self._devices.get(device_id)
        if device is None:
            raise RunConfigError(f"no MQTT connection for {device_id}")
        return device

    async def ingest(
        self,
        device_id: str,
        sensor_data: Mapping[str, float],
        *,
        timestamp: int | None = None,
        reading_id: str | None = None,
        seq: int | None = None,
    ) -> MqttAck:
        """One reading; needs ``timestamp`` and ``reading_id`` (MQTT returns neither)."""
        if timestamp is None or reading_id is None:
            raise RunConfigError("over MQTT every reading needs its timestamp and reading_id")
        body = {"device_id": device_id, "sensor_data": dict(sensor_data),
                "timestamp": timestamp, "reading_id": reading_id, "seq": seq}  # fmt: skip
        await self._device(device_id).publish(body, timeout_s=self._timeout_s)
        return MqttAck(timestamp=timestamp, reading_id=reading_id)

    async def ingest_batch(self, readings: list[dict[str, Any]]) -> MqttBatchAck:
        """One device's readings in one message (a device publishes only its own)."""
        owners = {r["device_id"] for r in readings}
        if len(owners) != 1:
            raise RunConfigError("an MQTT batch holds one device's readings (--batch-by device)")
        await self._device(owners.pop()).publish({"readings": readings}, timeout_s=self._timeout_s)
        return MqttBatchAck(
            items=[MqttAck(timestamp=r["timestamp"], reading_id=r["reading_id"]) for r in readings]
        )

    async def ingest_invalid(self, body: dict[str, Any]) -> MqttAck:
        """An invalid reading, published as is: the pipeline must refuse it."""
        await self._device(body["device_id"]).publish(body, timeout_s=self._timeout_s)
        return MqttAck(timestamp=body["timestamp"], reading_id=body["reading_id"])


__all__ = [
    "DeviceCertificate",
    "MqttRejectedError",
    "MqttSink",
    "certificates_in",
    "local_endpoint",
    "parse_endpoint",
    "provision",
]
