"""The query under a failing AWS call boundary: a 503 with Retry-After that says nothing false."""

from __future__ import annotations

import json
from typing import Any

import pytest
from iot_pipeline_backend.deadline import MARGIN_SECONDS
from iot_pipeline_backend.handlers import ingestion, query
from iot_pipeline_backend.handlers.http import NOTHING_STORED

# The handler suites' real-shaped event builders, shared rather than copied.
from ..handlers.conftest import api_event  # noqa: TID252
from .conftest import Harness, header

T0 = 1_705_314_600_000
PARAMS = {"device_id": "dev-q", "table": "raw", "limit": "1"}  # a page with a next_token


@pytest.mark.parametrize("mode", ["once", "persistent", "throttled"])
@pytest.mark.parametrize(("service", "operation"), [("dynamodb", "Query"), ("ssm", "GetParameter")])
def test_given_a_failing_boundary_then_the_query_answers_200_or_a_truthful_503(
    harness: Harness, service: str, operation: str, mode: str
) -> None:
    body = {
        "readings": [
            {
                "device_id": "dev-q",
                "sensor_data": {"temperature": 20.0},
                "timestamp": T0 + i,
                "reading_id": f"q-{i}",
            }
            for i in range(2)
        ]
    }
    assert (
        ingestion.lambda_handler(api_event("POST", "/ingest", body=body), None)["statusCode"] == 200
    )
    harness.new_container()  # the function's own container: nothing cached yet
    harness.inject(service, operation, mode)

    response: dict[str, Any] = query.lambda_handler(
        api_event("GET", "/query", query=PARAMS), harness.time.context()
    )

    if response["statusCode"] == 200:
        page = json.loads(response["body"])
        assert [i["reading_id"] for i in page["items"]] == ["q-0"] and page["next_token"]
    else:
        assert response["statusCode"] == 503
        assert json.loads(response["body"])["message"] == NOTHING_STORED
        assert header(response, "Retry-After").isdigit()
        assert "Query" not in response["body"] and "SSM" not in response["body"]
    if mode == "once" and service == "dynamodb":
        assert response["statusCode"] == 200
    assert harness.time.slept <= harness.time.budget - MARGIN_SECONDS
