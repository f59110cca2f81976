"""MQTT ingest on the local runtime: readings/s over MQTT next to signed HTTP (figure 9).

11. Single-reading ingests/s over MQTT (QoS 1, TLS with a client certificate per device; a
   publish counts once its PUBACK is back, which the server sends only after the reading is
   stored and queued) vs single-reading signed ``POST /ingest`` on the same server, with the
   same concurrency: N devices each with one publish in flight, N HTTP client threads each
   with one request in flight. The two alternate in rounds so drift hits both alike.

The server is the product's ``python -m iot_pipeline_backend.local --port 0``, which serves
MQTT on a free port beside HTTP. Devices are paho-mqtt clients (an off-the-shelf MQTT 3.1.1
client), each with its own certificate from the data dir's CA.
"""

from __future__ import annotations

import itertools
import json
import random
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from _support import Server, running_server
from _workload import Senders, reading
from bench_local import _single_bodies
from run import Figure

IN_FLIGHT = 8


def _mqtt_endpoint(server: Server) -> tuple[str, int]:
    host_port = (server.data_dir / "mqtt" / "endpoint").read_text().strip()
    host, port = host_port.removeprefix("mqtts://").rsplit(":", 1)
    return host, int(port)


class Devices:
    """``count`` connected paho clients, each publishing one reading at a time."""

    def __init__(self, server: Server, *, count: int) -> None:
        import paho.mqtt.client as paho
        from iot_pipeline_backend.mqtt.certificates import DeviceAuthority
        from paho.mqtt.enums import CallbackAPIVersion

        host, port = _mqtt_endpoint(server)
        authority = DeviceAuthority.open(server.data_dir)
        self.names = [f"bench-mqtt-{i:02d}" for i in range(count)]
        self.clients: list[Any] = []
        for name in self.names:
            credentials = authority.ensure_device(name)
            client = paho.Client(
                CallbackAPIVersion.VERSION2, client_id=name, protocol=paho.MQTTv311
            )
            client.tls_set(
                ca_certs=str(credentials.ca),
                certfile=str(credentials.certificate),
                keyfile=str(credentials.private_key),
            )
            client.connect(host, port, keepalive=60)
            client.loop_start()
            self.clients.append(client)
        self._pool = ThreadPoolExecutor(max_workers=count, thread_name_prefix="bench-mqtt")

    def __enter__(self) -> Devices:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._pool.shutdown()
        for client in self.clients:
            client.disconnect()
            client.loop_stop()

    def publish(self, *, offset: int, until: float | None = None, each: int | None = None) -> int:
        """Publish from every device until ``until`` (or ``each`` readings); PUBACKs counted."""

        def send(index: int) -> int:
            client, name = self.clients[index], self.names[index]
            rng = random.Random(offset + index)
            acked = 0
            for n in itertools.count():
                if (until is not None and time.perf_counter() >= until) or n == each:
                    break
                body = reading(offset + index * 1_000_000 + n, device_id=name, rng=rng)
                info = client.publish(f"iot-pipeline/{name}/readings", json.dumps(body), qos=1)
                info.wait_for_publish(timeout=60)
                if not info.is_published():
                    raise RuntimeError(f"{name}: no PUBACK within 60 s")
                acked += 1
            return acked

        return sum(self._pool.map(send, range(len(self.clients))))


def _http_bodies(offset: int) -> Iterator[bytes]:
    return _single_bodies(offset=offset)


def mqtt_vs_http_figure(*, quick: bool) -> Figure:
    seconds_per_round = 1.5 if quick else 8.0
    rounds = 2
    answered = {"mqtt": 0, "http": 0}
    elapsed = {"mqtt": 0.0, "http": 0.0}
    with (
        tempfile.TemporaryDirectory(prefix="bench-mqtt-") as tmp,
        running_server(data_dir=Path(tmp)) as server,
        Senders(server, count=IN_FLIGHT) as senders,
        Devices(server, count=IN_FLIGHT) as devices,
    ):
        # Warm both paths (imports, TLS sessions, SQLite pages).
        devices.publish(offset=900_000_000, each=4)
        senders.post("/ingest", itertools.islice(_http_bodies(800_000_000), 4 * IN_FLIGHT))
        offset = 0
        for _ in range(rounds):
            started = time.perf_counter()
            answered["mqtt"] += devices.publish(offset=offset, until=started + seconds_per_round)
            elapsed["mqtt"] += time.perf_counter() - started
            offset += 100_000_000
            started = time.perf_counter()
            answered["http"] += senders.post(
                "/ingest", _http_bodies(offset), until=started + seconds_per_round
            )
            elapsed["http"] += time.perf_counter() - started
            offset += 100_000_000
    return Figure(
        figure="11. MQTT single-reading ingests/s (QoS 1, PUBACK after store)",
        value=answered["mqtt"] / elapsed["mqtt"],
        unit="readings/s",
        reference="same server, signed single POST /ingest",
        reference_value=answered["http"] / elapsed["http"],
        goal="reported",
        note=(
            f"{rounds} rounds of {seconds_per_round:g} s per protocol, alternated; "
            f"{IN_FLIGHT} devices (own TLS connection and certificate, one publish in flight "
            f"each) vs {IN_FLIGHT} HTTP client threads (one request in flight each); "
            f"{answered['mqtt']:,} PUBACKs, {answered['http']:,} 200s. Both paths store and "
            "enqueue through the same domain ingest, one SQLite transaction per reading; MQTT "
            "skips SigV4 verification and the proxy event (its identity is the TLS handshake, "
            "once per connection)."
        ),
    )


def run(*, quick: bool) -> list[Figure]:
    """Figure 9."""
    return [mqtt_vs_http_figure(quick=quick)]
