"""Keep minute rollups and device records in step with the processed readings.

After the processor stores a batch's processed readings it calls :func:`maintain_rollups`.
For each device and each minute the batch touched, the minute's rollup is *recomputed* from
the processed readings stored in that minute (read consistently), never incremented, so it
is exact whatever happened before: a retried ``reading_id`` is one stored reading, a
redelivered message or a replay rewrites the same keys, a late reading lands in its own
minute, and a crash before this step leaves rollups the redelivery recomputes.

The device record (``readings``, ``first_seen``, ``last_seen``, ``latest``) is written in
the same atomic save as the rollups, conditional on the version read before recomputing
(optimistic concurrency): two processors touching one device cannot both win, the loser
re-reads and recomputes, so ``readings`` is always the sum of the stored minute counts.
A minute whose recomputed count equals the stored one holds the same readings (the set of a
minute's readings only grows, and it was read after the stored rollup), so it is not
written again: redeliveries and replays cost reads only.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from iot_pipeline_common import keys
from iot_pipeline_common.models import ProcessedItem

from iot_pipeline_backend.domain.timeseries.stats import (
    KEYS_HASH_MOD,
    keys_hash,
    merge_rollups,
    rollup_of,
)
from iot_pipeline_backend.errors import RollupConflictError, StoreUnavailableError
from iot_pipeline_backend.ports import (
    DeviceRecord,
    ReadingValues,
    Rollup,
    TimeSeriesStore,
)

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
#: Minutes saved together: with their hours and the device record, one DynamoDB transaction
#: (at most 49 + 49 + 1 of its 100 items).
MINUTES_PER_SAVE = 49
#: Attempts when other writers keep changing the device; then the batch item fails and
#: its redelivery tries again.
MAX_ATTEMPTS = 8


def minute_of(timestamp: int) -> int:
    """The start (epoch ms) of the UTC minute holding ``timestamp``."""
    return timestamp - timestamp % MINUTE_MS


def maintain_rollups(
    items: Sequence[ProcessedItem],
    *,
    timeseries: TimeSeriesStore,
) -> int:
    """Recompute the rollups of every (device, minute) in ``items``; returns rollups written."""
    by_device: dict[str, list[ProcessedItem]] = {}
    for item in items:
        by_device.setdefault(item.device_id, []).append(item)
    written = 0
    for device_id, device_items in by_device.items():
        minutes = sorted({minute_of(item.timestamp) for item in device_items})
        for start in range(0, len(minutes), MINUTES_PER_SAVE):
            written += _maintain_minutes(
                device_id,
                minutes[start : start + MINUTES_PER_SAVE],
                device_items,
                timeseries=timeseries,
            )
    return written


def _maintain_minutes(
    device_id: str,
    minutes: list[int],
    items: list[ProcessedItem],
    *,
    timeseries: TimeSeriesStore,
) -> int:
    for _ in range(MAX_ATTEMPTS):
        # The device first: its version guards everything read after it.
        device = timeseries.get_device(device_id)
        stored_rollups = {
            rollup.start: rollup
            for rollup in timeseries.rollups(
                device_id=device_id,
                span=MINUTE_MS,
                start=minutes[0],
                end=minutes[-1],
                descending=False,
            )
        }
        stored = {start: rollup.count for start, rollup in stored_rollups.items()}
        fresh = _recompute(device_id, minutes, stored_rollups, items, timeseries)
        # A lower count can only come from readings the table's TTL removed: keep the rollup.
        changed = [r for r in fresh if r.count > stored.get(r.start, 0)]
        updated = _updated_device(device_id, device, changed, stored, items)
        if not changed and updated == device:
            return 0
        try:
            timeseries.save_rollups(
                rollups=changed + _hours(device_id, changed, timeseries),
                device=updated,
                expected_version=None if device is None else device.version,
            )
        except RollupConflictError:
            continue
        return len(changed)
    raise StoreUnavailableError("a device's rollups kept changing under other writers")


def _hours(device_id: str, changed: list[Rollup], timeseries: TimeSeriesStore) -> list[Rollup]:
    """The hour rollups of the hours ``changed`` minutes fall in: the hour's stored minute
    rollups, with the changed ones in their place, merged (read under the same version)."""
    hours: list[Rollup] = []
    for hour in sorted({hour_of(r.start) for r in changed}):
        minutes = {
            r.start: r
            for r in timeseries.rollups(
                device_id=device_id,
                span=MINUTE_MS,
                start=hour,
                end=hour + HOUR_MS - MINUTE_MS,
                descending=False,
            )
        }
        minutes.update({r.start: r for r in changed if hour_of(r.start) == hour})
        merged = merge_rollups(device_id, HOUR_MS, hour, minutes.values())
        if merged is not None:
            hours.append(merged)
    return hours


def hour_of(timestamp: int) -> int:
    """The start (epoch ms) of the UTC hour holding ``timestamp``."""
    return timestamp - timestamp % HOUR_MS


def _recompute(
    device_id: str,
    minutes: list[int],
    stored: dict[int, Rollup],
    items: list[ProcessedItem],
    timeseries: TimeSeriesStore,
) -> list[Rollup]:
    """The rollup of each touched minute, as the stored readings make it now.

    The minute's sort keys (its index alone, no item read) say which readings it holds.
    When they are exactly the stored rollup's (same count and keys hash) nothing changed;
    when they are the stored rollup's plus this batch's readings of the minute, the new
    rollup is the stored one merged with those (already in memory); otherwise (a crash
    left readings out, a concurrent writer, TTL) the minute's readings are read again.
    """
    batch: dict[int, dict[str, ReadingValues]] = {}
    for item in items:
        values = ReadingValues.of_record(item)
        batch.setdefault(minute_of(item.timestamp), {})[values.sk] = values
    rollups: list[Rollup] = []
    for first, last in _runs(minutes):
        by_minute: dict[int, list[str]] = {}
        for sk in timeseries.reading_keys(
            device_id=device_id, start_ms=first, end_ms=last + MINUTE_MS - 1
        ):
            by_minute.setdefault(minute_of(int(sk[:13])), []).append(sk)
        for minute in sorted(by_minute):
            rollup = _minute(device_id, minute, by_minute[minute], stored.get(minute), batch)
            if rollup is None:
                rollup = rollup_of(
                    device_id,
                    minute,
                    timeseries.reading_values(
                        device_id=device_id, start_ms=minute, end_ms=minute + MINUTE_MS - 1
                    ),
                )
            if rollup is not None:
                rollups.append(rollup)
    return rollups


def _minute(
    device_id: str,
    minute: int,
    sort_keys: list[str],
    old: Rollup | None,
    batch: dict[int, dict[str, ReadingValues]],
) -> Rollup | None:
    """The minute's rollup without reading its items, or ``None`` when they must be read."""
    held = keys_hash(sort_keys)
    base_count, base_hash = (0, 0) if old is None else (old.count, old.keys_hash)
    if old is not None and len(sort_keys) == base_count and held == base_hash:
        return old
    present = set(sort_keys)
    new = [v for sk, v in batch.get(minute, {}).items() if sk in present]
    if len(sort_keys) - len(new) != base_count:
        return None
    if (held - keys_hash(v.sk for v in new)) % KEYS_HASH_MOD != base_hash:
        return None
    parts = [rollup_of(device_id, minute, new)]
    return merge_rollups(device_id, MINUTE_MS, minute, [p for p in (old, *parts) if p])


