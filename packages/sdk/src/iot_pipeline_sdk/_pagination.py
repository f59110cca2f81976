"""Pages of ``GET /query`` (readings or buckets) and ``GET /devices``, and iterators that
follow ``next_token``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

#: What a page holds: readings, aggregate buckets or devices.
ItemT = TypeVar("ItemT")


@dataclass(frozen=True)
class QueryPage(Generic[ItemT]):
    """One page of a query: ``items``, ``count`` and the ``next_token`` of the next page.

    ``auto_paging_iter()`` yields this page's items, then every following page's, fetching
    each page only when the previous one is used up.
    """

    items: list[ItemT]
    next_token: str | None
    count: int
    _fetch: Callable[[str], QueryPage[ItemT]] = field(repr=False, compare=False)

    @property
    def has_more(self) -> bool:
        """Whether another page follows."""
        return self.next_token is not None

    def next_page(self) -> QueryPage[ItemT] | None:
        """The following page, or ``None`` on the last one."""
        return None if self.next_token is None else self._fetch(self.next_token)

    def auto_paging_iter(self) -> Iterator[ItemT]:
        """Every item from this page on, across pages."""
        page: QueryPage[ItemT] | None = self
        while page is not None:
            yield from page.items
            page = page.next_page()

    def __iter__(self) -> Iterator[ItemT]:
        """This page's items only (use :meth:`auto_paging_iter` for all pages)."""
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


@dataclass(frozen=True)
class AsyncQueryPage(Generic[ItemT]):
    """The :class:`AsyncClient`'s page: ``await page.next_page()``, ``async for`` over items."""

    items: list[ItemT]
    next_token: str | None
    count: int
    _fetch: Callable[[str], Awaitable[AsyncQueryPage[ItemT]]] = field(repr=False, compare=False)

    @property
    def has_more(self) -> bool:
        """Whether another page follows."""
        return self.next_token is not None

    async def next_page(self) -> AsyncQueryPage[ItemT] | None:
        """The following page, or ``None`` on the last one."""
        return None if self.next_token is None else await self._fetch(self.next_token)

    async def auto_paging_iter(self) -> AsyncIterator[ItemT]:
        """Every item from this page on, across pages (``async for item in ...``)."""
        page: AsyncQueryPage[ItemT] | None = self
        while page is not None:
            for item in page.items:
                yield item
            page = await page.next_page()

    def __iter__(self) -> Iterator[ItemT]:
        """This page's items only."""
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)
