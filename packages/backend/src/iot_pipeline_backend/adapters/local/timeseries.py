"""Minute rollups and device records on SQLite, beside the readings in ``pipeline.db``.

The processed store keeps them in the transaction that stores the readings (``fold.py``), so
the processor runs no rollup step here; ``save_rollups`` and its version check remain for
``maintain_rollups``, which still works on this store. Decimals are stored as their exact
text.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

from iot_pipeline_common import keys
from iot_pipeline_common.models import ProcessedItem

from iot_pipeline_backend.adapters.local.db import Database
from iot_pipeline_backend.errors import RollupConflictError
from iot_pipeline_backend.ports import (
    DevicePage,
    DeviceRecord,
    FieldStats,
    ReadingValues,
    Rollup,
)

#: Rollups fetched per SQL statement while a query iterates (a day of minutes is 1,440).
_CHUNK = 1500


def encode_rollup(rollup: Rollup) -> str:
    fields = {
        name: [s.count, str(s.min), str(s.max), str(s.sum)] for name, s in rollup.fields.items()
    }
    doc = {
        "c": rollup.count,
        "f": rollup.first_ts,
        "l": rollup.last_ts,
        "s": fields,
        "k": f"{rollup.keys_hash:x}",
    }
    if rollup.expires_at is not None:
        doc["x"] = rollup.expires_at
    return json.dumps(doc, separators=(",", ":"))


def decode_rollup(device_id: str, span: int, start: int, text: str) -> Rollup:
    doc: dict[str, Any] = json.loads(text)
    return Rollup(
        device_id=device_id,
        span=span,
        start=start,
        count=doc["c"],
        first_ts=doc["f"],
        last_ts=doc["l"],
        fields={
            name: FieldStats(c, Decimal(lo), Decimal(hi), Decimal(total))
            for name, (c, lo, hi, total) in doc["s"].items()
        },
        expires_at=doc.get("x"),
        keys_hash=int(doc.get("k", "0"), 16),
    )


def _encode_device(device: DeviceRecord) -> str:
    doc: dict[str, Any] = {
        "first_seen": device.first_seen,
        "last_seen": device.last_seen,
        "readings": device.readings,
        "latest": None
        if device.latest is None
        else device.latest.model_dump(mode="json", exclude_none=True),
    }
    return json.dumps(doc, separators=(",", ":"))


def _decode_device(device_id: str, version: int, text: str) -> DeviceRecord:
    doc: dict[str, Any] = json.loads(text)
    latest = doc.get("latest")
    return DeviceRecord(
        device_id=device_id,
        first_seen=doc["first_seen"],
        last_seen=doc["last_seen"],
        readings=doc["readings"],
        latest=None if latest is None else ProcessedItem.model_validate(latest),
        version=version,
    )


def values_in(
    conn: sqlite3.Connection, device_id: str, start_ms: int, end_ms: int
) -> list[ReadingValues]:
    """What rollups need of the device's processed rows in the range, on ``conn`` (a reading
    connection, or the writer's inside its transaction, which sees its own rows)."""
    rows = conn.execute(
        "SELECT item FROM processed WHERE device_id = ? AND sk >= ? AND sk <= ? ORDER BY sk",
        (device_id, keys.sk_lower_bound(start_ms), keys.sk_upper_bound(end_ms)),
    ).fetchall()
    return [ReadingValues.of_item(json.loads(item)) for (item,) in rows]


class SqliteTimeSeriesStore:
    """Tables ``rollups`` (device, span, start) and ``devices`` (device).

    The processed store keeps them, in the commit of the rows they count (``fold.py``).
    """

    #: Storing processed readings keeps their rollups (the processor skips its rollup step).
    rolls_up_on_store = True

    def __init__(self, db: Database) -> None:
        self._db = db

    def rollups(
        self, *, device_id: str, span: int, start: int, end: int, descending: bool
    ) -> Iterator[Rollup]:
        """Rollups in time order, fetched a chunk at a time as the caller iterates."""
        direction, bound = ("DESC", "start < ?") if descending else ("ASC", "start > ?")
        sql = (
            "SELECT start, item FROM rollups WHERE device_id = ? AND span = ? "  # noqa: S608
            f"AND start >= ? AND start <= ? AND {bound} ORDER BY start {direction} LIMIT ?"
        )
        cursor = end + 1 if descending else start - 1
        while True:
            with self._db.reading() as conn:
                rows = conn.execute(sql, (device_id, span, start, end, cursor, _CHUNK)).fetchall()
            for first, item in rows:
                yield decode_rollup(device_id, span, first, item)
            if len(rows) < _CHUNK:
                return
            cursor = rows[-1][0]

    def reading_values(
        self, *, device_id: str, start_ms: int, end_ms: int
    ) -> Iterator[ReadingValues]:
        """From the ``processed`` table, parsing JSON only (no record validation)."""
        with self._db.reading() as conn:
            values = values_in(conn, device_id, start_ms, end_ms)
        yield from values

    def reading_keys(self, *, device_id: str, start_ms: int, end_ms: int) -> list[str]:
        """From the ``processed`` table's primary key alone (no item is read)."""
        with self._db.reading() as conn:
            rows = conn.execute(
                "SELECT sk FROM processed WHERE device_id = ? AND sk >= ? AND sk <= ?",
                (device_id, keys.sk_lower_bound(start_ms), keys.sk_upper_bound(end_ms)),
            ).fetchall()
        return [sk for (sk,) in rows]

    def get_device(self, device_id: str) -> DeviceRecord | None:
        """The device's record, or ``None``."""
        with self._db.reading() as conn:
            row = conn.execute(
                "SELECT version, item FROM devices WHERE device_id = ?", (device_id,)
            ).fetchone()
        return None if row is None else _decode_device(device_id, row[0], row[1])

    def list_devices(self, *, prefix: str, limit: int, after: str | None) -> DevicePage:
        """Devices by id; ``prefix`` is matched on the primary key's order, not with LIKE."""
        # Every id ≥ prefix and < prefix + "~" starts with prefix ("~" sorts after the id
        # alphabet), and the range uses the primary key.
        lower = max(prefix, after) if after is not None else prefix
        with self._db.reading() as conn:
            rows = conn.execute(
                "SELECT device_id, version, item FROM devices WHERE device_id >= ? "
                "AND device_id < ? AND device_id != ? ORDER BY device_id LIMIT ?",
                (lower, prefix + "~", after or "", limit + 1),
            ).fetchall()
        more = len(rows) > limit
        devices = [_decode_device(d, v, item) for d, v, item in rows[:limit]]
        return DevicePage(devices=devices, last_device_id=devices[-1].device_id if more else None)

    def save_rollups(
        self, *, rollups: Sequence[Rollup], device: DeviceRecord, expected_version: int | None
    ) -> None:
        """Rollups and device in one transaction, if the device is still at that version."""
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT version FROM devices WHERE device_id = ?", (device.device_id,)
            ).fetchone()
            if (None if row is None else row[0]) != expected_version:
                raise RollupConflictError(device.device_id)
            conn.executemany(
                "INSERT OR REPLACE INTO rollups (device_id, span, start, item) VALUES (?, ?, ?, ?)",
                [(r.device_id, r.span, r.start, encode_rollup(r)) for r in rollups],
            )
            conn.execute(
                "INSERT OR REPLACE INTO devices (device_id, version, item) VALUES (?, ?, ?)",
                (device.device_id, device.version, _encode_device(device)),
            )
