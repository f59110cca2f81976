"""Figure 9: an hourly aggregate of 12 hours at 1 Hz against one 100-item page of readings.

One local data directory holds a device's 43,200 processed readings (12 hours, one a
second), stored and rolled up by the product's own processor code (``process_readings``
then ``maintain_rollups``, in the transaction the poller uses, 100 readings per batch). The
query Lambda handler then answers, in alternating rounds, ``GET /query`` with
``interval=1h`` over the 12 hours (12 buckets of 3,600 readings, every stat of three fields,
from 12 hour rollups)
and ``GET /query`` for a 100-reading page of the same device, with the proxy event the local
gateway would build. The figure is the aggregate's median latency against the page's. A
second figure is the daily aggregate of the same 12 hours (one bucket). HTTP adds the same
constant to both, so it is left out.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

from _support import median, percentile
from run import Figure

HOURS = 12
START_MS = 1_705_276_800_000  # 2024-01-15T00:00:00Z
BATCH = 100
DEVICE = "bench-ts-0001"


def _event(query: str) -> dict[str, Any]:
    from iot_pipeline_backend.local.events import ProxyRequest, build_event

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


def _fill(adapters: Any, readings: int) -> float:
    """Store and roll up ``readings`` one-second readings as the processor does; seconds."""
    from iot_pipeline_backend.domain.process import process_readings
    from iot_pipeline_backend.domain.timeseries import maintain_rollups
    from iot_pipeline_common import keys
    from iot_pipeline_common.models import PipelineConfig, RawItem

    config = PipelineConfig()
    started = time.perf_counter()
    for first in range(0, readings, BATCH):
        batch = [
            RawItem(
                device_id=DEVICE,
                event_date=keys.event_date_of(START_MS + i * 1000),
                timestamp=START_MS + i * 1000,
                reading_id=f"ts-{i:06d}",
                sensor_data={
                    "temperature": round(20 + (i % 600) / 100, 2),
                    "humidity": 40 + i % 20,
                    "pressure": round(1000 + (i % 300) / 10, 1),
                },
                ingested_at=keys.iso_utc(START_MS + i * 1000),
            )
            for i in range(first, min(first + BATCH, readings))
        ]
        with adapters.atomic():
            items = process_readings(
                batch,
                processed_store=adapters.processed,
                alerts=adapters.alerts,
                config=config,
                now_ms=START_MS,
            )
            maintain_rollups(items, timeseries=adapters.timeseries)
    return time.perf_counter() - started


def _timed(handler: Any, event: dict[str, Any], expect: int) -> float:
    from iot_pipeline_backend.local.poller import LocalLambdaContext

    context = LocalLambdaContext(deadline=time.monotonic() + 30, function_name="data-query-local")
    started = time.perf_counter()
    response = handler(event, context)
    elapsed = time.perf_counter() - started
    body = json.loads(response["body"])
    if response["statusCode"] != 200 or body["count"] != expect:
        raise RuntimeError(f"unexpected answer: {response['statusCode']} {str(body)[:300]}")
    return elapsed


def run(*, quick: bool) -> list[Figure]:
    """Figure 9 (see the module docstring)."""
    import importlib
    import os

    from iot_pipeline_backend.adapters.local import LocalAdapters
    from iot_pipeline_backend.handlers.runtime import use_adapters
    from iot_pipeline_backend.local.environment import point_handlers_at

    hours = 2 if quick else HOURS
    readings = hours * 3600
    rounds, per_round = (2, 10) if quick else (8, 40)
    end = START_MS + hours * 3_600_000 - 1
    queries = {
        "hourly": (f"device_id={DEVICE}&start={START_MS}&end={end}&interval=1h", hours),
        "daily": (f"device_id={DEVICE}&start={START_MS}&end={end}&interval=1d", 1),
        "page": (f"device_id={DEVICE}&start={START_MS}&end={end}&limit=100", 100),
    }
    timings: dict[str, list[float]] = {name: [] for name in queries}
    # Imported before the environment is saved: it sets the defaults that keep metrics and
    # tracing off outside Lambda, which restoring a copy taken earlier would remove (and
    # the next in-process handler would then print EMF lines).
    importlib.import_module("iot_pipeline_backend.handlers.observability")
    saved_environment = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="bench-ts-") as tmp:
        adapters = LocalAdapters.open(Path(tmp) / "data")
        previous = None
        try:
            fill_seconds = _fill(adapters, readings)
            point_handlers_at(Path(tmp) / "data", region="us-east-1")
            previous = use_adapters(adapters)
            handler = importlib.import_module("iot_pipeline_backend.handlers.query").lambda_handler
            events = {name: (_event(query), expect) for name, (query, expect) in queries.items()}
            for event, expect in events.values():  # warm every path before measuring
                for _ in range(5):
                    _timed(handler, event, expect)
            # Rounds alternate the queries, so drift on a shared machine hits each alike.
            for round_number in range(rounds):
                names = list(events)
                shift = round_number % len(names)
                for name in names[shift:] + names[:shift]:
                    event, expect = events[name]
                    timings[name] += [_timed(handler, event, expect) for _ in range(per_round)]
        finally:
            use_adapters(previous)
            adapters.close()
            os.environ.clear()
            os.environ.update(saved_environment)
    medians = {name: median(found) * 1000 for name, found in timings.items()}
    p99s = {name: percentile(found, 0.99) * 1000 for name, found in timings.items()}
    samples = rounds * per_round
    page = "one 100-reading page of the same device"
    return [
        Figure(
            figure=f"10. Hourly aggregate of {hours} h at 1 Hz ({readings:,} readings)",
            value=medians["hourly"],
            unit="ms",
            reference=page,
            reference_value=medians["page"],
            goal="≤ 2× one 100-reading page",
            better="lower",
            goal_ratio=2.0,
            note=(
                "Query Lambda handler invoked in-process with the gateway's proxy event, "
                f"{samples} of each query in {rounds} alternating rounds; {hours} buckets "
                "with count/min/max/avg/sum of temperature, humidity and pressure, read from "
                f"{hours} hour rollups (the product's processor wrote them, with {hours * 60} "
                f"minute rollups, while storing the readings, {BATCH} per batch, in "
                f"{fill_seconds:.1f} s). p99: aggregate "
                f"{p99s['hourly']:.2f} ms, page {p99s['page']:.2f} ms. Scanning the readings "
                f"instead would parse {readings:,} items; a page parses 100."
            ),
        ),
        Figure(
            figure=f"10. Daily aggregate of the same {hours} h (one bucket)",
            value=medians["daily"],
            unit="ms",
            reference=page,
            reference_value=medians["page"],
            goal="≤ 2× one 100-reading page",
            better="lower",
            goal_ratio=2.0,
            note=f"The same hour rollups merged into one bucket; p99 {p99s['daily']:.2f} ms.",
        ),
    ]
