"""The SDK's error tree; every lower-level failure is mapped here, once.

::

    IoTPipelineError                  every error the SDK raises on purpose
     ├── ConfigurationError           no region / no credentials / bad endpoint (before any request)
     ├── TransportError               the request did not get an HTTP answer (connection, timeout);
     │                                wraps the ``httpx`` error as ``__cause__``
     └── APIError                     the pipeline answered with an error status
          ├── ValidationError         400 / 413: the request breaks the contract (``details``
          │                           names each bad field); also raised *before* sending
          │                           when the SDK can tell (then ``request_id`` is ``None``)
          ├── AuthError               401 / 403: missing or wrong signature, unknown key, denied;
          │                           also a wrong stage or path (API Gateway answers a signed
          │                           request for a route it lacks with ``403 Missing
          │                           Authentication Token``)
          ├── NotFoundError           404: the API answered that the thing asked for is unknown
          ├── ThrottledError          429: too many requests (retried before it is raised)
          └── ServerError             5xx: a server fault (retried before it is raised)

``str(error)`` starts with the request id, so a log line is enough to find the server side:
``[2f6e0c1a-...] 400 validation_error: Invalid reading: sensor_data.temperature: ...``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
import pydantic
from iot_pipeline_common import ErrorCode, ErrorDetail
from iot_pipeline_common.errors import validation_details

#: Response headers that carry the request id (API Gateway's first, then the local runtime's).
REQUEST_ID_HEADERS = ("x-amzn-requestid", "x-amz-apigw-id", "x-request-id")

#: API Gateway's ``x-amzn-ErrorType`` values → the contract's error codes (its 403 bodies
#: carry only ``message``).
_GATEWAY_ERROR_TYPES: dict[str, str] = {
    "MissingAuthenticationTokenException": ErrorCode.MISSING_AUTH,
    "IncompleteSignatureException": ErrorCode.INVALID_SIGNATURE,
    "InvalidSignatureException": ErrorCode.INVALID_SIGNATURE,
    "UnrecognizedClientException": ErrorCode.UNRECOGNIZED_CLIENT,
    "AccessDeniedException": ErrorCode.ACCESS_DENIED,
    "ForbiddenException": ErrorCode.ACCESS_DENIED,
    "ExpiredTokenException": ErrorCode.REQUEST_EXPIRED,
    "NotFoundException": ErrorCode.NOT_FOUND,
    "RequestTooLongException": ErrorCode.PAYLOAD_TOO_LARGE,
    "TooManyRequestsException": ErrorCode.THROTTLED,
    "ThrottlingException": ErrorCode.THROTTLED,
    "LimitExceededException": ErrorCode.THROTTLED,
}

_STATUS_CODES: dict[int, str] = {
    400: ErrorCode.VALIDATION,
    401: ErrorCode.MISSING_AUTH,
    403: ErrorCode.ACCESS_DENIED,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    429: ErrorCode.THROTTLED,
    503: ErrorCode.SERVICE_UNAVAILABLE,
}

#: An error body that is not JSON (a proxy's HTML page) is quoted up to this many characters.
_TEXT_EXCERPT = 200


class IoTPipelineError(Exception):
    """Base of every error the SDK raises."""


class ConfigurationError(IoTPipelineError):
    """The client cannot be configured: no region, no credentials, or a bad endpoint."""


class TransportError(IoTPipelineError):
    """No HTTP answer: connection refused or reset, DNS failure, timeout.

    The ``httpx`` exception is the ``__cause__``; ``attempts`` says how often it was tried.
    """

    def __init__(self, message: str, *, attempts: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.attempts = attempts


class APIError(IoTPipelineError):
    """The pipeline answered with an error status.

    ``code`` is the body's ``error`` field (see ``iot_pipeline_common.ErrorCode``), ``details``
    names each bad field, ``request_id`` is the gateway's id for the request (``None`` when
    the SDK rejected the request before sending it).
    """

    def __init__(
        self,
        *,
        status_code: int,
        code: str,
        message: str,
        request_id: str | None = None,
        details: Sequence[ErrorDetail] = (),
        headers: httpx.Headers | None = None,
        attempts: int = 1,
    ) -> None:
        self.status_code = status_code
        self.code = code
        self.message = message
        self.request_id = request_id
        self.details: list[ErrorDetail] = list(details)
        self.headers = headers if headers is not None else httpx.Headers()
        self.attempts = attempts
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"[{self.request_id or '-'}] {self.status_code} {self.code}: {self.message}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status_code={self.status_code}, code={self.code!r}, "
            f"message={self.message!r}, request_id={self.request_id!r})"
        )


class ValidationError(APIError):
    """400 or 413: the request breaks the contract; ``details`` names each bad field."""


class AuthError(APIError):
    """401 or 403: the signature, the key or the permission is wrong, or the route is.

    ``code == "missing_authentication_token"`` on a signed request means API Gateway has no
    such route: check that ``endpoint`` ends with the stage (``.../prod``). The local runtime
    adds the reason to ``details``.
    """


class NotFoundError(APIError):
    """404: a handler answered that what was asked for does not exist.

    A wrong stage or path is not a 404 on API Gateway: it is :class:`AuthError` (``403
    Missing Authentication Token``).
    """


class ThrottledError(APIError):
    """429: the pipeline asks the client to slow down (raised once retries are spent)."""


class ServerError(APIError):
    """5xx: a server-side fault (raised once retries are spent)."""


def error_class_for(status_code: int) -> type[APIError]:
    """The :class:`APIError` subclass of an HTTP status."""
    if status_code in (400, 413):
        return ValidationError
    if status_code in (401, 403):
        return AuthError
    if status_code == 404:
        return NotFoundError
    if status_code == 429:
        return ThrottledError
    if status_code >= 500:
        return ServerError
    return APIError


def request_id_of(headers: httpx.Headers) -> str | None:
    """The request id a response carries, if any."""
    for name in REQUEST_ID_HEADERS:
        value: str | None = headers.get(name)
        if value:
            return value
    return None


def error_from_response(response: httpx.Response, *, attempts: int = 1) -> APIError:
    """Map an error response to the SDK's tree (the one boundary for HTTP errors).

    Reads the contract's ``{"message", "error", "details"}`` body; copes with API Gateway's
    ``{"message"}``-only bodies and with non-JSON bodies from proxies.
    """
    status = response.status_code
    body: Any = None
    try:
        body = response.json()
    except ValueError:
        body = None
    message = ""
    code = ""
    details: list[ErrorDetail] = []
    if isinstance(body, dict):
        raw_message = body.get("message", body.get("Message"))
        message = raw_message if isinstance(raw_message, str) else ""
        raw_code = body.get("error")
        code = raw_code if isinstance(raw_code, str) else ""
        raw_details = body.get("details")
        if isinstance(raw_details, list):
            for entry in raw_details:
                try:
                    details.append(ErrorDetail.model_validate(entry))
                except pydantic.ValidationError:
                    continue  # a detail we cannot read is dropped, the message still stands
    else:
        message = response.text[:_TEXT_EXCERPT].strip()
    if not code:
        error_type = response.headers.get("x-amzn-errortype", "").split(":", 1)[0]
        code = _GATEWAY_ERROR_TYPES.get(error_type) or _STATUS_CODES.get(status, "")
        if not code:
            code = ErrorCode.INTERNAL if status >= 500 else f"http_{status}"
    return error_class_for(status)(
        status_code=status,
        code=str(code),
        message=message or response.reason_phrase or f"HTTP {status}",
        request_id=request_id_of(response.headers),
        details=details,
        headers=response.headers,
        attempts=attempts,
    )


def client_validation_error(exc: pydantic.ValidationError, *, what: str) -> ValidationError:
    """A :class:`ValidationError` raised before sending, from the contract model's errors."""
    details = validation_details(exc)
    shown = "; ".join(f"{d.field}: {d.message}" if d.field else d.message for d in details[:5])
    more = f" (and {len(details) - 5} more)" if len(details) > 5 else ""
    return ValidationError(
        status_code=400,
        code=ErrorCode.VALIDATION,
        message=f"Invalid {what}: {shown}{more}",
        details=details,
    )
