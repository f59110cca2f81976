"""The committed OpenAPI document is generated from the models and never stale."""

from __future__ import annotations

import json
from pathlib import Path

from iot_pipeline_common.openapi import build_openapi, render_openapi

DOC = Path(__file__).resolve().parents[3] / "docs" / "openapi.json"


def test_given_models_when_rendering_then_committed_openapi_matches() -> None:
    assert DOC.read_text() == render_openapi(), "docs/openapi.json is stale: run nox -s openapi"


def test_given_document_then_every_route_is_signed_and_documents_400() -> None:
    doc = build_openapi()
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert op["security"] == [{"sigv4": []}], (path, method)
            assert "400" in op["responses"], (path, method)
    assert json.loads(render_openapi()) == doc
