"""The open-loop runner against an in-memory pipeline (real asyncio, short runs)."""

from __future__ import annotations

from typing import Any

from iot_pipeline_simulator.devices import Fleet
from iot_pipeline_simulator.outcomes import RunResult
from iot_pipeline_simulator.profiles import PROFILES, DeliveryBehaviour, DeviceProfile, FaultRates
from iot_pipeline_simulator.runner import LoadRunner, RunOptions, classify_failure


def _fleet(devices: int, rate: float, *, profile: DeviceProfile | None = None) -> Fleet:
    return Fleet(
        profile=profile or PROFILES["clean"],
        devices=devices,
        rate=rate,
        seed=1,
        start_ms=1_700_000_000_000,
    )


def _faulty(**kwargs: Any) -> DeviceProfile:
    faults = {k: v for k, v in kwargs.items() if k in FaultRates.__dataclass_fields__}
    delivery = {k: v for k, v in kwargs.items() if k in DeliveryBehaviour.__dataclass_fields__}
    return DeviceProfile(
        name="faulty",
        description="test",
        sensors=PROFILES["clean"].sensors,
        faults=FaultRates(**faults),
        delivery=DeliveryBehaviour(**delivery),
    )


async def _run(sink: Any, fleet: Fleet, **options: Any) -> RunResult:
    return await LoadRunner(sink=sink, fleet=fleet, options=RunOptions(**options)).run()


async def test_given_a_slow_pipeline_when_running_then_the_offered_load_is_not_reduced(
    memory_pipeline: Any,
) -> None:
    # GIVEN 20 devices × 10/s for 1 s: every device has exactly 10 slots in the window.
    fast = memory_pipeline()
    slow = memory_pipeline(latency_s=0.3)
    fast_result = await _run(fast, _fleet(20, 10), duration_s=1.0, max_in_flight=500)
    slow_result = await _run(slow, _fleet(20, 10), duration_s=1.0, max_in_flight=500)
    # THEN a 300 ms pipeline receives the same 200 readings, all acknowledged...
    assert fast_result.totals.sent == slow_result.totals.sent == 200
    assert slow_result.totals.acknowledged == 200
    # ...because requests overlap: more than one per device was outstanding at once.
    assert slow.max_concurrent > 20
    assert slow_result.latency.percentile(50) >= 300


async def test_given_too_few_connections_when_running_then_schedule_lag_shows_it(
    memory_pipeline: Any,
) -> None:
    # GIVEN 40 readings due within 1 s but one connection answering in 50 ms (≥ 2 s of work)
    pipeline = memory_pipeline(latency_s=0.05)
    result = await _run(pipeline, _fleet(4, 10), duration_s=1.0, max_in_flight=1)
    # THEN nothing is lost, nothing runs concurrently, and the lag tells how late it got.
    assert result.totals.acknowledged == 40
    assert pipeline.max_concurrent == 1
    assert result.lag.max >= 900


async def test_given_fleet_batching_then_readings_share_requests_and_all_are_acknowledged(
    memory_pipeline: Any,
) -> None:
    pipeline = memory_pipeline()
    result = await _run(pipeline, _fleet(50, 10), duration_s=1.0, batch_size=50)
    assert result.totals.readings == result.totals.acknowledged == 500
    assert result.totals.requests < 500 / 5
    assert pipeline.requests == result.totals.requests
    assert all(list(result.ledger.acked[d] or []) == list(range(10)) for d in range(50))


async def test_given_device_batching_then_each_request_holds_k_readings_of_one_device(
    memory_pipeline: Any,
) -> None:
    pipeline = memory_pipeline()
    result = await _run(pipeline, _fleet(10, 10), duration_s=1.0, batch_size=5, batch_by="device")
    assert result.totals.acknowledged == 100
    assert result.totals.requests == 20


async def test_given_out_of_range_faults_then_rejections_are_counted_as_expected(
    memory_pipeline: Any,
) -> None:
    fleet = _fleet(20, 10, profile=_faulty(out_of_range=0.2))
    result = await _run(memory_pipeline(), fleet, duration_s=1.0, batch_size=10)
    totals = result.totals
    assert totals.faults["out_of_range"] == totals.rejected_expected > 10
    assert totals.rejected_unexpected == 0
    assert totals.acknowledged + totals.rejected_expected == totals.sent == 200
    rejected = sum(len(seqs) for seqs in result.ledger.rejected.values())
    assert rejected == totals.rejected_expected


