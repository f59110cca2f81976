"""The local runtime's SQLite database: one file, a reading connection per thread, one writer.

WAL lets readers run beside the one writer; ``synchronous=FULL`` makes every committed
transaction survive power loss, which is what "acknowledged means stored" needs. Every write
goes through :class:`~iot_pipeline_backend.adapters.local.writer.Writer` (one connection,
group commit), so concurrent requests share fsyncs instead of queueing for SQLite's lock.

Adapters write with :meth:`Database.defer` (an operation whose rows are already encoded);
inside :meth:`Database.unit` (what ``LocalAdapters.atomic()`` opens) the operations of the
thread collect and commit together when the block ends, else each commits on its own.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from iot_pipeline_backend.adapters.local.checkpoint import Checkpointer
from iot_pipeline_backend.adapters.local.writer import Operation, Unit, Writer
from iot_pipeline_backend.errors import StoreUnavailableError

_T = TypeVar("_T")

#: How long a writer waits for another writer's lock before giving up (ms).
BUSY_TIMEOUT_MS = 10_000

#: The raw table (``{name}``: created under another name while an older one is upgraded).
_RAW_TABLE = """
CREATE TABLE IF NOT EXISTS {name} (
    device_id   TEXT NOT NULL,
    sk          TEXT NOT NULL,
    reading_id  TEXT NOT NULL,
    item        TEXT NOT NULL,
    PRIMARY KEY (device_id, sk)
) WITHOUT ROWID;
"""

SCHEMA = (
    _RAW_TABLE.format(name="raw")
    + """
