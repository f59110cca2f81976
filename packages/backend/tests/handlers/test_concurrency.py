"""The local runtime calls handlers from several threads at once; requests must not mix."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from iot_pipeline_backend.adapters.local import LocalAdapters
from iot_pipeline_backend.handlers import ingestion, processor, query

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
