"""Handler tests: real-shaped API Gateway REST (proxy v1) and SQS events from ``fixtures/``."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from iot_pipeline_backend.adapters.local import LocalAdapters
from iot_pipeline_backend.handlers.runtime import use_adapters

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def load_fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def api_event(
    method: str,
    path: str,
    *,
    body: Any = None,
    query: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The fixture REST proxy event, re-aimed at ``method path``."""
    event = copy.deepcopy(load_fixture("apigw_rest_event.json"))
    event["httpMethod"] = method
    event["path"] = path
    event["resource"] = path
    event["requestContext"]["httpMethod"] = method
    event["requestContext"]["resourcePath"] = path
    event["requestContext"]["path"] = f"/prod{path}"
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = (
        None if query is None else {k: [v] for k, v in query.items()}
    )
    event["body"] = body if body is None or isinstance(body, str) else json.dumps(body)
    return event


def sqs_event(bodies: list[str]) -> dict[str, Any]:
    """The fixture SQS event with one record per body (message ids ``m-0``, ``m-1``, ...)."""
    template = load_fixture("sqs_event.json")["Records"][0]
    records = []
    for index, body in enumerate(bodies):
        record = copy.deepcopy(template)
        record["messageId"] = f"m-{index}"
        record["receiptHandle"] = f"receipt-{index}"
        record["body"] = body
        records.append(record)
    return {"Records": records}


def body_of(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


def content_type(response: dict[str, Any]) -> str:
    headers = response.get("headers") or {}
    multi = response.get("multiValueHeaders") or {}
    return str(headers.get("Content-Type") or multi.get("Content-Type", [""])[0])


@pytest.fixture
def installed(local_adapters: LocalAdapters) -> Iterator[LocalAdapters]:
    """The handlers use these local adapters (a real SQLite file in tmp_path)."""
    previous = use_adapters(local_adapters)
    yield local_adapters
    use_adapters(previous)


@pytest.fixture
def drain(installed: LocalAdapters) -> Callable[[], list[str]]:
    """Receive and delete every queued message; returns the bodies."""

    def run() -> list[str]:
        bodies: list[str] = []
        while batch := installed.queue.receive(max_messages=10, visibility_timeout=60):
            for message in batch:
                bodies.append(message.body)
                installed.queue.delete(message.receipt)
        return bodies

    return run
