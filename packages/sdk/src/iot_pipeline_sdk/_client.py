"""``Client``: the synchronous I/O layer over :class:`BaseClient`.

This module holds only what is specific to blocking I/O: the ``httpx.Client`` connection
pool and its lifecycle, the retry loop in ``_send`` (sleeping with ``time.sleep`` between
attempts) and the typed API methods that call it. Request building, client-side validation,
raw-request encoding and response parsing are shared with :class:`AsyncClient` and live once
in :mod:`iot_pipeline_sdk._base`; the asyncio twin of this class is in
:mod:`iot_pipeline_sdk._async_client`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
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
from iot_pipeline_sdk._pagination import QueryPage
from iot_pipeline_sdk._retry import RetryPolicy, is_retryable_exception, is_retryable_status
from iot_pipeline_sdk._timeseries import TimeSeriesMethods


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
        credentials: CredentialsOption = None,
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
                self._raw_route(route),
                query=self._raw_params(params),
                body=self._raw_body(json),
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

        The server replays a bounded number of readings per call and answers a
        ``next_token``; this follows it until the whole range is queued and returns the
        total. Idempotent: a processed reading is rewritten, never duplicated.
        """
        queued = 0
        token: str | None = None
        while True:
            body = self._process_body(
                device_id, event_date=event_date, start=start, end=end, next_token=token
            )
            page = self._parse(self._send("POST", "/process", body=body), ProcessResponse)
            queued += page.queued
            if page.next_token is None:
                return ProcessResponse(queued=queued)
            token = page.next_token
