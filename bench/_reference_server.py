"""The simplest durable signed ingest server: the reference of figure 2.

``python bench/_reference_server.py --data-dir D --region R`` serves ``POST /prod/ingest``
as a raw ASGI app on uvicorn: it recomputes the request's SigV4 signature with botocore (the
headers the client signed, the client's ``X-Amz-Date``), compares it in constant time,
commits the body as one row of a SQLite file (WAL, ``synchronous=FULL``) and answers a small
JSON ``200``. Nothing else: no validation, no queue, no logging, one event loop. Whatever the
product does beyond that is what figure 2 measures.

It speaks the product runtime's start-up protocol (credentials from ``<data-dir>``, the stage
URL written to ``<data-dir>/endpoint`` once it listens), so the benchmark starts it with
``local.testing.running_pipeline_process`` like the product.
"""

from __future__ import annotations

import argparse
import hmac
import json
import signal
import socket
import sqlite3
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def _signature_matches(
    *, method: str, url: str, headers: dict[str, str], body: bytes, secret: str, access: str
) -> bool:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    authorization = headers.get("authorization", "")
    try:
        fields = dict(
            part.strip().split("=", 1) for part in authorization.split(" ", 1)[1].split(",")
        )
        _, _, region, service, _ = fields["Credential"].split("/")
        signed = fields["SignedHeaders"].split(";")
    except (IndexError, KeyError, ValueError):
        return False
    if not fields["Credential"].startswith(access + "/"):
        return False
    request = AWSRequest(
        method=method, url=url, data=body, headers={h: headers.get(h, "") for h in signed}
    )
    request.context["timestamp"] = headers.get("x-amz-date", "")
    auth = SigV4Auth(Credentials(access, secret), service, region)
    canonical = auth.canonical_request(request)
    expected = auth.signature(auth.string_to_sign(request, canonical), request)
    return hmac.compare_digest(expected, fields.get("Signature", ""))


class ReferenceIngest:
    """``POST /prod/ingest``: signature recomputed, one row committed, ``{"stored": 1}``."""

    def __init__(self, *, database: Path, access_key: str, secret_key: str) -> None:
        self._access, self._secret = access_key, secret_key
        self._conn = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("CREATE TABLE IF NOT EXISTS raw (seq INTEGER PRIMARY KEY, item TEXT)")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        query = scope.get("query_string", b"").decode("latin-1")
        url = f"http://{headers.get('host', '')}{scope['path']}" + (f"?{query}" if query else "")
        ok = scope["path"] == "/prod/ingest" and _signature_matches(
            method=scope["method"],
            url=url,
            headers=headers,
            body=body,
            secret=self._secret,
            access=self._access,
        )
        if ok:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.execute("INSERT INTO raw (item) VALUES (?)", (body.decode("utf-8"),))
            self._conn.execute("COMMIT")
        status, reply = (200, {"stored": 1}) if ok else (403, {"message": "Forbidden"})
        payload = json.dumps(reply).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


def main() -> None:
    import uvicorn
    from iot_pipeline_backend.local.credentials import load_or_create_credentials
    from iot_pipeline_backend.local.datadir import DataDirLock
    from iot_pipeline_backend.local.runtime import ENDPOINT_FILE

    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--region", default="us-east-1")
    args = parser.parse_args()
    args.data_dir.mkdir(parents=True, exist_ok=True)
    # Own the data dir as the product does: the launcher waits for the lock to name us.
    lock = DataDirLock(args.data_dir)
    lock.acquire()
    lock.record_owner()
    credentials = load_or_create_credentials(args.data_dir)
    app = ReferenceIngest(
        database=args.data_dir / "reference.db",
        access_key=credentials.access_key,
        secret_key=credentials.secret_key,
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off"))
    signal.signal(signal.SIGTERM, lambda *_: setattr(server, "should_exit", True))
    (args.data_dir / ENDPOINT_FILE).write_text(f"http://127.0.0.1:{port}/prod\n")
    try:
        server.run(sockets=[sock])
    finally:
        lock.release()


if __name__ == "__main__":
    main()
