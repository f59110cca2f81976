"""What the dashboard's data endpoints answer, read through the API's own domain code.

Each view is a plain function of the local adapters returning JSON-ready data, so the page
shows exactly what ``GET /devices`` and ``GET /query?interval=`` answer for the same question.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from iot_pipeline_common import limits
from iot_pipeline_common.aggregates import Bucket, Device, DevicesParams
from iot_pipeline_common.parsing import parse_aggregate_params

from iot_pipeline_backend.adapters.local import LocalAdapters
from iot_pipeline_backend.dashboard.figures import PipelineFigures
from iot_pipeline_backend.domain.timeseries import aggregate_readings, list_devices

#: The sensors the table and the chart offer, in display order.
SENSORS = ("temperature", "humidity", "pressure")
#: Devices the table lists (the first ones by id; the filter box narrows them).
DEVICE_ROWS = limits.QUERY_LIMIT_MAX
#: Alerts the page lists.
RECENT_ALERTS = 20


def device_rows(adapters: LocalAdapters) -> dict[str, Any]:
    """One row per device (``GET /devices``): last seen, latest values, status, anomalies.

    The first :data:`DEVICE_ROWS` devices by id; ``more`` says whether there are others.
    """
    page = list_devices(
        DevicesParams(limit=DEVICE_ROWS),
        timeseries=adapters.timeseries,
        token_key=adapters.token_key,
    )
    return {
        "devices": [_row(device) for device in page.items],
        "more": page.next_token is not None,
    }


def _row(device: Device) -> dict[str, Any]:
    latest = device.latest
    values = (latest.sensor_data if latest is not None else None) or {}
    return {
        "device_id": device.device_id,
        "last_seen": device.last_seen,
        "readings": device.readings,
        "values": {name: values[name] for name in SENSORS if name in values},
        "status": latest.status if latest is not None else "processed",
        "anomalies": [a.model_dump(mode="json") for a in (latest and latest.anomalies) or []],
    }


def recent_alerts(adapters: LocalAdapters, *, limit: int = RECENT_ALERTS) -> list[dict[str, Any]]:
    """The newest alerts first, as the alert sink wrote them."""
    return adapters.alerts.recent_alerts(limit)


def figures_body(figures: PipelineFigures) -> dict[str, Any]:
    """The header's figures as JSON."""
    return {
        "readings_stored": figures.readings_stored,
        "readings_processed": figures.readings_processed,
        "ingest_per_second": figures.ingest_per_second,
        "processed_per_second": figures.processed_per_second,
        "queue_depth": figures.queue_depth,
        "dlq_size": figures.dlq_size,
    }


def device_series(adapters: LocalAdapters, query: Mapping[str, str]) -> dict[str, Any]:
    """One sensor of one device in ``interval`` buckets (``GET /query?interval=``), as columns.

    Every page of the range is read (at most ``AGGREGATE_MAX_BUCKETS`` buckets in all).
    """
    sensor = query.get("sensor", SENSORS[0])
    wanted = {
        "device_id": query.get("device_id", ""),
        "interval": query.get("interval", "1m"),
        "fields": sensor,
        "stats": "min,avg,max",
        "limit": str(limits.QUERY_LIMIT_MAX),
        **{name: query[name] for name in ("start", "end") if name in query},
    }
    params = parse_aggregate_params(wanted)
    buckets: list[Bucket] = []
    while True:
        page = aggregate_readings(
            params,
            timeseries=adapters.timeseries,
            token_key=adapters.token_key,
        )
        buckets.extend(page.items)
        if page.next_token is None:
            break
        params = parse_aggregate_params({**wanted, "next_token": page.next_token})
    stats = [bucket.stats.get(sensor) for bucket in buckets]
    return {
        "device_id": params.device_id,
        "sensor": sensor,
        "interval": params.interval,
        "buckets": [bucket.start for bucket in buckets],
        "min": [None if s is None else s.min for s in stats],
        "avg": [None if s is None else s.avg for s in stats],
        "max": [None if s is None else s.max for s in stats],
    }
