"""Connection reuse and dropped connections, on a real HTTP/1.1 server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from iot_pipeline_sdk import AsyncClient, Client, RetryPolicy


class _Pipeline(ThreadingHTTPServer):
    """Answers ``POST /prod/process`` with ``{"queued": 1}``; counts TCP connections.

    The first ``drop_first`` requests are read and then the connection is closed without an
    answer, as a crashing or restarting server does.
    """

    daemon_threads = True

    def __init__(self, *, drop_first: int = 0) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.connections = 0
        self.requests = 0
        self.drop_first = drop_first
        self.lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/prod"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server: _Pipeline

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in two writes; without this, Nagle holds the body back
        # until the client's delayed ACK (~40 ms per request).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.lock:
            self.server.connections += 1

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        with self.server.lock:
            self.server.requests += 1
            drop = self.server.requests <= self.server.drop_first
        if drop:
            self.close_connection = True
            return
        body = json.dumps({"queued": 1}).encode()
        self.send_response(202)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return  # keep test output clean


def _serve(drop_first: int = 0) -> Iterator[_Pipeline]:
    server = _Pipeline(drop_first=drop_first)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def pipeline() -> Iterator[_Pipeline]:
    yield from _serve()


@pytest.fixture
def flaky_pipeline() -> Iterator[_Pipeline]:
    yield from _serve(drop_first=2)


def options(server: _Pipeline) -> dict[str, Any]:
    return {
        "endpoint": server.endpoint,
        "region": "us-east-1",
        "credentials": ("AKID", "secret"),
        "timeout": 5.0,
    }


def test_given_sync_client_when_20_requests_then_one_connection_is_reused(
    pipeline: _Pipeline,
) -> None:
    with Client(**options(pipeline)) as client:
        results = [client.process("device-1").queued for _ in range(20)]
    assert results == [1] * 20
    assert pipeline.connections == 1


async def test_given_async_client_when_20_requests_then_one_connection_is_reused(
    pipeline: _Pipeline,
) -> None:
    async with AsyncClient(**options(pipeline)) as client:
        results = [(await client.process("device-1")).queued for _ in range(20)]
    assert results == [1] * 20
    assert pipeline.connections == 1


def test_given_server_drops_connections_when_sync_client_calls_then_retried_on_new_ones(
    flaky_pipeline: _Pipeline,
) -> None:
    waits: list[float] = []
    with Client(
        **options(flaky_pipeline),
        retries=RetryPolicy(max_retries=3, jitter=lambda: 0.0),
        sleep=waits.append,
    ) as client:
        assert client.process("device-1").queued == 1
    assert flaky_pipeline.requests == 3
    assert flaky_pipeline.connections == 3
    assert waits == [0.0, 0.0]


async def test_given_server_drops_connections_when_async_client_calls_then_retried_on_new_ones(
    flaky_pipeline: _Pipeline,
) -> None:
    async def no_wait(_: float) -> None:
        await asyncio.sleep(0)

    async with AsyncClient(
        **options(flaky_pipeline),
        retries=RetryPolicy(max_retries=3, jitter=lambda: 0.0),
        sleep=no_wait,
    ) as client:
        assert (await client.process("device-1")).queued == 1
    assert flaky_pipeline.requests == 3
    assert flaky_pipeline.connections == 3
