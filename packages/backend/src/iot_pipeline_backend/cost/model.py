"""The monthly AWS bill of the pipeline as built, from a load and a set of stated assumptions.

Pure arithmetic, no I/O. The flow it prices (DESIGN.md):

* a device sends ``batch_size`` readings in one ``POST /ingest``: one API Gateway request and
  one ingestion Lambda invocation per batch; each reading is one raw item write plus
  ``idempotency_writes_per_reading`` marker writes (as built: one keys-only marker,
  written with the reading in one transaction); the batch goes to SQS packed into as few
  messages (≤ 256 KiB each) and ``SendMessageBatch`` calls (≤ 10 messages, ≤ 256 KiB) as fit;
* the event source mapping receives up to 10 messages per ``ReceiveMessage``, invokes the
  processor with ``queue_batch_size`` messages, and deletes them with one
  ``DeleteMessageBatch``; the processor writes one processed item per reading;
* users read processed readings back through ``GET /query`` in pages of ``query_page_size``;
* readings are kept ``retention_days`` (storage and PITR are billed on what is held).

Every count is a monthly average; no retries, duplicates, failures or cold starts are priced.
Prices come from :mod:`iot_pipeline_backend.cost.prices`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

from iot_pipeline_common import PipelineConfig, limits

from iot_pipeline_backend.cost import prices
from iot_pipeline_backend.errors import BackendError

#: SQS limits the packing follows.
SQS_MAX_MESSAGE_BYTES: Final = 256 * 1024
SQS_MAX_ENTRIES_PER_CALL: Final = 10
SQS_BILLING_CHUNK_BYTES: Final = 64 * 1024
#: ``{"readings":[`` + ``]}``: the envelope of a queue message and of a batch ingest body.
READINGS_ENVELOPE_BYTES: Final = len('{"readings":[]}')
#: DynamoDB bills a write per started KB, a strong read per started 4 KB, and stores 100
#: bytes of index overhead with every item.
DYNAMODB_WRITE_UNIT_BYTES: Final = 1024
DYNAMODB_READ_UNIT_BYTES: Final = 4096
DYNAMODB_ITEM_OVERHEAD_BYTES: Final = 100
#: A marker as built holds ``device_id``, its own ``sk`` (``id#`` + reading_id) and
#: ``reading_sk`` (13 digits, ``#``, reading_id): about 160 bytes with ids of ~30 characters.
MARKER_BYTES: Final = 160

Kind = Literal["usage", "storage", "fixed"]


class AssumptionError(BackendError, ValueError):
    """An assumption is out of range; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True, kw_only=True)
class Assumptions:
    """The load and everything the model assumes about it; each default says why it is so."""

    #: Readings per second arriving at ``POST /ingest``, averaged over the month.
    readings_per_second: float
    #: Readings per ``POST /ingest`` request (1 = one reading per request).
    batch_size: int = 100
    #: One reading's size as stored: its raw DynamoDB item and its JSON in the queue
    #: and the request body (attribute names and values; DynamoDB's item size).
    bytes_per_reading: int = 1024
    #: What processing adds to an item: flat temperature/humidity/pressure, celsius,
    #: fahrenheit, processed_at, status (about 160 bytes of names and values).
    processed_extra_bytes: int = 160
    #: Idempotency marker items written per reading besides the raw item.
    idempotency_writes_per_reading: int = 1
    #: A marker item's size; ``None`` = as built: keys only, :data:`MARKER_BYTES`.
    idempotency_marker_bytes: int | None = None
    #: True (as built) when the raw item and its marker are written in one DynamoDB
    #: transaction, which bills every write unit twice.
    transactional_raw_writes: bool = True
    #: SQS messages per processor invocation (the pipeline config's ``batch_size``);
    #: batches are assumed full.
    queue_batch_size: int = PipelineConfig().batch_size
    #: Memory of every function; GB-s scale with it.
    lambda_memory_mb: int = 256
    #: Ingestion duration: a fixed part (parse, send to SQS) plus one per reading
    #: (validation and its conditional marker write).
    ingestion_ms_per_request: float = 30.0
    ingestion_ms_per_reading: float = 2.0
    #: Processor duration: a fixed part plus one per reading (transform, batched write).
    processor_ms_per_invocation: float = 20.0
    processor_ms_per_reading: float = 0.5
    #: How many times each processed reading is read back through ``GET /query``.
    query_reads_per_reading: float = 1.0
    #: Items per query page (the API's default ``limit``); reads are eventually consistent.
    query_page_size: int = limits.QUERY_LIMIT_DEFAULT
    query_ms_per_request: float = 30.0
    query_ms_per_item: float = 0.2
    #: Log bytes per Lambda invocation: START/END/REPORT lines, one structured log line and
    #: one metrics (EMF) line.
    log_bytes_per_invocation: int = 1000
    #: One API Gateway access log line per request.
    access_log_bytes_per_request: int = 400
    #: Response bytes: HTTP headers and envelope per response, plus the ``items`` entry each
    #: ingested reading returns (device_id, timestamp, reading_id).
    response_overhead_bytes: int = 400
    ingest_response_bytes_per_reading: int = 100
    #: X-Ray's default sampling rule: the first request each second, then this share.
    xray_reservoir_per_second: float = 1.0
    xray_sampling_rate: float = 0.05
    #: Days a reading is kept (raw, marker and processed items); storage and PITR are billed
    #: on what is held in the steady state.
    retention_days: float = 30.0
    #: The SQS event source mapping's pollers and their long-poll wait: an idle queue is
    #: still polled.
    queue_pollers: int = 5
    long_poll_seconds: int = 20
    #: Alerts published to SNS a month, each emailed to this many subscribers.
    alerts_per_month: int = 30
    alert_email_subscribers: int = 1

    def __post_init__(self) -> None:
        positive = ("readings_per_second", "retention_days", "long_poll_seconds")
        at_least_one = (
            "batch_size",
            "bytes_per_reading",
            "queue_batch_size",
            "lambda_memory_mb",
            "query_page_size",
            "idempotency_marker_bytes",
        )
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is None or isinstance(value, bool):
                continue
            if not math.isfinite(value):
                raise AssumptionError(field.name, f"must be a finite number, not {value}")
            if field.name in positive and value <= 0:
                raise AssumptionError(field.name, f"must be greater than 0, not {value}")
            if field.name in at_least_one and value < 1:
                raise AssumptionError(field.name, f"must be at least 1, not {value}")
            if value < 0:
                raise AssumptionError(field.name, f"must not be negative, not {value}")
        if self.batch_size > limits.BATCH_MAX_READINGS:
            raise AssumptionError(
                "batch_size",
                f"at most {limits.BATCH_MAX_READINGS} readings a request, not {self.batch_size}",
            )
        if ingest_body_bytes(self) > limits.MAX_BODY_BYTES:
            raise AssumptionError(
                "batch_size",
                f"{self.batch_size} readings of {self.bytes_per_reading} bytes make a "
                f"{ingest_body_bytes(self)}-byte body; the limit is {limits.MAX_BODY_BYTES}",
            )
        if self.xray_sampling_rate > 1:
            raise AssumptionError("xray_sampling_rate", "is a share between 0 and 1")

    @property
    def marker_item_bytes(self) -> int:
        """Size of one idempotency marker item."""
        if self.idempotency_marker_bytes is None:
            return MARKER_BYTES
        return self.idempotency_marker_bytes

    @property
    def processed_item_bytes(self) -> int:
        """Size of a processed item (the raw reading plus what processing adds)."""
        return self.bytes_per_reading + self.processed_extra_bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class CostLine:
    """One line of the bill: ``quantity`` ``unit`` a month of ``price`` → ``monthly_usd``."""

    service: str
    item: str
    quantity: float
    unit: str
    monthly_usd: float
    kind: Kind
    price: prices.Price


