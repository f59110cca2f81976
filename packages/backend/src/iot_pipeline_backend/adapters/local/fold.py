"""Processed rows and their rollups in one write: the local processor's commit.

Every local write runs on the one writer connection inside ``BEGIN IMMEDIATE``, so while an
operation runs no other writer, thread or process, can change the tables. That makes an
incremental rollup exact here, where on DynamoDB it is not: the operation asks which of its
readings are not stored yet, upserts the rows, and adds only those to their minute, their
hour and their device record, in the transaction that stores the rows. Processed rows never
commit without their rollups, so there is nothing to recompute after a crash, and a batch
costs no read of the readings it already holds in memory (``maintain_rollups``, the AWS path,
reads every touched minute back because it cannot hold the table still).

The lookups and the merge need not hold the write lock, though: the processor is the only
writer of these tables, so a write plans in the caller's thread against a read snapshot
(:meth:`ProcessedWrite.prepare`), its process's next processed write waits for it to commit
before planning, and inside the transaction the write only checks that the version of every
device record it touches is still the one it planned from (a device's version moves with
every change of its rows' rollups) and writes; a write whose plan went stale (another
process wrote the device meanwhile) plans again there. The write lock, which the gateway's
inserts wait for, is then held for SQLite's own work.

A minute whose stored rollup counts fewer readings than the table held before this write (a
data directory written by an older version, which kept rollups in a commit of their own) is
recomputed from its rows instead, and its hour from its minutes: such a minute heals at its
next write, as ``maintain_rollups`` heals it. A minute whose rows retention removed keeps the
rollup it had, as there too.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from iot_pipeline_common import keys
from iot_pipeline_common.models import ProcessedItem

from iot_pipeline_backend.adapters.local.db import Database, insert_rows, value_pairs
from iot_pipeline_backend.adapters.local.timeseries import decode_rollup, encode_rollup, values_in
from iot_pipeline_backend.domain.timeseries.rollups import (
    HOUR_MS,
    MINUTE_MS,
    hour_of,
    minute_of,
)
from iot_pipeline_backend.domain.timeseries.stats import merge_rollups, rollup_of
from iot_pipeline_backend.ports import ReadingValues, Rollup

#: (device_id, start) pairs per lookup statement (two bound parameters each).
_CHUNK = 400

_Key = tuple[str, str]  # (device_id, sk)
_Span = tuple[str, int]  # (device_id, start of a minute or an hour)


@dataclass(frozen=True, slots=True)
class _Reading:
    device_id: str
    sk: str
    row: str
    values: ReadingValues


@dataclass(frozen=True, slots=True)
class _Plan:
    """What a write stores besides the rows, and the device versions it was computed from."""

    versions: dict[str, int]
    minutes: list[Rollup]
    hours: list[Rollup]
    devices: list[tuple[str, int, str]]


class ProcessedWrite:
    """The upsert of some processed rows with their rollups; built outside the transaction.

    The rows are encoded and each touched minute's rollup of the whole batch computed in the
    caller's thread. With ``planning`` (the database to read and the lock its processed
    writes plan under), :meth:`prepare` also reads what is stored and computes every rollup
    and device record there, before the write is queued, so the transaction only checks
    that the devices' versions did not move and writes; without it, or when they moved, the
    writer's part is the lookups, the merge and the writes. Call the instance on the writer's
    connection (it is a writer operation).
    """

    def __init__(
        self,
        items: Sequence[ProcessedItem],
        rows: Sequence[tuple[str, str, str]],
        *,
        planning: tuple[Database, threading.RLock] | None = None,
    ) -> None:
        readings: dict[_Key, _Reading] = {}
        for item, (device_id, sk, row) in zip(items, rows, strict=True):
            readings[(device_id, sk)] = _Reading(
                device_id, sk, row, ReadingValues.of_record(item, sk)
            )
        self._readings = readings
        self._minutes: dict[_Span, dict[_Key, _Reading]] = {}
        for key, reading in readings.items():
            span = (reading.device_id, minute_of(reading.values.timestamp))
            self._minutes.setdefault(span, {})[key] = reading
        self._batch_rollups: dict[_Span, Rollup | None] = {}
        self._planning = planning
        self._plan: _Plan | None = None
        self._holding = False

    def absorb(self, other: object) -> bool:
        """Take ``other``'s rows into this write (it follows this one in the same unit).

        The processor stores each message's readings on its own; absorbed into one write, a
        batch reads, merges and writes each touched rollup and device once, not per message.
        """
        if not isinstance(other, ProcessedWrite):
            return False
        for span, group in other._minutes.items():
            self._minutes.setdefault(span, {}).update(group)
        self._readings.update(other._readings)
        return True

    def prepare(self) -> None:
        """Compute, before the write is queued, what the transaction would otherwise compute.

        Called by the writer in the caller's thread (``writer.py``), once every message of
        the unit is absorbed. The planning lock stays held until :meth:`release` (the unit
        committed or failed): the process's next processed write plans after this one is
        stored, so a plan goes stale only if another process wrote the same devices.
        """
        self._batch_rollups = {
            span: rollup_of(span[0], span[1], [r.values for r in group.values()])
            for span, group in self._minutes.items()
        }
        if self._planning is None:
            return
        db, lock = self._planning
        lock.acquire()
        self._holding = True
        with db.reading() as conn:
            # One read snapshot for every lookup of the plan.
            conn.execute("BEGIN")
            try:
                self._plan = self._make_plan(conn)
            finally:
                conn.execute("COMMIT")

    def release(self) -> None:
        """The unit this write was in has ended (committed or not)."""
        if self._holding and self._planning is not None:
            self._holding = False
            self._planning[1].release()

    def __call__(self, conn: sqlite3.Connection) -> int:
        """Upsert the rows and keep their rollups; returns the minute rollups written."""
        plan = self._plan
        if plan is None or _versions(conn, list(plan.versions)) != {
            device_id: version for device_id, version in plan.versions.items() if version
        }:
            # Every touched minute is checked, even when its readings were all stored
            # already: a redelivery is exactly when a minute an older version left short
            # shows up.
            plan = self._make_plan(conn)
        insert_rows(
            conn,
            "INSERT OR REPLACE INTO processed (device_id, sk, item)",
            [(r.device_id, r.sk, r.row) for r in self._readings.values()],
        )
        _write_rollups(conn, plan.minutes)
        _write_rollups(conn, plan.hours)
        insert_rows(conn, "INSERT OR REPLACE INTO devices (device_id, version, item)", plan.devices)
        return len(plan.minutes)

    def _make_plan(self, read: sqlite3.Connection) -> _Plan:
        """Rollups and device records of the rows as stored on ``read`` plus this write."""
        stored = _stored_keys(read, list(self._readings))
        new = {
            span: [r for key, r in group.items() if key not in stored]
            for span, group in self._minutes.items()
        }
        old_minutes = _rollups(read, MINUTE_MS, list(new))
        rows_before = _row_counts(read, list(new))
        minutes: dict[_Span, Rollup] = {}
        #: What each minute merged in (its new readings), unless it was recomputed.
        deltas: dict[_Span, Rollup] = {}
        added: dict[str, int] = {}
        healed: set[_Span] = set()
        for (device_id, start), fresh in new.items():
            old = old_minutes.get((device_id, start))
            counted = 0 if old is None else old.count
            if rows_before[(device_id, start)] > counted:
                # Its rows as they will be once this write's rows replaced theirs.
                values = {v.sk: v for v in values_in(read, device_id, start, start + MINUTE_MS - 1)}
                values.update((r.sk, r.values) for r in self._minutes[(device_id, start)].values())
                rollup = rollup_of(device_id, start, [values[sk] for sk in sorted(values)])
                healed.add((device_id, hour_of(start)))
            elif not fresh:
                continue
            else:
                whole = len(fresh) == len(self._minutes[(device_id, start)])
                delta = (
                    self._batch_rollups.get((device_id, start))
                    if whole and (device_id, start) in self._batch_rollups
                    else rollup_of(device_id, start, [r.values for r in fresh])
                )
                if delta is not None:
                    deltas[(device_id, start)] = delta
                parts = [p for p in (old, delta) if p is not None]
                rollup = merge_rollups(device_id, MINUTE_MS, start, parts)
            if rollup is None or rollup.count <= counted:
                continue
            minutes[(device_id, start)] = rollup
            added[device_id] = added.get(device_id, 0) + rollup.count - counted
        versions, devices = self._device_records(read, added)
        return _Plan(
            versions=versions,
            minutes=list(minutes.values()),
            hours=_hours(read, minutes, deltas, healed),
            devices=devices,
        )

    def _device_records(
        self, read: sqlite3.Connection, added: dict[str, int]
    ) -> tuple[dict[str, int], list[tuple[str, int, str]]]:
        """Count, first/last seen and latest reading of every device of the batch, and the
        versions of the records they replace (0: none stored)."""
        newest: dict[str, _Reading] = {}
        oldest: dict[str, int] = {}
        for reading in self._readings.values():
            device_id, timestamp = reading.device_id, reading.values.timestamp
            if device_id not in newest or reading.sk > newest[device_id].sk:
                newest[device_id] = reading
            oldest[device_id] = min(oldest.get(device_id, timestamp), timestamp)
        stored = _devices(read, list(newest))
        versions: dict[str, int] = {}
        writes: list[tuple[str, int, str]] = []
        for device_id, latest in newest.items():
            version, doc = stored.get(device_id, (0, None))
            versions[device_id] = version
            count = added.get(device_id, 0)
            if doc is None:
                doc = {"first_seen": oldest[device_id], "last_seen": latest.values.timestamp}
                doc.update(readings=count, latest=json.loads(latest.row))
            else:
                before = dict(doc)
                doc["first_seen"] = min(doc["first_seen"], oldest[device_id])
                doc["last_seen"] = max(doc["last_seen"], latest.values.timestamp)
                doc["readings"] += count
                known = doc.get("latest")
                if known is None or latest.sk > keys.sort_key(
                    known["timestamp"], known["reading_id"]
                ):
                    doc["latest"] = json.loads(latest.row)
                if doc == before:
                    continue
            writes.append((device_id, version + 1, json.dumps(doc, separators=(",", ":"))))
        return versions, writes


def _hours(
    read: sqlite3.Connection,
    minutes: dict[_Span, Rollup],
    deltas: dict[_Span, Rollup],
    healed: set[_Span],
) -> list[Rollup]:
    """The hours of the minutes to write: the stored hour merged with the minutes' new
    readings, or, for an hour a minute was recomputed in (or one with no stored rollup),
    merged from all of its minutes as they will be stored."""
    by_hour: dict[_Span, list[_Span]] = {}
    for device_id, start in minutes:
        by_hour.setdefault((device_id, hour_of(start)), []).append((device_id, start))
    old_hours = _rollups(read, HOUR_MS, list(by_hour))
    hours: list[Rollup] = []
    for (device_id, hour), spans in by_hour.items():
        old = old_hours.get((device_id, hour))
        if old is None or (device_id, hour) in healed:
            every = {r.start: r for r in _span_rollups(read, device_id, hour)}
            every.update((start, minutes[(device_id, start)]) for _, start in spans)
            merged = merge_rollups(device_id, HOUR_MS, hour, [every[s] for s in sorted(every)])
        else:
            merged = merge_rollups(device_id, HOUR_MS, hour, [old, *(deltas[s] for s in spans)])
        if merged is not None:
            hours.append(merged)
    return hours


# -- statements ------------------------------------------------------------------------------


def _stored_keys(conn: sqlite3.Connection, wanted: list[_Key]) -> set[_Key]:
    found: set[_Key] = set()
    for first in range(0, len(wanted), _CHUNK):
        chunk = wanted[first : first + _CHUNK]
        rows = conn.execute(
            "SELECT p.device_id, p.sk FROM processed AS p "  # noqa: S608 - only placeholders
            f"JOIN (VALUES {value_pairs(len(chunk))}) AS w "
            "ON p.device_id = w.column1 AND p.sk = w.column2",
            [part for pair in chunk for part in pair],
        ).fetchall()
        found.update((device_id, sk) for device_id, sk in rows)
    return found


def _rollups(conn: sqlite3.Connection, span: int, wanted: list[_Span]) -> dict[_Span, Rollup]:
    found: dict[_Span, Rollup] = {}
    for first in range(0, len(wanted), _CHUNK):
        chunk = wanted[first : first + _CHUNK]
        rows = conn.execute(
            "SELECT r.device_id, r.start, r.item FROM rollups AS r "  # noqa: S608
            f"JOIN (VALUES {value_pairs(len(chunk))}) AS w "
            "ON r.device_id = w.column1 AND r.span = ? AND r.start = w.column2",
            [*(part for pair in chunk for part in pair), span],
        ).fetchall()
        for device_id, start, item in rows:
            found[(device_id, start)] = decode_rollup(device_id, span, start, item)
    return found


def _row_counts(conn: sqlite3.Connection, minutes: list[_Span]) -> dict[_Span, int]:
    """Processed rows stored in each minute (an index range count each, no row read)."""
    return {
        (device_id, start): conn.execute(
            "SELECT COUNT(*) FROM processed WHERE device_id = ? AND sk >= ? AND sk <= ?",
            (device_id, keys.sk_lower_bound(start), keys.sk_upper_bound(start + MINUTE_MS - 1)),
        ).fetchone()[0]
        for device_id, start in minutes
    }


def _span_rollups(conn: sqlite3.Connection, device_id: str, hour: int) -> list[Rollup]:
    rows = conn.execute(
        "SELECT start, item FROM rollups WHERE device_id = ? AND span = ? "
        "AND start >= ? AND start < ?",
        (device_id, MINUTE_MS, hour, hour + HOUR_MS),
    ).fetchall()
    return [decode_rollup(device_id, MINUTE_MS, start, item) for start, item in rows]


def _device_rows(
    conn: sqlite3.Connection, wanted: list[str], *, with_item: bool
) -> list[tuple[Any, ...]]:
    """``(device_id, version[, item])`` of the stored device records among ``wanted``."""
    columns = "device_id, version, item" if with_item else "device_id, version"
    rows: list[tuple[Any, ...]] = []
    for first in range(0, len(wanted), _CHUNK):
        chunk = wanted[first : first + _CHUNK]
        marks = ",".join("?" * len(chunk))
        rows += conn.execute(
            f"SELECT {columns} FROM devices WHERE device_id IN ({marks})",  # noqa: S608
            chunk,
        ).fetchall()
    return rows


def _versions(conn: sqlite3.Connection, wanted: list[str]) -> dict[str, int]:
    """The stored device records' versions (a device with none is absent)."""
    return {
        device_id: version for device_id, version in _device_rows(conn, wanted, with_item=False)
    }


def _devices(conn: sqlite3.Connection, wanted: list[str]) -> dict[str, tuple[int, dict[str, Any]]]:
    return {
        device_id: (version, json.loads(item))
        for device_id, version, item in _device_rows(conn, wanted, with_item=True)
    }


def _write_rollups(conn: sqlite3.Connection, rollups: Sequence[Rollup] | Any) -> None:
    insert_rows(
        conn,
        "INSERT OR REPLACE INTO rollups (device_id, span, start, item)",
        [(r.device_id, r.span, r.start, encode_rollup(r)) for r in rollups],
    )
