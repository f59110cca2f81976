"""One writer for the local database, with group commit.

SQLite lets one connection write at a time; with a connection per thread, writers queue in
SQLite's sleep-and-retry busy handler and every one of them pays its own fsync. Here every
write goes through one connection owned by a writer thread instead: callers hand it a
:class:`Unit` (a list of operations, each ``op(connection) -> result``, their arguments
already encoded), and the writer runs every unit that is waiting in **one** transaction, each
unit in a savepoint of its own, then commits once. A unit that raises is rolled back alone;
a commit that fails fails every unit of the group, and none of them is acknowledged.

Callers wait for their unit's commit, so "returned" still means "durable" (``synchronous =
FULL``); what the group shares is the fsync, and the CPU work of building rows stays in the
callers' threads, outside the transaction. Two optional methods of an operation serve that:
``absorb(next)`` lets it take the unit's next operation into itself (``Database.defer``
asks), ``prepare()`` runs in the caller's thread just before the unit is queued, and
``release()`` once the unit has ended, committed or not, for an operation that prepared.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iot_pipeline_backend.errors import StoreUnavailableError

#: A write: runs on the writer's connection inside the group's transaction.
Operation = Callable[[sqlite3.Connection], Any]
#: Units committed together at most (bounds the time one group holds the write lock).
MAX_GROUP = 64


@dataclass(eq=False)
class Unit:
    """Operations that commit together or not at all, and what runs once they did."""

    operations: list[Operation] = field(default_factory=list)
    after_commit: list[Callable[[], None]] = field(default_factory=list)
    #: Run when the unit ends, committed or not (releases what its callers held for it).
    settled: list[Callable[[], None]] = field(default_factory=list)
    results: list[Any] = field(default_factory=list)
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)


class Writer:
    """Runs units on ``connect()``'s connection from a thread of its own (started lazily)."""

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        *,
        lock_path: Path | None = None,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self._connect = connect
        #: Called after every committed group (the database's checkpointer).
        self._on_commit = on_commit
        #: Taken (``flock``) around every write transaction, so writers in other processes
        #: (a runtime's processor, a CLI command) queue in the kernel and wake the moment
        #: it is free, instead of in SQLite's busy handler, which sleeps 1 ms to 100 ms
        #: between retries.
        self._lock_path = lock_path
        self._lock_fd: int | None = None
        self._pending: deque[Unit] = deque()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        #: Held while the connection writes: by the writer for a group, or by a caller that
        #: borrows the connection for an interactive transaction (:meth:`exclusive`).
        self.lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def connection(self) -> sqlite3.Connection:
        """The writer's connection (call with :attr:`lock` held)."""
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    @contextmanager
    def across_processes(self) -> Iterator[None]:
        """Hold the data dir's write lock (call with :attr:`lock` held)."""
        if self._lock_path is None:
            yield
            return
        try:
            if self._lock_fd is None:
                self._lock_fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        except OSError as exc:  # mapped here, so every writer of the data dir says the same
            raise StoreUnavailableError("the local database failed") from exc
        try:
            yield
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def commit(self, unit: Unit) -> list[Any]:
        """Queue ``unit``, wait until its group committed; its results, or its error raised."""
        if not unit.operations:
            return []
        prepared: list[Operation] = []
        try:
            for operation in unit.operations:
                # Work an operation can do before the transaction, in the caller's thread.
                prepare = getattr(operation, "prepare", None)
                if prepare is not None:
                    prepared.append(operation)
                    prepare()
            with self._wake:
                if self._closed:
                    raise StoreUnavailableError("the local database is closed")
                self._pending.append(unit)
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name="iot-pipeline-db-writer", daemon=True
                    )
                    self._thread.start()
                self._wake.notify()
            unit.done.wait()
        finally:
            for operation in prepared:
                # What its ``prepare`` held until the unit ended, committed or not.
                release = getattr(operation, "release", None)
                if release is not None:
                    release()
        if unit.error is not None:
            raise unit.error
        return unit.results

    def close(self) -> None:
        """Finish the units already queued, stop the thread, close the connection."""
        with self._wake:
            self._closed = True
            self._wake.notify()
            thread = self._thread
        if thread is not None:
            thread.join()
        with self.lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._pending and not self._closed:
                    self._wake.wait()
                if not self._pending:
                    return
                group = [self._pending.popleft() for _ in range(min(MAX_GROUP, len(self._pending)))]
            with self.lock:
                try:
                    with self.across_processes():
                        committed = self._commit_group(group)
                except StoreUnavailableError as exc:  # the lock file cannot be opened or locked
                    _fail(group, exc)
                    committed = False
            if committed and self._on_commit is not None:
                self._on_commit()
            for unit in group:
                unit.done.set()

    def _commit_group(self, group: list[Unit]) -> bool:
        """Run and commit ``group``; False if nothing of it committed."""
        try:
            conn = self.connection()
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            _fail(group, exc)
            return False
        try:
            for unit in group:
                _run_unit(conn, unit)
            conn.execute("COMMIT")
        except BaseException as exc:
            # A failed COMMIT (disk full, I/O error) or a broken savepoint: nothing of the
            # group is durable, so no unit may report success.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            _fail(group, exc)
            return False
        return True


def _run_unit(conn: sqlite3.Connection, unit: Unit) -> None:
    conn.execute("SAVEPOINT unit")
    try:
        unit.results = [operation(conn) for operation in unit.operations]
    except Exception as exc:
        conn.execute("ROLLBACK TO unit")
        unit.error = _mapped(exc)
        unit.results = []
    conn.execute("RELEASE unit")


def _fail(group: list[Unit], exc: BaseException) -> None:
    error = _mapped(exc)
    for unit in group:
        unit.results = []
        if unit.error is None:
            unit.error = error


def _mapped(exc: BaseException) -> BaseException:
    if isinstance(exc, sqlite3.Error | OSError):
        mapped = StoreUnavailableError("the local database failed")
        mapped.__cause__ = exc
        return mapped
    return exc
