"""What :class:`Client` and :class:`AsyncClient` share: configuration, request building,
retry decisions and response parsing. The two subclasses only do the I/O.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Mapping, Sequence
from datetime import date
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Any, Literal, TypeVar

import botocore.credentials
import botocore.session
import httpx
import pydantic
from iot_pipeline_common import (
    BatchIngestResponse,
    IngestedItem,
    ProcessedItem,
    ProcessRequest,
    QueryParams,
    QueryResponse,
    RawItem,
    Reading,
    sigv4,
)
from iot_pipeline_common.keys import new_reading_id

from iot_pipeline_sdk._auth import CredentialSource, SigV4Auth
from iot_pipeline_sdk._batching import encode_reading
from iot_pipeline_sdk._config import (
    botocore_session,
    normalize_endpoint,
    resolve_credentials,
    resolve_region,
)
from iot_pipeline_sdk._errors import (
    APIError,
    TransportError,
    client_validation_error,
    request_id_of,
)
from iot_pipeline_sdk._retry import RetryPolicy

try:
    __version__ = package_version("iot-pipeline-sdk")
except PackageNotFoundError:  # running from a source tree without metadata
    __version__ = "0.0.0"

ModelT = TypeVar("ModelT", bound=pydantic.BaseModel)
Table = Literal["processed", "raw"]
Order = Literal["asc", "desc"]
#: What the clients' ``credentials`` option accepts.
CredentialsOption = CredentialSource | tuple[str, str] | tuple[str, str, str] | None

DEFAULT_TIMEOUT = 10.0
DEFAULT_MAX_CONNECTIONS = 100

_QUERY_MODELS: dict[str, type[QueryResponse[Any]]] = {
    "processed": QueryResponse[ProcessedItem],
    "raw": QueryResponse[RawItem],
}
_JSON_HEADERS = {"content-type": "application/json", "accept": "application/json"}


def default_user_agent() -> str:
    """``iot-pipeline-sdk/0.1.0 python/3.11.9 httpx/0.28.1``."""
    return (
        f"iot-pipeline-sdk/{__version__} python/{platform.python_version()} "
        f"httpx/{httpx.__version__}"
    )


class BaseClient:
    """Configuration and request building, shared by the sync and async clients.

    Keyword-only options (see :class:`iot_pipeline_sdk.Client` for each one's meaning).
    """

    def __init__(
        self,
        *,
        endpoint: str,
        region: str | None = None,
        credentials: CredentialsOption = None,
        profile: str | None = None,
        credentials_file: str | os.PathLike[str] | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        retries: int | RetryPolicy = 3,
        user_agent: str | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ) -> None:
        self.endpoint = normalize_endpoint(endpoint)
        self._base_path = self.endpoint.raw_path.decode("ascii").rstrip("/")
        sessions: list[botocore.session.Session] = []

        def session() -> botocore.session.Session:
            # Created only when needed: explicit credentials and region skip botocore's chain.
            if not sessions:
                sessions.append(
                    botocore_session(profile=profile, credentials_file=credentials_file)
                )
            return sessions[0]

        if credentials is None:
            source = resolve_credentials(session())
        elif isinstance(credentials, tuple):
            source = botocore.credentials.Credentials(*credentials)
        else:
            source = credentials
        self.region = resolve_region(region=region, endpoint=self.endpoint, session=session)
        self.auth = SigV4Auth(credentials=source, region=self.region)
        self.timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self.retry_policy = (
            retries if isinstance(retries, RetryPolicy) else RetryPolicy(max_retries=retries)
        )
        self.user_agent = (
            f"{user_agent} {default_user_agent()}" if user_agent else default_user_agent()
        )
        self.limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(endpoint={str(self.endpoint)!r}, region={self.region!r})"

    # -- request building -------------------------------------------------------------------

    def _build_request(
        self,
        method: str,
        route: str,
        *,
        query: Sequence[tuple[str, str]] = (),
        body: bytes | None = None,
    ) -> httpx.Request:
        # The query goes out already in SigV4's canonical form (RFC 3986, sorted), so what
        # is sent and what is signed can never disagree, whatever the transport does.
        target = self._base_path + route
        if query:
            target += "?" + sigv4.encode_query(sorted(query))
        url = self.endpoint.copy_with(raw_path=target.encode("ascii"))
        headers = {"user-agent": self.user_agent, **_JSON_HEADERS}
        if body is None:
            del headers["content-type"]
        return httpx.Request(method, url, headers=headers, content=body)

    @staticmethod
    def _ingest_body(
        device_id: str,
        sensor_data: Mapping[str, float],
        *,
        timestamp: int | None,
        reading_id: str | None,
        seq: int | None,
    ) -> bytes:
        try:
            reading = Reading(
                device_id=device_id,
                sensor_data=dict(sensor_data),
                timestamp=timestamp,
                reading_id=reading_id or new_reading_id(),
                seq=seq,
            )
        except pydantic.ValidationError as exc:
            raise client_validation_error(exc, what="reading") from None
        return encode_reading(reading)

    @staticmethod
    def _query_params(
        device_id: str,
        *,
        event_date: str | date | None,
        start: int | None,
        end: int | None,
        table: str,
        limit: int | None,
        order: str,
        next_token: str | None,
    ) -> list[tuple[str, str]]:
        day = event_date.isoformat() if isinstance(event_date, date) else event_date
        given: dict[str, Any] = {
            "device_id": device_id,
            "event_date": day,
            "start": start,
            "end": end,
            "table": table,
            "limit": limit,
            "order": order,
            "next_token": next_token,
        }
        given = {key: value for key, value in given.items() if value is not None}
        try:
            QueryParams.model_validate(given)
        except pydantic.ValidationError as exc:
            raise client_validation_error(exc, what="query") from None
        return [(key, str(value)) for key, value in given.items()]

    @staticmethod
    def _process_body(
        device_id: str,
        *,
        event_date: str | date | None,
        start: int | None,
        end: int | None,
        next_token: str | None = None,
    ) -> bytes:
        day = event_date.isoformat() if isinstance(event_date, date) else event_date
        try:
            request = ProcessRequest(
                device_id=device_id, event_date=day, start=start, end=end, next_token=next_token
            )
        except pydantic.ValidationError as exc:
            raise client_validation_error(exc, what="process request") from None
        return request.model_dump_json(exclude_none=True).encode()

    # -- responses --------------------------------------------------------------------------

    @staticmethod
    def _raw_route(route: str) -> str:
        return route if route.startswith("/") else "/" + route

    @staticmethod
    def _raw_params(params: Mapping[str, str | int] | None) -> list[tuple[str, str]]:
        return [(key, str(value)) for key, value in (params or {}).items()]

    @staticmethod
    def _raw_body(value: Any) -> bytes | None:
        if value is None:
            return None
        return json.dumps(value, separators=(",", ":"), allow_nan=True).encode()

    @staticmethod
    def _decode(response: httpx.Response) -> Any:
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise APIError(
                status_code=response.status_code,
                code="invalid_response",
                message="the response body is not JSON",
                request_id=request_id_of(response.headers),
                headers=response.headers,
            ) from exc

    @staticmethod
    def _parse(response: httpx.Response, model: type[ModelT]) -> ModelT:
        try:
            return model.model_validate_json(response.content)
        except pydantic.ValidationError as exc:
            raise APIError(
                status_code=response.status_code,
                code="invalid_response",
                message=f"the response is not a {model.__name__}: {exc.error_count()} problem(s)",
                request_id=request_id_of(response.headers),
                headers=response.headers,
            ) from exc

    @classmethod
    def _parse_query(cls, response: httpx.Response, table: str) -> QueryResponse[Any]:
        return cls._parse(response, _QUERY_MODELS[table])

    @staticmethod
    def _merge_batches(parts: list[BatchIngestResponse]) -> BatchIngestResponse:
        items: list[IngestedItem] = [item for part in parts for item in part.items]
        message = parts[0].message if parts else "Data ingested successfully"
        return BatchIngestResponse(message=message, count=len(items), items=items)

    @staticmethod
    def _transport_error(
        exc: httpx.TransportError, request: httpx.Request, attempts: int
    ) -> TransportError:
        kind = type(exc).__name__
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        return TransportError(
            f"{request.method} {request.url.copy_with(query=None)} failed{tries}: {kind}: {exc}",
            attempts=attempts,
        )
