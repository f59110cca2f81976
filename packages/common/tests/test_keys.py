"""Sort keys order by time and never collide; day bounds and ISO formatting are exact."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from iot_pipeline_common import keys, limits

ids = st.from_regex(r"[A-Za-z0-9._:-]{1,20}", fullmatch=True)
millis = st.integers(min_value=0, max_value=limits.TIMESTAMP_MAX_MS)


@given(a=st.tuples(millis, ids), b=st.tuples(millis, ids))
def test_given_two_readings_then_sort_keys_order_by_time_first(
    a: tuple[int, str], b: tuple[int, str]
) -> None:
    ka, kb = keys.sort_key(*a), keys.sort_key(*b)
    if a[0] != b[0]:
        assert (ka < kb) == (a[0] < b[0])
    assert (ka == kb) == (a == b)
    assert keys.split_sort_key(ka) == a


@given(ts=millis, rid=ids)
def test_given_any_key_then_range_bounds_enclose_it(ts: int, rid: str) -> None:
    sk = keys.sort_key(ts, rid)
    assert keys.sk_lower_bound(ts) <= sk <= keys.sk_upper_bound(ts)
    if ts > 0:
        assert sk > keys.sk_upper_bound(ts - 1)


def test_given_same_millisecond_then_distinct_keys() -> None:
    assert keys.sort_key(1705314600000, "r-1") == "1705314600000#r-1"
    assert keys.sort_key(1705314600000, "r-1") != keys.sort_key(1705314600000, "r-2")
    assert keys.sort_key(5, "x") == "0000000000005#x"


@pytest.mark.parametrize("bad", ["", "123#x", "1705314600000", "1705314600000#", "abcdefghijklm#x"])
def test_given_malformed_sort_key_then_value_error(bad: str) -> None:
    with pytest.raises(ValueError, match="malformed"):
        keys.split_sort_key(bad)


def test_given_event_date_then_bounds_cover_the_whole_utc_day() -> None:
    start, end = keys.day_bounds("2024-01-15")
    assert start == 1705276800000
    assert end == 1705363199999
    assert keys.event_date_of(start) == keys.event_date_of(end) == "2024-01-15"
    assert keys.event_date_of(end + 1) == "2024-01-16"
    assert keys.event_date_of(1705314600000) == "2024-01-15"


def test_given_no_range_then_resolve_range_is_all_time() -> None:
    assert keys.resolve_range(event_date=None, start=None, end=None) == (
        0,
        limits.TIMESTAMP_MAX_MS,
    )
    assert keys.resolve_range(event_date=None, start=5, end=None) == (5, limits.TIMESTAMP_MAX_MS)


def test_given_timestamps_then_iso_utc_has_z_and_millis_only_when_needed() -> None:
    assert keys.iso_utc(1705314600000) == "2024-01-15T10:30:00Z"
    assert keys.iso_utc(1705314600123) == "2024-01-15T10:30:00.123Z"


def test_given_new_reading_ids_then_valid_and_unique() -> None:
    made = {keys.new_reading_id() for _ in range(1000)}
    assert len(made) == 1000
    assert all(limits.ID_REGEX.match(r) and len(r) <= limits.ID_MAX_LENGTH for r in made)
