"""Property: whatever the readings and the page size, paging yields each reading once, in order."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from iot_pipeline_backend.adapters.local import LocalAdapters
from iot_pipeline_backend.domain.query import query_readings
from iot_pipeline_common import keys
from iot_pipeline_common.models import QueryParams, RawItem

T0 = 1_705_314_600_000

readings = st.lists(
    st.tuples(st.integers(0, 50), st.from_regex(r"[a-z0-9]{1,6}", fullmatch=True)),
    max_size=40,
    unique_by=lambda pair: pair[1],
)


@settings(max_examples=40, deadline=None)
@given(
    stamps_and_ids=readings,
    limit=st.integers(1, 12),
    order=st.sampled_from(["asc", "desc"]),
    window=st.tuples(st.integers(0, 50), st.integers(0, 50)).map(sorted),
)
def test_given_any_readings_when_paged_then_each_in_range_comes_once_in_order(
    stamps_and_ids: list[tuple[int, str]], limit: int, order: str, window: list[int]
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        adapters = LocalAdapters.open(Path(folder))
        try:
            adapters.raw.store_raw_readings(
                [
                    RawItem(
                        device_id="d",
                        event_date=keys.event_date_of(T0 + offset),
                        timestamp=T0 + offset,
                        reading_id=reading_id,
                        sensor_data={"x": offset},
                        ingested_at=keys.iso_utc(T0),
                    )
                    for offset, reading_id in stamps_and_ids
                ]
            )
            start, end = T0 + window[0], T0 + window[1]
            seen: list[tuple[int, str]] = []
            token: str | None = None
            for _ in range(len(stamps_and_ids) + 2):
                params = {"device_id": "d", "table": "raw", "limit": str(limit), "order": order}
                params |= {"start": str(start), "end": str(end)}
                if token:
                    params["next_token"] = token
                page = query_readings(
                    QueryParams.model_validate(params),
                    raw_store=adapters.raw,
                    processed_store=adapters.processed,
                    token_key=adapters.token_key,
                )
                assert page.count <= limit
                seen += [(item.timestamp, item.reading_id) for item in page.items]
                token = page.next_token
                if token is None:
                    break
        finally:
            adapters.close()

    expected = sorted(
        (T0 + offset, reading_id)
        for offset, reading_id in stamps_and_ids
        if start <= T0 + offset <= end
    )
    assert seen == (expected if order == "asc" else expected[::-1])
