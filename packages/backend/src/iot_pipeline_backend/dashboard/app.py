"""The dashboard's ASGI app: a token gate, the page and its files, JSON data endpoints.

::

    GET /dashboard?token=T        a valid T sets the cookie, then 303 → /dashboard (drops T)
    GET /dashboard                the page (static/index.html)
    GET /dashboard/static/<file>  its script, styles and vendored libraries
    GET /dashboard/api/devices    device table rows
    GET /dashboard/api/series     one device's aggregates (device_id, interval, start, end)
    GET /dashboard/api/alerts     the newest alerts
    GET /dashboard/api/figures    rates, queue depth, DLQ size

Every path answers ``401`` and nothing else unless the request carries the token: in the
HttpOnly, SameSite=Strict cookie the redirect sets, or as ``Authorization: Bearer T`` (for
scripts). No CORS headers are ever sent, so other origins cannot read any of it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import mimetypes
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import parse_qs

from iot_pipeline_common import limits
from iot_pipeline_common.errors import ContractError, ErrorCode
from iot_pipeline_common.models import ErrorBody

from iot_pipeline_backend.adapters.local import LocalAdapters
from iot_pipeline_backend.dashboard import views
from iot_pipeline_backend.dashboard.figures import PipelineMeter
from iot_pipeline_backend.dashboard.token import token_matches
from iot_pipeline_backend.local.gateway import Receive, Scope, Send
from iot_pipeline_backend.local.logs import LOGGER_NAME

_log = logging.getLogger(f"{LOGGER_NAME}.dashboard")
#: Where the local gateway mounts the dashboard (outside the API's stage).
DASHBOARD_PATH = "/dashboard"
_API = f"{DASHBOARD_PATH}/api/"


def dashboard_url(*, endpoint: str, token: str) -> str:
    """``http://host:port/prod`` (the API's stage URL) → the dashboard's URL with its token."""
    origin = endpoint.rstrip("/").removesuffix(f"/{limits.STAGE}")
    return f"{origin}{DASHBOARD_PATH}?token={token}"