def _runs(minutes: list[int]) -> Iterator[tuple[int, int]]:
    """Consecutive minutes as (first, last) runs, so one range read covers each run."""
    first = last = minutes[0]
    for minute in minutes[1:]:
        if minute != last + MINUTE_MS:
            yield first, last
            first = minute
        last = minute
    yield first, last


def _updated_device(
    device_id: str,
    device: DeviceRecord | None,
    changed: list[Rollup],
    stored: dict[int, int],
    items: list[ProcessedItem],
) -> DeviceRecord:
    added = sum(r.count - stored.get(r.start, 0) for r in changed)
    newest = max(items, key=lambda i: keys.sort_key(i.timestamp, i.reading_id))
    oldest = min(item.timestamp for item in items)
    if device is None:
        return DeviceRecord(device_id, oldest, newest.timestamp, added, newest, 1)
    latest = device.latest
    if latest is None or _sk(newest) > _sk(latest):
        latest = newest
    candidate = DeviceRecord(
        device_id=device_id,
        first_seen=min(device.first_seen, oldest),
        last_seen=max(device.last_seen, newest.timestamp),
        readings=device.readings + added,
        latest=latest,
        version=device.version,
    )
    if candidate == device:
        return device
    return DeviceRecord(
        candidate.device_id,
        candidate.first_seen,
        candidate.last_seen,
        candidate.readings,
        candidate.latest,
        device.version + 1,
    )


def _sk(item: ProcessedItem) -> str:
    return keys.sort_key(item.timestamp, item.reading_id)
