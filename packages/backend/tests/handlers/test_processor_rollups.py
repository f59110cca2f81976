"""The processor's rollup step: a failure fails only the messages it concerns, and their
redelivery leaves the rollups exact.

On AWS the rollups are recomputed after the processed writes (``maintain_rollups``), so a
failure there is one device's; locally they commit with the processed rows (``fold.py``), so a
failure fails the batch's commit and nothing of it is stored.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from iot_pipeline_backend.adapters.aws.timeseries import DynamoTimeSeriesStore
from iot_pipeline_backend.adapters.local import LocalAdapters, fold
from iot_pipeline_backend.domain.messages import pack_messages
from iot_pipeline_backend.errors import StoreUnavailableError
from iot_pipeline_backend.handlers import processor
from iot_pipeline_backend.handlers.runtime import use_adapters
from iot_pipeline_backend.ports import TimeSeriesStore
from iot_pipeline_common import keys
from iot_pipeline_common.models import RawItem

from ..conftest import AwsStack  # noqa: TID252
from .conftest import sqs_event

T0 = 1_705_314_600_000


class FailingFor(DynamoTimeSeriesStore):
    """The real DynamoDB store (on moto), except that saving ``device_id``'s rollups fails."""

    def __init__(self, inner: DynamoTimeSeriesStore, device_id: str) -> None:
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


def _minutes(timeseries: TimeSeriesStore, device: str) -> list[tuple[int, object]]:
    rollups = timeseries.rollups(
        device_id=device, span=60_000, start=0, end=keys.now_ms(), descending=False
    )
    return [(r.count, r.fields["temperature"].sum) for r in rollups]


def test_given_rollups_failing_for_one_device_on_aws_then_only_its_message_fails_and_is_redone(
    aws: AwsStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the aggregates table refuses device "bad"
    faulty = FailingFor(aws.adapters.timeseries, "bad")
    monkeypatch.setattr(aws.adapters, "timeseries", faulty)
    previous = use_adapters(aws.adapters)
    try:
        event = sqs_event([_message("good", 3), _message("bad", 2)])

        # WHEN a batch with one message per device is processed
        result = processor.lambda_handler(event, None)

        # THEN only the bad device's message is reported failed; the good one is rolled up
        assert result["batchItemFailures"] == [{"itemIdentifier": "m-1"}]
        good = faulty.get_device("good")
        assert good is not None and good.readings == 3
        assert faulty.get_device("bad") is None
        # WHEN the table recovers and the failed message is redelivered
        faulty.device_id = None
        assert processor.lambda_handler(sqs_event([_message("bad", 2)]), None) == {
            "batchItemFailures": []
        }
        # THEN its rollups are exact
        bad = faulty.get_device("bad")
        assert bad is not None and bad.readings == 2
        assert _minutes(faulty, "bad") == [(2, 41)]
    finally:
        use_adapters(previous)


def test_given_the_local_rollup_write_failing_then_the_batch_stores_nothing_and_is_redone(
    installed: LocalAdapters, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the local write of rollups fails once (a disk error inside the commit)
    real = fold._write_rollups
    failures = iter([sqlite3.OperationalError("injected: disk I/O error")])

    def failing(conn: sqlite3.Connection, rollups: Any) -> None:
        if (error := next(failures, None)) is not None:
            raise error
        real(conn, rollups)

    monkeypatch.setattr(fold, "_write_rollups", failing)
    event = sqs_event([_message("good", 3), _message("other", 2)])

    # WHEN a batch is processed, the commit fails: the handler reports it as a store fault
    with pytest.raises(StoreUnavailableError):
        processor.lambda_handler(event, None)

    # THEN neither processed rows nor rollups of the batch were stored
    page = installed.processed.query_processed(
        device_id="good",
        start_ms=0,
        end_ms=keys.now_ms(),
        limit=10,
        descending=False,
        after_sk=None,
    )
    assert page.records == []
    assert installed.timeseries.get_device("good") is None
    # WHEN the batch is redelivered
    assert processor.lambda_handler(event, None) == {"batchItemFailures": []}
    # THEN rows and rollups are exact
    good = installed.timeseries.get_device("good")
    assert good is not None and good.readings == 3
    assert _minutes(installed.timeseries, "good") == [(3, 63)]
    assert _minutes(installed.timeseries, "other") == [(2, 41)]
