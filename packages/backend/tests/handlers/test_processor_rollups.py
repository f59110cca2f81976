"""The processor's rollup step: a failure fails only the messages it concerns, and their
redelivery leaves the rollups exact."""

from __future__ import annotations

from typing import Any

import pytest
from iot_pipeline_backend.adapters.local import LocalAdapters, SqliteTimeSeriesStore
from iot_pipeline_backend.domain.messages import pack_messages
from iot_pipeline_backend.errors import StoreUnavailableError
from iot_pipeline_backend.handlers import processor
from iot_pipeline_common import keys
from iot_pipeline_common.models import RawItem

from .conftest import sqs_event

T0 = 1_705_314_600_000


class FailingFor(SqliteTimeSeriesStore):
    """The real SQLite store, except that saving ``device_id``'s rollups fails."""

    def __init__(self, inner: SqliteTimeSeriesStore, device_id: str) -> None:
        self.__dict__.update(inner.__dict__)
        self.device_id: str | None = device_id

    def save_rollups(self, **kwargs: Any) -> None:
        if kwargs["device"].device_id == self.device_id:
            raise StoreUnavailableError("injected: aggregates table unavailable")
        super().save_rollups(**kwargs)


def _message(device: str, n: int) -> str:
    readings = [
        RawItem(
            device_id=device,
            event_date=keys.event_date_of(T0),
            timestamp=T0 + i * 1000,
            reading_id=f"{device}-{i}",
            sensor_data={"temperature": 20 + i},
            ingested_at=keys.iso_utc(T0),
        )
        for i in range(n)
    ]
    return pack_messages(readings)[0]


def test_given_rollups_failing_for_one_device_then_only_its_message_fails_and_is_redone(
    installed: LocalAdapters, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the aggregates store refuses device "bad"
    faulty = FailingFor(installed.timeseries, "bad")
    monkeypatch.setattr(installed, "timeseries", faulty)
    event = sqs_event([_message("good", 3), _message("bad", 2)])

    # WHEN a batch with one message per device is processed
    result = processor.lambda_handler(event, None)

    # THEN only the bad device's message is reported failed; the good one is rolled up
    assert result["batchItemFailures"] == [{"itemIdentifier": "m-1"}]
    good = installed.timeseries.get_device("good")
    assert good is not None and good.readings == 3
    assert installed.timeseries.get_device("bad") is None
    # WHEN the store recovers and the failed message is redelivered
    faulty.device_id = None
    assert processor.lambda_handler(sqs_event([_message("bad", 2)]), None) == {
        "batchItemFailures": []
    }
    # THEN its rollups are exact
    bad = installed.timeseries.get_device("bad")
    assert bad is not None and bad.readings == 2
    rollups = list(
        installed.timeseries.rollups(
            device_id="bad", span=60_000, start=0, end=keys.now_ms(), descending=False
        )
    )
    assert [(r.count, r.fields["temperature"].sum) for r in rollups] == [(2, 41)]