@dataclass(frozen=True, slots=True, kw_only=True)
class CostEstimate:
    """The monthly bill of one load, line by line."""

    assumptions: Assumptions
    readings_per_month: float
    lines: tuple[CostLine, ...]

    @property
    def monthly_usd(self) -> float:
        """The whole month."""
        return sum(line.monthly_usd for line in self.lines)

    @property
    def cost_per_million_readings(self) -> float:
        """The month's bill divided by the month's readings, per million."""
        return self.monthly_usd / self.readings_per_month * 1_000_000

    def monthly_usd_by_service(self) -> dict[str, float]:
        """Monthly dollars per AWS service, in breakdown order."""
        totals: dict[str, float] = {}
        for line in self.lines:
            totals[line.service] = totals.get(line.service, 0.0) + line.monthly_usd
        return totals

    def cost_per_million_readings_by_kind(self) -> dict[Kind, float]:
        """Per million readings, split into usage, storage (retention) and fixed costs."""
        totals: dict[Kind, float] = {"usage": 0.0, "storage": 0.0, "fixed": 0.0}
        for line in self.lines:
            totals[line.kind] += line.monthly_usd / self.readings_per_month * 1_000_000
        return totals

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary: totals, per service, per line."""
        return {
            "batch_size": self.assumptions.batch_size,
            "readings_per_month": self.readings_per_month,
            "monthly_usd": self.monthly_usd,
            "cost_per_million_readings": self.cost_per_million_readings,
            "cost_per_million_readings_by_kind": self.cost_per_million_readings_by_kind(),
            "services": self.monthly_usd_by_service(),
            "breakdown": [
                {
                    "service": line.service,
                    "item": line.item,
                    "quantity": line.quantity,
                    "unit": line.unit,
                    "monthly_usd": line.monthly_usd,
                    "kind": line.kind,
                    "price": line.price.name,
                }
                for line in self.lines
            ],
        }


def ingest_body_bytes(a: Assumptions) -> int:
    """Bytes of one ``POST /ingest`` body (a lone reading when ``batch_size`` is 1)."""
    if a.batch_size == 1:
        return a.bytes_per_reading
    return READINGS_ENVELOPE_BYTES + a.batch_size * a.bytes_per_reading + (a.batch_size - 1)


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

    transaction_factor = 2 if a.transactional_raw_writes else 1
    raw_wru = readings * transaction_factor * _write_units(a.bytes_per_reading)
    marker_wru = (
        readings
        * transaction_factor
        * a.idempotency_writes_per_reading
        * _write_units(a.marker_item_bytes)
    )
    processed_wru = readings * _write_units(a.processed_item_bytes)
    # A query reads a page in one request: strong reads per started 4 KB, halved (eventual).
    page_bytes = a.query_page_size * a.processed_item_bytes
    rru = query_requests * math.ceil(page_bytes / DYNAMODB_READ_UNIT_BYTES) / 2

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
