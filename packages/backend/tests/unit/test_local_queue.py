"""The SQLite queue's SQS semantics: visibility, receipts, DLQ, redrive, survival of a reopen."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from iot_pipeline_backend.adapters.local import LocalAdapters
from iot_pipeline_backend.domain.ingest import ingest_readings
from iot_pipeline_backend.errors import StoreUnavailableError
from iot_pipeline_common.models import PipelineConfig, RawItem, Reading


def test_given_a_received_message_when_visibility_is_changed_to_zero_then_it_is_visible(
    local_adapters: LocalAdapters,
) -> None:
    queue = local_adapters.queue
    queue.send("m")
    [first] = queue.receive(max_messages=10, visibility_timeout=60)
    assert queue.receive(max_messages=10, visibility_timeout=60) == []

    assert queue.change_visibility(first.receipt, 0)

    [again] = queue.receive(max_messages=10, visibility_timeout=60)
    assert (again.message_id, again.receive_count) == (first.message_id, 2)
    assert again.receipt != first.receipt


def test_given_a_stale_receipt_then_delete_does_nothing(
    local_adapters: LocalAdapters, clock: Any
) -> None:
    queue = local_adapters.queue
    queue.send("m")
    [first] = queue.receive(max_messages=1, visibility_timeout=30)
    clock.advance(30)
    [second] = queue.receive(max_messages=1, visibility_timeout=30)

    assert not queue.delete(first.receipt)
    assert queue.depth() == 1
    assert queue.delete(second.receipt)
    assert queue.depth() == 0


def test_given_messages_then_receive_returns_the_oldest_first_up_to_the_maximum(
    local_adapters: LocalAdapters,
) -> None:
    queue = local_adapters.queue
    for body in ("a", "b", "c"):
        queue.send(body)

    assert [m.body for m in queue.receive(max_messages=2, visibility_timeout=5)] == ["a", "b"]
    assert [m.body for m in queue.receive(max_messages=2, visibility_timeout=5)] == ["c"]


def test_given_dead_letters_when_redriven_then_they_return_with_a_fresh_count(
    local_adapters: LocalAdapters, clock: Any
) -> None:
    queue = local_adapters.queue
    queue.send("poison")
    for _ in range(2):
        queue.receive(max_messages=1, visibility_timeout=1, max_receive_count=2)
        clock.advance(1)
    assert queue.receive(max_messages=1, visibility_timeout=1, max_receive_count=2) == []
    assert [d.body for d in queue.dlq_list()] == ["poison"]

    assert queue.dlq_redrive() == 1

    assert queue.dlq_list() == []
    [back] = queue.receive(max_messages=1, visibility_timeout=1, max_receive_count=2)
    assert (back.body, back.receive_count) == ("poison", 1)


def test_given_an_in_flight_message_when_the_process_restarts_then_it_is_redelivered(
    tmp_path: Path, clock: Any
) -> None:
    before = LocalAdapters.open(tmp_path / "d", clock=clock)
    before.queue.send("unfinished")
    before.queue.receive(max_messages=1, visibility_timeout=30)
    before.close()  # the process dies with the message in flight

    after = LocalAdapters.open(tmp_path / "d", clock=clock)
    try:
        assert after.queue.receive(max_messages=1, visibility_timeout=30) == []
        clock.advance(30)
        [redelivered] = after.queue.receive(max_messages=1, visibility_timeout=30)
        assert (redelivered.body, redelivered.receive_count) == ("unfinished", 2)
    finally:
        after.close()


def test_given_received_messages_when_deleted_as_a_batch_then_only_live_receipts_count(
    local_adapters: LocalAdapters,
) -> None:
    queue = local_adapters.queue
    for body in ("a", "b", "c"):
        queue.send(body)
    received = queue.receive(max_messages=3, visibility_timeout=30)

    deleted = queue.delete_batch([received[0].receipt, received[2].receipt, "stale"])

    assert deleted == 2
    assert queue.depth() == 1


def test_given_one_unit_of_work_when_enqueueing_fails_then_the_raw_reading_is_not_kept(
    local_adapters: LocalAdapters,
) -> None:
    class BrokenQueue:
        def enqueue_readings(self, readings: Sequence[RawItem]) -> None:
            local_adapters.queue.enqueue_readings(readings)  # written, then the failure
            raise StoreUnavailableError("queue down")

    reading = Reading(device_id="d", sensor_data={"x": 1}, reading_id="r-1")
    with pytest.raises(StoreUnavailableError), local_adapters.atomic():
        ingest_readings(
            [reading],
            raw_store=local_adapters.raw,
            queue=BrokenQueue(),
            config=PipelineConfig(),
            now_ms=1_705_314_600_000,
        )

    page = local_adapters.raw.query_raw(
        device_id="d",
        start_ms=0,
        end_ms=9_999_999_999_999,
        limit=10,
        descending=False,
        after_sk=None,
    )
    assert page.records == []
    assert local_adapters.queue.depth() == 0
