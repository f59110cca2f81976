"""Fixtures for the dashboard: a data directory with an alert rule, an SDK client."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol

import pytest
from iot_pipeline_sdk import Client

#: Readings hotter than this trip an alert, so the page has an alert to show.
HOT = 45


class _Runtime(Protocol):
    endpoint: str
    region: str
    access_key: str
    secret_key: str


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A fresh data directory whose config has the ``too-hot`` alert rule."""
    directory = tmp_path / "data"
    directory.mkdir()
    rule = {"name": "too-hot", "field": "temperature", "above": HOT}
    (directory / "config.json").write_text(json.dumps({"alert_rules": [rule]}))
    return directory


def sdk_for(runtime: _Runtime) -> Client:
    """An SDK client signing with the runtime's keys."""
    return Client(
        endpoint=runtime.endpoint,
        region=runtime.region,
        credentials=(runtime.access_key, runtime.secret_key),
    )
