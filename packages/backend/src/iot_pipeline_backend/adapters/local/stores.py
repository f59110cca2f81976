"""Raw and processed reading stores on SQLite, keyed like the DynamoDB tables."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from typing import TypeVar

from iot_pipeline_common import keys
from iot_pipeline_common.models import ProcessedItem, RawItem

from iot_pipeline_backend.adapters.local.db import Database, insert_rows, value_pairs
from iot_pipeline_backend.adapters.local.fold import ProcessedWrite
from iot_pipeline_backend.ports import KeySource, StoredPage

_ItemT = TypeVar("_ItemT", RawItem, ProcessedItem)
#: Readings looked up per query (two bound parameters each, well under SQLite's limit).
_LOOKUP_CHUNK = 400


def _to_json(item: RawItem | ProcessedItem) -> str:
    # pydantic-core's encoder: compact, in field order, a few microseconds per item.
    return item.model_dump_json(exclude_none=True)


def _query(
    db: Database,
    *,
    table: str,
    model: type[_ItemT],
    device_id: str,
    start_ms: int,
    end_ms: int,
    limit: int,
    descending: bool,
    after_sk: str | None,
) -> StoredPage[_ItemT]:
    lower, upper = keys.sk_lower_bound(start_ms), keys.sk_upper_bound(end_ms)
    if after_sk is not None:
        # Continue strictly after the last key of the previous page, in the query's order.
        if descending:
            upper = min(upper, after_sk)
        else:
            lower = max(lower, after_sk)
    direction = "DESC" if descending else "ASC"
    # ``table`` and ``direction`` come from this module, never from a request.
    sql = (
        f"SELECT sk, item FROM {table} WHERE device_id = ? AND sk >= ? AND sk <= ? "  # noqa: S608
        f"AND sk != ? ORDER BY sk {direction} LIMIT ?"
    )
    with db.reading() as conn:
        rows = conn.execute(sql, (device_id, lower, upper, after_sk or "", limit + 1)).fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    records = [model.model_validate_json(item) for _, item in rows]
    return StoredPage(records=records, last_sk=rows[-1][0] if more else None)


class _Claims:
    """Reading keys an uncommitted unit of this process is about to insert.

    The duplicate check reads committed rows before the unit's transaction: a second request
    for the same reading waits here until the first one's unit settles, then sees its row,
    instead of racing it to the insert.
    """

    def __init__(self) -> None:
        self._owners: dict[tuple[str, str], int] = {}
        self._changed = threading.Condition()

    def acquire(self, wanted: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
        """Wait until no other thread holds any of ``wanted``; return the keys now held."""
        me = threading.get_ident()
        with self._changed:
            while any(self._owners.get(key, me) != me for key in wanted):
                self._changed.wait()
            taken = [key for key in wanted if key not in self._owners]
            for key in taken:
                self._owners[key] = me
        return taken

    def release(self, taken: Sequence[tuple[str, str]]) -> None:
        with self._changed:
            for key in taken:
                self._owners.pop(key, None)
            self._changed.notify_all()


class SqliteRawReadingStore:
    """Raw readings keyed (device_id, sk); ``raw_ids`` finds repeats of server-timed ones."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._claims = _Claims()

    def store_raw_readings(
        self, readings: Sequence[RawItem], *, key_sources: Sequence[KeySource] | None = None
    ) -> list[RawItem]:
        """Insert new readings in one transaction; repeats return the stored original.

        A reading whose key the client chose (``client``: device time and reading id) is a
        repeat when its key is stored; one whose time the server chose (``server_time``, the
        default when ``key_sources`` is not given) when its reading id is in ``raw_ids``; a
        reading id the server generated (``server_id``) cannot have been stored before.
        """
        sources: list[KeySource] = (
            list(key_sources) if key_sources is not None else ["server_time"] * len(readings)
        )
        if len(sources) != len(readings):
            raise ValueError("key_sources must give one source per reading")
        keyed: dict[tuple[str, str], tuple[RawItem, KeySource]] = {}
        for reading, source in zip(readings, sources, strict=True):
            keyed.setdefault((reading.device_id, reading.reading_id), (reading, source))
        taken = self._claims.acquire(list(keyed))
        held_by_unit = self._db.when_settled(lambda: self._claims.release(taken))
        try:
            stored = self._stored_originals(
                [r for r, source in keyed.values() if source == "client"],
                [r for r, source in keyed.values() if source == "server_time"],
            )
            new = [(r, source) for key, (r, source) in keyed.items() if key not in stored]
            # Encoded before the write: the writer's transaction only copies rows in.
            rows = [
                (r.device_id, keys.sort_key(r.timestamp, r.reading_id), r.reading_id, _to_json(r))
                for r, _ in new
            ]
            ids = [
                (device_id, reading_id, sk)
                for (device_id, sk, reading_id, _), (_, source) in zip(rows, new, strict=True)
                if source == "server_time"
            ]

            def insert(conn: sqlite3.Connection) -> None:
                # Plain INSERTs: a row another process stored meanwhile fails the unit
                # (nothing acknowledged) instead of being overwritten or missed.
                insert_rows(conn, "INSERT INTO raw (device_id, sk, reading_id, item)", rows)
                insert_rows(conn, "INSERT INTO raw_ids (device_id, reading_id, sk)", ids)

            if rows:
                self._db.defer(insert)
        finally:
            if not held_by_unit:
                self._claims.release(taken)
        stored.update({(r.device_id, r.reading_id): r for r, _ in new})
        return [stored[(r.device_id, r.reading_id)] for r in readings]

    def _stored_originals(
        self, by_key: Sequence[RawItem], by_id: Sequence[RawItem]
    ) -> dict[tuple[str, str], RawItem]:
        """The stored readings with the keys of ``by_key`` or the reading ids of ``by_id``."""
        stored: dict[tuple[str, str], RawItem] = {}
        found: list[tuple[str]] = []
        with self._db.reading() as conn:
            for start in range(0, len(by_key), _LOOKUP_CHUNK):
                chunk = by_key[start : start + _LOOKUP_CHUNK]
                # One primary-key lookup for the whole chunk instead of one query per reading.
                found += conn.execute(
                    "SELECT raw.item FROM raw "  # noqa: S608 - only placeholders
                    f"JOIN (VALUES {value_pairs(len(chunk))}) AS wanted "
                    "ON raw.device_id = wanted.column1 AND raw.sk = wanted.column2",
                    [
                        part
                        for r in chunk
                        for part in (r.device_id, keys.sort_key(r.timestamp, r.reading_id))
                    ],
                ).fetchall()
            for start in range(0, len(by_id), _LOOKUP_CHUNK):
                chunk = by_id[start : start + _LOOKUP_CHUNK]
                found += conn.execute(
                    "SELECT raw.item FROM raw_ids "  # noqa: S608 - only placeholders
                    f"JOIN (VALUES {value_pairs(len(chunk))}) AS wanted "
                    "ON raw_ids.device_id = wanted.column1 AND raw_ids.reading_id = wanted.column2 "
                    "JOIN raw ON raw.device_id = raw_ids.device_id AND raw.sk = raw_ids.sk",
                    [part for r in chunk for part in (r.device_id, r.reading_id)],
                ).fetchall()
        for (item,) in found:
            original = RawItem.model_validate_json(item)
            stored[(original.device_id, original.reading_id)] = original
        return stored

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
        """A page of raw readings in sort-key order."""
        return _query(
            self._db,
            table="raw",
            model=RawItem,
            device_id=device_id,
            start_ms=start_ms,
            end_ms=end_ms,
            limit=limit,
            descending=descending,
            after_sk=after_sk,
        )


