"""``GET /query``: a page of a device's processed (default) or raw readings."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from iot_pipeline_common.parsing import parse_query_params

from iot_pipeline_backend.domain.query import query_readings
from iot_pipeline_backend.handlers.http import build_resolver, json_response, per_thread
from iot_pipeline_backend.handlers.observability import count, lambda_entry
from iot_pipeline_backend.handlers.runtime import current_adapters


def query(event: APIGatewayProxyEvent) -> Response[str]:
    """``{"count", "items", "next_token"}``; a bad or foreign ``next_token`` is a 400."""
    params = parse_query_params(event.query_string_parameters)
    adapters = current_adapters()
    page = query_readings(
        params,
        raw_store=adapters.raw,
        processed_store=adapters.processed,
        token_key=adapters.token_key,
    )
    count("ReadingsReturned", page.count)
    # ``next_token: null`` is part of the envelope, so it is dumped even when None.
    body = page.model_dump(mode="json", exclude_none=True)
    body["next_token"] = page.next_token
    return json_response(200, body)


def _build_resolver() -> APIGatewayRestResolver:
    app = build_resolver({"/query": frozenset({"GET"})})

    @app.get("/query")
    def _query() -> Response[str]:
        return query(app.current_event)

    return app


resolver = per_thread(_build_resolver)


@lambda_entry
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """API Gateway REST proxy event → proxy response."""
    return resolver().resolve(event, context)
