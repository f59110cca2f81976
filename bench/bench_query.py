"""Figure 7: query latency of a one-day page as the store grows from 10k to 1M rows.

One local data directory per size (10k, 100k, 1M rows): its processed table is filled
straight through SQL (the product's schema, created by its own ``Database``), device after
device, each device holding 1,000 readings five minutes apart (about 3.5 days). The query
Lambda handler then answers ``GET /query?device_id=D&event_date=DAY&limit=100`` for random
devices and full days, with the proxy event the local gateway would build, in rounds that
rotate the sizes so drift on a shared machine hits each alike. The figure is the median
latency at 1M rows against the median at 10k rows. HTTP adds the same constant at every
size, so it is left out.
"""

from __future__ import annotations

import json
import random
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from _support import median, percentile
from run import Figure

READINGS_PER_DEVICE = 1_000
INTERVAL_MS = 300_000
#: Day boundary at 2024-01-15T00:00:00Z; device readings start there.
FIRST_DAY_MS = 1_705_276_800_000
DAY_MS = 86_400_000
LOAD_CHUNK = 50_000


def _template() -> dict[str, Any]:
    """A processed item exactly as the processor writes one (the rows only vary in values)."""
    from iot_pipeline_backend.domain.process import process_reading
    from iot_pipeline_common.models import PipelineConfig, RawItem

    raw = RawItem(
        device_id="bench-query-00000",
        event_date="2024-01-15",
        timestamp=FIRST_DAY_MS,
        reading_id="q-0000000",
        sensor_data={"temperature": 21.5, "humidity": 48.0, "pressure": 1012.5},
        ingested_at="2024-01-15T00:00:01Z",
        seq=0,
    )
    item = process_reading(raw, config=PipelineConfig(), now_ms=FIRST_DAY_MS + 1_000)
    return item.model_dump(mode="json", exclude_none=True)


def _row_formats() -> list[str]:
    """One ``%``-format per reading index: the item's JSON with the device and values open.

    Everything that depends only on the index (timestamps, days, ids) is rendered once, so a
    million rows cost one string formatting each.
    """
    from iot_pipeline_common import keys

    template = _template()
    formats: list[str] = []
    for index in range(READINGS_PER_DEVICE):
        timestamp = FIRST_DAY_MS + index * INTERVAL_MS
        item = dict(
            template,
            device_id="bench-query-@DEVICE@",
            event_date=keys.event_date_of(timestamp),
            timestamp=timestamp,
            reading_id=f"q-@DEVICE@-{index:04d}",
            temperature=-1001.5,
            temperature_celsius=-1001.5,
            temperature_fahrenheit=-1002.5,
            processed_at=keys.iso_utc(timestamp + 1_000),
            ingested_at=keys.iso_utc(timestamp + 500),
            seq=index,
            sensor_data=dict(template["sensor_data"], temperature=-1001.5),
        )
        text = json.dumps(item, separators=(",", ":"))
        formats.append(
            text.replace("@DEVICE@", "%(device)s")
            .replace("-1001.5", "%(celsius)s")
            .replace("-1002.5", "%(fahrenheit)s")
        )
    return formats


def _rows(first_device: int, devices: int, *, rng: random.Random) -> Iterator[tuple[str, str, str]]:
    from iot_pipeline_common import keys

    formats = _row_formats()
    celsius = [round(rng.uniform(15.0, 30.0), 1) for _ in range(READINGS_PER_DEVICE)]
    values = [{"celsius": c, "fahrenheit": round(c * 9 / 5 + 32, 1)} for c in celsius]
    sort_keys = [
        keys.sort_key(FIRST_DAY_MS + index * INTERVAL_MS, f"q-@-{index:04d}")
        for index in range(READINGS_PER_DEVICE)
    ]
    for device in range(first_device, first_device + devices):
        name = f"{device:05d}"
        device_id = f"bench-query-{name}"
        shift = device % READINGS_PER_DEVICE
        for index in range(READINGS_PER_DEVICE):
            value = values[(index + shift) % READINGS_PER_DEVICE]
            yield (
                device_id,
                sort_keys[index].replace("@", name),
                formats[index] % {"device": name, **value},
            )


def _check_row(row: tuple[str, str, str]) -> None:
    """A generated row must be what the store would have written for that reading."""
    from iot_pipeline_common import keys
    from iot_pipeline_common.models import ProcessedItem

    device_id, sk, text = row
    item = ProcessedItem.model_validate_json(text)
    if (item.device_id, keys.sort_key(item.timestamp, item.reading_id)) != (device_id, sk):
        raise AssertionError(f"generated row does not match its keys: {row}")


def _load(database: Path, first_device: int, devices: int, *, rng: random.Random) -> None:
    """Append ``devices`` devices' rows in key order (a bulk load, not what is measured)."""
    conn = sqlite3.connect(database, isolation_level=None)
    try:
        # Durability is not what this figure measures; the load only has to be quick.
        conn.execute("PRAGMA synchronous=OFF")
        rows = _rows(first_device, devices, rng=rng)
        _check_row(next(iter(_rows(first_device, 1, rng=random.Random(0)))))
        while True:
            chunk = [row for _, row in zip(range(LOAD_CHUNK), rows, strict=False)]
            if not chunk:
                break
            conn.execute("BEGIN")
            conn.executemany("INSERT INTO processed (device_id, sk, item) VALUES (?, ?, ?)", chunk)
            conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def _query_event(device_id: str, event_date: str) -> dict[str, Any]:
    from iot_pipeline_backend.local.events import ProxyRequest, build_event

    query = f"device_id={device_id}&event_date={event_date}&limit=100"
    request = ProxyRequest(
        method="GET",
        resource="/query",
        stage_path="/prod/query",
        headers=[("host", "127.0.0.1"), ("accept", "application/json")],
        raw_query=query,
        body=b"",
        source_ip="127.0.0.1",
        access_key="AKIABENCHMARK0000000",
    )
    return build_event(request, region="us-east-1")


