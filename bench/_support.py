"""What the local-runtime benchmarks share: a pipeline in a child process, a signed client.

The pipeline runs in its own process so that the client's work (building, signing and
parsing requests) does not compete with the server for one interpreter lock, as it would not
in any real deployment. The child is the product's own ``python -m iot_pipeline_backend.local``.
"""

from __future__ import annotations

import sqlite3
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STARTUP_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Server:
    """A local pipeline running in a child process."""

    endpoint: str
    region: str
    access_key: str
    secret_key: str
    data_dir: Path
    pid: int

    def cpu_seconds(self) -> float:
        """CPU time (user + system, every thread) the server has used so far: its process
        and its children (the runtime's processor process)."""
        return sum(self.cpu_split())

    def cpu_split(self) -> tuple[float, float]:
        """:meth:`cpu_seconds` split: the gateway process's own, and its children's."""
        import psutil  # type: ignore[import-untyped]

        process = psutil.Process(self.pid)
        split = [0.0, 0.0]
        for index, part in enumerate((process, *process.children(recursive=True))):
            try:
                times = part.cpu_times()
            except psutil.NoSuchProcess:
                continue
            split[min(index, 1)] += times.user + times.system
        return split[0], split[1]

    @property
    def database(self) -> Path:
        from iot_pipeline_backend.adapters.local import DATABASE_FILE

        return self.data_dir / DATABASE_FILE

    def client(self) -> Any:
        """A synchronous signed ``httpx.Client`` (one kept-alive connection)."""
        import httpx
        from botocore.credentials import Credentials
        from iot_pipeline_sdk import SigV4Auth

        auth = SigV4Auth(
            credentials=Credentials(self.access_key, self.secret_key), region=self.region
        )
        return httpx.Client(base_url=self.endpoint, auth=auth, timeout=httpx.Timeout(60.0))

    def unrouted_round_trip_ms(self, *, samples: int = 30) -> float:
        """Median round trip of a request the gateway refuses before any work (kept alive).

        The server's HTTP floor: what every request pays whatever its route.
        """
        import httpx

        timings: list[float] = []
        with httpx.Client(base_url=self.endpoint, timeout=httpx.Timeout(60.0)) as client:
            for _ in range(samples + 3):
                started = time.perf_counter()
                client.get("/")  # 403 Missing Authentication Token
                timings.append(time.perf_counter() - started)
        return median(timings[3:]) * 1000

    def count_rows(self, table: str) -> int:
        """Rows in ``table`` of the pipeline's database, read beside the running server."""
        with sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, timeout=30) as conn:
            (count,) = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()  # noqa: S608
        return int(count)


@contextmanager
def running_server(*, data_dir: Path) -> Iterator[Server]:
    """Start the local pipeline in a child process; stop it with ``SIGTERM`` on exit."""
    from iot_pipeline_backend.local.testing import running_pipeline_process

    try:
        with running_pipeline_process(
            data_dir=data_dir, startup_timeout=STARTUP_TIMEOUT_S
        ) as child:
            yield Server(
                endpoint=child.endpoint,
                region=child.region,
                access_key=child.access_key,
                secret_key=child.secret_key,
                data_dir=child.data_dir,
                pid=child.process.pid,
            )
    except BaseException:
        # The temporary data directory goes away with the run: keep the server's side of it.
        _print_log_tail(data_dir.resolve() / "runtime.log")
        raise


#: Above this, the server's HTTP floor is a delayed-ACK stall rather than work (see below).
STALL_MS = 20.0


def http_floor_note(floor_ms: float) -> str:
    """A sentence on the server's HTTP floor, explaining it when it is a TCP stall."""
    sentence = (
        f"A request the gateway refuses before any work takes {floor_ms:.1f} ms (median) on a "
        "kept-alive connection"
    )
    if floor_ms < STALL_MS:
        return sentence + "."
    return (
        sentence + ": the runtime's listening socket is created with protocol 0, so asyncio "
        "does not set TCP_NODELAY on accepted connections, and each response body waits for "
        "the client's delayed ACK of the headers (~40 ms on Linux). That stall, not work, "
        "dominates every local round trip here; creating the socket with IPPROTO_TCP "
        "removes it."
    )


def _print_log_tail(log: Path, *, lines: int = 20) -> None:
    """Print the server log's errors and last lines (the data directory is about to go)."""
    try:
        every = log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return
    errors = [line for line in every if '"level": "error"' in line][-lines:]
    shown = [*errors, "...", *every[-lines:]]
    print(f"--- errors and last lines of {log} ---", *shown, "---", sep="\n", file=sys.stderr)


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The ``fraction`` quantile (0–1) of ``samples``, nearest-rank."""
    ordered = sorted(samples)
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[rank]


def median(samples: Sequence[float]) -> float:
    """The median of ``samples``."""
    return statistics.median(samples)
