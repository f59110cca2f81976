"""``AsyncClient``: the asyncio I/O layer over :class:`BaseClient`.

This module holds the asyncio twin of :class:`iot_pipeline_sdk._client.Client`, kept in a
module of its own so that each client stays a readable size: the ``httpx.AsyncClient``
connection pool and its lifecycle, the retry loop in ``_send`` (awaiting ``asyncio.sleep``
between attempts) and the awaited API methods. Everything that needs no I/O (request
building, client-side validation, raw-request encoding, response parsing) is shared with
the sync client through :mod:`iot_pipeline_sdk._base`, so the two differ only where they
wait.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
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

from iot_pipeline_sdk._base import (
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_TIMEOUT,
    CredentialsOption,
    Order,
    Table,
)
from iot_pipeline_sdk._batching import batch_bodies, prepare_readings
from iot_pipeline_sdk._errors import error_from_response
from iot_pipeline_sdk._pagination import AsyncQueryPage
from iot_pipeline_sdk._retry import RetryPolicy, is_retryable_exception, is_retryable_status
from iot_pipeline_sdk._timeseries import AsyncTimeSeriesMethods


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
        credentials: CredentialsOption = None,
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
                self._raw_route(route),
                query=self._raw_params(params),
                body=self._raw_body(json),
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
        """Replay a device's raw readings, following ``next_token``; see :meth:`Client.process`."""
        queued = 0
        token: str | None = None
        while True:
            body = self._process_body(
                device_id, event_date=event_date, start=start, end=end, next_token=token
            )
            page = self._parse(await self._send("POST", "/process", body=body), ProcessResponse)
            queued += page.queued
            if page.next_token is None:
                return ProcessResponse(queued=queued)
            token = page.next_token
