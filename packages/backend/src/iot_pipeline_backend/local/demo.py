"""``iot-pipeline demo``: the local pipeline, simulated devices, a query, a summary.

The devices are a small built-in load (one thread per device, signed requests over a
keep-alive connection, the botocore SigV4 signer), so the demo needs nothing but the
backend package. Each reading carries a ``reading_id`` and ``seq``, so the summary can
check every acknowledged reading against what the query API returns.
"""

from __future__ import annotations

import http.client
import json
import random
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from iot_pipeline_common import keys

from iot_pipeline_backend.errors import BackendError
from iot_pipeline_backend.local.testing import RunningPipeline, running_pipeline

#: Pause between two readings of one device.
SEND_INTERVAL_SECONDS = 0.05
#: One reading in this many is hotter than the anomaly range, to show anomaly flags.
ANOMALY_EVERY = 40


class DemoError(BackendError):
    """The demo could not read its results back (the pipeline answered with an error)."""


class SignedClient:
    """A minimal SigV4 HTTP client for one thread (one keep-alive connection)."""

    def __init__(self, *, endpoint: str, region: str, access_key: str, secret_key: str) -> None:
        parts = urlsplit(endpoint)
        self._endpoint = endpoint.rstrip("/")
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 80
        self._signer = SigV4Auth(Credentials(access_key, secret_key), "execute-api", region)
        self._conn = http.client.HTTPConnection(self._host, self._port, timeout=30)

    def request(
        self, method: str, path: str, *, body: Any = None, query: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        """Send a signed request; returns (status, decoded JSON body)."""
        url = self._endpoint + path + (f"?{urlencode(query)}" if query else "")
        data = b"" if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if body is not None else {}
        aws_request = AWSRequest(method=method, url=url, data=data, headers=headers)
        self._signer.add_auth(aws_request)
        target = urlsplit(url)
        path_and_query = target.path + (f"?{target.query}" if target.query else "")
        try:
            self._conn.request(method, path_and_query, body=data, headers=dict(aws_request.headers))
            response = self._conn.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException):
            # A dropped keep-alive connection: reconnect once, as any HTTP client would.
            self._conn.close()
            self._conn = http.client.HTTPConnection(self._host, self._port, timeout=30)
            self._conn.request(method, path_and_query, body=data, headers=dict(aws_request.headers))
            response = self._conn.getresponse()
            payload = response.read()
        return response.status, json.loads(payload) if payload else None

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()


@dataclass
class DeviceRun:
    """What one simulated device sent and which readings were acknowledged."""

    device_id: str
    sent: int = 0
    acknowledged: set[str] = field(default_factory=set)
    rejected: int = 0


def _drive_device(run: DeviceRun, client: SignedClient, *, until: float, seed: int) -> None:
    rng = random.Random(seed)
    temperature = rng.uniform(18.0, 26.0)
    seq = 0
    while time.monotonic() < until:
        temperature += rng.uniform(-0.3, 0.3)
        hot = seq % ANOMALY_EVERY == ANOMALY_EVERY - 1
        reading = {
            "device_id": run.device_id,
            "reading_id": f"{run.device_id}-{seq}",
            "seq": seq,
            "timestamp": keys.now_ms(),
            "sensor_data": {
                "temperature": round(55.0 + rng.uniform(0, 5) if hot else temperature, 2),
                "humidity": round(rng.uniform(35, 65), 1),
                "pressure": round(rng.uniform(1005, 1020), 1),
            },
        }
        run.sent += 1
        try:
            status, _ = client.request("POST", "/ingest", body=reading)
        except (OSError, http.client.HTTPException):
            status = 0
        if status == 200:
            run.acknowledged.add(str(reading["reading_id"]))
        else:
            run.rejected += 1
        seq += 1
        time.sleep(SEND_INTERVAL_SECONDS)


