"""The monthly AWS bill of the pipeline as built, from a load and a set of stated assumptions.

Pure arithmetic, no I/O. The flow it prices (docs/architecture.md):

* a device sends ``batch_size`` readings in one ``POST /ingest``: one API Gateway request and
  one ingestion Lambda invocation per batch; each reading that carries a ``reading_id`` is
  first looked up (one eventually consistent ``BatchGetItem`` key), then written with one
  conditional ``PutItem`` of the raw item, plus ``idempotency_writes_per_reading`` marker
  writes (as built: none when the device sent its timestamp with the ``reading_id`` or no
  ``reading_id`` at all, one keys-only marker when it sent a ``reading_id`` without a
  timestamp — see docs/backend.md); the batch goes to SQS packed into as few
  messages (≤ 256 KiB each) and ``SendMessageBatch`` calls (≤ 10 messages, ≤ 256 KiB) as fit;
* the event source mapping receives up to 10 messages per ``ReceiveMessage``, invokes the
  processor with ``queue_batch_size`` messages, and deletes them with one
  ``DeleteMessageBatch``; the processor writes one processed item per reading;
* users read processed readings back through ``GET /query`` in pages of ``query_page_size``
  (strongly consistent reads, as built);
* every function has the stack's memory size (``infra.constants.LAMBDA_MEMORY_MB``);
* readings are kept ``retention_days`` (storage and PITR are billed on what is held).

Every count is a monthly average; no retries, duplicates, failures or cold starts are priced.
Prices come from :mod:`iot_pipeline_backend.cost.prices`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Final

from iot_pipeline_backend.cost import prices
from iot_pipeline_backend.cost.assumptions import (
    READINGS_ENVELOPE_BYTES,
    AssumptionError,
    Assumptions,
)
from iot_pipeline_backend.cost.bill import CostEstimate, CostLine, Kind

#: SQS limits the packing follows.
SQS_MAX_MESSAGE_BYTES: Final = 256 * 1024
SQS_MAX_ENTRIES_PER_CALL: Final = 10
SQS_BILLING_CHUNK_BYTES: Final = 64 * 1024
#: DynamoDB bills a write per started KB, a strong read per started 4 KB, and stores 100
#: bytes of index overhead with every item.
DYNAMODB_WRITE_UNIT_BYTES: Final = 1024
DYNAMODB_READ_UNIT_BYTES: Final = 4096
DYNAMODB_ITEM_OVERHEAD_BYTES: Final = 100


def queue_message_sizes(a: Assumptions) -> list[int]:
    """Sizes of the SQS messages one ingest request's readings are packed into."""
    per_message = (SQS_MAX_MESSAGE_BYTES - READINGS_ENVELOPE_BYTES + 1) // (a.bytes_per_reading + 1)
    if per_message < 1:
        raise AssumptionError(
            "bytes_per_reading", f"a reading must fit one {SQS_MAX_MESSAGE_BYTES}-byte message"
        )
    sizes = []
    remaining = a.batch_size
    while remaining:
        n = min(per_message, remaining)
        sizes.append(READINGS_ENVELOPE_BYTES + n * a.bytes_per_reading + (n - 1))
        remaining -= n
    return sizes


def billed_send_requests(message_sizes: list[int]) -> int:
    """Billed SQS requests of sending these messages with ``SendMessageBatch``.

    Messages are grouped greedily into calls of at most 10 entries and 256 KiB; each call
    is billed one request per started 64 KiB of its payload.
    """
    billed = 0
    entries = 0
    payload = 0
    for size in message_sizes:
        if entries and (
            entries == SQS_MAX_ENTRIES_PER_CALL or payload + size > SQS_MAX_MESSAGE_BYTES
        ):
            billed += math.ceil(payload / SQS_BILLING_CHUNK_BYTES)
            entries = payload = 0
        entries += 1
        payload += size
    return billed + math.ceil(payload / SQS_BILLING_CHUNK_BYTES)


def _traced(requests_per_month: float, a: Assumptions) -> float:
    """Traces X-Ray records for an entry point receiving this many requests a month."""
    rate = requests_per_month / prices.SECONDS_PER_MONTH
    reservoir = min(rate, a.xray_reservoir_per_second)
    return (reservoir + a.xray_sampling_rate * (rate - reservoir)) * prices.SECONDS_PER_MONTH


def _gb_seconds(invocations: float, ms: float, a: Assumptions) -> float:
    # Lambda bills each invocation's duration rounded up to the millisecond.
    return invocations * math.ceil(ms) / 1000 * a.lambda_memory_mb / 1024


