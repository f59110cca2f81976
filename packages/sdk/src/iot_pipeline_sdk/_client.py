"""``Client`` and ``AsyncClient``: thin I/O layers over :class:`BaseClient`."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from datetime import date
from types import TracebackType
from typing import Any, Literal, Self, overload

import httpx
from iot_pipeline_common import (
    BatchIngestResponse,
    IngestResponse,
    ProcessedItem,
    ProcessResponse,
    RawItem,
    Reading,
)

from iot_pipeline_sdk._auth import CredentialSource
from iot_pipeline_sdk._base import (
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_TIMEOUT,
    Order,
    Table,
)
from iot_pipeline_sdk._batching import batch_bodies, prepare_readings
from iot_pipeline_sdk._errors import error_from_response
from iot_pipeline_sdk._pagination import AsyncQueryPage, QueryPage
from iot_pipeline_sdk._retry import RetryPolicy, is_retryable_exception, is_retryable_status
from iot_pipeline_sdk._timeseries import AsyncTimeSeriesMethods, TimeSeriesMethods


def _route(route: str) -> str:
    return route if route.startswith("/") else "/" + route


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), allow_nan=True).encode()


_Credentials = CredentialSource | tuple[str, str] | tuple[str, str, str] | None


class Client(TimeSeriesMethods):
    """The synchronous client. Use it as a context manager, or call :meth:`close`.

    Options (keyword-only):

    ``endpoint``
        Base URL including the stage: ``https://abc123.execute-api.eu-west-1.amazonaws.com/prod``
        or the local runtime's ``http://127.0.0.1:8000/prod``.
    ``region``
        Signing region. Default: taken from an ``execute-api`` host, else ``AWS_REGION`` /
        ``AWS_DEFAULT_REGION``, else the profile's region.
    ``credentials``
        botocore ``Credentials`` (refreshable ones too) or ``(access_key, secret_key[, token])``.
        Default: botocore's chain (environment, shared files, SSO, container, instance metadata).
    ``profile`` / ``credentials_file``
        The AWS profile to read, and a shared-credentials file to read it from (the local
        runtime writes one to ``<data-dir>/credentials``).
    ``timeout``
        Seconds (or an ``httpx.Timeout``) per attempt.
    ``retries``
        Retries after the first attempt (``0`` disables), or a :class:`RetryPolicy`.
    ``transport``
        An ``httpx.BaseTransport`` (``httpx.MockTransport`` in tests).
    ``user_agent``
        Your application's product token, sent before the SDK's own.
    ``sleep``
        Called with the seconds to wait between attempts (default ``time.sleep``).
    """

    def __init__(
        self,
        *,
        endpoint: str,
        region: str | None = None,
        credentials: _Credentials = None,
        profile: str | None = None,
        credentials_file: str | os.PathLike[str] | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        retries: int | RetryPolicy = 3,
        transport: httpx.BaseTransport | None = None,
        user_agent: str | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(
            endpoint=endpoint,
            region=region,
            credentials=credentials,
            profile=profile,
            credentials_file=credentials_file,
            timeout=timeout,
            retries=retries,
            user_agent=user_agent,
            max_connections=max_connections,
        )
        self._sleep = sleep
        self._http = httpx.Client(
            transport=transport or httpx.HTTPTransport(limits=self.limits),
            timeout=self.timeout,
        )

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        """Close the pooled connections."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the one boundary where HTTP outcomes become results or SDK errors -------------------

    def _send(
        self,
        method: str,
        route: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: bytes | None = None,
    ) -> httpx.Response:
        policy = self.retry_policy
        attempt = 0
        while True:
            attempt += 1
            request = self._build_request(method, route, query=query or (), body=body)
            try:
                response = self._http.send(request, auth=self.auth)
            except httpx.TransportError as exc:
                if attempt < policy.max_attempts and is_retryable_exception(exc):
                    self._sleep(policy.delay(attempt - 1, None))
                    continue
                raise self._transport_error(exc, request, attempt) from exc
            if response.is_success:
                return response
            if attempt < policy.max_attempts and is_retryable_status(response.status_code):
                self._sleep(policy.delay(attempt - 1, response))
                continue
            raise error_from_response(response, attempts=attempt)

    # -- API ---------------------------------------------------------------------------------

    def ingest(
        self,
        device_id: str,
        sensor_data: Mapping[str, float],
        *,
        timestamp: int | None = None,
        reading_id: str | None = None,
        seq: int | None = None,
    ) -> IngestResponse:
        """Store one reading (``POST /ingest``); a ``reading_id`` is generated when not given.

        Raises :class:`ValidationError` before sending when the reading breaks the contract.
        """
        body = self._ingest_body(
            device_id, sensor_data, timestamp=timestamp, reading_id=reading_id, seq=seq
        )
        return self._parse(self._send("POST", "/ingest", body=body), IngestResponse)

    def ingest_batch(self, readings: Iterable[Reading | Mapping[str, Any]]) -> BatchIngestResponse:
        """Store any number of readings, in as many requests as the contract's limits need.

        Every reading is validated and given a ``reading_id`` first, so nothing is sent when
        one is invalid and a retried request stores nothing twice. Returns every item, in
        order. An empty input sends nothing and returns ``count == 0``.
        """
        prepared = prepare_readings(readings)
        parts = [
            self._parse(self._send("POST", "/ingest", body=body), BatchIngestResponse)
            for body, _ in batch_bodies(prepared)
        ]
        return self._merge_batches(parts)

    def request(
        self,
        method: str,
        route: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
    ) -> Any:
        """Send any request to the pipeline, signed and retried, without client-side checks.

        ``route`` is relative to the endpoint (``"/ingest"``). Returns the decoded JSON body;
        an error status raises the same :class:`APIError` subclasses as the typed methods.
        Meant for what the typed methods refuse on purpose, e.g. testing the pipeline's own
        validation with a reading the SDK would not send.
        """
        return self._decode(
            self._send(
                method.upper(),
                _route(route),
                query=self._raw_params(params),
                body=None if json is None else _json_bytes(json),
            )
        )

    @overload
    def query(
        self,
        device_id: str,
        *,
        event_date: str | date | None = ...,
        start: int | None = ...,
        end: int | None = ...,
        table: Literal["processed"] = ...,
        limit: int | None = ...,
        order: Order = ...,
        next_token: str | None = ...,
    ) -> QueryPage[ProcessedItem]: ...

    @overload
    def query(
        self,
        device_id: str,
        *,
        event_date: str | date | None = ...,
        start: int | None = ...,
        end: int | None = ...,
        table: Literal["raw"],
        limit: int | None = ...,
        order: Order = ...,
        next_token: str | None = ...,
    ) -> QueryPage[RawItem]: ...

    def query(
        self,
        device_id: str,
        *,
        event_date: str | date | None = None,
        start: int | None = None,
        end: int | None = None,
        table: Table = "processed",
        limit: int | None = None,
        order: Order = "asc",
        next_token: str | None = None,
    ) -> QueryPage[Any]:
        """One page of a device's readings (``GET /query``).

        ``event_date`` (a UTC day) or ``start``/``end`` (epoch ms, inclusive) select the
        time range; neither means all time. ``table`` is ``"processed"`` or ``"raw"``.
        Follow pages with ``page.auto_paging_iter()`` or use :meth:`iter_query`.
        """
        params = self._query_params(
            device_id,
            event_date=event_date,
            start=start,
            end=end,
            table=table,
            limit=limit,
            order=order,
            next_token=next_token,
        )
        reply = self._parse_query(self._send("GET", "/query", query=params), table)

        def fetch(token: str) -> QueryPage[Any]:
            return self.query(
                device_id,
                event_date=event_date,
                start=start,
                end=end,
                table=table,
                limit=limit,
                order=order,
                next_token=token,
            )

        return QueryPage(
            items=list(reply.items), next_token=reply.next_token, count=reply.count, _fetch=fetch
        )

    @overload
    def iter_query(
        self,
        device_id: str,
        *,
        event_date: str | date | None = ...,
        start: int | None = ...,
        end: int | None = ...,
        table: Literal["processed"] = ...,
        limit: int | None = ...,
        order: Order = ...,
    ) -> Iterator[ProcessedItem]: ...

    @overload
    def iter_query(
        self,
        device_id: str,
        *,
        event_date: str | date | None = ...,
        start: int | None = ...,
        end: int | None = ...,
        table: Literal["raw"],
        limit: int | None = ...,
        order: Order = ...,
    ) -> Iterator[RawItem]: ...

    def iter_query(
        self,
        device_id: str,
        *,
        event_date: str | date | None = None,
        start: int | None = None,
        end: int | None = None,
        table: Table = "processed",
        limit: int | None = None,
        order: Order = "asc",
    ) -> Iterator[Any]:
        """Every matching item across all pages; ``limit`` is the page size."""
        first = self.query(
            device_id,
            event_date=event_date,
            start=start,
            end=end,
            table=table,
            limit=limit,
            order=order,
        )
        return iter(first.auto_paging_iter())

    def process(
        self,
        device_id: str,
        *,
        event_date: str | date | None = None,
        start: int | None = None,
        end: int | None = None,
    ) -> ProcessResponse:
        """Replay a device's raw readings through the processor (``POST /process``).

        Idempotent: a processed reading is rewritten, never duplicated.
        """
        body = self._process_body(device_id, event_date=event_date, start=start, end=end)
        return self._parse(self._send("POST", "/process", body=body), ProcessResponse)