-- A reading's key is its device time and id: a repeat of a reading that came with both has the
-- same key, so the primary key finds it. A reading id that came without a device time got the
-- server's time, so its repeat has another key: such readings are found through their id here
-- (``stores.py``), as the DynamoDB raw table finds them through a marker item.
CREATE TABLE IF NOT EXISTS raw_ids (
    device_id   TEXT NOT NULL,
    reading_id  TEXT NOT NULL,
    sk          TEXT NOT NULL,
    PRIMARY KEY (device_id, reading_id)
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
-- A receive leases a message here instead of rewriting its row (and its body) in ``queue``;
-- ``queue``'s own receipt/receive_count/visible_at hold the state a message was sent with.
CREATE TABLE IF NOT EXISTS queue_lease (
    seq               INTEGER PRIMARY KEY,
    receipt           TEXT NOT NULL UNIQUE,
    receive_count     INTEGER NOT NULL,
    visible_at        REAL NOT NULL,
    first_received_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS dlq (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id    TEXT NOT NULL UNIQUE,
    body          TEXT NOT NULL,
    sent_at       REAL NOT NULL,
    receive_count INTEGER NOT NULL,
    moved_at      REAL NOT NULL
);
-- Minute and hour rollups and device records (``timeseries.py``), written with the
-- processed rows they count (``fold.py``).
CREATE TABLE IF NOT EXISTS rollups (
    device_id   TEXT NOT NULL,
    span        INTEGER NOT NULL,
    start       INTEGER NOT NULL,
    item        TEXT NOT NULL,
    PRIMARY KEY (device_id, span, start)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS devices (
    device_id   TEXT NOT NULL PRIMARY KEY,
    version     INTEGER NOT NULL,
    item        TEXT NOT NULL
) WITHOUT ROWID;
"""
)


class Database:
    """Opens ``path`` lazily in each thread that reads it; all writes go through one writer."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._closed = False
        self._checkpointer = Checkpointer(self._open)
        self._writer = Writer(
            self._open,
            lock_path=path.with_name(path.name + "-writer.lock"),
            on_commit=self._checkpointer.committed,
        )
        with self.reading() as conn:
            # executescript commits on its own; every statement is idempotent.
            conn.executescript(SCHEMA)
        self._upgrade_raw()

    def _upgrade_raw(self) -> None:
        """Rebuild a raw table of an older version, which also kept UNIQUE(device_id,
        reading_id): that second index doubled the B-tree work of every raw insert.

        Every reading it holds gets an entry in ``raw_ids``, since which of them came without
        a device time is not recorded: their repeats keep being found. Runs once per data
        directory, in one transaction (a crash leaves the old table as it was).
        """

        def old_table(conn: sqlite3.Connection) -> bool:
            row = conn.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'raw'"
            ).fetchone()
            return row is not None and "UNIQUE" in row[0]

        with self.reading() as conn:
            if not old_table(conn):
                return
        with self.transaction() as conn:
            if not old_table(conn):  # another process upgraded it meanwhile
                return
            conn.execute(_RAW_TABLE.format(name="raw_upgraded"))
            conn.execute("INSERT INTO raw_upgraded SELECT device_id, sk, reading_id, item FROM raw")
            conn.execute(
                "INSERT OR IGNORE INTO raw_ids (device_id, reading_id, sk) "
                "SELECT device_id, reading_id, sk FROM raw"
            )
            conn.execute("DROP TABLE raw")
            conn.execute("ALTER TABLE raw_upgraded RENAME TO raw")

    def _open(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreUnavailableError("the local database is closed")
        try:
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            # Checkpoints run outside the write lock (``checkpoint.py``), not in a COMMIT.
            conn.execute("PRAGMA wal_autocheckpoint=0")
            # Each unit of a group commit runs in a SAVEPOINT, and SQLite journals every page
            # a savepoint changes in a statement journal, a temporary file once it passes
            # 64 KiB (https://www.sqlite.org/tempfiles.html, sections 2.5 and 4): one group
            # of 100-reading ingests wrote ~170 pages to /var/tmp besides its ~160 WAL frames.
            # In memory it costs a copy of each page; nothing in it must survive a crash.
            conn.execute("PRAGMA temp_store=MEMORY")
        except sqlite3.Error as exc:
            raise StoreUnavailableError(f"cannot open {self.path.name}") from exc
        return conn

    def connection(self) -> sqlite3.Connection:
        """This thread's reading connection (autocommit mode; write with :meth:`defer`)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._open()
            with self._lock:
                self._connections.append(conn)
        return conn

    # -- writing -----------------------------------------------------------------------------

    @contextmanager
    def unit(self) -> Iterator[None]:
        """Collect this thread's deferred writes; commit them together when the block ends.

        Nested units join the outer one. An exception discards the writes (nothing of them
        was written); a failed commit raises :class:`StoreUnavailableError`. Reads inside the
        block do not see the block's own writes yet.
        """
        if getattr(self._local, "unit", None) is not None:
            yield
            return
        unit = self._local.unit = Unit()
        try:
            try:
                yield
            finally:
                self._local.unit = None
            self._writer.commit(unit)
        finally:
            _run_callbacks(unit.settled)
        _run_callbacks(unit.after_commit)

    def defer(self, operation: Operation) -> None:
        """Write: with the current unit, in the current transaction, or on its own now."""
        conn: sqlite3.Connection | None = getattr(self._local, "borrowed", None)
        if conn is not None:
            _guarded(operation, conn)
            return
        unit: Unit | None = getattr(self._local, "unit", None)
        if unit is not None:
            # An operation that can take the next one in (``absorb``) does: a batch's
            # processed writes become one write of the unit (``fold.py``).
            last = unit.operations[-1] if unit.operations else None
            absorb = getattr(last, "absorb", None)
            if absorb is None or not absorb(operation):
                unit.operations.append(operation)
            return
        self.run(operation)

    def run(self, operation: Callable[[sqlite3.Connection], _T]) -> _T:
        """Write now and return the operation's result once it is committed (or raise)."""
        conn: sqlite3.Connection | None = getattr(self._local, "borrowed", None)
        if conn is not None:
            return _guarded(operation, conn)
        unit = Unit(operations=[operation])
        [result] = self._writer.commit(unit)
        return result  # type: ignore[no-any-return]

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` on the writer's connection, for interactive writes.

        For rare writes that read and decide inside the transaction (redrive, visibility
        changes). Rolls back and raises StoreUnavailable on error; nested, it joins the
        outer transaction; :meth:`defer` and :meth:`run` inside it write in it directly.
        """
        borrowed: sqlite3.Connection | None = getattr(self._local, "borrowed", None)
        if borrowed is not None:
            yield borrowed
            return
        if self._closed:
            raise StoreUnavailableError("the local database is closed")
        callbacks: list[Callable[[], None]] = []
        with self._writer.lock, self._writer.across_processes():
            try:
                conn = self._writer.connection()
                conn.execute("BEGIN IMMEDIATE")
                self._local.borrowed, self._local.after_commit = conn, callbacks
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK")
                    callbacks.clear()
                    raise
                finally:
                    self._local.borrowed = None
                conn.execute("COMMIT")
                self._checkpointer.committed()
            except sqlite3.Error as exc:
                callbacks.clear()
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise StoreUnavailableError("the local database failed") from exc
        _run_callbacks(callbacks)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once this thread's pending writes have committed (now if none).

        A discarded unit or a rolled-back transaction drops its callbacks.
        """
        if getattr(self._local, "borrowed", None) is not None:
            self._local.after_commit.append(callback)
        elif (unit := getattr(self._local, "unit", None)) is not None:
            unit.after_commit.append(callback)
        else:
            callback()

    def when_settled(self, callback: Callable[[], None]) -> bool:
        """Run ``callback`` when the current unit ends, committed or not; False if none is open.

        Without a unit the caller's write commits before it returns, so it settles itself.
        """
        unit: Unit | None = getattr(self._local, "unit", None)
        if unit is None:
            return False
        unit.settled.append(callback)
        return True

    # -- reading -----------------------------------------------------------------------------

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """A connection for reads, mapping SQLite errors to StoreUnavailableError."""
        try:
            yield self.connection()
        except sqlite3.Error as exc:
            raise StoreUnavailableError("the local database failed") from exc

    def close(self) -> None:
        """Finish queued writes, then close every connection (idempotent)."""
        self._writer.close()
        self._checkpointer.close()
        with self._lock:
            self._closed = True
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()


#: Rows per multi-row ``INSERT`` (each statement one step, see :func:`insert_rows`).
ROWS_PER_STATEMENT = 500


def insert_rows(conn: sqlite3.Connection, head: str, rows: Sequence[Sequence[object]]) -> None:
    """``head`` (``INSERT … INTO t (columns)``) with ``rows``, a few hundred per statement.

    ``executemany`` steps once per row and lets go of the interpreter lock at every step;
    with the runtime's other threads busy, taking it back costs more than the insert, and
    the writer holds SQLite's write lock meanwhile. One statement per few hundred rows
    steps once.
    """
    if not rows:
        return
    width = len(rows[0])
    marks = "(" + ",".join("?" * width) + ")"
    # Within the bound-parameter limit of the SQLite this Python links (999 before 3.32).
    per = max(
        1, min(ROWS_PER_STATEMENT, conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // width)
    )
    for start in range(0, len(rows), per):
        chunk = rows[start : start + per]
        conn.execute(
            f"{head} VALUES {','.join([marks] * len(chunk))}",
            [value for row in chunk for value in row],
        )


def value_pairs(count: int) -> str:
    """``(?, ?),`` … ``count`` times: a ``VALUES`` list to join a batch of keys against."""
    return ",".join("(?, ?)" for _ in range(count))


def _guarded(operation: Callable[[sqlite3.Connection], _T], conn: sqlite3.Connection) -> _T:
    try:
        return operation(conn)
    except sqlite3.Error as exc:
        raise StoreUnavailableError("the local database failed") from exc


def _run_callbacks(callbacks: list[Callable[[], None]]) -> None:
    for callback in callbacks:
        callback()
