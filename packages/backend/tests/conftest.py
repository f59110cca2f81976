"""Shared fixtures: a fresh data directory and local adapters over a real SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from iot_pipeline_backend.adapters.local import LocalAdapters


class FakeClock:
    """A wall clock that only moves when a test says so (visibility timeouts without sleeps)."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def local_adapters(tmp_path: Path, clock: FakeClock) -> Iterator[LocalAdapters]:
    adapters = LocalAdapters.open(tmp_path / "data", clock=clock)
    yield adapters
    adapters.close()
