"""Schema-driven fuzzing: schemathesis generates requests from ``docs/openapi.json`` (valid
ones and deliberately invalid ones), each is signed with SigV4 and sent to the running local
pipeline. Whatever it sends: no 5xx; status, content type and body match the document; a
refused request is a JSON ``{"message", "error", "details"}`` and stores nothing.
"""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from iot_pipeline_backend.local.testing import RunningPipeline
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from .conftest import assert_error_body, store_counts

OPENAPI = Path(__file__).resolve().parents[4] / "docs" / "openapi.json"
#: Per operation and mode: 3 operations × 2 modes × 250 = 1,500 generated requests.
EXAMPLES = 250
SCHEMA = schemathesis.openapi.from_path(str(OPENAPI))
OPERATIONS = {
    f"{op.method.upper()} {op.path}": op for op in (r.ok() for r in SCHEMA.get_all_operations())
}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def refusal_detail(response: requests.Response) -> str:
    """What a 403 was for: the gateway's message and the request as sent (signature cut)."""
    sent = response.request
    headers = {k: v for k, v in sent.headers.items() if k.lower() != "authorization"}
    body = sent.body if isinstance(sent.body, bytes | str | None) else type(sent.body)
    return f"{response.text[:300]} <- {sent.method} {sent.url} {headers} body={body!r:.300}"


def ensure_example_device(pipeline: RunningPipeline, session: requests.Session) -> None:
    reading = {"device_id": "device-123", "sensor_data": {"temperature": 21.5}}
    assert session.post(f"{pipeline.endpoint}/ingest", json=reading, timeout=30).status_code == 200
    assert pipeline.wait_idle(30)


def test_given_the_openapi_document_then_it_describes_every_route() -> None:
    assert sorted(OPERATIONS) == [
        "GET /devices",
        "GET /devices/{device_id}",
        "GET /query",
        "POST /ingest",
        "POST /process",
    ]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_given_generated_requests_then_never_5xx_and_refusals_are_clear_and_store_nothing(
    shared_pipeline: RunningPipeline,
    session: requests.Session,
    operation: str,
    mode: GenerationMode,
) -> None:
    statuses: Counter[int] = Counter()
    resent_through: list[str] = []
    if operation == "GET /devices/{device_id}":
        # GIVEN the document's example device exists, so its explicit example can succeed
        ensure_example_device(shared_pipeline, session)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=OPERATIONS[operation].as_strategy(generation_mode=mode))
    def check(case: schemathesis.Case) -> None:
        before = store_counts(shared_pipeline.data_dir).raw
        # GIVEN a generated request, signed by botocore through the session's auth hook
        response = case.call(base_url=shared_pipeline.endpoint, session=session, timeout=30)
        if response.status_code == 403:
            # The signature must hold for generated requests (they reach the handlers, not a
            # 403). A refusal is re-sent once, signed afresh: refused again, the gateway and
            # botocore disagree on this request (the assertion names it); through on the
            # second try, it is reported with what was sent, so a cause can be found.
            detail = refusal_detail(response)
            response = case.call(base_url=shared_pipeline.endpoint, session=session, timeout=30)
            assert response.status_code != 403, detail
            resent_through.append(detail)
        statuses[response.status_code] += 1
        # THEN no 5xx, and status, content type and body are what the document says
        case.validate_response(response, checks=CHECKS)
        if response.status_code >= 400:
            # AND a refusal is a clear JSON error that stored nothing
            assert_error_body(response)
            assert store_counts(shared_pipeline.data_dir).raw == before

    check()
    assert sum(statuses.values()) >= EXAMPLES
    for detail in resent_through:
        warnings.warn(f"403 on the first send only: {detail}", stacklevel=1)
    if mode == GenerationMode.POSITIVE:
        # Some valid requests went all the way through (not only validation errors); for one
        # device by a generated id, through is the handler's 404 for an unknown device.
        through = {404} if operation == "GET /devices/{device_id}" else set()
        assert sum(n for s, n in statuses.items() if s < 300 or s in through) > 0, statuses
