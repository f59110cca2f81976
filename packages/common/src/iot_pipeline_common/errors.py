"""The contract's error tree and the mapping from pydantic errors to error details.

::

    ContractError                 a request that breaks the wire contract (a 4xx)
     ├── RequestValidationError   400: one or more fields are invalid (``details`` names each)
     └── PayloadTooLargeError     413: the body exceeds ``limits.MAX_BODY_BYTES``

The backend maps these to HTTP responses at one boundary; the SDK raises them before
sending a request that would be rejected anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any

import pydantic

from iot_pipeline_common.models import ErrorDetail


class ErrorCode(StrEnum):
    """Values of the ``error`` field of every error body."""

    VALIDATION = "validation_error"
    MISSING_AUTH = "missing_authentication_token"
    ACCESS_DENIED = "access_denied"
    INVALID_SIGNATURE = "invalid_signature"
    UNRECOGNIZED_CLIENT = "unrecognized_client"
    REQUEST_EXPIRED = "request_expired"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    THROTTLED = "throttled"
    INTERNAL = "internal_error"
    SERVICE_UNAVAILABLE = "service_unavailable"


class ContractError(Exception):
    """Base of every contract violation; carries what an error body needs."""

    status_code: int = 400
    code: ErrorCode = ErrorCode.VALIDATION

    def __init__(self, message: str, *, details: Sequence[ErrorDetail] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.details: list[ErrorDetail] = list(details)


class RequestValidationError(ContractError):
    """One or more fields are invalid; ``details`` has one entry per problem."""

    status_code = 400
    code = ErrorCode.VALIDATION

    @classmethod
    def from_pydantic(
        cls, exc: pydantic.ValidationError, *, prefix: str = "Invalid request"
    ) -> RequestValidationError:
        details = validation_details(exc)
        shown = "; ".join(f"{d.field}: {d.message}" if d.field else d.message for d in details[:5])
        more = f" (and {len(details) - 5} more)" if len(details) > 5 else ""
        return cls(f"{prefix}: {shown}{more}", details=details)


class PayloadTooLargeError(ContractError):
    """The request body is larger than the contract allows."""

    status_code = 413
    code = ErrorCode.PAYLOAD_TOO_LARGE


def format_loc(loc: Sequence[int | str]) -> str:
    """``("readings", 3, "sensor_data", "x")`` → ``readings[3].sensor_data.x``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


_FRIENDLY: dict[str, str] = {
    "extra_forbidden": "unknown field; remove it",
    "missing": "field required",
}


def validation_details(exc: pydantic.ValidationError) -> list[ErrorDetail]:
    """Turn pydantic's errors into details whose ``field`` names the bad input.

    Validators that check a member of a mapping put its name in ``ctx["field"]``;
    it is appended to the location so the detail names the exact sensor.
    """
    details: list[ErrorDetail] = []
    for err in exc.errors(include_url=False, include_input=False):
        loc: list[int | str] = [p for p in err["loc"] if not _is_union_tag(p)]
        ctx: dict[str, Any] = dict(err.get("ctx") or {})
        if "field" in ctx and isinstance(ctx["field"], str):
            loc.append(ctx["field"])
        message = _FRIENDLY.get(err["type"], err["msg"])
        details.append(ErrorDetail(field=format_loc(loc), message=message, type=err["type"]))
    return details


def _is_union_tag(part: int | str) -> bool:
    # pydantic adds the member type name ("int", "float", "function-after[...]") to the
    # location of union errors; it names an implementation detail, not a field.
    return isinstance(part, str) and (
        part in {"int", "float", "str", "bool"} or "[" in part or part.startswith("function-")
    )
