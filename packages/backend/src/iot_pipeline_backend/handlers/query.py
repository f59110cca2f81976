"""``GET /query`` (readings, or aggregates with ``interval``), ``GET /devices[/{device_id}]``."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from iot_pipeline_common.errors import RequestValidationError
from iot_pipeline_common.models import ErrorDetail
from iot_pipeline_common.parsing import (
    parse_aggregate_params,
    parse_devices_params,
    parse_query_params,
)
from pydantic import BaseModel

from iot_pipeline_backend.domain.query import query_readings
from iot_pipeline_backend.domain.timeseries import aggregate_readings, get_device, list_devices
from iot_pipeline_backend.handlers.http import build_resolver, json_response, per_thread
from iot_pipeline_backend.handlers.observability import count, lambda_entry
from iot_pipeline_backend.handlers.runtime import current_adapters


def _page_body(page: BaseModel, next_token: str | None) -> dict[str, Any]:
    # ``next_token: null`` is part of the envelope, so it is dumped even when None.
    body = page.model_dump(mode="json", exclude_none=True)
    body["next_token"] = next_token
    return body


def query(event: APIGatewayProxyEvent) -> Response[str]:
    """``{"count", "items", "next_token"}``; a bad or foreign ``next_token`` is a 400."""
    if "interval" in (event.query_string_parameters or {}):
        return aggregate(event)
    params = parse_query_params(event.query_string_parameters)
    adapters = current_adapters()
    page = query_readings(
        params,
        raw_store=adapters.raw,
        processed_store=adapters.processed,
        token_key=adapters.token_key,
    )
    count("ReadingsReturned", page.count)
    return json_response(200, _page_body(page, page.next_token))


def aggregate(event: APIGatewayProxyEvent) -> Response[str]:
    """A page of buckets: ``{"count", "items": [{"start", "end", "count", "stats"}], ...}``."""
    params = parse_aggregate_params(event.query_string_parameters)
    adapters = current_adapters()
    page = aggregate_readings(
        params,
        timeseries=adapters.timeseries,
        token_key=adapters.token_key,
    )
    count("BucketsReturned", page.count)
    return json_response(200, _page_body(page, page.next_token))


def devices(event: APIGatewayProxyEvent) -> Response[str]:
    """A page of devices in ``device_id`` order."""
    params = parse_devices_params(event.query_string_parameters)
    adapters = current_adapters()
    page = list_devices(params, timeseries=adapters.timeseries, token_key=adapters.token_key)
    body = _page_body(page, page.next_token)
    for item in body["items"]:
        item.setdefault("latest", None)  # ``latest: null`` until a reading is processed
    return json_response(200, body)


def device(event: APIGatewayProxyEvent, device_id: str) -> Response[str]:
    """One device, or ``404 not_found``; it takes no query parameters (any is a 400)."""
    unknown = sorted(event.query_string_parameters or {})
    if unknown:
        details = [ErrorDetail(field=name, message="unknown field; remove it") for name in unknown]
        raise RequestValidationError(
            f"Invalid device request: {unknown[0]}: unknown field; remove it", details=details
        )
    found = get_device(device_id, timeseries=current_adapters().timeseries)
    body = found.model_dump(mode="json", exclude_none=True)
    body.setdefault("latest", None)
    return json_response(200, body)


def _build_resolver() -> APIGatewayRestResolver:
    app = build_resolver({"/query": frozenset({"GET"}), "/devices": frozenset({"GET"})})

    @app.get("/query")
    def _query() -> Response[str]:
        return query(app.current_event)

    @app.get("/devices")
    def _devices() -> Response[str]:
        return devices(app.current_event)

    @app.get("/devices/<device_id>")
    def _device(device_id: str) -> Response[str]:
        return device(app.current_event, device_id)

    return app


resolver = per_thread(_build_resolver)


@lambda_entry
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """API Gateway REST proxy event → proxy response."""
    return resolver().resolve(event, context)