class AsyncClient(AsyncTimeSeriesMethods):
    """The asyncio client; same options and methods as :class:`Client`, awaited.

    ``sleep`` is awaited between attempts (default ``asyncio.sleep``); ``transport`` is an
    ``httpx.AsyncBaseTransport``. Use ``async with AsyncClient(...) as client:``.
    """

    def __init__(
        self,
        *,
        endpoint: str,
        region: str | None = None,
        credentials: _Credentials = None,
        profile: str | None = None,
        credentials_file: str | os.PathLike[str] | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        retries: int | RetryPolicy = 3,
        transport: httpx.AsyncBaseTransport | None = None,
        user_agent: str | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        super().__init__(
            endpoint=endpoint,
            region=region,
            credentials=credentials,
            profile=profile,
            credentials_file=credentials_file,
            timeout=timeout,
            retries=retries,
            user_agent=user_agent,
            max_connections=max_connections,
        )
        self._sleep = sleep
        self._http = httpx.AsyncClient(
            transport=transport or httpx.AsyncHTTPTransport(limits=self.limits),
            timeout=self.timeout,
        )

    # -- lifecycle ---------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- the one boundary where HTTP outcomes become results or SDK errors -------------------

    async def _send(
        self,
        method: str,
        route: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: bytes | None = None,
    ) -> httpx.Response:
        policy = self.retry_policy
        attempt = 0
        while True:
            attempt += 1
            request = self._build_request(method, route, query=query or (), body=body)
            try:
                response = await self._http.send(request, auth=self.auth)
            except httpx.TransportError as exc:
                if attempt < policy.max_attempts and is_retryable_exception(exc):
                    await self._sleep(policy.delay(attempt - 1, None))
                    continue
                raise self._transport_error(exc, request, attempt) from exc
            if response.is_success:
                return response
            if attempt < policy.max_attempts and is_retryable_status(response.status_code):
                await self._sleep(policy.delay(attempt - 1, response))
                continue
            raise error_from_response(response, attempts=attempt)

    # -- API ---------------------------------------------------------------------------------

    async def ingest(
        self,
        device_id: str,
        sensor_data: Mapping[str, float],
        *,
        timestamp: int | None = None,
        reading_id: str | None = None,
        seq: int | None = None,
    ) -> IngestResponse:
        """Store one reading; see :meth:`Client.ingest`."""
        body = self._ingest_body(
            device_id, sensor_data, timestamp=timestamp, reading_id=reading_id, seq=seq
        )
        return self._parse(await self._send("POST", "/ingest", body=body), IngestResponse)

    async def ingest_batch(
        self, readings: Iterable[Reading | Mapping[str, Any]]
    ) -> BatchIngestResponse:
        """Store any number of readings; see :meth:`Client.ingest_batch`."""
        prepared = prepare_readings(readings)
        parts = [
            self._parse(await self._send("POST", "/ingest", body=body), BatchIngestResponse)
            for body, _ in batch_bodies(prepared)
        ]
        return self._merge_batches(parts)

    async def request(
        self,
        method: str,
        route: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
    ) -> Any:
        """Send any request to the pipeline, signed and retried, without client-side checks.

        ``route`` is relative to the endpoint (``"/ingest"``). Returns the decoded JSON body;
        an error status raises the same :class:`APIError` subclasses as the typed methods.
        Meant for what the typed methods refuse on purpose, e.g. testing the pipeline's own
        validation with a reading the SDK would not send.
        """
        return self._decode(
            await self._send(
                method.upper(),
                _route(route),
                query=self._raw_params(params),
                body=None if json is None else _json_bytes(json),
            )
        )

    @overload
    async def query(
        self,
        device_id: str,
        *,
        event_date: str | date | None = ...,
        start: int | None = ...,
        end: int | None = ...,
        table: Literal["processed"] = ...,
        limit: int | None = ...,
        order: Order = ...,
        next_token: str | None = ...,
    ) -> AsyncQueryPage[ProcessedItem]: ...

    @overload
    async def query(
        self,
        device_id: str,
        *,
        event_date: str | date | None = ...,
        start: int | None = ...,
        end: int | None = ...,
        table: Literal["raw"],
        limit: int | None = ...,
        order: Order = ...,
        next_token: str | None = ...,
    ) -> AsyncQueryPage[RawItem]: ...

    async def query(
        self,
        device_id: str,
        *,
        event_date: str | date | None = None,
        start: int | None = None,
        end: int | None = None,
        table: Table = "processed",
        limit: int | None = None,
        order: Order = "asc",
        next_token: str | None = None,
    ) -> AsyncQueryPage[Any]:
        """One page of a device's readings; see :meth:`Client.query`."""
        params = self._query_params(
            device_id,
            event_date=event_date,
            start=start,
            end=end,
            table=table,
            limit=limit,
            order=order,
            next_token=next_token,
        )
        reply = self._parse_query(await self._send("GET", "/query", query=params), table)

        async def fetch(token: str) -> AsyncQueryPage[Any]:
            return await self.query(
                device_id,
                event_date=event_date,
                start=start,
                end=end,
                table=table,
                limit=limit,
                order=order,
                next_token=token,
            )

        return AsyncQueryPage(
            items=list(reply.items), next_token=reply.next_token, count=reply.count, _fetch=fetch
        )

    @overload
    def iter_query(
        self,
        device_id: str,
        *,
        event_date: str | date | None = ...,
        start: int | None = ...,
        end: int | None = ...,
        table: Literal["processed"] = ...,
        limit: int | None = ...,
        order: Order = ...,
    ) -> AsyncIterator[ProcessedItem]: ...

    @overload
    def iter_query(
        self,
        device_id: str,
        *,
        event_date: str | date | None = ...,
        start: int | None = ...,
        end: int | None = ...,
        table: Literal["raw"],
        limit: int | None = ...,
        order: Order = ...,
    ) -> AsyncIterator[RawItem]: ...

    async def iter_query(
        self,
        device_id: str,
        *,
        event_date: str | date | None = None,
        start: int | None = None,
        end: int | None = None,
        table: Table = "processed",
        limit: int | None = None,
        order: Order = "asc",
    ) -> AsyncIterator[Any]:
        """Every matching item across all pages: ``async for item in client.iter_query(...)``."""
        page = await self.query(
            device_id,
            event_date=event_date,
            start=start,
            end=end,
            table=table,
            limit=limit,
            order=order,
        )
        async for item in page.auto_paging_iter():
            yield item

    async def process(
        self,
        device_id: str,
        *,
        event_date: str | date | None = None,
        start: int | None = None,
        end: int | None = None,
    ) -> ProcessResponse:
        """Replay a device's raw readings; see :meth:`Client.process`."""
        body = self._process_body(device_id, event_date=event_date, start=start, end=end)
        return self._parse(await self._send("POST", "/process", body=body), ProcessResponse)
