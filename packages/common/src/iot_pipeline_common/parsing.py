"""Parse request bodies and query strings into contract models, or raise a ContractError.

The HTTP layer calls these and nothing else, so every entry point applies the same limits
and names bad fields the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pydantic
import pydantic_core

from iot_pipeline_common import limits
from iot_pipeline_common.aggregates import AggregateParams, DevicesParams
from iot_pipeline_common.errors import PayloadTooLargeError, RequestValidationError
from iot_pipeline_common.models import BatchIngestRequest, ProcessRequest, QueryParams, Reading


def load_json_object(body: bytes | str | None, *, what: str = "request body") -> dict[str, Any]:
    """Decode a JSON object body within the size limit, or raise a ContractError."""
    if body is None or body in (b"", ""):
        raise RequestValidationError(f"The {what} is empty; send a JSON object")
    raw = body.encode() if isinstance(body, str) else body
    if len(raw) > limits.MAX_BODY_BYTES:
        raise PayloadTooLargeError(
            f"The {what} is {len(raw)} bytes; the limit is {limits.MAX_BODY_BYTES} bytes"
        )
    try:
        # jiter (pydantic-core) bounds nesting depth, so a deeply nested body is a clean 400.
        value = pydantic_core.from_json(raw, allow_inf_nan=True)
    except ValueError as exc:
        raise RequestValidationError(f"The {what} is not valid UTF-8 JSON: {exc}") from None
    if not isinstance(value, dict):
        raise RequestValidationError(f"The {what} must be a JSON object")
    return value


def parse_ingest_body(body: bytes | str | None) -> Reading | BatchIngestRequest:
    """A single reading, or ``{"readings": [...]}`` validated all-or-nothing."""
    data = load_json_object(body)
    model: type[Reading] | type[BatchIngestRequest] = (
        BatchIngestRequest if "readings" in data else Reading
    )
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise RequestValidationError.from_pydantic(exc, prefix="Invalid reading") from None


def parse_process_body(body: bytes | str | None) -> ProcessRequest:
    """``POST /process`` body."""
    try:
        return ProcessRequest.model_validate(load_json_object(body))
    except pydantic.ValidationError as exc:
        raise RequestValidationError.from_pydantic(exc, prefix="Invalid process request") from None


def parse_query_params(params: Mapping[str, str] | None) -> QueryParams:
    """``GET /query`` query string (single-valued form)."""
    try:
        return QueryParams.model_validate(dict(params or {}))
    except pydantic.ValidationError as exc:
        raise RequestValidationError.from_pydantic(exc, prefix="Invalid query") from None


def parse_aggregate_params(params: Mapping[str, str] | None) -> AggregateParams:
    """``GET /query`` query string with ``interval`` (an aggregate query)."""
    try:
        return AggregateParams.model_validate(dict(params or {}))
    except pydantic.ValidationError as exc:
        raise RequestValidationError.from_pydantic(exc, prefix="Invalid aggregate query") from None


def parse_devices_params(params: Mapping[str, str] | None) -> DevicesParams:
    """``GET /devices`` query string."""
    try:
        return DevicesParams.model_validate(dict(params or {}))
    except pydantic.ValidationError as exc:
        raise RequestValidationError.from_pydantic(exc, prefix="Invalid devices query") from None
