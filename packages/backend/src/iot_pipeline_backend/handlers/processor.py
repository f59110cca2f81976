"""The processor: SQS batches of raw readings, and ``POST /process`` (replay).

One function serves both event sources, as the same Lambda is wired to the queue and to the
API: an event with ``Records`` is an SQS batch, anything else an API Gateway proxy event.
A record that fails (malformed body, a store error) is reported in ``batchItemFailures``
and redelivered; the others are deleted. Alerts are delivered on a best-effort basis: a
failed publish is logged and counted (``AlertFailures``) but never fails a record whose
processed writes succeeded, nor the batch (redelivery would only duplicate the alerts).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from iot_pipeline_common import keys
from iot_pipeline_common.models import PipelineConfig, ProcessedItem
from iot_pipeline_common.parsing import parse_process_body

from iot_pipeline_backend.adapters import atomic
from iot_pipeline_backend.domain.messages import unpack_message
from iot_pipeline_backend.domain.process import check_error_threshold, process_readings
from iot_pipeline_backend.domain.reprocess import reprocess_readings
from iot_pipeline_backend.domain.timeseries import maintain_rollups
from iot_pipeline_backend.errors import StoreUnavailableError
from iot_pipeline_backend.handlers.http import (
    build_resolver,
    json_response,
    per_thread,
    request_body,
)
from iot_pipeline_backend.handlers.observability import count, lambda_entry, logger
from iot_pipeline_backend.handlers.runtime import current_adapters
from iot_pipeline_backend.ports import Alert, AlertSink


class BestEffortAlerts:
    """An alert sink whose failures are logged and counted instead of raised."""

    def __init__(self, sink: AlertSink) -> None:
        self._sink = sink

    def publish_alert(self, alert: Alert) -> None:
        """Publish; on failure log, count ``AlertFailures`` and carry on."""
        try:
            self._sink.publish_alert(alert)
        except StoreUnavailableError:
            count("AlertFailures", 1)
            logger.exception("alert not delivered", extra={"alert_kind": alert.kind})


def reprocess(event: APIGatewayProxyEvent) -> Response[str]:
    """Re-enqueue a device's raw readings → ``202 {"queued": N, "next_token": ...}``."""
    request = parse_process_body(request_body(event))
    adapters = current_adapters()
    replay = reprocess_readings(request, raw_store=adapters.raw, queue=adapters.queue)
    # ``next_token: null`` is part of the envelope (the replay is complete), as for queries.
    return json_response(202, {"queued": replay.queued, "next_token": replay.next_token})


def process_record(
    record: SQSRecord, config: PipelineConfig, done: list[tuple[str, list[ProcessedItem]]]
) -> int:
    """Process every reading of one message; raises to mark the record failed.

    The processed items are appended to ``done``: the batch's rollups are kept after all
    its records (one recompute per touched minute instead of one per message).
    """
    adapters = current_adapters()
    readings = []
    try:
        readings = unpack_message(record.body)
        items = process_readings(
            readings,
            processed_store=adapters.processed,
            alerts=BestEffortAlerts(adapters.alerts),
            config=config,
            now_ms=keys.now_ms(),
        )
    except Exception as exc:
        count("ReadingsFailed", len(readings) or 1)
        if isinstance(exc, StoreUnavailableError):
            count("StoreFailures", 1)
        logger.exception("record failed", extra={"message_id": record.message_id})
        raise
    count("ReadingsProcessed", len(readings))
    done.append((record.message_id, items))
    return len(readings)


def keep_rollups(done: list[tuple[str, list[ProcessedItem]]]) -> list[str]:
    """Maintain the rollups of the processed messages; the ids of those whose step failed.

    A message whose rollups could not be written is reported failed, so its redelivery
    recomputes them (its processed writes are upserts). The batch is tried whole first,
    then message by message, so one device that cannot be rolled up fails only its own.
    """
    timeseries = current_adapters().timeseries
    if timeseries.rolls_up_on_store:
        return []  # kept in the commit of the processed rows already
    try:
        maintain_rollups([item for _, items in done for item in items], timeseries=timeseries)
        return []
    except Exception:
        logger.exception("rollups of the batch failed; retrying message by message")
    failed: list[str] = []
    for message_id, items in done:
        try:
            maintain_rollups(items, timeseries=timeseries)
        except Exception:
            count("RollupsFailed", 1)
            logger.exception("rollups failed", extra={"message_id": message_id})
            failed.append(message_id)
    return failed


def handle_sqs_batch(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Process an SQS batch; returns ``{"batchItemFailures": [...]}``."""
    adapters = current_adapters()
    # Read once per batch: a bad config fails the whole batch loudly instead of every record.
    config = adapters.config.load_config()
    # A BatchProcessor holds the batch it is working on, so each invocation gets its own
    # (the local poller invokes from several threads). An all-failed batch is reported record
    # by record like any other, so the error-threshold alert still fires; the event source
    # mapping retries exactly the same messages either way.
    batch = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    # Locally the batch's processed writes commit together (one fsync instead of one per
    # record); a failing record still fails alone. On AWS each write is its own call anyway.
    done: list[tuple[str, list[ProcessedItem]]] = []
    with atomic(adapters):
        response = process_partial_response(
            event=event,
            record_handler=lambda record: process_record(record, config, done),
            processor=batch,
            context=context,
        )
    # After that commit: the rollups are recomputed from the processed rows as stored
    # (where the store does not keep them in that commit itself).
    failures = list(response.get("batchItemFailures", []))
    failures += [{"itemIdentifier": mid} for mid in keep_rollups(done)]
    check_error_threshold(
        failed=len(failures),
        total=len(event.get("Records", [])),
        config=config,
        alerts=BestEffortAlerts(adapters.alerts),
    )
    return {**response, "batchItemFailures": failures}


def _build_resolver() -> APIGatewayRestResolver:
    app = build_resolver({"/process": frozenset({"POST"})})

    @app.post("/process")
    def _reprocess() -> Response[str]:
        return reprocess(app.current_event)

    return app


resolver = per_thread(_build_resolver)


@lambda_entry
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """SQS event → partial batch response; API Gateway proxy event → proxy response."""
    if "Records" in event:
        return handle_sqs_batch(event, context)
    return resolver().resolve(event, context)
