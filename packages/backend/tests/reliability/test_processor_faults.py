"""Processor faults on the local runtime's parts: the real SQLite queue, the real poller and
processor handler, a real processed store with faults injected for chosen readings.

Failed records alone are retried; a message that keeps failing moves to the dead-letter
queue after ``max_receive_count`` receives and raises a ``dlq`` alert in alerts.jsonl, while
the others are processed once; ``iot-pipeline dlq list`` shows it and ``dlq redrive`` replays
it once the cause is fixed. A message delivered twice still yields one processed item.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from iot_pipeline_backend.adapters.local import LocalAdapters
from iot_pipeline_backend.cli import main
from iot_pipeline_backend.domain.ingest import ingest_readings
from iot_pipeline_backend.handlers import processor
from iot_pipeline_backend.handlers.runtime import use_adapters
from iot_pipeline_backend.local.poller import QueuePoller, sqs_event
from iot_pipeline_common.models import PipelineConfig, Reading

from .conftest import AdaptersWithFaults, FlakyProcessedStore, stored_reading_ids

CONFIG = PipelineConfig(batch_size=10, processing_timeout=30, max_receive_count=3)
DEVICE = "fault-device"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def adapters(data_dir: Path, clock: Any) -> Iterator[LocalAdapters]:
    local = LocalAdapters.open(data_dir, clock=clock)
    yield local
    local.close()


def _installed(adapters: LocalAdapters, failures: dict[str, int]) -> AdaptersWithFaults:
    faulty = AdaptersWithFaults(
        inner=adapters, processed=FlakyProcessedStore(adapters.processed, failures)
    )
    use_adapters(faulty)  # type: ignore[arg-type]
    return faulty


@pytest.fixture(autouse=True)
def _restore_adapters() -> Iterator[None]:
    previous = use_adapters(None)
    yield
    use_adapters(previous)


def _ingest_message(adapters: LocalAdapters, *reading_ids: str) -> None:
    """One ingest call: its readings travel in one queue message."""
    ingest_readings(
        [
            Reading(device_id=DEVICE, sensor_data={"temperature": 20.5}, reading_id=r)
            for r in reading_ids
        ],
        raw_store=adapters.raw,
        queue=adapters.queue,
        config=CONFIG,
        now_ms=1_705_314_600_000,
    )


def _poll(poller: QueuePoller, clock: Any) -> int:
    handled = poller.poll_once()
    clock.advance(CONFIG.processing_timeout)  # failed messages become visible again
    return handled


def _cli(*args: str) -> Any:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_given_failures_on_some_records_then_only_those_are_retried_and_a_poison_one_dead_letters(
    adapters: LocalAdapters, data_dir: Path, clock: Any
) -> None:
    # GIVEN five messages of two readings; m2 fails once (transient), m4 always (poison)
    for n in range(1, 6):
        _ingest_message(adapters, f"m{n}-a", f"m{n}-b")
    faulty = _installed(adapters, {"m2-a": 1, "m4-b": -1})
    poller = QueuePoller(queue=adapters.queue, handler=processor.lambda_handler, config=CONFIG)

    # WHEN the poller runs: all five, then the two failed ones, then the poison one
    assert _poll(poller, clock) == 5
    assert _poll(poller, clock) == 2
    assert _poll(poller, clock) == 1
    # THEN the third failure was the last: the next receive moves it to the DLQ instead
    assert _poll(poller, clock) == 0

    # THEN the good messages were processed exactly once, never retried
    for good in ("m1-a", "m3-a", "m5-b"):
        assert faulty.processed.attempts_of(good) == 1, good
    assert faulty.processed.attempts_of("m2-a") == 2
    assert faulty.processed.attempts_of("m4-b") == CONFIG.max_receive_count
    processed = sorted(stored_reading_ids(data_dir, "processed"))
    assert processed == sorted(f"m{n}-{s}" for n in (1, 2, 3, 5) for s in "ab")
    # AND the poison message is in the DLQ, the queue is empty, and an alert says so
    assert adapters.queue.depth() == 0
    [letter] = adapters.queue.dlq_list()
    assert letter.receive_count == CONFIG.max_receive_count
    alerts = [a for a in adapters.alerts.read_alerts() if a["kind"] == "dlq"]
    assert [a["details"]["message_id"] for a in alerts] == [letter.message_id]  # type: ignore[index]

    # WHEN an operator lists the DLQ
    listing = _cli("dlq", "list", "--data-dir", str(data_dir)).output
    # THEN the message, its receive count and its readings are shown
    assert letter.message_id in listing
    assert "received 3x" in listing
    assert "m4-a, m4-b" in listing
    [as_json] = [
        json.loads(line)
        for line in _cli("dlq", "list", "--data-dir", str(data_dir), "--json").output.splitlines()
    ]
    assert as_json["message_id"] == letter.message_id
    assert as_json["reading_ids"] == ["m4-a", "m4-b"]
    assert json.loads(as_json["body"])["readings"][0]["reading_id"] == "m4-a"

    # WHEN the cause is fixed and the DLQ redriven
    faulty.processed.heal()
    assert "Redrove 1 message(s)" in _cli("dlq", "redrive", "--data-dir", str(data_dir)).output
    # The CLI stamps the message with the real time; the test clock catches up to it.
    clock.now = max(clock.now, time.time() + 1)
    assert _poll(poller, clock) == 1

    # THEN every reading is processed once, and nothing is left anywhere
    assert sorted(stored_reading_ids(data_dir, "processed")) == sorted(
        f"m{n}-{s}" for n in range(1, 6) for s in "ab"
    )
    assert adapters.queue.dlq_list() == []
    assert adapters.queue.depth() == 0
    assert "empty" in _cli("dlq", "list", "--data-dir", str(data_dir)).output


def test_given_the_same_message_delivered_twice_then_one_processed_item(
    adapters: LocalAdapters, data_dir: Path, clock: Any
) -> None:
    # GIVEN a message received, processed, but whose delete was lost (a crash, a timeout)
    _ingest_message(adapters, "dup-1", "dup-2")
    _installed(adapters, {})
    [message] = adapters.queue.receive(max_messages=10, visibility_timeout=30)
    event = sqs_event([message])
    assert processor.lambda_handler(event, None) == {"batchItemFailures": []}
    # WHEN the queue delivers it again after the visibility timeout, as SQS may
    clock.advance(30)
    [again] = adapters.queue.receive(max_messages=10, visibility_timeout=30)
    assert (again.message_id, again.receive_count) == (message.message_id, 2)
    assert processor.lambda_handler(sqs_event([again]), None) == {"batchItemFailures": []}
    # AND the very same event is replayed once more (a duplicate invocation)
    assert processor.lambda_handler(event, None) == {"batchItemFailures": []}
    # THEN each reading has one processed item
    assert sorted(stored_reading_ids(data_dir, "processed")) == ["dup-1", "dup-2"]


def test_given_two_copies_of_a_message_in_the_queue_then_one_processed_item_each(
    adapters: LocalAdapters, data_dir: Path, clock: Any
) -> None:
    # GIVEN the same body sent twice (a producer retry after a lost acknowledgement)
    _ingest_message(adapters, "copy-1")
    [original] = adapters.queue.receive(max_messages=10, visibility_timeout=30)
    adapters.queue.change_visibility(original.receipt, 0)
    adapters.queue.send(original.body)
    _installed(adapters, {})
    poller = QueuePoller(queue=adapters.queue, handler=processor.lambda_handler, config=CONFIG)
    # WHEN both are processed
    assert _poll(poller, clock) == 2
    # THEN one processed item, and the queue is drained
    assert stored_reading_ids(data_dir, "processed") == ["copy-1"]
    assert adapters.queue.depth() == 0


def test_given_an_empty_data_dir_then_dlq_list_says_empty_and_redrive_moves_nothing(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "fresh"
    LocalAdapters.open(data_dir).close()  # what a first `iot-pipeline local` leaves behind
    assert "empty" in _cli("dlq", "list", "--data-dir", str(data_dir)).output
    assert "Redrove 0 message(s)" in _cli("dlq", "redrive", "--data-dir", str(data_dir)).output


def test_given_a_missing_data_dir_or_conflicting_targets_then_a_clear_error(tmp_path: Path) -> None:
    runner = CliRunner()
    for not_a_pipeline in (tmp_path / "nope", tmp_path):
        missing = runner.invoke(main, ["dlq", "list", "--data-dir", str(not_a_pipeline)])
        assert missing.exit_code == 1
        assert "not a local pipeline data directory" in missing.output
    assert not (tmp_path / "pipeline.db").exists(), "listing must not create a database"
    both = runner.invoke(
        main, ["dlq", "list", "--data-dir", str(tmp_path), "--stack-suffix", "dev"]
    )
    assert both.exit_code == 2
    assert "--data-dir" in both.output
