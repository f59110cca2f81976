"""Local adapters: SQLite (WAL) for readings and the queue, plain files for the rest.

Everything lives in one data directory::

    <data-dir>/pipeline.db     raw, processed, queue, dlq, rollups, devices
    <data-dir>/config.json     the pipeline config (optional; defaults when missing)
    <data-dir>/token.key       the next_token signing key (created on first use, 0600)
    <data-dir>/alerts.jsonl    published alerts, one JSON object per line
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from iot_pipeline_backend.adapters.local.db import Database
from iot_pipeline_backend.adapters.local.files import (
    FileTokenKey,
    JsonFileConfigSource,
    JsonLinesAlertSink,
)
from iot_pipeline_backend.adapters.local.queue import DeadLetter, QueueMessage, SqliteReadingQueue
from iot_pipeline_backend.adapters.local.stores import (
    SqliteProcessedReadingStore,
    SqliteRawReadingStore,
)
from iot_pipeline_backend.adapters.local.timeseries import SqliteTimeSeriesStore

__all__ = [
    "ALERTS_FILE",
    "CONFIG_FILE",
    "DATABASE_FILE",
    "TOKEN_KEY_FILE",
    "DeadLetter",
    "FileTokenKey",
    "JsonFileConfigSource",
    "JsonLinesAlertSink",
    "LocalAdapters",
    "QueueMessage",
    "SqliteProcessedReadingStore",
    "SqliteRawReadingStore",
    "SqliteReadingQueue",
    "SqliteTimeSeriesStore",
]

DATABASE_FILE = "pipeline.db"
CONFIG_FILE = "config.json"
TOKEN_KEY_FILE = "token.key"  # noqa: S105 - a file name, not a secret
ALERTS_FILE = "alerts.jsonl"


class LocalAdapters:
    """Every port's local adapter over one data directory."""

    def __init__(self, data_dir: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.data_dir = data_dir
        self.db = Database(data_dir / DATABASE_FILE)
        self.raw = SqliteRawReadingStore(self.db)
        self.processed = SqliteProcessedReadingStore(self.db)
        self.timeseries = SqliteTimeSeriesStore(self.db)
        self.alerts = JsonLinesAlertSink(data_dir / ALERTS_FILE)
        self.queue = SqliteReadingQueue(self.db, alerts=self.alerts, clock=clock)
        self.config = JsonFileConfigSource(data_dir / CONFIG_FILE)
        self.token_key = FileTokenKey(data_dir / TOKEN_KEY_FILE)

    @classmethod
    def open(cls, data_dir: Path | str, *, clock: Callable[[], float] = time.time) -> LocalAdapters:
        """Create the directory and database if needed and open them."""
        path = Path(data_dir)
        path.mkdir(parents=True, exist_ok=True)
        return cls(path, clock=clock)

    def atomic(self) -> AbstractContextManager[object]:
        """One commit for the writes made inside (e.g. store raw + enqueue), all or nothing.

        The writes are encoded in the caller's thread as they are made and committed when
        the block ends, grouped with other threads' units (see ``db.py``).
        """
        return self.db.unit()

    def close(self) -> None:
        """Close the database connections."""
        self.db.close()
