"""Ports: what the domain needs from the outside world, and nothing about AWS or SQLite.

Two adapter sets implement them, ``adapters/aws`` (boto3) and ``adapters/local`` (SQLite);
one contract test suite (``tests/contract``) holds both to the same observable behaviour.
Records are the contract models of :mod:`iot_pipeline_common.models`; the sort key of a
record is ``keys.sort_key(timestamp, reading_id)``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Generic, Literal, Protocol, TypeVar

from iot_pipeline_common import keys
from iot_pipeline_common.models import PipelineConfig, ProcessedItem, RawItem

RecordT = TypeVar("RecordT", RawItem, ProcessedItem)

#: Who chose a raw reading's key (``timestamp`` and ``reading_id``):
#: ``client`` both (the key is deterministic: a repeat has the same key);
#: ``server_id`` the server generated the reading id (no repeat of it can exist);
#: ``server_time`` the client's reading id with the server's timestamp (a repeat has another
#: key, so it is found by ``reading_id``).
KeySource = Literal["client", "server_id", "server_time"]


@dataclass(frozen=True, slots=True)
class StoredPage(Generic[RecordT]):
    """Records in sort-key order and the sort key to continue after (``None`` at the end)."""

    records: list[RecordT]
    last_sk: str | None


@dataclass(frozen=True, slots=True)
class Alert:
    """What an alert sink publishes (SNS message / a line in alerts.jsonl)."""

    subject: str
    message: str
    kind: Literal["error_threshold", "alert_rule", "dlq"]
    device_id: str | None = None
    details: dict[str, object] | None = None


class RawReadingStore(Protocol):
    """Durable raw readings, idempotent by (device_id, reading_id)."""

    def store_raw_readings(
        self, readings: Sequence[RawItem], *, key_sources: Sequence[KeySource] | None = None
    ) -> list[RawItem]:
        """Store readings durably; return, for each input in order, the record now stored.

        A reading whose (device_id, reading_id) is already stored is not written again: the
        original record (with its original timestamp) is returned in its place.
        ``key_sources`` (one per reading; ``None``: all ``server_time``) lets a store skip
        the lookup by ``reading_id`` where the key alone identifies the reading; a store may
        ignore it and always look up by ``reading_id``.
        """
        ...

    def query_raw(
        self,
        *,
        device_id: str,
        start_ms: int,
        end_ms: int,
        limit: int,
        descending: bool,
        after_sk: str | None,
    ) -> StoredPage[RawItem]:
        """Up to ``limit`` records with ``start_ms <= timestamp <= end_ms`` after ``after_sk``."""
        ...


class ProcessedReadingStore(Protocol):
    """Processed readings; a write with the same key replaces the previous one."""

    def store_processed_readings(self, readings: Sequence[ProcessedItem]) -> None: ...

    def query_processed(
        self,
        *,
        device_id: str,
        start_ms: int,
        end_ms: int,
        limit: int,
        descending: bool,
        after_sk: str | None,
    ) -> StoredPage[ProcessedItem]: ...


class ReadingQueue(Protocol):
    """The queue between ingestion and processing (at-least-once)."""

    def enqueue_readings(self, readings: Sequence[RawItem]) -> None:
        """Enqueue all readings or raise; messages pack several readings within size limits."""
        ...


class AlertSink(Protocol):
    """Where alerts go (SNS topic / alerts.jsonl)."""

    def publish_alert(self, alert: Alert) -> None: ...


class ConfigSource(Protocol):
    """The pipeline config (SSM parameter / config.json), validated and cached."""

    def load_config(self) -> PipelineConfig: ...


class TokenKeySource(Protocol):
    """The secret that signs ``next_token`` (SSM SecureString / ``<data-dir>/token.key``)."""

    def token_key(self) -> bytes:
        """At least 32 bytes of secret key material, stable across processes."""
        ...


# --- Time series: minute rollups and devices (domain/timeseries) -------------------------


@dataclass(frozen=True, slots=True)
class FieldStats:
    """Statistics of one numeric field over a set of readings, in exact decimal arithmetic."""

    count: int
    min: Decimal
    max: Decimal
    sum: Decimal


#: The sensors a processed item written before ``sensor_data`` was kept carries flat.
FLAT_SENSORS = ("temperature", "humidity", "pressure")


@dataclass(frozen=True, slots=True)
class ReadingValues:
    """What a rollup needs of one processed reading: its time, sensor values and expiry."""

    timestamp: int
    values: dict[str, int | float | Decimal]
    expires_at: int | None = None
    #: The reading's sort key (what a rollup's ``keys_hash`` is made of).
    sk: str = ""

    @classmethod
    def of_item(cls, doc: Mapping[str, Any]) -> ReadingValues:
        """From a processed item as stored (JSON object or deserialized DynamoDB item)."""
        data = doc.get("sensor_data")
        if data is None:
            data = {name: doc[name] for name in FLAT_SENSORS if doc.get(name) is not None}
        expires_at = doc.get("expires_at")
        timestamp = int(doc["timestamp"])
        return cls(
            timestamp=timestamp,
            values=dict(data),
            expires_at=None if expires_at is None else int(expires_at),
            sk=str(doc.get("sk") or keys.sort_key(timestamp, str(doc["reading_id"]))),
        )

    @classmethod
    def of_record(cls, item: ProcessedItem, sk: str | None = None) -> ReadingValues:
        """From a processed record in memory (what :meth:`of_item` reads back of it)."""
        data: Mapping[str, Any] | None = item.sensor_data
        if data is None:
            flat = {name: getattr(item, name) for name in FLAT_SENSORS}
            data = {name: value for name, value in flat.items() if value is not None}
        return cls(
            timestamp=item.timestamp,
            values=dict(data),
            expires_at=item.expires_at,
            sk=sk or keys.sort_key(item.timestamp, item.reading_id),
        )


@dataclass(frozen=True, slots=True)
class Rollup:
    """The statistics of a device's processed readings in ``[start, start + span)``.

    ``count`` is the number of distinct readings; ``fields`` maps each numeric sensor field
    present to its statistics. A minute rollup is recomputed from the minute's readings and an
    hour rollup from the hour's minute rollups, never incremented, so both are the same
    whatever duplicates or replays happened.
    """

    device_id: str
    start: int
    count: int
    first_ts: int
    last_ts: int
    fields: dict[str, FieldStats]
    expires_at: int | None = None
    span: int = 60_000
    #: Sum of a 128-bit hash of every reading's sort key, mod 2**128: which readings it holds.
    keys_hash: int = 0


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    """What the pipeline knows of one device; ``version`` orders its rewrites."""

    device_id: str
    first_seen: int
    last_seen: int
    readings: int
    latest: ProcessedItem | None
    version: int


@dataclass(frozen=True, slots=True)
class DevicePage:
    """Devices in ``device_id`` order and the id to continue after (``None`` at the end)."""

    devices: list[DeviceRecord]
    last_device_id: str | None


class TimeSeriesStore(Protocol):
    """Minute rollups and device records, kept by the processor, read by queries."""

    #: True when storing processed readings also keeps their rollups and device records, in
    #: the same write (SQLite, whose writer holds the tables still); False when the
    #: processor must recompute them afterwards with ``maintain_rollups`` (DynamoDB).
    rolls_up_on_store: bool

    def rollups(
        self, *, device_id: str, span: int, start: int, end: int, descending: bool
    ) -> Iterator[Rollup]:
        """Rollups of ``span`` ms with ``start <= rollup.start <= end``, in order (consistent)."""
        ...

    def reading_values(
        self, *, device_id: str, start_ms: int, end_ms: int
    ) -> Iterator[ReadingValues]:
        """The processed readings with ``start_ms <= timestamp <= end_ms``, read consistently.

        Only what statistics need, without building whole records: the processor reads
        every touched minute again after each batch.
        """
        ...

    def reading_keys(self, *, device_id: str, start_ms: int, end_ms: int) -> list[str]:
        """Sort keys of the processed readings in the range (consistent; no item parsed)."""
        ...

    def get_device(self, device_id: str) -> DeviceRecord | None:
        """The device's record (read consistently), or ``None`` if it never had a reading."""
        ...

    def list_devices(self, *, prefix: str, limit: int, after: str | None) -> DevicePage:
        """Up to ``limit`` devices whose id starts with ``prefix``, after ``after``, by id."""
        ...

    def save_rollups(
        self, *, rollups: Sequence[Rollup], device: DeviceRecord, expected_version: int | None
    ) -> None:
        """Write the rollups and the device record together, all or nothing.

        Raises :class:`~iot_pipeline_backend.errors.RollupConflictError` (writing nothing)
        unless the stored device's version is ``expected_version`` (``None``: none stored).
        """
        ...
