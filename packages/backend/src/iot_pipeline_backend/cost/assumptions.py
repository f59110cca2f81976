"""What the cost model is told about a load, and what it assumes about the rest.

Every field has a default that says why it is so; :class:`AssumptionError` names a field out
of range. The model that prices them is :mod:`iot_pipeline_backend.cost.model`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Final

from iot_pipeline_common import PipelineConfig, limits

from iot_pipeline_backend.errors import BackendError
from iot_pipeline_backend.infra.constants import DEFAULT_RETENTION_DAYS, LAMBDA_MEMORY_MB

#: A marker as built holds ``device_id``, its own ``sk`` (``id#`` + reading_id) and
#: ``reading_sk`` (13 digits, ``#``, reading_id): about 160 bytes with ids of ~30 characters.
MARKER_BYTES: Final = 160
#: ``{"readings":[`` + ``]}``: the envelope of a queue message and of a batch ingest body.
READINGS_ENVELOPE_BYTES: Final = len('{"readings":[]}')


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
    #: Idempotency marker items written per reading besides the raw item: as built 0 for
    #: readings with a device timestamp and a ``reading_id`` (the SDK's) or without a
    #: ``reading_id``, 1 for a ``reading_id`` without timestamp; a share for a mix.
    idempotency_writes_per_reading: float = 0.0
    #: A marker item's size; ``None`` = as built: keys only, :data:`MARKER_BYTES`.
    idempotency_marker_bytes: int | None = None
    #: Share of readings that carry a ``reading_id`` (the SDK: all), each looked up with
    #: one eventually consistent BatchGetItem key (half a read unit per started 4 KB)
    #: before its conditional write.
    repeat_check_share: float = 1.0
    #: Whether ``GET /query`` reads strongly (as built: yes, read-your-writes) or eventually.
    query_consistent_reads: bool = True
    #: SQS messages per processor invocation (the pipeline config's ``batch_size``);
    #: batches are assumed full.
    queue_batch_size: int = PipelineConfig().batch_size
    #: Memory of every function (the stack's); GB-s scale with it.
    lambda_memory_mb: int = LAMBDA_MEMORY_MB
    #: Ingestion duration: a fixed part (parse, send to SQS) plus one per reading
    #: (validation and its conditional marker write).
    ingestion_ms_per_request: float = 30.0
    ingestion_ms_per_reading: float = 2.0
    #: Processor duration: a fixed part plus one per reading (transform, batched write).
    processor_ms_per_invocation: float = 20.0
    processor_ms_per_reading: float = 0.5
    #: How many times each processed reading is read back through ``GET /query``.
    query_reads_per_reading: float = 1.0
    #: Items per query page (the API's default ``limit``).
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
    #: on what is held in the steady state. The default is the default deployment's TTL.
    retention_days: float = float(DEFAULT_RETENTION_DAYS)
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
        for share in ("xray_sampling_rate", "repeat_check_share", "idempotency_writes_per_reading"):
            if getattr(self, share) > 1:
                raise AssumptionError(share, "is a share between 0 and 1")

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


def ingest_body_bytes(a: Assumptions) -> int:
    """Bytes of one ``POST /ingest`` body (a lone reading when ``batch_size`` is 1)."""
    if a.batch_size == 1:
        return a.bytes_per_reading
    return READINGS_ENVELOPE_BYTES + a.batch_size * a.bytes_per_reading + (a.batch_size - 1)
