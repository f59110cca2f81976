"""Local rollups kept in the processed rows' commit (``adapters/local/fold.py``) equal brute force.

The oracle recomputes every minute and hour rollup and every device record from the processed
rows as stored, in exact rationals, after a generated history of SQS batches run through the
processor handler: several messages a batch (absorbed into one write), readings repeated
within a batch and across batches (client retries, redeliveries), late readings, and minutes
an older version left short (processed rows stored without their rollups), which the next
write of the minute must heal.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import threading
from collections.abc import Iterator
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from iot_pipeline_backend.adapters.local import LocalAdapters
from iot_pipeline_backend.adapters.local.fold import ProcessedWrite
from iot_pipeline_backend.domain.messages import pack_messages
from iot_pipeline_backend.domain.process import process_reading
from iot_pipeline_backend.handlers import processor
from iot_pipeline_backend.handlers.runtime import use_adapters
from iot_pipeline_common import keys
from iot_pipeline_common.models import PipelineConfig, RawItem

T0 = 1_705_312_800_000  # an hour boundary
MINUTE, HOUR = 60_000, 3_600_000
_ids = itertools.count()


def _raw(device: str, reading_id: str, timestamp: int, temperature: int, extra: bool) -> RawItem:
    data: dict[str, float] = {"temperature": temperature / 10, "humidity": 40}
    if extra:
        data["co2"] = float(temperature * 3)
    return RawItem(
        device_id=device,
        event_date=keys.event_date_of(timestamp),
        timestamp=timestamp,
        reading_id=reading_id,
        sensor_data=data,
        ingested_at=keys.iso_utc(timestamp),
    )


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[RawItem], list[list[list[int]]], list[int]]:
    """Readings; batches of messages of reading indices; readings stored the old way first."""
    count = draw(st.integers(1, 30))
    offsets = st.one_of(st.integers(0, 3 * MINUTE), st.integers(0, 2 * HOUR), st.just(59_999))
    readings = [
        _raw(
            draw(st.sampled_from(["a", "b", "c"])),
            f"r{i}",
            T0 + draw(offsets),
            draw(st.integers(-100, 400)),
            draw(st.booleans()),
        )
        for i in range(count)
    ]
    index = st.integers(0, count - 1)
    message = st.lists(index, min_size=1, max_size=6)
    batches = draw(st.lists(st.lists(message, min_size=1, max_size=4), min_size=1, max_size=6))
    legacy = draw(st.lists(index, max_size=4, unique=True))
    return readings, batches, legacy


@pytest.fixture
def adapters(local_adapters: LocalAdapters) -> Iterator[LocalAdapters]:
    previous = use_adapters(local_adapters)
    yield local_adapters
    use_adapters(previous)


def _event(messages: list[list[RawItem]]) -> dict[str, object]:
    return {
        "Records": [
            {
                "messageId": f"m-{next(_ids)}",
                "receiptHandle": "r",
                "body": pack_messages(batch)[0],
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
            }
            for batch in messages
        ]
    }


def _store_the_old_way(db_path: str, readings: list[RawItem]) -> None:
    """Processed rows without their rollups, as a crash between two commits once left them."""
    conn = sqlite3.connect(db_path)
    with conn:
        conn.executemany(
            "INSERT OR REPLACE INTO processed (device_id, sk, item) VALUES (?, ?, ?)",
            [
                (
                    r.device_id,
                    keys.sort_key(r.timestamp, r.reading_id),
                    process_reading(r, config=PipelineConfig(), now_ms=T0).model_dump_json(
                        exclude_none=True
                    ),
                )
                for r in readings
            ],
        )
    conn.close()


def _brute_force(rows: list[dict[str, object]], span: int) -> dict[tuple[str, int], object]:
    grouped: dict[tuple[str, int], list[dict[str, object]]] = {}
    for row in rows:
        timestamp = int(row["timestamp"])  # type: ignore[call-overload]
        grouped.setdefault((str(row["device_id"]), timestamp // span * span), []).append(row)
    out: dict[tuple[str, int], object] = {}
    for key, group in grouped.items():
        fields: dict[str, list[Fraction]] = {}
        for row in group:
            for name, value in row["sensor_data"].items():  # type: ignore[attr-defined]
                fields.setdefault(name, []).append(Fraction(repr(value)))
        out[key] = (
            len(group),
            min(int(r["timestamp"]) for r in group),  # type: ignore[call-overload]
            max(int(r["timestamp"]) for r in group),  # type: ignore[call-overload]
            {n: (len(v), min(v), max(v), sum(v)) for n, v in sorted(fields.items())},
        )
    return out


def _stored(adapters: LocalAdapters, span: int, devices: set[str]) -> dict[tuple[str, int], object]:
    out: dict[tuple[str, int], object] = {}
    for device in devices:
        for r in adapters.timeseries.rollups(
            device_id=device, span=span, start=0, end=T0 + 10 * HOUR, descending=False
        ):
            out[(device, r.start)] = (
                r.count,
                r.first_ts,
                r.last_ts,
                {
                    n: (s.count, Fraction(s.min), Fraction(s.max), Fraction(s.sum))
                    for n, s in sorted(r.fields.items())
                },
            )
    return out


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=histories())
def test_given_any_history_of_batches_then_rollups_and_devices_equal_brute_force(
    adapters: LocalAdapters, history: tuple[list[RawItem], list[list[list[int]]], list[int]]
) -> None:
    readings, batches, legacy = history
    # Devices unique to this example: the fixture's database outlives hypothesis examples.
    prefix = f"x{next(_ids)}-"
    readings = [r.model_copy(update={"device_id": prefix + r.device_id}) for r in readings]
    devices = {r.device_id for r in readings}
    # GIVEN some readings stored by an older version, without their rollups
    _store_the_old_way(str(adapters.db.path), [readings[i] for i in legacy])

    # WHEN every batch goes through the processor (each batch one commit)
    for batch in batches:
        result = processor.lambda_handler(
            _event([[readings[i] for i in message] for message in batch]), None
        )
        assert result["batchItemFailures"] == []

    # THEN every minute and hour the batches touched equals brute force over the rows
    with adapters.db.reading() as conn:
        rows = [
            json.loads(item)
            for (item,) in conn.execute(
                "SELECT item FROM processed WHERE device_id LIKE ?", (prefix + "%",)
            )
        ]
    touched = {
        (r.device_id, r.timestamp // MINUTE * MINUTE)
        for b in batches
        for m in b
        for r in (readings[i] for i in m)
    }
    minutes = _brute_force(rows, MINUTE)
    stored_minutes = _stored(adapters, MINUTE, devices)
    # A minute only the old version wrote is healed at its next write, not before.
    assert {k: v for k, v in stored_minutes.items()} == {
        k: v for k, v in minutes.items() if k in touched
    }
    hours = _brute_force(rows, HOUR)
    touched_hours = {(d, m // HOUR * HOUR) for d, m in touched}
    # An hour holds every stored minute of it; a minute never written by a batch is in it
    # only if the old version's rows of it were healed, so compare over healed data only.
    healed_rows = [
        r for r in rows if (r["device_id"], int(r["timestamp"]) // MINUTE * MINUTE) in touched
    ]
    assert _stored(adapters, HOUR, devices) == {
        k: v for k, v in _brute_force(healed_rows, HOUR).items() if k in touched_hours
    }
    assert set(hours) >= touched_hours
    # AND each device record counts what its minutes count, with the newest reading processed
    delivered = [readings[i] for batch in batches for message in batch for i in message]
    for device in devices:
        record = adapters.timeseries.get_device(device)
        mine = [r for r in healed_rows if r["device_id"] == device]
        sent = [r for r in delivered if r.device_id == device]
        if not sent:
            assert record is None
            continue
        assert record is not None
        assert record.readings == len(mine)
        newest = max(sent, key=lambda r: keys.sort_key(r.timestamp, r.reading_id))
        assert record.latest is not None and record.latest.reading_id == newest.reading_id
        assert record.last_seen == newest.timestamp
        assert record.first_seen == min(r.timestamp for r in sent)


def test_given_a_plan_another_write_made_stale_when_it_runs_then_it_plans_again(
    adapters: LocalAdapters,
) -> None:
    # GIVEN a processed write planned against the stored state (device unknown yet)
    device = f"stale-{next(_ids)}"
    first, second = (
        process_reading(
            _raw(device, f"r{i}", T0 + i, 200 + i, False), config=PipelineConfig(), now_ms=T0
        )
        for i in (1, 2)
    )
    row = (device, keys.sort_key(first.timestamp, first.reading_id), first.model_dump_json())
    planned = ProcessedWrite([first], [row], planning=(adapters.db, threading.RLock()))
    planned.prepare()
    try:
        # AND another write of the same device's minute committed after that plan
        adapters.processed.store_processed_readings([second])
        # WHEN the planned write runs in a transaction
        with adapters.db.transaction() as conn:
            planned(conn)
    finally:
        planned.release()
    # THEN its rollups and device record count both readings, not only its own
    [minute] = adapters.timeseries.rollups(
        device_id=device, span=MINUTE, start=0, end=T0 + HOUR, descending=False
    )
    assert minute.count == 2
    [hour] = adapters.timeseries.rollups(
        device_id=device, span=HOUR, start=0, end=T0 + HOUR, descending=False
    )
    assert hour.count == 2
    record = adapters.timeseries.get_device(device)
    assert record is not None and record.readings == 2
    assert record.latest is not None and record.latest.reading_id == "r2"
