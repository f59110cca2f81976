"""The local benchmarks' workload: SDK-shaped readings and signed client threads.

Shared by ``bench_local`` (figures 1, 2, 8) and ``bench_scale`` (figure 9).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from _support import Server

BATCH = 100
#: An hour before the run: every reading's device time lies in the recent past.
START_MS = (time.time_ns() // 1_000_000) - 3_600_000
#: Readings are a millisecond apart, wrapping before they would reach the present.
SPAN_MS = 3_000_000


def reading(index: int, *, device_id: str, rng: random.Random) -> dict[str, Any]:
    return {
        "device_id": device_id,
        "timestamp": START_MS + index % SPAN_MS,
        "reading_id": f"bench-{index:08d}",
        "seq": index,
        "sensor_data": {
            "temperature": round(rng.uniform(15, 30), 1),
            "humidity": round(rng.uniform(30, 70), 1),
            "pressure": round(rng.uniform(990, 1030), 1),
        },
    }


def readings(
    count: int, *, devices: int, prefix: str = "bench-device", seed: int = 8
) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [reading(i, device_id=f"{prefix}-{i % devices:03d}", rng=rng) for i in range(count)]


class Senders:
    """``count`` threads, each with its own kept-alive signed connection to ``server``.

    Synchronous httpx clients: their per-request cost is a fraction of the asynchronous
    pool's, so the client side is not the bottleneck. The clients are made once (building
    one costs more than a request) and reused by every call to :meth:`post`.
    """

    def __init__(self, server: Server, *, count: int) -> None:
        self.count = count
        self._clients = [server.client() for _ in range(count)]
        self._pool = ThreadPoolExecutor(max_workers=count, thread_name_prefix="bench-client")

    def __enter__(self) -> Senders:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._pool.shutdown()
        for client in self._clients:
            client.close()

    def post(self, route: str, bodies: Iterable[bytes], *, until: float | None = None) -> int:
        """POST bodies from every thread until they run out or ``until``; all must be 200.

        Returns how many requests were answered.
        """
        cursor = iter(bodies)
        lock = threading.Lock()

        def next_body() -> bytes | None:
            if until is not None and time.perf_counter() >= until:
                return None
            with lock:
                return next(cursor, None)

        def send(client: Any) -> int:
            answered = 0
            while (body := next_body()) is not None:
                reply = client.post(
                    route, content=body, headers={"content-type": "application/json"}
                )
                if reply.status_code != 200:
                    raise RuntimeError(f"{route} answered {reply.status_code}: {reply.text[:200]}")
                answered += 1
            return answered

        return sum(self._pool.map(send, self._clients))


def wait_for_rows(server: Server, table: str, expected: int, *, timeout: float) -> None:
    give_up = time.monotonic() + timeout
    while server.count_rows(table) < expected:
        if time.monotonic() > give_up:
            raise RuntimeError(f"{table} did not reach {expected} rows within {timeout:g} s")
        time.sleep(0.01)
