"""``POST /ingest``: validate, store raw durably, enqueue, then acknowledge."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from iot_pipeline_common import keys
from iot_pipeline_common.models import (
    BatchIngestResponse,
    IngestedItem,
    IngestResponse,
    Reading,
)
from iot_pipeline_common.parsing import parse_ingest_body

from iot_pipeline_backend.adapters import atomic
from iot_pipeline_backend.domain.ingest import ingest_readings
from iot_pipeline_backend.handlers.http import (
    build_resolver,
    json_response,
    per_thread,
    request_body,
)
from iot_pipeline_backend.handlers.observability import count, lambda_entry
from iot_pipeline_backend.handlers.runtime import current_adapters


def ingest(event: APIGatewayProxyEvent) -> Response[str]:
    """One reading or ``{"readings": [...]}``; 200 only once stored and queued."""
    request = parse_ingest_body(request_body(event))
    readings = [request] if isinstance(request, Reading) else request.readings
    adapters = current_adapters()
    config = adapters.config.load_config()
    with atomic(adapters):
        stored = ingest_readings(
            readings,
            raw_store=adapters.raw,
            queue=adapters.queue,
            config=config,
            now_ms=keys.now_ms(),
        )
    count("ReadingsIngested", len(stored))
    if isinstance(request, Reading):
        item = stored[0]
        return json_response(
            200,
            IngestResponse(
                device_id=item.device_id, timestamp=item.timestamp, reading_id=item.reading_id
            ),
        )
    return json_response(
        200,
        BatchIngestResponse(
            count=len(stored),
            items=[
                IngestedItem(device_id=r.device_id, timestamp=r.timestamp, reading_id=r.reading_id)
                for r in stored
            ],
        ),
    )


def _build_resolver() -> APIGatewayRestResolver:
    app = build_resolver({"/ingest": frozenset({"POST"})})

    @app.post("/ingest")
    def _ingest() -> Response[str]:
        return ingest(app.current_event)

    return app


resolver = per_thread(_build_resolver)


@lambda_entry
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """API Gateway REST proxy event → proxy response."""
    return resolver().resolve(event, context)