_STATIC = f"{DASHBOARD_PATH}/static/"
_SECURITY_HEADERS = [
    ("cache-control", "no-store"),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    (
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
]
_UNAUTHORIZED_PAGE = (
    b"<!doctype html><title>401 Unauthorized</title>"
    b"<h1>401 Unauthorized</h1><p>Open the dashboard URL that <code>iot-pipeline local</code> "
    b"printed (it carries the token), or read the token from "
    b"<code>&lt;data-dir&gt;/dashboard.token</code>.</p>"
)


@dataclass(frozen=True, slots=True)
class _Reply:
    status: int
    body: bytes
    content_type: str
    headers: tuple[tuple[str, str], ...] = ()


def _json(status: int, body: object) -> _Reply:
    return _Reply(status, json.dumps(body, separators=(",", ":")).encode(), "application/json")


def _error(status: int, message: str, code: ErrorCode, details: list[Any] | None = None) -> _Reply:
    body = ErrorBody(message=message, error=code.value, details=details or [])
    return _json(status, body.model_dump(mode="json"))


def _load_static() -> dict[str, tuple[bytes, str]]:
    """Every file under ``static/``, read once: the page is a handful of small files."""
    files: dict[str, tuple[bytes, str]] = {}
    root = resources.files("iot_pipeline_backend.dashboard").joinpath("static")

    def walk(folder: Any, prefix: str) -> None:
        for entry in folder.iterdir():
            name = f"{prefix}{entry.name}"
            if entry.is_dir():
                walk(entry, f"{name}/")
            else:
                kind = mimetypes.guess_type(entry.name)[0] or "application/octet-stream"
                if kind.startswith("text/") or kind == "application/javascript":
                    kind += "; charset=utf-8"
                files[name] = (entry.read_bytes(), kind)

    walk(root, "")
    return files


class Dashboard:
    """The ``/dashboard`` ASGI app over one data directory's local adapters."""

    def __init__(self, *, adapters: LocalAdapters, token: str, max_workers: int = 2) -> None:
        self._adapters = adapters
        self._token = token
        # Named per data directory: cookies are shared by every port of a host, so two
        # runtimes on one machine must not overwrite each other's.
        self.cookie_name = (
            f"iot_pipeline_dashboard_{hashlib.sha256(token.encode()).hexdigest()[:8]}"
        )
        self._meter = PipelineMeter(adapters)
        self._static = _load_static()
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="dashboard")
        self._api: Mapping[str, Callable[[Mapping[str, str]], _Reply]] = {
            "devices": lambda _: _json(200, views.device_rows(adapters)),
            "alerts": lambda _: _json(200, {"alerts": views.recent_alerts(adapters)}),
            "figures": lambda _: _json(200, views.figures_body(self._meter.figures())),
            "series": lambda query: _json(200, views.device_series(adapters, query)),
        }

    def close(self) -> None:
        """Wait for running reads, then release the worker threads."""
        self._pool.shutdown(wait=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        reply = await self._respond(scope)
        headers = [
            ("content-type", reply.content_type),
            ("content-length", str(len(reply.body))),
            *_SECURITY_HEADERS,
            *reply.headers,
        ]
        await send(
            {
                "type": "http.response.start",
                "status": reply.status,
                "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers],
            }
        )
        await send({"type": "http.response.body", "body": reply.body})

    async def _respond(self, scope: Scope) -> _Reply:
        path = str(scope["path"])
        query = {
            name: values[-1]
            for name, values in parse_qs(scope.get("query_string", b"").decode("latin-1")).items()
        }
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        page = path in (DASHBOARD_PATH, f"{DASHBOARD_PATH}/")
        if page and token_matches(query.get("token"), self._token):
            # Trade the URL's token for a cookie, and drop it from the address bar and history.
            cookie = (
                f"{self.cookie_name}={self._token}; Path={DASHBOARD_PATH}; HttpOnly; "
                "SameSite=Strict"
            )
            return _Reply(
                303,
                b"",
                "text/plain; charset=utf-8",
                (("location", DASHBOARD_PATH), ("set-cookie", cookie)),
            )
        if not self._authorized(headers):
            if path.startswith(_API):
                return _error(401, "Missing or invalid dashboard token", ErrorCode.MISSING_AUTH)
            return _Reply(401, _UNAUTHORIZED_PAGE, "text/html; charset=utf-8")
        if scope["method"] != "GET":
            return _error(405, "The dashboard is read-only: use GET", ErrorCode.METHOD_NOT_ALLOWED)
        if page:
            return self._static_file("index.html")
        if path.startswith(_STATIC):
            return self._static_file(path[len(_STATIC) :])
        view = self._api.get(path[len(_API) :]) if path.startswith(_API) else None
        if view is None:
            return _error(404, f"No dashboard resource at {path}", ErrorCode.NOT_FOUND)
        loop = asyncio.get_running_loop()
        try:
            # The reads are synchronous SQLite calls; a small pool keeps them off the loop.
            return await loop.run_in_executor(self._pool, view, query)
        except ContractError as exc:
            return _error(exc.status_code, exc.message, exc.code, list(exc.details))
        except Exception:
            # The page shows "not updating" and keeps polling; the log keeps the cause.
            _log.exception("dashboard view failed", extra={"path": path})
            return _error(500, "Internal server error", ErrorCode.INTERNAL)

    def _authorized(self, headers: Mapping[str, str]) -> bool:
        bearer = headers.get("authorization", "")
        if bearer.startswith("Bearer "):
            return token_matches(bearer[len("Bearer ") :], self._token)
        # Parsed by hand: http.cookies gives up on the whole header at the first cookie it
        # finds malformed, and another app on this host may have set one.
        presented = [
            value.strip()
            for name, _, value in (
                part.partition("=") for part in headers.get("cookie", "").split(";")
            )
            if name.strip() == self.cookie_name
        ]
        return any(token_matches(value, self._token) for value in presented)

    def _static_file(self, name: str) -> _Reply:
        found = self._static.get(name)
        if found is None:
            return _error(404, f"No dashboard file {name}", ErrorCode.NOT_FOUND)
        return _Reply(200, found[0], found[1])
