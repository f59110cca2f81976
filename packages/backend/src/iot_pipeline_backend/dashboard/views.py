"""What the dashboard's data endpoints answer, read through the API's own domain code.

Each view is a plain function of the local adapters returning JSON-ready data, so the page
shows exactly what ``GET /query`` would return for the same question.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from iot_pipeline_common import limits
from iot_pipeline_common.models import ProcessedItem, QueryParams
from iot_pipeline_common.parsing import parse_query_params

from iot_pipeline_backend.adapters.local import LocalAdapters
from iot_pipeline_backend.dashboard.figures import PipelineFigures
from iot_pipeline_backend.domain.query import query_readings

#: The sensors the table and the chart offer, in display order.
SENSORS = ("temperature", "humidity", "pressure")
#: Alerts the page lists.
RECENT_ALERTS = 20


def device_rows(adapters: LocalAdapters) -> list[dict[str, Any]]:
    """One row per device: last seen, latest values, status and anomalies of that reading."""
    rows = []
    for device_id in _device_ids(adapters):
        latest = _latest_reading(adapters, device_id)
        if latest is not None:
            rows.append(_row(latest))
    return rows


def _device_ids(adapters: LocalAdapters) -> list[str]:
    # The one read the query API has no call for yet: which devices have processed readings.
    with adapters.db.reading() as conn:
        rows = conn.execute("SELECT DISTINCT device_id FROM processed ORDER BY device_id")
        return [str(device_id) for (device_id,) in rows.fetchall()]


def _latest_reading(adapters: LocalAdapters, device_id: str) -> ProcessedItem | None:
    page = query_readings(
        QueryParams(device_id=device_id, order="desc", limit=1),
        raw_store=adapters.raw,
        processed_store=adapters.processed,
        token_key=adapters.token_key,
    )
    item = page.items[0] if page.items else None
    return item if isinstance(item, ProcessedItem) else None


def _row(item: ProcessedItem) -> dict[str, Any]:
    values = item.sensor_data or {}
    return {
        "device_id": item.device_id,
        "last_seen": item.timestamp,
        "values": {name: values[name] for name in SENSORS if name in values},
        "status": item.status,
        "anomalies": [a.model_dump(mode="json") for a in item.anomalies or []],
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
    """One device's ``sensor`` in a range, as chart columns: bucket start, min, avg, max."""
    sensor = query.get("sensor", SENSORS[0])
    params = parse_query_params(
        {
            "device_id": query.get("device_id", ""),
            **{name: query[name] for name in ("start", "end") if name in query},
            "limit": str(limits.QUERY_LIMIT_MAX),
        }
    )
    page = query_readings(
        params,
        raw_store=adapters.raw,
        processed_store=adapters.processed,
        token_key=adapters.token_key,
    )
    values = [(item.timestamp, (item.sensor_data or {}).get(sensor)) for item in page.items]
    points = [(at, value) for at, value in values if value is not None]
    column = [value for _, value in points]
    return {
        "device_id": params.device_id,
        "sensor": sensor,
        "interval": query.get("interval", ""),
        "buckets": [at for at, _ in points],
        "min": column,
        "avg": column,
        "max": column,
    }
