"""The local runtime calls handlers from several threads at once; requests must not mix."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from iot_pipeline_backend.adapters.local import LocalAdapters
from iot_pipeline_backend.handlers import ingestion, processor, query
from iot_pipeline_backend.handlers.http import build_resolver, json_response, per_thread

from .conftest import api_event, body_of, sqs_event


def test_given_concurrent_ingests_then_each_response_belongs_to_its_own_request(
    installed: LocalAdapters,
) -> None:
    def ingest(i: int) -> tuple[int, int, str]:
        reading = {"device_id": f"dev-{i}", "sensor_data": {"temperature": 20}, "seq": i}
        response = ingestion.lambda_handler(api_event("POST", "/ingest", body=reading), None)
        return i, response["statusCode"], body_of(response).get("device_id", response["body"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(ingest, range(64)))

    assert [(status, device) for _, status, device in results] == [
        (200, f"dev-{i}") for i in range(64)
    ]
    for i in range(64):
        [item] = installed.raw.query_raw(
            device_id=f"dev-{i}",
            start_ms=0,
            end_ms=9_999_999_999_999,
            limit=10,
            descending=False,
            after_sk=None,
        ).records
        assert item.seq == i


def test_given_concurrent_batches_and_queries_then_results_do_not_mix(
    installed: LocalAdapters,
) -> None:
    def batch(i: int) -> dict[str, object]:
        return processor.lambda_handler(sqs_event(["bad"] * (i % 3) + ["x"]), None)

    def ask(i: int) -> int:
        response = query.lambda_handler(
            api_event("GET", "/query", query={"device_id": f"dev-{i}", "limit": str(i + 1)}), None
        )
        return int(response["statusCode"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        batches = list(pool.map(batch, range(48)))
        statuses = list(pool.map(ask, range(48)))

    assert [len(b["batchItemFailures"]) for b in batches] == [i % 3 + 1 for i in range(48)]  # type: ignore[arg-type]
    assert statuses == [200] * 48


def test_given_two_threads_inside_one_route_at_once_then_each_reads_its_own_event() -> None:
    # Powertools keeps the event being resolved in a class attribute shared by every resolver;
    # both threads are held inside the route together, so a shared event would be overwritten.
    both_inside = threading.Barrier(2, timeout=10)

    def build() -> APIGatewayRestResolver:
        app = build_resolver({"/echo": frozenset({"POST"})})

        @app.post("/echo")
        def _echo() -> Response[str]:
            before = app.current_event.body
            both_inside.wait()
            return json_response(200, {"before": before, "after": app.current_event.body})

        return app

    resolver = per_thread(build)

    def call(name: str) -> dict[str, Any]:
        event = api_event("POST", "/echo", body={"caller": name})
        return body_of(resolver().resolve(event, None))

    with ThreadPoolExecutor(max_workers=2) as pool:
        replies = list(pool.map(call, ["first", "second"]))

    for name, reply in zip(["first", "second"], replies, strict=True):
        assert json.loads(reply["before"]) == json.loads(reply["after"]) == {"caller": name}
