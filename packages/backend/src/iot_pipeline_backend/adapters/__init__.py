"""Adapters that implement the ports: ``aws`` (boto3) and ``local`` (SQLite, files).

Both sets expose the same attributes (``raw``, ``processed``, ``queue``, ``alerts``,
``config``, ``token_key``), described by :class:`Adapters`, which is all a handler needs.
"""

from __future__ import annotations

from typing import Protocol

from iot_pipeline_backend.ports import (
    AlertSink,
    ConfigSource,
    ProcessedReadingStore,
    RawReadingStore,
    ReadingQueue,
    TokenKeySource,
)


class Adapters(Protocol):
    """One adapter per port, built once per process (Lambda container / local runtime)."""

    @property
    def raw(self) -> RawReadingStore: ...
    @property
    def processed(self) -> ProcessedReadingStore: ...
    @property
    def queue(self) -> ReadingQueue: ...
    @property
    def alerts(self) -> AlertSink: ...
    @property
    def config(self) -> ConfigSource: ...
    @property
    def token_key(self) -> TokenKeySource: ...

    def close(self) -> None: ...
