"""The contract suite runs each test once per adapter set: local (SQLite) and aws (moto)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from iot_pipeline_backend.adapters.local import LocalAdapters
from iot_pipeline_backend.domain.messages import unpack_message
from iot_pipeline_backend.ports import (
    AlertSink,
    ConfigSource,
    ProcessedReadingStore,
    RawReadingStore,
    ReadingQueue,
    TimeSeriesStore,
    TokenKeySource,
)
from iot_pipeline_common.models import RawItem


@dataclass
class Backend:
    """One adapter set under test, plus a way to read back what reached the queue."""

    name: str
    raw: RawReadingStore
    processed: ProcessedReadingStore
    queue: ReadingQueue
    alerts: AlertSink
    config: ConfigSource
    token_key: TokenKeySource
    drain_queue: Callable[[], list[str]]
    write_config: Callable[[str], None]
    timeseries: TimeSeriesStore

    def queued_readings(self) -> list[RawItem]:
        return [r for body in self.drain_queue() for r in unpack_message(body)]


def _local(tmp_path: Path) -> Iterator[Backend]:
    adapters = LocalAdapters.open(tmp_path / "data")

    def drain() -> list[str]:
        bodies: list[str] = []
        while batch := adapters.queue.receive(max_messages=10, visibility_timeout=60):
            for message in batch:
                bodies.append(message.body)
                adapters.queue.delete(message.receipt)
        return bodies

    yield Backend(
        "local",
        adapters.raw,
        adapters.processed,
        adapters.queue,
        adapters.alerts,
        adapters.config,
        adapters.token_key,
        drain,
        adapters.config.path.write_text,
        adapters.timeseries,
    )
    adapters.close()


def _aws(request: pytest.FixtureRequest) -> Iterator[Backend]:
    # Requested lazily so the local half of the suite never starts moto.
    stack = request.getfixturevalue("aws")
    a = stack.adapters

    def write_config(text: str) -> None:
        stack.session.client("ssm").put_parameter(
            Name=stack.settings.config_parameter_name or "", Value=text, Overwrite=True
        )

    yield Backend(
        "aws",
        a.raw,
        a.processed,
        a.queue,
        a.alerts,
        a.config,
        a.token_key,
        stack.drain_queue,
        write_config,
        a.timeseries,
    )


@pytest.fixture(params=["local", "aws"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "local":
        yield from _local(tmp_path)
    else:
        yield from _aws(request)
