"""The ASGI gateway: API Gateway REST semantics in front of the Lambda handlers.

For each request: match the stage and route (unknown → ``403 Missing Authentication Token``,
as API Gateway answers for a resource or method that does not exist), read the body with a
cap (``413`` beyond it), verify SigV4, build the proxy event, run the synchronous handler in
a bounded worker pool, and map its proxy response back (a handler crash or a malformed
response → ``502 Internal server error``, as API Gateway does).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from iot_pipeline_common import limits
from iot_pipeline_common.errors import ErrorCode
from iot_pipeline_common.models import ErrorBody, ErrorDetail

from iot_pipeline_backend.local.auth import AuthenticationError, SignedRequest, SigV4Verifier
from iot_pipeline_backend.local.events import (
    LOCAL_ACCOUNT_ID,
    MalformedProxyResponseError,
    ProxyRequest,
    ProxyResponse,
    build_event,
    parse_response,
)
from iot_pipeline_backend.local.logs import LOGGER_NAME
from iot_pipeline_backend.local.poller import LocalLambdaContext

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
#: A Lambda handler: ``(event, context) -> proxy response``.
LambdaHandler = Callable[[dict[str, Any], Any], Any]
#: An ASGI app mounted beside the stage (the dashboard).
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_access_log = logging.getLogger(f"{LOGGER_NAME}.access")
_log = logging.getLogger(f"{LOGGER_NAME}.gateway")

#: The local runtime's health line, outside the stage so it can never shadow an API route.
HEALTH_PATH = "/health"
#: What the health line reports (the runtime's :meth:`LocalPipeline.health`).
HealthProbe = Callable[[], Mapping[str, Any]]

#: Why a well-formed signature by a key the runtime does not know is refused locally.
_UNKNOWN_KEY_HINT = ErrorDetail(
    field="Authorization",
    message="this local runtime accepts only the key pair in its own data dir's credentials "
    "file (profile iot-pipeline-local); keys from another data dir, or AWS keys, are refused. "
    "Check AWS_SHARED_CREDENTIALS_FILE and AWS_PROFILE",
    type="credentials_hint",
)

#: ``x-amzn-ErrorType`` API Gateway sets on its own 403s.
_ERROR_TYPES: Mapping[ErrorCode, str] = {
    ErrorCode.MISSING_AUTH: "MissingAuthenticationTokenException",
    ErrorCode.UNRECOGNIZED_CLIENT: "UnrecognizedClientException",
    ErrorCode.INVALID_SIGNATURE: "InvalidSignatureException",
    ErrorCode.REQUEST_EXPIRED: "InvalidSignatureException",
}


@dataclass(frozen=True, slots=True)
class Route:
    """``method`` + ``resource`` (``/ingest``) → the Lambda function serving it."""

    method: str
    resource: str
    function_name: str
    handler: LambdaHandler


class _BodyTooLargeError(Exception):
    """The body passed the cap while being read."""


class Gateway:
    """An ASGI app serving ``routes`` under ``/{stage}`` with AWS_IAM on every method.

    ``mounts`` maps path prefixes outside the stage to apps that answer them on their own.
    """

    def __init__(
        self,
        *,
        routes: Sequence[Route],
        verifier: SigV4Verifier,
        region: str,
        stage: str = limits.STAGE,
        max_body_bytes: int = limits.MAX_BODY_BYTES,
        max_workers: int = 8,
        function_timeout: float = 30.0,
        health: HealthProbe | None = None,
        mounts: Mapping[str, ASGIApp] | None = None,
    ) -> None:
        self._health = health
        self._mounts = dict(mounts or {})
        self._routes = {(r.method.upper(), r.resource): r for r in routes}
        self._verifier = verifier
        self._region = region
        self._stage_prefix = f"/{stage}"
        self._stage = stage
        self._max_body = max_body_bytes
        # Advisory, as get_remaining_time_in_millis() reports it; nothing is cut short.
        self._timeout = function_timeout
        # Handlers are synchronous (they are Lambda handlers); a bounded pool keeps a burst of
        # requests from starting unbounded threads against one SQLite file.
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="lambda")

    def close(self) -> None:
        """Wait for running handlers, then release the worker threads."""
        self._pool.shutdown(wait=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        mounted = next((app for p, app in self._mounts.items() if _under(scope["path"], p)), None)
        if mounted is not None:
            await mounted(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _new_request_id()
        response = await self._respond(scope, receive, request_id)
        headers = [
            *response.headers,
            ("x-amzn-RequestId", request_id),
            ("content-length", str(len(response.body))),
        ]
        await send(
            {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers],
            }
        )
        await send({"type": "http.response.body", "body": response.body})
        _access_log.info(
            "%s %s %s",
            scope["method"],
            scope["path"],
            response.status_code,
            extra={
                "request_id": request_id,
                "method": scope["method"],
                "path": scope["path"],
                "status": response.status_code,
                "bytes": len(response.body),
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            },
        )

    async def _respond(self, scope: Scope, receive: Receive, request_id: str) -> ProxyResponse:
        method = str(scope["method"]).upper()
        path = str(scope["path"])
        if path == HEALTH_PATH and method == "GET" and self._health is not None:
            # Unsigned on purpose, like a load balancer's health check; it holds no secret.
            return ProxyResponse(
                status_code=200,
                headers=[("content-type", "application/json")],
                body=json.dumps(dict(self._health())).encode(),
            )
        route = self._match(method, path)
        if route is None:
            # API Gateway's own answer, kept; the detail is the local runtime's addition.
            return _error(
                403,
                "Missing Authentication Token",
                ErrorCode.MISSING_AUTH,
                details=[self._route_hint(method, path)],
            )
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        declared = next((v for k, v in headers if k.lower() == "content-length"), None)
        try:
            if declared is not None and declared.isdigit() and int(declared) > self._max_body:
                raise _BodyTooLargeError
            body = await self._read_body(receive)
        except _BodyTooLargeError:
            return _error(
                413,
                f"Request body is larger than {self._max_body} bytes",
                ErrorCode.PAYLOAD_TOO_LARGE,
            )
        raw_path = scope.get("raw_path") or path.encode()
        signed = SignedRequest(
            method=method,
            raw_path=raw_path.decode("latin-1"),
            raw_query=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            body=body,
        )
        try:
            caller = self._verifier.verify(signed)
        except AuthenticationError as exc:
            hint = _UNKNOWN_KEY_HINT if exc.code == ErrorCode.UNRECOGNIZED_CLIENT else None
            return _error(exc.status_code, exc.message, exc.code, details=[hint] if hint else [])
        client = scope.get("client")
        proxy = ProxyRequest(
            method=method,
            resource=route.resource,
            stage_path=path,
            headers=headers,
            raw_query=signed.raw_query,
            body=body,
            source_ip=client[0] if client else "127.0.0.1",
            access_key=caller.access_key,
            request_id=request_id,
            **self._templated(route, path),
        )
        event = build_event(proxy, region=self._region, stage=self._stage)
        context = LocalLambdaContext(
            deadline=time.monotonic() + self._timeout,
            function_name=route.function_name,
            invoked_function_arn=(
                f"arn:aws:lambda:{self._region}:{LOCAL_ACCOUNT_ID}:function:{route.function_name}"
            ),
            aws_request_id=request_id,
            log_group_name=f"/aws/lambda/{route.function_name}",
        )
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(self._pool, route.handler, event, context)
            return parse_response(result)
        except MalformedProxyResponseError as exc:
            _log.error(
                "malformed proxy response: %s",
                exc,
                extra={"request_id": request_id, "function": route.function_name},
            )
        except Exception:
            # Any handler crash is a 502 with no detail for the client; the log keeps it.
            _log.exception(
                "handler failed", extra={"request_id": request_id, "function": route.function_name}
            )
        return _error(502, "Internal server error", ErrorCode.INTERNAL)

    def _route_hint(self, method: str, path: str) -> ErrorDetail:
        """Why API Gateway would say "Missing Authentication Token" here: no such route."""
        if not path.startswith(self._stage_prefix + "/"):
            resource = next((r for _, r in self._routes if path.rstrip("/").endswith(r)), None)
            if resource is not None:
                return ErrorDetail(
                    field="path",
                    message=f"no stage in {path}: the API is under {self._stage_prefix} "
                    f"({self._stage_prefix}{resource}); end the endpoint with {self._stage_prefix}",
                    type="route_hint",
                )
        served = ", ".join(f"{m} {self._stage_prefix}{r}" for m, r in sorted(self._routes))
        return ErrorDetail(
            field="path",
            message=f"no route {method} {path}; this API serves {served}",
            type="route_hint",
        )

    def _match(self, method: str, path: str) -> Route | None:
        if not path.startswith(self._stage_prefix + "/"):
            return None
        resource = path[len(self._stage_prefix) :]
        exact = self._routes.get((method, resource))
        if exact is not None:
            return exact
        for (route_method, _), route in self._routes.items():
            if route_method == method and _path_parameters(route.resource, resource) is not None:
                return route
        return None

    def _templated(self, route: Route, path: str) -> dict[str, Any]:
        """``path`` and ``path_parameters`` of a templated route, as API Gateway sets them."""
        if "{" not in route.resource:
            return {}
        resource = path[len(self._stage_prefix) :]
        return {"path": resource, "path_parameters": _path_parameters(route.resource, resource)}

    async def _read_body(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._max_body:
                raise _BodyTooLargeError
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def _new_request_id() -> str:
    return str(uuid.uuid4())


def _error(
    status: int, message: str, code: ErrorCode, *, details: Sequence[ErrorDetail] = ()
) -> ProxyResponse:
    body = ErrorBody(message=message, error=code.value, details=list(details))
    headers = [("content-type", "application/json")]
    if code in _ERROR_TYPES:
        headers.append(("x-amzn-ErrorType", _ERROR_TYPES[code]))
    return ProxyResponse(
        status_code=status,
        headers=headers,
        body=json.dumps(body.model_dump(mode="json")).encode(),
    )


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _path_parameters(template: str, path: str) -> dict[str, str] | None:
    """``{name}`` segments of ``template`` bound to ``path``'s, or ``None`` if it differs."""
    wanted, given = template.strip("/").split("/"), path.strip("/").split("/")
    if "{" not in template or len(wanted) != len(given):
        return None
    bound: dict[str, str] = {}
    for part, value in zip(wanted, given, strict=True):
        if part.startswith("{") and part.endswith("}"):
            if not value:
                return None
            bound[part[1:-1]] = value
        elif part != value:
            return None
    return bound
