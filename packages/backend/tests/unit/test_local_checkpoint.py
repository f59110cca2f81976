"""WAL checkpoints run beside the writers, never inside a commit (``checkpoint.py``)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from iot_pipeline_backend.adapters.local import checkpoint
from iot_pipeline_backend.adapters.local.db import Database

#: More than SQLite's automatic checkpoint threshold (1,000 pages of 4 KiB) in one go.
BODY = "x" * 8_000
ROWS = 800


def _write(db: Database, first: int) -> None:
    def op(conn: sqlite3.Connection) -> None:
        conn.executemany(
            "INSERT INTO dlq (message_id, body, sent_at, receive_count, moved_at) "
            "VALUES (?, ?, 0, 1, 0)",
            [(f"m-{first + i}", BODY) for i in range(ROWS)],
        )

    db.run(op)


def _rows_in_main_file(path: Path) -> int:
    """Rows the database file itself holds, ignoring the WAL (what checkpoints moved there)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    try:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'dlq'").fetchone():
            return 0  # not even the schema's commit is in the main file yet
        return int(conn.execute("SELECT COUNT(*) FROM dlq").fetchone()[0])
    finally:
        conn.close()


def test_given_commits_past_the_automatic_threshold_then_no_commit_checkpointed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a database whose checkpoint thread waits longer than the test
    monkeypatch.setattr(checkpoint, "DELAY_S", 3600.0)
    db = Database(tmp_path / "pipeline.db")
    try:
        # WHEN writes far past 1,000 WAL pages commit
        for batch in range(3):
            _write(db, batch * ROWS)
        # THEN every row is readable, and none of them reached the main file in a COMMIT
        with db.reading() as conn:
            assert conn.execute("SELECT COUNT(*) FROM dlq").fetchone()[0] == 3 * ROWS
        assert _rows_in_main_file(db.path) == 0
    finally:
        db.close()
    # AND closing the last connection checkpoints what the WAL held
    assert _rows_in_main_file(tmp_path / "pipeline.db") == 3 * ROWS


def test_given_commits_then_the_checkpoint_thread_keeps_the_wal_from_growing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checkpoint, "DELAY_S", 0.01)
    db = Database(tmp_path / "pipeline.db")
    give_up = time.monotonic() + 30
    try:
        # WHEN several writes of ~6 MB commit, each followed by a checkpoint of the thread
        for batch in range(6):
            runs = db._checkpointer.runs
            _write(db, batch * ROWS)
            while db._checkpointer.runs == runs:
                assert time.monotonic() < give_up, "no checkpoint after a commit"
                time.sleep(0.02)
        # THEN the WAL was moved into the main file each time and reused from its start:
        # it holds about one write, not six
        wal = db.path.with_name(db.path.name + "-wal").stat().st_size
        assert wal < 2 * ROWS * len(BODY)
        with db.reading() as conn:
            assert conn.execute("SELECT COUNT(*) FROM dlq").fetchone()[0] == 6 * ROWS
    finally:
        db.close()