def _write_units(item_bytes: int) -> int:
    return math.ceil(item_bytes / DYNAMODB_WRITE_UNIT_BYTES)


def write_units_per_reading(a: Assumptions) -> dict[str, float]:
    """Write units per reading by item kind, as the adapters write them (1 per started KB).

    ``raw`` and ``processed`` are one put each; ``marker`` is the keys-only marker of the
    readings that need one. The test suite recounts these from the adapters' real calls.
    """
    return {
        "raw": _write_units(a.bytes_per_reading),
        "marker": a.idempotency_writes_per_reading * _write_units(a.marker_item_bytes),
        "processed": _write_units(a.processed_item_bytes),
    }


def estimate_monthly_cost(assumptions: Assumptions) -> CostEstimate:
    """Price one month of ``assumptions``' load on the pipeline as built."""
    a = assumptions
    month = prices.SECONDS_PER_MONTH
    readings = a.readings_per_second * month

    # Ingest: one request, one invocation per batch.
    ingest_requests = readings / a.batch_size
    # Query: each reading read back query_reads_per_reading times, a page at a time.
    query_requests = readings * a.query_reads_per_reading / a.query_page_size
    api_requests = ingest_requests + query_requests

    # Queue: the batch's readings packed into messages, sent in SendMessageBatch calls.
    message_sizes = queue_message_sizes(a)
    messages = ingest_requests * len(message_sizes)
    send_billed = ingest_requests * billed_send_requests(message_sizes)
    mean_message_bytes = sum(message_sizes) / len(message_sizes)
    per_receive = min(SQS_MAX_ENTRIES_PER_CALL, a.queue_batch_size)
    receive_calls = messages / per_receive
    receive_billed = receive_calls * math.ceil(
        per_receive * mean_message_bytes / SQS_BILLING_CHUNK_BYTES
    )
    delete_billed = receive_calls  # one DeleteMessageBatch per receive, a small payload
    # Pollers long-poll an idle queue; under load those polls are the receives above.
    idle_polls = max(0.0, a.queue_pollers * month / a.long_poll_seconds - receive_calls)

    processor_invocations = messages / a.queue_batch_size
    readings_per_processor_invocation = readings / processor_invocations

    invocations = ingest_requests + processor_invocations + query_requests
    gb_seconds = (
        _gb_seconds(
            ingest_requests,
            a.ingestion_ms_per_request + a.ingestion_ms_per_reading * a.batch_size,
            a,
        )
        + _gb_seconds(
            processor_invocations,
            a.processor_ms_per_invocation
            + a.processor_ms_per_reading * readings_per_processor_invocation,
            a,
        )
        + _gb_seconds(
            query_requests, a.query_ms_per_request + a.query_ms_per_item * a.query_page_size, a
        )
    )

    write_units = write_units_per_reading(a)
    raw_wru = readings * write_units["raw"]
    marker_wru = readings * write_units["marker"]
    processed_wru = readings * write_units["processed"]
    # Repeat detection: an eventually consistent read, half a unit per started 4 KB.
    repeat_rru = (
        readings
        * a.repeat_check_share
        * math.ceil(a.bytes_per_reading / DYNAMODB_READ_UNIT_BYTES)
        / 2
    )
    # A query reads a page in one request: strong reads per started 4 KB (halved if eventual).
    page_bytes = a.query_page_size * a.processed_item_bytes
    rru = (
        query_requests
        * math.ceil(page_bytes / DYNAMODB_READ_UNIT_BYTES)
        / (1 if a.query_consistent_reads else 2)
    )

    held_readings = a.readings_per_second * a.retention_days * 86_400
    stored_bytes_per_reading = (
        a.bytes_per_reading
        + DYNAMODB_ITEM_OVERHEAD_BYTES
        + a.idempotency_writes_per_reading * (a.marker_item_bytes + DYNAMODB_ITEM_OVERHEAD_BYTES)
        + a.processed_item_bytes
        + DYNAMODB_ITEM_OVERHEAD_BYTES
    )
    stored_gb = held_readings * stored_bytes_per_reading / prices.BYTES_PER_GB

    log_gb = (
        invocations * a.log_bytes_per_invocation + api_requests * a.access_log_bytes_per_request
    ) / prices.BYTES_PER_GB
    traces = _traced(api_requests, a) + _traced(processor_invocations, a)
    response_gb = (
        ingest_requests
        * (a.response_overhead_bytes + a.ingest_response_bytes_per_reading * a.batch_size)
        + query_requests * (a.response_overhead_bytes + page_bytes)
    ) / prices.BYTES_PER_GB

    # Volume tiers count a service's whole month, so the SQS lines share one tiered total.
    sqs_requests = send_billed + receive_billed + delete_billed + idle_polls

    def line(
        service: str,
        item: str,
        quantity: float,
        price: prices.Price,
        kind: Kind = "usage",
        *,
        tiered_total: float | None = None,
    ) -> CostLine:
        total = quantity if tiered_total is None else tiered_total
        share = quantity / total if total else 0.0
        return CostLine(
            service=service,
            item=item,
            quantity=quantity,
            unit=price.unit,
            monthly_usd=price.monthly_cost(total) * share,
            kind=kind,
            price=price,
        )

    p = prices
    lines = (
        line(
            "API Gateway",
            "REST requests (ingest + query)",
            api_requests,
            p.API_GATEWAY_REST_REQUEST,
        ),
        line("Lambda", "requests (ingestion, processor, query)", invocations, p.LAMBDA_REQUEST),
        line("Lambda", "duration (arm64)", gb_seconds, p.LAMBDA_ARM64_GB_SECOND),
        line(
            "SQS",
            "SendMessageBatch (per 64 KB chunk)",
            send_billed,
            p.SQS_STANDARD_REQUEST,
            tiered_total=sqs_requests,
        ),
        line(
            "SQS",
            "ReceiveMessage (per 64 KB chunk)",
            receive_billed,
            p.SQS_STANDARD_REQUEST,
            tiered_total=sqs_requests,
        ),
        line(
            "SQS",
            "DeleteMessageBatch",
            delete_billed,
            p.SQS_STANDARD_REQUEST,
            tiered_total=sqs_requests,
        ),
        line(
            "SQS",
            "empty long polls",
            idle_polls,
            p.SQS_STANDARD_REQUEST,
            "fixed",
            tiered_total=sqs_requests,
        ),
        line("DynamoDB", "raw item writes", raw_wru, p.DYNAMODB_WRITE_REQUEST_UNIT),
        line("DynamoDB", "idempotency marker writes", marker_wru, p.DYNAMODB_WRITE_REQUEST_UNIT),
        line("DynamoDB", "processed item writes", processed_wru, p.DYNAMODB_WRITE_REQUEST_UNIT),
        line(
            "DynamoDB",
            "repeat detection reads (BatchGetItem)",
            repeat_rru,
            p.DYNAMODB_READ_REQUEST_UNIT,
        ),
        line("DynamoDB", "query reads", rru, p.DYNAMODB_READ_REQUEST_UNIT),
        *_time_series_lines(a, readings, line),
        line("DynamoDB", "storage", stored_gb, p.DYNAMODB_STORAGE, "storage"),
        line("DynamoDB", "point-in-time recovery", stored_gb, p.DYNAMODB_PITR, "storage"),
        line("SNS", "alert publishes", a.alerts_per_month, p.SNS_PUBLISH, "fixed"),
        line(
            "SNS",
            "alert emails",
            a.alerts_per_month * a.alert_email_subscribers,
            p.SNS_EMAIL_DELIVERY,
            "fixed",
        ),
        line(
            "CloudWatch Logs",
            "ingestion (Lambda + access logs)",
            log_gb,
            p.CLOUDWATCH_LOGS_INGESTION,
        ),
        line("X-Ray", "traces recorded", traces, p.XRAY_TRACE_RECORDED),
        line("Data transfer", "responses to clients", response_gb, p.DATA_TRANSFER_OUT),
    )
    return CostEstimate(assumptions=a, readings_per_month=readings, lines=lines)


def _time_series_lines(
    a: Assumptions, readings: float, line: Callable[[str, str, float, prices.Price], CostLine]
) -> tuple[CostLine, ...]:
    # Imported here: the component builds on this module's assumptions and constants.
    from iot_pipeline_backend.cost.timeseries import time_series_cost

    ts = time_series_cost(a)
    return (
        line(
            "DynamoDB",
            "rollup writes (aggregates table)",
            readings * ts.write_units_per_reading,
            prices.DYNAMODB_WRITE_REQUEST_UNIT,
        ),
        line(
            "DynamoDB",
            "rollup recompute reads",
            readings * ts.read_units_per_reading,
            prices.DYNAMODB_READ_REQUEST_UNIT,
        ),
    )


def one_reading_per_request(assumptions: Assumptions) -> Assumptions:
    """The same load and assumptions, each reading sent in its own request."""
    return dataclasses.replace(assumptions, batch_size=1)
