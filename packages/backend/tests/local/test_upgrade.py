"""A data dir an older version wrote opens with its readings, and their repeats, intact."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from iot_pipeline_backend.adapters.local import DATABASE_FILE, LocalAdapters
from iot_pipeline_common import keys
from iot_pipeline_common.models import RawItem

T0 = 1_705_314_600_000

#: The raw table as versions before ``raw_ids`` created it.
OLD_RAW = """
CREATE TABLE raw (
    device_id   TEXT NOT NULL,
    sk          TEXT NOT NULL,
    reading_id  TEXT NOT NULL,
    item        TEXT NOT NULL,
    PRIMARY KEY (device_id, sk),
    UNIQUE (device_id, reading_id)
) WITHOUT ROWID;
"""


def _raw(reading_id: str, timestamp: int, temperature: float = 21.5) -> RawItem:
    return RawItem(
        device_id="device-1",
        event_date=keys.event_date_of(timestamp),
        timestamp=timestamp,
        reading_id=reading_id,
        sensor_data={"temperature": temperature},
        ingested_at=keys.iso_utc(timestamp),
    )


def _stored(adapters: LocalAdapters) -> list[RawItem]:
    return adapters.raw.query_raw(
        device_id="device-1",
        start_ms=0,
        end_ms=T0 + 10_000,
        limit=10,
        descending=False,
        after_sk=None,
    ).records


def _raw_table_sql(data_dir: Path) -> str:
    with sqlite3.connect(data_dir / DATABASE_FILE) as conn:
        (sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'raw'").fetchone()
    return str(sql)


def test_given_an_older_raw_table_when_opened_then_rebuilt_and_every_repeat_still_found(
    tmp_path: Path,
) -> None:
    # GIVEN a data dir whose raw table kept the second index, with two readings in it
    old = [_raw("r-1", T0), _raw("r-2", T0 + 1)]
    with sqlite3.connect(tmp_path / DATABASE_FILE) as conn:
        conn.executescript(OLD_RAW)
        conn.executemany(
            "INSERT INTO raw VALUES (?, ?, ?, ?)",
            [
                (
                    r.device_id,
                    keys.sort_key(r.timestamp, r.reading_id),
                    r.reading_id,
                    r.model_dump_json(exclude_none=True),
                )
                for r in old
            ],
        )
    conn.close()

    # WHEN this version opens it (twice: the second open finds nothing to do)
    LocalAdapters.open(tmp_path).close()
    adapters = LocalAdapters.open(tmp_path)
    try:
        # THEN the table has one key only, and holds the same readings
        assert "UNIQUE" not in _raw_table_sql(tmp_path)
        assert _stored(adapters) == old
        # AND a repeat of either, keyed by the server's time or by its own, is the original
        again = [_raw("r-1", T0 + 500, 99.0), _raw("r-2", T0 + 1, 99.0)]
        returned = adapters.raw.store_raw_readings(again, key_sources=["server_time", "client"])
        assert returned == old
        assert _stored(adapters) == old
    finally:
        adapters.close()