def _latencies(handler: Any, devices: int, *, samples: int, rng: random.Random) -> list[float]:
    from iot_pipeline_backend.local.poller import LocalLambdaContext
    from iot_pipeline_common import keys

    # Days 1 and 2 of every device are full days (288 readings), so a page holds 100 items.
    full_days = [keys.event_date_of(FIRST_DAY_MS + day * DAY_MS) for day in (1, 2)]
    timings: list[float] = []
    for _ in range(samples):
        device_id = f"bench-query-{rng.randrange(devices):05d}"
        event = _query_event(device_id, rng.choice(full_days))
        context = LocalLambdaContext(
            deadline=time.monotonic() + 30, function_name="data-query-local"
        )
        started = time.perf_counter()
        response = handler(event, context)
        timings.append(time.perf_counter() - started)
        body = json.loads(response["body"])
        if response["statusCode"] != 200 or body["count"] != 100 or not body["next_token"]:
            raise RuntimeError(f"unexpected query answer: {response['statusCode']} {body}")
    return timings


def run(*, quick: bool) -> list[Figure]:
    """Figure 7 (see the module docstring)."""
    import importlib
    import os

    from iot_pipeline_backend.adapters.local import DATABASE_FILE, LocalAdapters
    from iot_pipeline_backend.handlers.runtime import use_adapters
    from iot_pipeline_backend.local.environment import point_handlers_at

    sizes = [1_000, 10_000] if quick else [10_000, 100_000, 1_000_000]
    rounds, per_round = (2, 25) if quick else (8, 50)
    rng = random.Random(7)
    timings: dict[int, list[float]] = {size: [] for size in sizes}
    load_seconds: dict[int, float] = {}
    # Imported before the environment is saved: it sets the defaults that keep metrics and
    # tracing off outside Lambda, which restoring a copy taken earlier would remove (and
    # the next in-process handler would then print EMF lines).
    importlib.import_module("iot_pipeline_backend.handlers.observability")
    saved_environment = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="bench-query-") as tmp:
        stores: dict[int, LocalAdapters] = {}
        previous = None
        try:
            # One data directory per size, so the sizes can be queried side by side.
            for size in sizes:
                stores[size] = LocalAdapters.open(Path(tmp) / f"rows-{size}")  # the schema
                started = time.perf_counter()
                _load(
                    stores[size].data_dir / DATABASE_FILE, 0, size // READINGS_PER_DEVICE, rng=rng
                )
                load_seconds[size] = time.perf_counter() - started
            point_handlers_at(Path(tmp) / f"rows-{sizes[0]}", region="us-east-1")
            previous = use_adapters(stores[sizes[0]])
            handler = importlib.import_module("iot_pipeline_backend.handlers.query").lambda_handler
            for size in sizes:  # warm every path and cache before measuring
                use_adapters(stores[size])
                _latencies(handler, size // READINGS_PER_DEVICE, samples=20, rng=rng)
            # Rounds rotate the sizes, so drift on a shared machine hits every size alike.
            for round_number in range(rounds):
                shift = round_number % len(sizes)
                for size in sizes[shift:] + sizes[:shift]:
                    use_adapters(stores[size])
                    timings[size] += _latencies(
                        handler, size // READINGS_PER_DEVICE, samples=per_round, rng=rng
                    )
        finally:
            use_adapters(previous)
            for store in stores.values():
                store.close()
            os.environ.clear()
            os.environ.update(saved_environment)
    samples = rounds * per_round
    medians = {size: median(found) * 1000 for size, found in timings.items()}
    p99s = {size: percentile(found, 0.99) * 1000 for size, found in timings.items()}
    smallest, largest = sizes[0], sizes[-1]
    steps = "; ".join(
        f"{size:,} rows: median {medians[size]:.2f} ms, p99 {p99s[size]:.2f} ms "
        f"(loaded in {load_seconds[size]:.1f} s)"
        for size in sizes
    )
    return [
        Figure(
            figure=f"7. One-day query page (limit 100) at {largest:,} rows",
            value=medians[largest],
            unit="ms",
            reference=f"same query at {smallest:,} rows",
            reference_value=medians[smallest],
            goal="≤ 1.5× the 10k-row latency",
            better="lower",
            goal_ratio=1.5,
            note=(
                f"Query Lambda handler invoked in-process with the gateway's proxy event, "
                f"{samples} random device-days per size in {rounds} rounds that rotate the "
                "sizes, each query answering 100 items and a "
                f"next_token; {READINGS_PER_DEVICE:,} readings per device. {steps}. The "
                "primary key (device_id, sk) makes a page a range scan whatever the table "
                "size; what grows is the B-tree depth and the share of pages not in cache."
            ),
        )
    ]
