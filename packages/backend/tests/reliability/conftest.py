"""Shared parts of the reliability suite: a real local pipeline, real SigV4 signing, and a
look straight into its SQLite file to count what was stored.

Every request is signed by botocore's ``SigV4Auth`` (what every AWS SDK agrees with) through
a ``requests`` auth hook, so generated requests (hypothesis, schemathesis) reach the handlers
instead of stopping at the gateway's 403.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from iot_pipeline_backend.adapters.local import DATABASE_FILE
from iot_pipeline_backend.errors import StoreUnavailableError
from iot_pipeline_backend.local.testing import RunningPipeline, running_pipeline

JSON_HEADERS = {"Content-Type": "application/json"}


class BotocoreSigV4(requests.auth.AuthBase):
    """Signs each prepared request exactly as sent (method, URL, headers, body bytes)."""

    def __init__(
        self,
        *,
        access_key: str,
        secret_key: str,
        region: str,
        session_token: str | None = None,
        service: str = "execute-api",
    ) -> None:
        self._signer = SigV4Auth(
            Credentials(access_key, secret_key, session_token), service, region
        )

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        # Only the headers requests will send are signed; botocore adds its own.
        aws = AWSRequest(
            method=request.method, url=request.url, data=body, headers=dict(request.headers)
        )
        self._signer.add_auth(aws)
        for name, value in aws.headers.items():
            request.headers[name] = value
        return request


def signed_session(pipeline: Any, **overrides: Any) -> requests.Session:
    """A keep-alive session whose every request is signed for ``pipeline`` (overridable)."""
    session = requests.Session()
    options: dict[str, Any] = {
        "access_key": pipeline.access_key,
        "secret_key": pipeline.secret_key,
        "region": pipeline.region,
        **overrides,
    }
    session.auth = BotocoreSigV4(**options)
    return session


@dataclass(frozen=True)
class StoreCounts:
    """Rows in each table of the local database."""

    raw: int
    processed: int
    queue: int
    dlq: int


def store_counts(data_dir: Path) -> StoreCounts:
    """Count rows straight from the SQLite file (a reader beside the runtime's writer)."""
    with sqlite3.connect(data_dir / DATABASE_FILE, timeout=30) as conn:
        counts = {
            table: int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])  # noqa: S608
            for table in ("raw", "processed", "queue", "dlq")
        }
    return StoreCounts(**counts)


def stored_reading_ids(data_dir: Path, table: str) -> list[str]:
    """Every reading id in ``raw`` or ``processed`` (with repeats, if there were any)."""
    assert table in {"raw", "processed"}
    with sqlite3.connect(data_dir / DATABASE_FILE, timeout=30) as conn:
        rows = conn.execute(
            f"SELECT json_extract(item, '$.reading_id') FROM {table}"  # noqa: S608
        ).fetchall()
    return [str(row[0]) for row in rows]


def assert_error_body(response: requests.Response) -> dict[str, Any]:
    """A 4xx whose JSON body is ``{"message", "error", "details"}`` with a useful message."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:500])
    body: dict[str, Any] = response.json()
    assert set(body) == {"message", "error", "details"}, body
    assert isinstance(body["message"], str) and body["message"].strip()
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["details"], list)
    assert "Traceback" not in response.text
    return body


@pytest.fixture(scope="module")
def shared_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPipeline]:
    """One in-process local pipeline for a whole module (starting one costs a second)."""
    with running_pipeline(data_dir=tmp_path_factory.mktemp("pipeline") / "data") as running:
        yield running


@pytest.fixture(scope="module")
def session(shared_pipeline: RunningPipeline) -> Iterator[requests.Session]:
    with signed_session(shared_pipeline) as signed:
        yield signed


# -- injected processing faults ---------------------------------------------------------------


class FlakyProcessedStore:
    """A real processed store that fails a write holding certain readings (a fault injector).

    ``failures[reading_id]`` is how many more writes holding that reading fail; ``-1`` fails
    them until :meth:`heal` is called. Every attempted write is recorded, so a test can tell
    which readings the processor was given, and how often.
    """

    def __init__(self, inner: Any, failures: dict[str, int]) -> None:
        self._inner = inner
        self.failures = dict(failures)
        self.attempts: list[list[str]] = []

    def store_processed_readings(self, readings: Any) -> None:
        ids = [r.reading_id for r in readings]
        self.attempts.append(ids)
        for reading_id in ids:
            left = self.failures.get(reading_id, 0)
            if left != 0:
                self.failures[reading_id] = left - 1 if left > 0 else left
                raise StoreUnavailableError(f"injected fault writing {reading_id}")
        self._inner.store_processed_readings(readings)

    def query_processed(self, **query: Any) -> Any:
        return self._inner.query_processed(**query)

    def heal(self) -> None:
        """The cause is fixed: every later write succeeds."""
        self.failures.clear()

    def attempts_of(self, reading_id: str) -> int:
        return sum(reading_id in ids for ids in self.attempts)


@dataclass
class AdaptersWithFaults:
    """Another adapter set with its processed store replaced by a :class:`FlakyProcessedStore`."""

    inner: Any
    processed: FlakyProcessedStore

    @property
    def raw(self) -> Any:
        return self.inner.raw

    @property
    def queue(self) -> Any:
        return self.inner.queue

    @property
    def alerts(self) -> Any:
        return self.inner.alerts

    @property
    def config(self) -> Any:
        return self.inner.config

    @property
    def token_key(self) -> Any:
        return self.inner.token_key

    @property
    def timeseries(self) -> Any:
        return self.inner.timeseries

    def close(self) -> None:
        self.inner.close()
