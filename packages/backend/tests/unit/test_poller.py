"""The local queue poller against a real SQLite queue and the real processor handler."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from iot_pipeline_backend.adapters.local import LocalAdapters
from iot_pipeline_backend.domain.ingest import ingest_readings
from iot_pipeline_backend.handlers import processor
from iot_pipeline_backend.handlers.runtime import use_adapters
from iot_pipeline_backend.local.poller import QueuePoller
from iot_pipeline_common import keys
from iot_pipeline_common.models import PipelineConfig, Reading

CONFIG = PipelineConfig(batch_size=10, processing_timeout=30, max_receive_count=2)


@pytest.fixture
def installed(local_adapters: LocalAdapters) -> Iterator[LocalAdapters]:
    previous = use_adapters(local_adapters)
    yield local_adapters
    use_adapters(previous)


def ingest(adapters: LocalAdapters, *reading_ids: str) -> None:
    readings = [
        Reading(device_id="dev-1", sensor_data={"temperature": 25.5}, reading_id=r)
        for r in reading_ids
    ]
    ingest_readings(
        readings,
        raw_store=adapters.raw,
        queue=adapters.queue,
        config=CONFIG,
        now_ms=1_705_314_600_000,
    )


def processed_ids(adapters: LocalAdapters) -> list[str]:
    page = adapters.processed.query_processed(
        device_id="dev-1",
        start_ms=0,
        end_ms=keys.now_ms() * 2,
        limit=100,
        descending=False,
        after_sk=None,
    )
    return [r.reading_id for r in page.records]


def test_given_a_good_and_a_malformed_message_then_only_the_good_one_is_deleted(
    installed: LocalAdapters, clock: Any
) -> None:
    ingest(installed, "r-1")
    installed.queue.send("not json")
    poller = QueuePoller(queue=installed.queue, handler=processor.lambda_handler, config=CONFIG)

    assert poller.poll_once() == 2

    assert processed_ids(installed) == ["r-1"]
    assert installed.queue.depth() == 1
    # Invisible until the visibility timeout (processing_timeout) has passed ...
    assert poller.poll_once() == 0
    clock.advance(CONFIG.processing_timeout)
    redelivered = installed.queue.receive(max_messages=10, visibility_timeout=30)
    # ... then redelivered with its receive count increased.
    assert [(m.body, m.receive_count) for m in redelivered] == [("not json", 2)]


def test_given_a_message_that_always_fails_then_it_moves_to_the_dlq_after_max_receives(
    installed: LocalAdapters, clock: Any
) -> None:
    installed.queue.send('{"readings": [{"device_id": 1}]}')
    poller = QueuePoller(queue=installed.queue, handler=processor.lambda_handler, config=CONFIG)

    for _ in range(CONFIG.max_receive_count):
        assert poller.poll_once() == 1
        clock.advance(CONFIG.processing_timeout)
    assert poller.poll_once() == 0

    assert installed.queue.depth() == 0
    [letter] = installed.queue.dlq_list()
    assert letter.receive_count == CONFIG.max_receive_count
    kinds = [alert["kind"] for alert in installed.alerts.read_alerts()]
    assert "dlq" in kinds


def test_given_a_handler_that_raises_then_the_whole_batch_is_kept_for_redelivery(
    installed: LocalAdapters, clock: Any
) -> None:
    ingest(installed, "r-1")
    ingest(installed, "r-2")
    calls: list[int] = []

    def crashing(event: dict[str, Any], context: object) -> dict[str, Any]:
        calls.append(len(event["Records"]))
        raise RuntimeError("boom")

    poller = QueuePoller(queue=installed.queue, handler=crashing, config=CONFIG)

    assert poller.poll_once() == 2
    assert installed.queue.depth() == 2
    clock.advance(CONFIG.processing_timeout)
    assert poller.poll_once() == 2
    assert calls == [2, 2]


def test_given_the_event_it_builds_then_records_look_like_the_sqs_event_source(
    installed: LocalAdapters,
) -> None:
    ingest(installed, "r-1")
    seen: list[dict[str, Any]] = []

    def recording(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.append(event)
        assert context.get_remaining_time_in_millis() > 0
        return {"batchItemFailures": []}

    QueuePoller(queue=installed.queue, handler=recording, config=CONFIG).poll_once()

    [record] = seen[0]["Records"]
    assert record["eventSource"] == "aws:sqs"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert json.loads(record["body"])["readings"][0]["reading_id"] == "r-1"
    assert installed.queue.depth() == 0


def test_given_a_running_poller_when_readings_arrive_then_they_are_processed_and_it_goes_idle(
    tmp_path: Any,
) -> None:
    adapters = LocalAdapters.open(tmp_path / "live")
    previous = use_adapters(adapters)
    poller = QueuePoller(
        queue=adapters.queue, handler=processor.lambda_handler, config=adapters.config
    )
    try:
        poller.start()
        for i in range(25):
            ingest(adapters, f"r-{i:02d}")
        assert poller.wait_idle(timeout=30)
        assert processed_ids(adapters) == [f"r-{i:02d}" for i in range(25)]
    finally:
        poller.stop(timeout=10)
        use_adapters(previous)
        adapters.close()


def test_given_a_region_then_the_sqs_event_names_it(installed: LocalAdapters) -> None:
    # GIVEN a poller for a runtime started with --region eu-west-1
    seen: list[dict[str, Any]] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.append(event)
        return {"batchItemFailures": []}

    ingest(installed, "r-1")
    poller = QueuePoller(queue=installed.queue, handler=handler, config=CONFIG, region="eu-west-1")
    # WHEN it delivers a batch
    assert poller.poll_once() == 1
    # THEN the records carry that region, as the event source mapping's would
    (record,) = seen[0]["Records"]
    assert record["awsRegion"] == "eu-west-1"
    assert record["eventSourceARN"].startswith("arn:aws:sqs:eu-west-1:")


@pytest.fixture
def live(tmp_path: Any) -> Iterator[LocalAdapters]:
    """Installed adapters on the real clock: visibility timeouts expire while a poller runs."""
    adapters = LocalAdapters.open(tmp_path / "live")
    previous = use_adapters(adapters)
    yield adapters
    use_adapters(previous)
    adapters.close()


def _recording(seen: list[tuple[str, str]]) -> Any:
    """The real processor handler, noting each record's message id and receive count."""

    def handler(event: dict[str, Any], context: Any) -> Any:
        for record in event["Records"]:
            seen.append((record["messageId"], record["attributes"]["ApproximateReceiveCount"]))
        return processor.lambda_handler(event, context)

    return handler


def test_given_a_running_poller_then_each_message_is_received_once_and_processed_once(
    live: LocalAdapters,
) -> None:
    # GIVEN a running poller with small batches
    seen: list[tuple[str, str]] = []
    config = PipelineConfig(batch_size=3, processing_timeout=30, max_receive_count=2)
    poller = QueuePoller(queue=live.queue, handler=_recording(seen), config=config)
    poller.start()
    try:
        # WHEN messages keep arriving while batches run
        for burst in range(8):
            for n in range(5):
                ingest(live, f"r-{burst}-{n}")
        assert poller.wait_idle(30)
    finally:
        poller.stop()
    # THEN every message reached the handler once, on its first receive, and was processed
    assert len(seen) == 40
    assert len({mid for mid, _ in seen}) == 40
    assert {count for _, count in seen} == {"1"}
    assert len(processed_ids(live)) == 40
    assert live.queue.depth() == 0
