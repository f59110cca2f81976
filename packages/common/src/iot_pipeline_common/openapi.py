"""Build the OpenAPI 3.1 document of the HTTP API from the contract models.

``nox -s openapi`` writes it to ``docs/openapi.json``; a test fails when that file is stale.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from iot_pipeline_common import limits
from iot_pipeline_common.aggregates import AggregateResponse, Device, DevicesResponse
from iot_pipeline_common.models import (
    BatchIngestRequest,
    BatchIngestResponse,
    ErrorBody,
    IngestResponse,
    ProcessedItem,
    ProcessRequest,
    ProcessResponse,
    QueryResponse,
    RawItem,
    Reading,
)

_MODELS: list[type[BaseModel]] = [
    Reading,
    BatchIngestRequest,
    IngestResponse,
    BatchIngestResponse,
    ProcessRequest,
    ProcessResponse,
    QueryResponse[ProcessedItem],
    QueryResponse[RawItem],
    AggregateResponse,
    DevicesResponse,
    Device,
    ErrorBody,
]


def component_schemas() -> dict[str, Any]:
    """JSON schemas of every contract model, keyed by component name."""
    _, top = models_json_schema(
        [(m, "validation") for m in _MODELS], ref_template="#/components/schemas/{model}"
    )
    defs: dict[str, Any] = top.get("$defs", {})
    return defs


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "Validation error; `details` names each bad field",
        403: "Missing or invalid SigV4 signature",
        404: "Unknown device",
        413: "Body larger than the limit",
        429: "Throttled",
        500: "Server fault",
    }
    return {str(c): {"description": text[c], "content": _json(_ref("ErrorBody"))} for c in codes}


def _query_param(
    name: str, schema: dict[str, Any], description: str, *, required: bool = False
) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "schema": schema,
        "description": description,
    }


def build_openapi() -> dict[str, Any]:
    """The whole document, deterministic (sorted keys when dumped)."""
    schemas = component_schemas()
    id_schema = {
        "type": "string",
        "minLength": limits.ID_MIN_LENGTH,
        "maxLength": limits.ID_MAX_LENGTH,
        "pattern": limits.ID_PATTERN,
    }
    security: list[dict[str, list[str]]] = [{"sigv4": []}]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "iot-pipeline API",
            "version": "1.0.0",
            "description": "Every method is signed with AWS SigV4 (service `execute-api`).",
        },
        "servers": [{"url": f"http://127.0.0.1:8000/{limits.STAGE}"}],
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "sigv4": {
                    "type": "apiKey",
                    "name": "Authorization",
                    "in": "header",
                    "x-amazon-apigateway-authtype": "awsSigv4",
                }
            },
        },
        "paths": {
            "/ingest": {
                "post": {
                    "operationId": "ingest",
                    "summary": "Ingest one reading or a batch of up to 500",
                    "security": security,
                    "requestBody": {
                        "required": True,
                        "content": _json({"oneOf": [_ref("Reading"), _ref("BatchIngestRequest")]}),
                    },
                    "responses": {
                        "200": {
                            "description": "Stored durably and queued",
                            "content": _json(
                                {"oneOf": [_ref("IngestResponse"), _ref("BatchIngestResponse")]}
                            ),
                        },
                        **_errors(400, 403, 413, 429, 500),
                    },
                }
            },
            "/process": {
                "post": {
                    "operationId": "process",
                    "summary": "Replay raw readings of a device through the processor",
                    "security": security,
                    "requestBody": {"required": True, "content": _json(_ref("ProcessRequest"))},
                    "responses": {
                        "202": {
                            "description": "Readings queued",
                            "content": _json(_ref("ProcessResponse")),
                        },
                        **_errors(400, 403, 413, 429, 500),
                    },
                }
            },
            "/query": {
                "get": {
                    "operationId": "query",
                    "summary": "Read a device's processed or raw readings, paginated",
                    "security": security,
                    "parameters": [
                        _query_param("device_id", id_schema, "Device to read", required=True),
                        _query_param(
                            "event_date",
                            {"type": "string", "format": "date"},
                            "UTC day, YYYY-MM-DD (or use start/end)",
                        ),
                        _query_param(
                            "start",
                            {"type": "integer", "minimum": 0, "maximum": limits.TIMESTAMP_MAX_MS},
                            "Epoch ms, inclusive",
                        ),
                        _query_param(
                            "end",
                            {"type": "integer", "minimum": 0, "maximum": limits.TIMESTAMP_MAX_MS},
                            "Epoch ms, inclusive",
                        ),
                        _query_param(
                            "table", {"type": "string", "enum": ["processed", "raw"]}, "Table"
                        ),
                        _query_param(
                            "limit",
                            {
                                "type": "integer",
                                "minimum": limits.QUERY_LIMIT_MIN,
                                "maximum": limits.QUERY_LIMIT_MAX,
                            },
                            "Page size",
                        ),
                        _query_param(
                            "order", {"type": "string", "enum": ["asc", "desc"]}, "Time order"
                        ),
                        _query_param(
                            "next_token",
                            {"type": "string", "maxLength": limits.NEXT_TOKEN_MAX_LENGTH},
                            "Opaque token from the previous page",
                        ),
                        *_aggregate_params(),
                    ],
                    "responses": {
                        "200": {
                            "description": "One page",
                            # anyOf, not oneOf: an empty page (and a processed item, which
                            # also carries sensor_data and ingested_at) fits both shapes.
                            "content": _json(
                                {
                                    "anyOf": [
                                        _ref("QueryResponse_ProcessedItem_"),
                                        _ref("QueryResponse_RawItem_"),
                                        _ref("AggregateResponse"),
                                    ]
                                }
                            ),
                        },
                        **_errors(400, 403, 429, 500),
                    },
                }
            },
            **_device_paths(security, id_schema),
        },
    }


def _aggregate_params() -> list[dict[str, Any]]:
    """``GET /query`` parameters that turn it into an aggregate query."""
    return [
        _query_param(
            "interval",
            {"type": "string", "enum": list(limits.INTERVAL_MS)},
            "Aggregate into UTC-aligned buckets of this length (needs a range; "
            f"at most {limits.AGGREGATE_MAX_BUCKETS} buckets; processed table only)",
        ),
        _query_param(
            "fields",
            {"type": "string"},
            "With interval: comma list of sensor names (default: every numeric field)",
        ),
        _query_param(
            "stats",
            {"type": "string"},
            "With interval: comma list of " + ",".join(limits.AGGREGATE_STATS) + " (default all)",
        ),
    ]


def _device_paths(
    security: list[dict[str, list[str]]], id_schema: dict[str, Any]
) -> dict[str, Any]:
    limit_schema = {
        "type": "integer",
        "minimum": limits.QUERY_LIMIT_MIN,
        "maximum": limits.QUERY_LIMIT_MAX,
    }
    return {
        "/devices": {
            "get": {
                "operationId": "listDevices",
                "summary": "List devices in device_id order, paginated",
                "security": security,
                "parameters": [
                    _query_param(
                        "prefix",
                        {
                            "type": "string",
                            "maxLength": limits.ID_MAX_LENGTH,
                            "pattern": r"^[A-Za-z0-9._:-]*$",
                        },
                        "Only devices whose id starts with this",
                    ),
                    _query_param("limit", limit_schema, "Page size"),
                    _query_param(
                        "next_token",
                        {"type": "string", "maxLength": limits.NEXT_TOKEN_MAX_LENGTH},
                        "Opaque token from the previous page",
                    ),
                ],
                "responses": {
                    "200": {"description": "One page", "content": _json(_ref("DevicesResponse"))},
                    **_errors(400, 403, 429, 500),
                },
            }
        },
        "/devices/{device_id}": {
            "get": {
                "operationId": "getDevice",
                "summary": "One device: first/last seen, distinct readings, latest reading",
                "security": security,
                "parameters": [
                    {"name": "device_id", "in": "path", "required": True, "schema": id_schema}
                ],
                "responses": {
                    "200": {"description": "The device", "content": _json(_ref("Device"))},
                    **_errors(400, 403, 404, 429, 500),
                },
            }
        },
    }


def render_openapi() -> str:
    """The document as committed: 2-space JSON, sorted keys, trailing newline."""
    return json.dumps(build_openapi(), indent=2, sort_keys=True) + "\n"
