"""Adapters that implement the ports: ``aws`` (boto3) and ``local`` (SQLite, files).

Both sets expose the same attributes (``raw``, ``processed``, ``queue``, ``alerts``,
``config``, ``token_key``, ``timeseries``), described by :class:`Adapters`, which is all a
handler needs.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Protocol

from iot_pipeline_backend.ports import (
    AlertSink,
    ConfigSource,
    ProcessedReadingStore,
    RawReadingStore,
    ReadingQueue,
    TimeSeriesStore,
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
    @property
    def timeseries(self) -> TimeSeriesStore: ...

    def close(self) -> None: ...


def atomic(adapters: Adapters) -> AbstractContextManager[object]:
    """Group the writes of one request where the adapter set can (its ``atomic()``).

    Locally that is one SQLite transaction: stored and queued together or not at all, with
    one fsync. On AWS each call is durable on its own and nothing is grouped. An adapter set
    without ``atomic()`` (a test double, say) groups nothing either.
    """
    group = getattr(adapters, "atomic", None)
    return group() if callable(group) else nullcontext()