def _query_all(client: SignedClient, device_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    query = {"device_id": device_id, "limit": "1000"}
    while True:
        status, page = client.request("GET", "/query", query=query)
        if status != 200:
            raise DemoError(f"the query for {device_id} answered {status}: {page}")
        items.extend(page["items"])
        if not page.get("next_token"):
            return items
        query = {**query, "next_token": page["next_token"]}


@contextmanager
def _data_dir(path: Path | None) -> Iterator[Path]:
    if path is not None:
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="iot-pipeline-demo-") as tmp:
        yield Path(tmp)


def until_interrupted() -> None:
    """Block until Ctrl-C or SIGTERM, then return (so the pipeline stops gracefully)."""
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_demo(
    *,
    devices: int,
    duration: float,
    data_dir: Path | None = None,
    echo: Callable[[str], None] = print,
    keep_running: bool = False,
    wait_for_stop: Callable[[RunningPipeline], None] = lambda _: until_interrupted(),
) -> bool:
    """Run the demo; True when every acknowledged reading was processed.

    With ``keep_running`` the pipeline stays up after the summary (its dashboard still
    answering) until ``wait_for_stop`` returns, by default at Ctrl-C.
    """
    with _data_dir(data_dir) as directory, running_pipeline(data_dir=directory) as pipeline:
        echo(f"local pipeline at {pipeline.endpoint} (data in {pipeline.data_dir})")
        echo(f"dashboard: {pipeline.dashboard_url}")
        echo(f"{devices} simulated devices sending for {duration:g} s ...")
        ok = _drive_and_report(pipeline, devices=devices, duration=duration, echo=echo)
        if keep_running:
            echo("")
            echo(f"the pipeline keeps running; dashboard: {pipeline.dashboard_url}")
            echo("Ctrl-C stops it.")
            wait_for_stop(pipeline)
        return ok


def _client(pipeline: RunningPipeline) -> SignedClient:
    return SignedClient(
        endpoint=pipeline.endpoint,
        region=pipeline.region,
        access_key=pipeline.access_key,
        secret_key=pipeline.secret_key,
    )


def _drive_and_report(
    pipeline: RunningPipeline, *, devices: int, duration: float, echo: Callable[[str], None]
) -> bool:
    runs = [DeviceRun(device_id=f"demo-device-{n:03d}") for n in range(devices)]
    clients = [_client(pipeline) for _ in runs]
    until = time.monotonic() + duration
    threads = [
        threading.Thread(
            target=_drive_device, args=(run, client), kwargs={"until": until, "seed": n}
        )
        for n, (run, client) in enumerate(zip(runs, clients, strict=True))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for client in clients:
        client.close()
    echo("waiting for the queue to drain ...")
    drained = pipeline.wait_idle(60.0)
    reader = _client(pipeline)
    processed: dict[str, dict[str, Any]] = {}
    for run in runs:
        for item in _query_all(reader, run.device_id):
            processed[item["reading_id"]] = item
    reader.close()
    acknowledged = set().union(*(run.acknowledged for run in runs))
    missing = acknowledged - processed.keys()
    anomalies = sum(1 for item in processed.values() if item.get("status") == "anomaly")
    sample = next((item for item in processed.values() if item.get("status") == "processed"), None)
    echo("")
    echo("summary")
    echo(f"  sent          {sum(run.sent for run in runs)}")
    echo(f"  acknowledged  {len(acknowledged)}")
    echo(f"  rejected      {sum(run.rejected for run in runs)}")
    echo(f"  processed     {len(acknowledged & processed.keys())}")
    echo(f"  anomalies     {anomalies}")
    echo(f"  missing       {len(missing)}")
    if sample is not None:
        echo("  sample processed reading:")
        echo("    " + json.dumps(sample, sort_keys=True))
    ok = drained and not missing and bool(acknowledged)
    echo("")
    echo(
        "OK: every acknowledged reading was processed"
        if ok
        else "FAILED: some acknowledged readings were not processed"
    )
    return ok
