"""Tracing off is known without building a Tracer: a fresh interpreter per case, since
what is asserted is which modules the first invocation imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

_FIRST_INVOCATION = """
import json, sys
sys.path.insert(0, sys.argv[1])
from handlers.conftest import api_event
from iot_pipeline_backend.handlers import ingestion
response = ingestion.lambda_handler(api_event("POST", "/ingest", body={"readings": []}), None)
print(json.dumps([response["statusCode"], "aws_xray_sdk" in sys.modules]))
"""


def _first_invocation(trace_disabled: str | None) -> tuple[int, bool]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_LAMBDA", "POWERTOOLS"))}
    if trace_disabled is not None:
        env["POWERTOOLS_TRACE_DISABLED"] = trace_disabled
    tests = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", _FIRST_INVOCATION, str(tests)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    status, imported = json.loads(out.strip().splitlines()[-1])
    return status, imported


@pytest.mark.parametrize("trace_disabled", [None, "true"])
def test_given_tracing_off_then_the_first_invocation_does_not_import_the_xray_sdk(
    trace_disabled: str | None,
) -> None:
    # GIVEN no Lambda environment (the local runtime's case: tracing defaults to off)
    # WHEN a handler is invoked for the first time
    status, imported = _first_invocation(trace_disabled)
    # THEN it answered, and the X-Ray SDK (with botocore, ~0.6 s) was never imported
    assert status == 400
    assert not imported


def test_given_tracing_not_switched_off_then_the_tracer_decides() -> None:
    # GIVEN POWERTOOLS_TRACE_DISABLED=false outside Lambda
    status, imported = _first_invocation("false")
    # THEN the Tracer is built to decide (it turns itself off outside Lambda)
    assert status == 400
    assert imported
