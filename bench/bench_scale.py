"""Figure 9: end-to-end throughput and memory held as the store grows from 10k to 1M rows.

Two data directories: one whose raw and processed tables hold 10,000 rows each, one with
1,000,000 each, filled straight through SQL before the runtime starts (the product's schema,
created by its own ``Database``; rows rendered from templates, appended in key order, without
fsync until its end: the fill is not what is measured). The product's runtime (``python -m
iot_pipeline_backend.local``) then takes the same signed batches of 100 on each, and the
figure is the readings/s at 1M stored rows against the readings/s at 10k, with the server's
resident memory at the end of each run in the note.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from _support import Server, running_server
from _workload import BATCH, Senders, readings, wait_for_rows
from bench_query import LOAD_CHUNK, _rows
from run import Figure

#: Alternated runs per size.
ROUNDS = 3


def _fill(data_dir: Path, rows: int) -> float:
    """``rows`` raw and ``rows`` processed rows for devices the benchmark never sends."""
    from iot_pipeline_backend.adapters.local import DATABASE_FILE
    from iot_pipeline_backend.adapters.local.db import Database

    data_dir.mkdir(parents=True, exist_ok=True)
    Database(data_dir / DATABASE_FILE).close()  # the product's schema
    started = time.perf_counter()
    conn = sqlite3.connect(data_dir / DATABASE_FILE, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous=OFF")
        generated = _rows(0, max(1, rows // 1_000), rng=random.Random(9))
        while True:
            chunk = [row for _, row in zip(range(LOAD_CHUNK), generated, strict=False)]
            if not chunk:
                break
            conn.execute("BEGIN")
            conn.executemany("INSERT INTO processed (device_id, sk, item) VALUES (?, ?, ?)", chunk)
            conn.executemany(
                "INSERT INTO raw (device_id, sk, reading_id, item) VALUES (?, ?, ?, ?)",
                [(device, sk, sk.split("#", 1)[1], item) for device, sk, item in chunk],
            )
            conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    # Written without fsync, the fill's pages would still be dirty in the OS cache when the
    # runs start, and the runtime's first checkpoint would flush all of them (up to a second
    # with 1M rows): that is the fill's cost, so it is paid here, before the clock.
    with (data_dir / DATABASE_FILE).open("rb") as written:
        os.fsync(written.fileno())
    return time.perf_counter() - started


def _rss_mib(server: Server) -> float:
    import psutil  # type: ignore[import-untyped]

    return float(psutil.Process(server.pid).memory_info().rss) / 2**20


def _fresh(body: bytes, tag: int) -> bytes:
    """The same readings under reading ids of their own (a rerun must not be all repeats)."""
    return body.replace(b'"bench-', f'"r{tag}-bench-'.encode())


def _throughput(
    data_dir: Path, bodies: list[bytes], *, send_for: float, tag: int
) -> tuple[float, float]:
    """Readings/s ingested → processed, and the server's RSS (MiB) afterwards."""
    warmup = [json.dumps({"readings": readings(BATCH, devices=1, prefix="scale-warmup")}).encode()]
    warmup, bodies = [_fresh(b, tag) for b in warmup], [_fresh(b, tag) for b in bodies]
    with running_server(data_dir=data_dir) as server, Senders(server, count=4) as senders:
        already = server.count_rows("processed")
        senders.post("/ingest", warmup)
        wait_for_rows(server, "processed", already + BATCH, timeout=60)
        started = time.perf_counter()
        batches = senders.post("/ingest", bodies, until=started + send_for)
        wait_for_rows(server, "processed", already + BATCH + batches * BATCH, timeout=300)
        elapsed = time.perf_counter() - started
        return batches * BATCH / elapsed, _rss_mib(server)


def run(*, quick: bool) -> list[Figure]:
    """Figure 9 (see the module docstring)."""
    small, large = (1_000, 20_000) if quick else (10_000, 1_000_000)
    count = 1_000 if quick else 10_000
    send_for = 5.0 if quick else 20.0
    sent = readings(count, devices=50, prefix="scale-device")
    bodies = [
        json.dumps({"readings": sent[i : i + BATCH]}).encode() for i in range(0, count, BATCH)
    ]
    rates: dict[int, list[float]] = {small: [], large: []}
    memory: dict[int, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        fill_seconds = {size: _fill(Path(tmp) / str(size), size) for size in (small, large)}
        # small, large, small, large, …: drift on a shared machine hits both sizes alike, and
        # the median of three runs per size is not moved by one run a stall hit (single runs
        # of the same size vary by ±20 % here).
        for round_index in range(ROUNDS):
            for size in (small, large):
                rate, rss = _throughput(
                    Path(tmp) / str(size), bodies, send_for=send_for, tag=round_index
                )
                rates[size].append(rate)
                memory[size] = max(memory.get(size, 0.0), rss)
    value = statistics.median(rates[large])
    reference = statistics.median(rates[small])
    return [
        Figure(
            figure=f"9. End-to-end readings/s with {large:,} rows stored",
            value=value,
            unit="readings/s",
            reference=f"the same with {small:,} rows stored",
            reference_value=reference,
            goal="≥ 0.85× (throughput held as the store grows)",
            goal_ratio=0.85,
            note=(
                f"{count:,} readings in batches of {BATCH} from 4 client threads per run, "
                f"{ROUNDS} runs per size alternated (each a fresh runtime on the same data "
                "directory), the median of each size's runs compared; "
                f"raw and processed tables pre-filled with {small:,} / {large:,} rows each "
                f"({fill_seconds[small]:.1f} s / {fill_seconds[large]:.1f} s, not measured). "
                f"Runs: {', '.join(f'{r:,.0f}' for r in rates[small])} readings/s at "
                f"{small:,}; {', '.join(f'{r:,.0f}' for r in rates[large])} at {large:,}. "
                f"Server RSS after the runs: {memory[small]:.0f} MiB at {small:,} rows, "
                f"{memory[large]:.0f} MiB at {large:,}: SQLite's page cache is bounded, so "
                "memory does not grow with the store; what grows is the depth of the B-trees "
                "that every insert and repeat check walks."
            ),
        )
    ]
