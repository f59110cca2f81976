"""The local database's one writer: units that wait together commit together, failures alone."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from iot_pipeline_backend.adapters.local.db import Database
from iot_pipeline_backend.errors import StoreUnavailableError


def _rows(db: Database) -> list[str]:
    with db.reading() as conn:
        return [row[0] for row in conn.execute("SELECT message_id FROM dlq ORDER BY message_id")]


def _insert(message_id: str) -> Callable[[sqlite3.Connection], None]:
    def op(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT INTO dlq (message_id, body, sent_at, receive_count, moved_at) "
            "VALUES (?, '{}', 0, 1, 0)",
            (message_id,),
        )

    return op


def test_given_units_waiting_together_when_one_fails_then_only_it_is_rolled_back(
    tmp_path: Path,
) -> None:
    db = Database(tmp_path / "pipeline.db")
    writer_busy, release = threading.Event(), threading.Event()

    def hold(conn: sqlite3.Connection) -> None:
        writer_busy.set()
        assert release.wait(10)

    def unit(*message_ids: str) -> None:
        with db.unit():
            for message_id in message_ids:
                db.defer(_insert(message_id))

    try:
        with ThreadPoolExecutor(max_workers=3) as pool:
            # GIVEN a writer busy with one unit, and two more units queued behind it
            held = pool.submit(db.run, hold)
            assert writer_busy.wait(10)
            good = pool.submit(unit, "a", "b")
            # the second unit repeats "c" inside itself: its UNIQUE constraint fails
            bad = pool.submit(unit, "c", "c")
            while len(db._writer._pending) < 2:  # both queued: they run as one group
                threading.Event().wait(0.01)
            release.set()
            held.result(10)
            # THEN the good unit commits and the failing one raises, leaving nothing behind
            good.result(10)
            with pytest.raises(Exception, match="local database failed"):
                bad.result(10)
        assert _rows(db) == ["a", "b"]
    finally:
        db.close()


def test_given_a_unit_when_its_block_raises_then_nothing_of_it_is_written(tmp_path: Path) -> None:
    db = Database(tmp_path / "pipeline.db")
    try:

        def failing_request() -> None:
            with db.unit():
                db.defer(_insert("x"))
                raise RuntimeError("the request failed after its writes were made")

        with pytest.raises(RuntimeError):
            failing_request()
        db.defer(_insert("y"))
        assert _rows(db) == ["y"]
    finally:
        db.close()


def test_given_the_write_lock_file_cannot_be_opened_then_every_write_path_says_store_unavailable(
    tmp_path: Path,
) -> None:
    # GIVEN the data dir's cross-process lock file is not a file (a directory in its place)
    (tmp_path / "pipeline.db-writer.lock").mkdir()
    db = Database(tmp_path / "pipeline.db")
    try:
        # WHEN an interactive transaction and a grouped write are attempted
        # THEN both fail with the store's own error, not a bare OSError, and nothing is written
        with pytest.raises(StoreUnavailableError), db.transaction() as conn:
            _insert("interactive")(conn)
        with pytest.raises(StoreUnavailableError):
            db.defer(_insert("grouped"))
        assert _rows(db) == []
    finally:
        db.close()