async def test_given_duplicate_sends_then_each_is_acknowledged_and_stored_once(
    memory_pipeline: Any,
) -> None:
    pipeline = memory_pipeline()
    fleet = _fleet(20, 10, profile=_faulty(duplicate=0.3, duplicate_delay_s=0.1))
    result = await _run(pipeline, fleet, duration_s=1.0)
    duplicates = result.totals.deliveries["duplicate"]
    assert duplicates > 20
    assert result.totals.acknowledged == 200 + duplicates
    assert sum(len(items) for items in pipeline.raw.values()) == 200
    assert result.totals.previously_stored == 0


async def test_given_a_failing_pipeline_then_errors_are_counted_by_kind(
    memory_pipeline: Any,
) -> None:
    result = await _run(memory_pipeline(fail_with=503), _fleet(5, 10), duration_s=0.5)
    assert result.totals.acknowledged == 0
    assert dict(result.totals.errors) == {"service_unavailable": result.totals.sent}
    assert "503" in result.totals.error_samples["service_unavailable"]


async def test_given_a_tiny_backlog_then_excess_readings_are_shed_and_counted(
    memory_pipeline: Any,
) -> None:
    pipeline = memory_pipeline(latency_s=0.2)
    result = await _run(pipeline, _fleet(10, 10), duration_s=0.5, max_in_flight=1, max_backlog=3)
    totals = result.totals
    assert totals.shed > 0
    assert totals.sent + totals.shed == totals.readings == 50


async def test_given_a_stuck_pipeline_then_unanswered_readings_are_unfinished(
    memory_pipeline: Any,
) -> None:
    result = await _run(
        memory_pipeline(latency_s=30), _fleet(3, 10), duration_s=0.3, drain_timeout_s=0.2
    )
    assert result.totals.unfinished == result.totals.readings == 9
    assert result.totals.acknowledged == 0


def test_given_error_shapes_then_classification_names_rejections_and_kinds() -> None:
    class AnsweredError(Exception):
        def __init__(self, status_code: int, code: str) -> None:
            self.status_code, self.code = status_code, code

    assert classify_failure(AnsweredError(400, "validation_error")) == (True, "validation_error")
    assert classify_failure(AnsweredError(429, "throttled")) == (False, "throttled")
    assert classify_failure(TimeoutError()) == (False, "TimeoutError")


async def test_given_invalid_readings_then_they_go_through_the_unchecked_path_alone(
    memory_pipeline: Any,
) -> None:
    pipeline = memory_pipeline()
    fleet = _fleet(10, 10, profile=_faulty(out_of_range=0.3))
    result = await _run(pipeline, fleet, duration_s=1.0, batch_size=20)
    assert pipeline.invalid_sent == result.totals.rejected_expected > 0
    assert result.totals.rejected_before_sending == 0


async def test_given_duplicate_sends_then_run_and_verify_count_acknowledged_the_same_way(
    memory_pipeline: Any,
) -> None:
    from iot_pipeline_simulator.report import build_report
    from iot_pipeline_simulator.verify import verify_run

    # GIVEN a fleet whose devices resend many readings (duplicates) and spike (anomalies)
    profile = DeviceProfile(
        name="dupes",
        description="resends",
        sensors=PROFILES["factory"].sensors,
        faults=FaultRates(spike=0.2),
        delivery=DeliveryBehaviour(duplicate=0.3, duplicate_delay_s=0.01),
    )
    pipeline = memory_pipeline()
    fleet = Fleet(profile=profile, devices=4, rate=20, seed=5, start_ms=1_700_000_000_000)
    result = await LoadRunner(sink=pipeline, fleet=fleet, options=RunOptions(duration_s=0.5)).run()
    report = build_report(result, endpoint="http://127.0.0.1:1/prod", region=None, aws_profile=None)
    verdict = await verify_run(report, pipeline.stored, wait_s=0)
    # THEN "acknowledged" means distinct readings in both, and the answers are counted apart
    assert report.totals.acknowledged == verdict.totals()["acknowledged"] > 0
    assert report.totals.acknowledgements > report.totals.acknowledged
    # AND the run summary counts the readings the processor will flag
    assert report.totals.anomalies_expected > 0
