"""WAL checkpoints outside the write lock.

SQLite's automatic checkpoint runs inside the ``COMMIT`` that takes the WAL past 1,000 pages:
whichever writer commits then holds the write lock while the checkpoint copies pages back
into the database file and fsyncs it, and every other writer, in this process or the
runtime's other one, waits (measured on a data dir of 1M rows: single commits of 0.6–0.9 s
against ~15 ms at the median). Here the writer connections do not checkpoint
(``wal_autocheckpoint=0``); a thread of their database runs a ``PASSIVE`` checkpoint on a
connection of its own shortly after commits, which takes SQLite's checkpoint lock but not
its write lock, so writers go on appending to the WAL meanwhile
(https://www.sqlite.org/wal.html#checkpointing, https://www.sqlite.org/c3ref/wal_checkpoint_v2.html).

Durability is the WAL's either way (``synchronous=FULL`` syncs it at every commit); the
checkpoint only decides when pages move into the main file. A checkpoint that fails or
finds another one running is simply tried again after the next commit; SQLite also
checkpoints when the last connection to the file closes.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable

from iot_pipeline_backend.errors import StoreUnavailableError

#: How long after a commit the checkpoint runs: commits in between share it.
DELAY_S = 0.2


class Checkpointer:
    """Runs ``PRAGMA wal_checkpoint(PASSIVE)`` on ``connect()``'s connection after commits."""

    def __init__(
        self, connect: Callable[[], sqlite3.Connection], *, delay: float | None = None
    ) -> None:
        self._connect = connect
        self._delay = DELAY_S if delay is None else delay
        self._changed = threading.Condition()
        self._pending = False
        self._closed = False
        self._thread: threading.Thread | None = None
        #: Checkpoints run (for tests and the curious).
        self.runs = 0

    def committed(self) -> None:
        """A write transaction committed: checkpoint soon (starts the thread lazily)."""
        with self._changed:
            if self._closed:
                return
            self._pending = True
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="iot-pipeline-db-checkpoint", daemon=True
                )
                self._thread.start()
            self._changed.notify()

    def close(self) -> None:
        """Stop the thread (a checkpoint in progress finishes first)."""
        with self._changed:
            self._closed = True
            self._changed.notify()
            thread = self._thread
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while True:
                with self._changed:
                    self._changed.wait_for(lambda: self._pending or self._closed)
                    # Let the commits of the next moment join this checkpoint.
                    self._changed.wait_for(lambda: self._closed, timeout=self._delay)
                    if self._closed:
                        return
                    self._pending = False
                try:
                    if conn is None:
                        conn = self._connect()
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    self.runs += 1
                except (sqlite3.Error, StoreUnavailableError):
                    # Harmless: the WAL keeps every commit; tried again after the next one.
                    if conn is not None:
                        conn.close()
                    conn = None
        finally:
            if conn is not None:
                conn.close()
