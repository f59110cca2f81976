"""GIVEN the contract models WHEN converted for API Gateway THEN draft-4 agrees with them."""

from __future__ import annotations

import json
from typing import Any

import pytest

jsonschema_rs = pytest.importorskip("jsonschema_rs")

from iot_pipeline_backend.infra import request_schemas  # noqa: E402

pytestmark = pytest.mark.cdk

READING = {
    "device_id": "device-123",
    "sensor_data": {"temperature": 25.5, "humidity": 60, "pressure": 1013},
}


def _validator(schema: dict[str, Any]) -> Any:
    return jsonschema_rs.Draft4Validator(schema)


def _keys(node: Any) -> set[str]:
    if isinstance(node, dict):
        return set(node) | {k for v in node.values() for k in _keys(v)}
    if isinstance(node, list):
        return {k for v in node for k in _keys(v)}
    return set()


@pytest.mark.parametrize(
    "schema", [request_schemas.ingest_schema(), request_schemas.process_schema()]
)
def test_schemas_are_self_contained_draft4(schema: dict[str, Any]) -> None:
    assert schema["$schema"] == "http://json-schema.org/draft-04/schema#"
    assert not {"$ref", "$defs", "const", "propertyNames", "default"} & _keys(schema)
    json.dumps(schema)  # plain JSON, ready for the template


@pytest.mark.parametrize(
    "body",
    [
        READING,
        {**READING, "timestamp": 1705314600000, "reading_id": "r-1", "seq": 7},
        {"readings": [READING, {**READING, "device_id": "device-2"}]},
    ],
)
def test_ingest_schema_accepts_contract_bodies(body: dict[str, Any]) -> None:
    assert _validator(request_schemas.ingest_schema()).is_valid(body)


@pytest.mark.parametrize(
    "body",
    [
        {"sensor_data": {"temperature": 1}},  # no device_id
        {**READING, "colour": "red"},  # unknown key
        {**READING, "device_id": "bad id!"},  # pattern
        {**READING, "sensor_data": {"temperature": "hot"}},  # not a number
        {"readings": []},  # empty batch
        {"readings": [READING] * 501},  # too many
        {**READING, "readings": [READING]},  # neither shape
    ],
)
def test_ingest_schema_rejects_what_the_contract_rejects(body: dict[str, Any]) -> None:
    assert not _validator(request_schemas.ingest_schema()).is_valid(body)


def test_process_schema_requires_device_id_and_forbids_unknown_keys() -> None:
    validator = _validator(request_schemas.process_schema())
    assert validator.is_valid({"device_id": "device-123", "event_date": "2024-01-15"})
    assert validator.is_valid({"device_id": "device-123", "start": 0, "end": 10})
    assert not validator.is_valid({"event_date": "2024-01-15"})
    assert not validator.is_valid({"device_id": "device-123", "day": "2024-01-15"})
