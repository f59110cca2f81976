"""The local runtime's SQLite database: one file, one connection per thread.

WAL lets readers run beside the one writer; ``synchronous=FULL`` makes every committed
transaction survive power loss, which is what "acknowledged means stored" needs.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from iot_pipeline_backend.errors import StoreUnavailableError

#: How long a writer waits for another writer's lock before giving up (ms).
BUSY_TIMEOUT_MS = 10_000

SCHEMA = """
CREATE TABLE IF NOT EXISTS raw (
    device_id   TEXT NOT NULL,
    sk          TEXT NOT NULL,
    reading_id  TEXT NOT NULL,
    item        TEXT NOT NULL,
    PRIMARY KEY (device_id, sk),
    UNIQUE (device_id, reading_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS processed (
    device_id   TEXT NOT NULL,
    sk          TEXT NOT NULL,
    item        TEXT NOT NULL,
    PRIMARY KEY (device_id, sk)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS queue (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id    TEXT NOT NULL UNIQUE,
    body          TEXT NOT NULL,
    sent_at       REAL NOT NULL,
    visible_at    REAL NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    first_received_at REAL,
    receipt       TEXT UNIQUE
);
CREATE INDEX IF NOT EXISTS queue_visible ON queue (visible_at, seq);
CREATE TABLE IF NOT EXISTS dlq (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id    TEXT NOT NULL UNIQUE,
    body          TEXT NOT NULL,
    sent_at       REAL NOT NULL,
    receive_count INTEGER NOT NULL,
    moved_at      REAL NOT NULL
);
"""


class Database:
    """Opens ``path`` lazily in each thread that uses it; ``close()`` closes them all."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._closed = False
        with self.reading() as conn:
            # executescript commits on its own; every statement is idempotent.
            conn.executescript(SCHEMA)

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (autocommit mode; use :meth:`transaction` to write)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise StoreUnavailableError("the local database is closed")
            try:
                conn = sqlite3.connect(
                    self.path, isolation_level=None, check_same_thread=False, timeout=30
                )
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")
                conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            except sqlite3.Error as exc:
                raise StoreUnavailableError(f"cannot open {self.path.name}") from exc
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``; rolls back and raises StoreUnavailable on error.

        Inside another transaction of the same thread it joins that one, so several
        adapters' writes (store raw + enqueue) can commit together, with one fsync.
        """
        conn = self.connection()
        if conn.in_transaction:
            yield conn
            return
        self._local.after_commit = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreUnavailableError("the local database failed") from exc
        finally:
            callbacks: list[Callable[[], None]] = getattr(self._local, "after_commit", [])
            self._local.after_commit = []
        for callback in callbacks:
            callback()

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once this thread's current transaction has committed.

        Called inside :meth:`transaction`; a rolled-back transaction drops its callbacks.
        """
        self._local.after_commit.append(callback)

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """A connection for reads, mapping SQLite errors to StoreUnavailableError."""
        try:
            yield self.connection()
        except sqlite3.Error as exc:
            raise StoreUnavailableError("the local database failed") from exc

    def close(self) -> None:
        """Close every thread's connection (idempotent)."""
        with self._lock:
            self._closed = True
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()
