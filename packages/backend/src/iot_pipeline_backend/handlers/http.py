"""The one boundary where errors become HTTP responses, and the resolver every API uses.

::

    ContractError (common)        → its status (400 / 413) and its details
    InvalidNextTokenError         → 400, details name ``next_token``
    DeviceNotFoundError           → 404 ``not_found``, details name ``device_id``
    PartiallyStoredError          → 503, says the readings may be stored (the undo failed, or
                                    another request holds them)
    StoreUnavailableError         → 503, a generic message (nothing was acknowledged)
    anything else                 → 500 "Internal server error"

No stack trace, exception text of an unexpected error, or internal name reaches a client;
5xx causes are logged with the request id instead. Every 503 carries ``Retry-After`` and
counts a ``StoreFailures`` metric (``CompensationFailures`` too when the undo failed).
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from iot_pipeline_common import limits
from iot_pipeline_common.errors import ContractError, ErrorCode, RequestValidationError
from iot_pipeline_common.models import ErrorBody, ErrorDetail
from pydantic import BaseModel

from iot_pipeline_backend.errors import (
    DeviceNotFoundError,
    InvalidNextTokenError,
    PartiallyStoredError,
    StoreUnavailableError,
)
from iot_pipeline_backend.handlers.observability import count, logger

JSON = "application/json"
_STAGE_PREFIX = f"/{limits.STAGE}"
#: Seconds a client is asked to wait before retrying after a 503.
RETRY_AFTER_SECONDS = 2
NOTHING_STORED = "The service is temporarily unavailable; nothing was stored. Retry the request."
MAYBE_STORED = (
    "The service is temporarily unavailable and the readings may be stored without being "
    "processed yet. Retry the request: readings that carry a reading_id are then stored and "
    "processed once; readings without one may be stored twice."
)


def json_response(status_code: int, body: BaseModel | Mapping[str, Any]) -> Response[str]:
    """A JSON response; models are dumped without unset optional fields."""
    data = body.model_dump(mode="json", exclude_none=True) if isinstance(body, BaseModel) else body
    return Response(
        status_code=status_code,
        content_type=JSON,
        body=json.dumps(data, separators=(",", ":")),
    )


def error_response(
    status_code: int, code: ErrorCode, message: str, details: list[ErrorDetail] | None = None
) -> Response[str]:
    """``{"message", "error", "details"}`` with the given status."""
    return json_response(
        status_code, ErrorBody(message=message, error=code.value, details=details or [])
    )


def response_for(exc: Exception) -> Response[str]:
    """Map any exception to its response (the single error-mapping boundary)."""
    if isinstance(exc, ContractError):
        return error_response(exc.status_code, exc.code, exc.message, exc.details)
    if isinstance(exc, InvalidNextTokenError):
        detail = ErrorDetail(field="next_token", message=str(exc), type="next_token")
        return error_response(400, ErrorCode.VALIDATION, str(exc), [detail])
    if isinstance(exc, DeviceNotFoundError):
        detail = ErrorDetail(field="device_id", message=str(exc), type="not_found")
        return error_response(404, ErrorCode.NOT_FOUND, str(exc), [detail])
    if isinstance(exc, StoreUnavailableError):
        count("StoreFailures", 1)
        if isinstance(exc, PartiallyStoredError) and exc.undo_failed:
            count("CompensationFailures", 1)
            logger.exception("stored but not queued, and the undo failed; nothing acknowledged")
        elif isinstance(exc, PartiallyStoredError):
            logger.exception("not queued; readings another request holds stay stored")
        else:
            logger.exception("a store or the queue is unavailable; nothing acknowledged")
        message = MAYBE_STORED if isinstance(exc, PartiallyStoredError) else NOTHING_STORED
        response = error_response(503, ErrorCode.SERVICE_UNAVAILABLE, message)
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    logger.exception("unexpected error")
    return error_response(500, ErrorCode.INTERNAL, "Internal server error")


def request_body(event: APIGatewayProxyEvent) -> bytes | None:
    """The body as bytes, base64-decoded when API Gateway sent it so.

    Not Powertools' ``decoded_body``: it decodes to ``str`` and raises on a body that is not
    UTF-8, which would turn a client's mistake into a 500. The parser reports it as a 400.
    """
    body = event.body
    if body is None:
        return None
    if event.is_base64_encoded:
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise RequestValidationError("The request body is not valid base64") from None
    # surrogatepass: a lone surrogate in the event's text must reach the parser, not crash here.
    return body.encode("utf-8", "surrogatepass")


class ThreadResolver(APIGatewayRestResolver):
    """A REST resolver whose current event and context belong to the thread resolving them.

    Powertools publishes the event being resolved in a class attribute
    (``BaseRouter.current_event``) shared by every resolver of the process, so two threads
    resolving at once would read each other's request. This resolver keeps its own, per
    thread, which lets the local gateway run several invocations at once.
    """

    def __init__(self, **options: Any) -> None:
        self._thread_state = threading.local()
        super().__init__(**options)

    @property  # type: ignore[override]
    def current_event(self) -> APIGatewayProxyEvent:
        """The event this thread is resolving."""
        event: APIGatewayProxyEvent = self._thread_state.event
        return event

    @current_event.setter
    def current_event(self, value: APIGatewayProxyEvent) -> None:
        self._thread_state.event = value

    @property
    def lambda_context(self) -> Any:
        """The context of the invocation this thread is resolving."""
        return self._thread_state.context

    @lambda_context.setter
    def lambda_context(self, value: Any) -> None:
        self._thread_state.context = value

    def _to_proxy_event(self, event: dict[str, Any]) -> APIGatewayProxyEvent:
        proxy = super()._to_proxy_event(event)
        assert isinstance(proxy, APIGatewayProxyEvent)
        self._thread_state.event = proxy
        return proxy

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        """Resolve ``event``, keeping it and ``context`` for this thread only."""
        self._thread_state.context = context
        return super().resolve(event, context)


def build_resolver(routes: Mapping[str, frozenset[str]]) -> APIGatewayRestResolver:
    """A REST resolver with JSON error mapping, 404 for unknown paths, 405 for wrong methods.

    ``routes`` maps each path this function serves to its methods, so a known path with
    another method answers 405 instead of 404.
    """
    app = ThreadResolver(strip_prefixes=[_STAGE_PREFIX])

    @app.exception_handler(Exception)  # type: ignore[untyped-decorator]
    def _any_error(exc: Exception) -> Response[str]:
        return response_for(exc)

    @app.not_found
    def _not_found(_: NotFoundError) -> Response[str]:
        event = app.current_event
        path = event.path
        if path.startswith(_STAGE_PREFIX + "/"):
            path = path[len(_STAGE_PREFIX) :]
        allowed = routes.get(path)
        if allowed is not None:
            response = error_response(
                405,
                ErrorCode.METHOD_NOT_ALLOWED,
                f"Method {event.http_method} is not allowed on {path}; use "
                f"{', '.join(sorted(allowed))}",
            )
            response.headers["Allow"] = ", ".join(sorted(allowed))
            return response
        return error_response(404, ErrorCode.NOT_FOUND, f"No route for {event.http_method} {path}")

    return app


def per_thread(
    build: Callable[[], APIGatewayRestResolver],
) -> Callable[[], APIGatewayRestResolver]:
    """One resolver per thread, built on first use.

    A resolver keeps per-request state (``context``, the matched route); the local gateway
    calls a handler from several threads at once, so sharing one would mix requests.
    """
    local = threading.local()

    def resolver() -> APIGatewayRestResolver:
        app: APIGatewayRestResolver | None = getattr(local, "app", None)
        if app is None:
            app = local.app = build()
        return app

    return resolver
