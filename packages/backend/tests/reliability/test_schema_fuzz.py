"""Schema-driven fuzzing: schemathesis generates requests from ``docs/openapi.json`` (valid
ones and deliberately invalid ones), each is signed with SigV4 and sent to the running local
pipeline. Whatever it sends: no 5xx; status, content type and body match the document; a
refused request is a JSON ``{"message", "error", "details"}`` and stores nothing.
"""

from __future__ import annotations

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
        statuses[response.status_code] += 1
        # THEN no 5xx, and status, content type and body are what the document says
        case.validate_response(response, checks=CHECKS)
        if response.status_code >= 400:
            # AND a refusal is a clear JSON error that stored nothing
            assert_error_body(response)
            assert store_counts(shared_pipeline.data_dir).raw == before

    check()
    assert sum(statuses.values()) >= EXAMPLES
    # The signature held for generated requests: they reached the handlers, not a 403.
    assert statuses[403] == 0, statuses
    if mode == GenerationMode.POSITIVE:
        # Some valid requests went all the way through (not only validation errors); for one
        # device by a generated id, through is the handler's 404 for an unknown device.
        through = {404} if operation == "GET /devices/{device_id}" else set()
        assert sum(n for s, n in statuses.items() if s < 300 or s in through) > 0, statuses
