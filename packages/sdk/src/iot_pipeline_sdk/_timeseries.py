"""Time-series reads for :class:`Client` and :class:`AsyncClient`: aggregates and devices.

Mixed into each client, over its own ``_send``; parameters are checked against the contract
models before anything is sent, so a bad interval or stat fails fast with the same
:class:`ValidationError` the API would answer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pydantic
from iot_pipeline_common import limits
from iot_pipeline_common.aggregates import (
    AggregateParams,
    AggregateResponse,
    Bucket,
    Device,
    DevicesParams,
    DevicesResponse,
    Interval,
    Stat,
)

from iot_pipeline_sdk._base import BaseClient, Order
from iot_pipeline_sdk._errors import ValidationError, client_validation_error
from iot_pipeline_sdk._pagination import AsyncQueryPage, QueryPage

if TYPE_CHECKING:
    import httpx


def aggregate_params(
    device_id: str,
    *,
    interval: Interval,
    event_date: str | date | None,
    start: int | None,
    end: int | None,
    fields: Sequence[str] | None,
    stats: Sequence[Stat] | None,
    limit: int | None,
    order: Order,
    next_token: str | None,
) -> list[tuple[str, str]]:
    """The query string of an aggregate query, validated as the API validates it."""
    given: dict[str, Any] = {
        "device_id": device_id,
        "interval": interval,
        "event_date": event_date.isoformat() if isinstance(event_date, date) else event_date,
        "start": start,
        "end": end,
        "fields": None if fields is None else ",".join(fields),
        "stats": None if stats is None else ",".join(stats),
        "limit": limit,
        "order": order,
        "next_token": next_token,
    }
    given = {key: value for key, value in given.items() if value is not None}
    try:
        AggregateParams.model_validate(given)
    except pydantic.ValidationError as exc:
        raise client_validation_error(exc, what="aggregate query") from None
    return [(key, str(value)) for key, value in given.items()]


def devices_params(
    *, prefix: str | None, limit: int | None, next_token: str | None
) -> list[tuple[str, str]]:
    """The query string of ``GET /devices``, validated."""
    given = {
        key: value
        for key, value in {"prefix": prefix, "limit": limit, "next_token": next_token}.items()
        if value is not None
    }
    try:
        DevicesParams.model_validate(given)
    except pydantic.ValidationError as exc:
        raise client_validation_error(exc, what="devices query") from None
    return [(key, str(value)) for key, value in given.items()]


def device_route(device_id: str) -> str:
    """``/devices/{device_id}`` for a well-formed id (anything else is refused here)."""
    if not (limits.ID_MIN_LENGTH <= len(device_id) <= limits.ID_MAX_LENGTH) or not (
        limits.ID_REGEX.fullmatch(device_id)
    ):
        raise ValidationError(
            status_code=400,
            code="validation_error",
            message=f"Invalid device_id {device_id!r}: 1-128 characters of [A-Za-z0-9._:-]",
        )
    return "/devices/" + quote(device_id, safe="")


class TimeSeriesMethods(BaseClient):
    """``aggregate``, ``iter_aggregate``, ``list_devices``, ``iter_devices``, ``get_device``."""

    if TYPE_CHECKING:

        def _send(
            self,
            method: str,
            route: str,
            *,
            query: list[tuple[str, str]] | None = None,
            body: bytes | None = None,
        ) -> httpx.Response: ...

    def aggregate(
        self,
        device_id: str,
        *,
        interval: Interval,
        event_date: str | date | None = None,
        start: int | None = None,
        end: int | None = None,
        fields: Sequence[str] | None = None,
        stats: Sequence[Stat] | None = None,
        limit: int | None = None,
        order: Order = "asc",
        next_token: str | None = None,
    ) -> QueryPage[Bucket]:
        """One page of buckets (``GET /query`` with ``interval``).

        A range is required: ``event_date`` or both ``start`` and ``end`` (epoch ms,
        inclusive). ``fields`` (sensor names) and ``stats`` (``count``, ``min``, ``max``,
        ``avg``, ``sum``) narrow the answer; ``limit`` counts buckets.
        """
        options: dict[str, Any] = {
            "interval": interval,
            "event_date": event_date,
            "start": start,
            "end": end,
            "fields": fields,
            "stats": stats,
            "limit": limit,
            "order": order,
        }
        params = aggregate_params(device_id, next_token=next_token, **options)
        reply = self._parse(self._send("GET", "/query", query=params), AggregateResponse)
        return QueryPage(
            items=list(reply.items),
            next_token=reply.next_token,
            count=reply.count,
            _fetch=lambda token: self.aggregate(device_id, next_token=token, **options),
        )

    def iter_aggregate(
        self,
        device_id: str,
        *,
        interval: Interval,
        event_date: str | date | None = None,
        start: int | None = None,
        end: int | None = None,
        fields: Sequence[str] | None = None,
        stats: Sequence[Stat] | None = None,
        limit: int | None = None,
        order: Order = "asc",
    ) -> Iterator[Bucket]:
        """Every bucket across all pages; ``limit`` is the page size."""
        first = self.aggregate(
            device_id,
            interval=interval,
            event_date=event_date,
            start=start,
            end=end,
            fields=fields,
            stats=stats,
            limit=limit,
            order=order,
        )
        return iter(first.auto_paging_iter())

    def list_devices(
        self, *, prefix: str | None = None, limit: int | None = None, next_token: str | None = None
    ) -> QueryPage[Device]:
        """One page of devices in ``device_id`` order (``GET /devices``)."""
        params = devices_params(prefix=prefix, limit=limit, next_token=next_token)
        reply = self._parse(self._send("GET", "/devices", query=params), DevicesResponse)
        return QueryPage(
            items=list(reply.items),
            next_token=reply.next_token,
            count=reply.count,
            _fetch=lambda token: self.list_devices(prefix=prefix, limit=limit, next_token=token),
        )

    def iter_devices(
        self, *, prefix: str | None = None, limit: int | None = None
    ) -> Iterator[Device]:
        """Every device across all pages; ``limit`` is the page size."""
        return iter(self.list_devices(prefix=prefix, limit=limit).auto_paging_iter())

    def get_device(self, device_id: str) -> Device:
        """One device (``GET /devices/{device_id}``); :class:`NotFoundError` if unknown."""
        return self._parse(self._send("GET", device_route(device_id)), Device)


class AsyncTimeSeriesMethods(BaseClient):
    """The :class:`AsyncClient`'s ``aggregate`` … ``get_device`` (awaitable)."""

    if TYPE_CHECKING:

        async def _send(
            self,
            method: str,
            route: str,
            *,
            query: list[tuple[str, str]] | None = None,
            body: bytes | None = None,
        ) -> httpx.Response: ...

    async def aggregate(
        self,
        device_id: str,
        *,
        interval: Interval,
        event_date: str | date | None = None,
        start: int | None = None,
        end: int | None = None,
        fields: Sequence[str] | None = None,
        stats: Sequence[Stat] | None = None,
        limit: int | None = None,
        order: Order = "asc",
        next_token: str | None = None,
    ) -> AsyncQueryPage[Bucket]:
        """One page of buckets; see :meth:`Client.aggregate`."""
        options: dict[str, Any] = {
            "interval": interval,
            "event_date": event_date,
            "start": start,
            "end": end,
            "fields": fields,
            "stats": stats,
            "limit": limit,
            "order": order,
        }
        params = aggregate_params(device_id, next_token=next_token, **options)
        response = await self._send("GET", "/query", query=params)
        reply = self._parse(response, AggregateResponse)

        async def fetch(token: str) -> AsyncQueryPage[Bucket]:
            return await self.aggregate(device_id, next_token=token, **options)

        return AsyncQueryPage(
            items=list(reply.items), next_token=reply.next_token, count=reply.count, _fetch=fetch
        )

    async def iter_aggregate(
        self,
        device_id: str,
        *,
        interval: Interval,
        event_date: str | date | None = None,
        start: int | None = None,
        end: int | None = None,
        fields: Sequence[str] | None = None,
        stats: Sequence[Stat] | None = None,
        limit: int | None = None,
        order: Order = "asc",
    ) -> AsyncIterator[Bucket]:
        """Every bucket across all pages (``async for bucket in client.iter_aggregate(...)``)."""
        first = await self.aggregate(
            device_id,
            interval=interval,
            event_date=event_date,
            start=start,
            end=end,
            fields=fields,
            stats=stats,
            limit=limit,
            order=order,
        )
        async for bucket in first.auto_paging_iter():
            yield bucket

    async def list_devices(
        self, *, prefix: str | None = None, limit: int | None = None, next_token: str | None = None
    ) -> AsyncQueryPage[Device]:
        """One page of devices in ``device_id`` order."""
        params = devices_params(prefix=prefix, limit=limit, next_token=next_token)
        reply = self._parse(await self._send("GET", "/devices", query=params), DevicesResponse)

        async def fetch(token: str) -> AsyncQueryPage[Device]:
            return await self.list_devices(prefix=prefix, limit=limit, next_token=token)

        return AsyncQueryPage(
            items=list(reply.items), next_token=reply.next_token, count=reply.count, _fetch=fetch
        )

    async def iter_devices(
        self, *, prefix: str | None = None, limit: int | None = None
    ) -> AsyncIterator[Device]:
        """Every device across all pages."""
        first = await self.list_devices(prefix=prefix, limit=limit)
        async for device in first.auto_paging_iter():
            yield device

    async def get_device(self, device_id: str) -> Device:
        """One device; :class:`NotFoundError` if unknown."""
        return self._parse(await self._send("GET", device_route(device_id)), Device)