class SqliteProcessedReadingStore:
    """Processed readings; a write with the same key replaces the previous one."""

    def __init__(self, db: Database) -> None:
        self._db = db
        #: Held by a processed write from its plan until its unit ends (``fold.py``): the
        #: process's processed writes plan one after the other, each against the last.
        self._planning = threading.RLock()

    def store_processed_readings(self, readings: Sequence[ProcessedItem]) -> None:
        """Upsert every reading with its rollups in one write (with the current unit, if any).

        The minute and hour rollups and the device records of the readings commit with them
        (``fold.py``), so the processor has no rollup step to run after this store.
        """
        rows = [
            (r.device_id, keys.sort_key(r.timestamp, r.reading_id), _to_json(r)) for r in readings
        ]
        self._db.defer(ProcessedWrite(readings, rows, planning=(self._db, self._planning)))

    def query_processed(
        self,
        *,
        device_id: str,
        start_ms: int,
        end_ms: int,
        limit: int,
        descending: bool,
        after_sk: str | None,
    ) -> StoredPage[ProcessedItem]:
        """A page of processed readings in sort-key order."""
        return _query(
            self._db,
            table="processed",
            model=ProcessedItem,
            device_id=device_id,
            start_ms=start_ms,
            end_ms=end_ms,
            limit=limit,
            descending=descending,
            after_sk=after_sk,
        )
