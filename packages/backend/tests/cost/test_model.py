"""The cost model's arithmetic, checked against bills worked out by hand.

The hand-worked month: readings arrive at R = 1e6 / 2,628,000 per second, so a 730-hour month
(2,628,000 s) holds exactly 1,000,000 readings and the monthly bill *is* the cost per million.
Batches of 100 readings of 1000 bytes; everything else at its default.
"""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from iot_pipeline_backend.cost import (
    AssumptionError,
    Assumptions,
    CostEstimate,
    CostLine,
    estimate_monthly_cost,
    one_reading_per_request,
    prices,
)
from iot_pipeline_backend.cost.model import billed_send_requests, queue_message_sizes
from iot_pipeline_backend.cost.timeseries import time_series_cost

ONE_MILLION_A_MONTH = 1_000_000 / prices.SECONDS_PER_MONTH
GB = 2**30


@pytest.fixture(scope="module")
def hand_worked() -> CostEstimate:
    return estimate_monthly_cost(
        Assumptions(readings_per_second=ONE_MILLION_A_MONTH, batch_size=100, bytes_per_reading=1000)
    )


def find_line(estimate: CostEstimate, service: str, item_start: str) -> CostLine:
    (line,) = [
        line
        for line in estimate.lines
        if line.service == service and line.item.startswith(item_start)
    ]
    return line


def usd(estimate: CostEstimate, service: str, item_start: str) -> float:
    return find_line(estimate, service, item_start).monthly_usd


def quantity(estimate: CostEstimate, service: str, item_start: str) -> float:
    return find_line(estimate, service, item_start).quantity


def test_given_a_million_readings_in_batches_of_100_then_api_gateway_bills_ingest_and_queries(
    hand_worked: CostEstimate,
) -> None:
    # 1e6 / 100 = 10,000 ingest requests; read back once in pages of 100 = 10,000 queries.
    # 20,000 requests x $3.50 / 1e6 = $0.07
    assert hand_worked.readings_per_month == pytest.approx(1_000_000)
    assert quantity(hand_worked, "API Gateway", "REST") == pytest.approx(20_000)
    assert usd(hand_worked, "API Gateway", "REST") == pytest.approx(0.07)


def test_given_the_hand_worked_month_then_lambda_requests_and_gb_seconds_match(
    hand_worked: CostEstimate,
) -> None:
    # Invocations: 10,000 ingestion + 10,000 messages / 10 per batch = 1,000 processor
    #   + 10,000 query = 21,000 x $0.20 / 1e6 = $0.0042.
    # Duration at 256 MB (0.25 GB):
    #   ingestion 30 + 2 x 100 = 230 ms   -> 10,000 x 0.230 x 0.25 = 575 GB-s
    #   processor 20 + 0.5 x 1,000 = 520 ms -> 1,000 x 0.520 x 0.25 = 130 GB-s
    #   query     30 + 0.2 x 100 = 50 ms   -> 10,000 x 0.050 x 0.25 = 125 GB-s
    #   830 GB-s x $0.0000133334 = $0.0110667
    assert quantity(hand_worked, "Lambda", "requests") == pytest.approx(21_000)
    assert usd(hand_worked, "Lambda", "requests") == pytest.approx(0.0042)
    assert quantity(hand_worked, "Lambda", "duration") == pytest.approx(830)
    assert usd(hand_worked, "Lambda", "duration") == pytest.approx(830 * 0.0000133334)


def test_given_the_hand_worked_month_then_sqs_bills_every_64_kb_chunk_and_idle_polls(
    hand_worked: CostEstimate,
) -> None:
    # One message per request: 15 (envelope) + 100 x 1000 + 99 commas = 100,114 bytes.
    # Send: one call of 100,114 bytes = 2 chunks -> 10,000 x 2 = 20,000 requests.
    # Receive: 10,000 / 10 = 1,000 calls of 1,001,140 bytes = 16 chunks -> 16,000.
    # Delete: one batch per receive = 1,000.
    # Idle: 5 pollers x 2,628,000 s / 20 s = 657,000 polls, less the 1,000 that got messages.
    # (20,000 + 16,000 + 1,000 + 656,000) x $0.40 / 1e6 = $0.2772
    assert quantity(hand_worked, "SQS", "Send") == pytest.approx(20_000)
    assert quantity(hand_worked, "SQS", "Receive") == pytest.approx(16_000)
    assert quantity(hand_worked, "SQS", "Delete") == pytest.approx(1_000)
    assert quantity(hand_worked, "SQS", "empty") == pytest.approx(656_000)
    assert hand_worked.monthly_usd_by_service()["SQS"] == pytest.approx(0.2772)


def test_given_the_hand_worked_month_then_dynamodb_bills_write_units_per_started_kb(
    hand_worked: CostEstimate,
) -> None:
    # As built: the raw item and a keys-only marker (160 B) go in one transaction, which
    # bills twice; the processed item is 1000 + 160 = 1160 B.
    #   raw       1 WRU x 2 = 2 per reading -> 2e6 WRU x $0.625 / 1e6 = $1.25
    #   marker    1 WRU x 2 = 2 per reading -> 2e6 WRU                = $1.25
    #   processed 2 WRU     = 2 per reading -> 2e6 WRU                = $1.25
    assert usd(hand_worked, "DynamoDB", "raw") == pytest.approx(1.25)
    assert usd(hand_worked, "DynamoDB", "idempotency") == pytest.approx(1.25)
    assert usd(hand_worked, "DynamoDB", "processed") == pytest.approx(1.25)
    # A page of 100 processed items = 116,000 B = 29 strong reads of 4 KB, halved
    # (eventually consistent) = 14.5 RRU x 10,000 pages = 145,000 RRU x $0.125 / 1e6.
    assert quantity(hand_worked, "DynamoDB", "query") == pytest.approx(145_000)
    assert usd(hand_worked, "DynamoDB", "query") == pytest.approx(0.018125)


def test_given_the_hand_worked_month_then_rollups_cost_what_the_processor_does(
    hand_worked: CostEstimate,
) -> None:
    # A request of 100 one-second readings touches 1 + 99/60 = 2.65 minutes and
    # 1 + 99/3600 = 1.0275 hours. The processor writes those rollups (300 B: 1 WRU each) and
    # the device record (1160 + 150 B: 2 WRU) in one transaction (billed twice):
    # 2 x (2.65 + 1.0275 + 2) = 11.355 WRU per 100 readings -> 113,550 WRU x $0.625 / 1e6.
    # It reads the record (1 RRU), the stored minute rollups (795 B: 1), the minutes'
    # readings again (2.65 x 60 x 1160 B = 45.03 -> 46) and the hours' minute rollups
    # (1.0275 x 60 x 300 B = 4.5 -> 5), all consistent: 53 RRU per 100 readings.
    assert quantity(hand_worked, "DynamoDB", "rollup writes") == pytest.approx(113_550)
    assert usd(hand_worked, "DynamoDB", "rollup writes") == pytest.approx(0.07096875)
    assert quantity(hand_worked, "DynamoDB", "rollup recompute") == pytest.approx(530_000)
    assert usd(hand_worked, "DynamoDB", "rollup recompute") == pytest.approx(0.06625)
    ts = time_series_cost(hand_worked.assumptions)
    # A day's hourly aggregate reads 24 hour rollups of 300 B = 7,200 B = 2 strong reads;
    # by minute, 1,440 rollups = 432,000 B = 106.
    assert ts.day_hourly_aggregate_read_units == 2
    assert ts.day_by_minute_read_units == 106
    # One reading per request: 2 x (1 + 1 + 2) = 8 WRU for the rollups alone.
    assert ts.write_units_per_reading_one_per_request == 8


def test_given_30_days_retention_then_storage_and_pitr_bill_what_is_held(
    hand_worked: CostEstimate,
) -> None:
    # Held: R x 30 days x 86,400 s = 1e6 x 2,592,000 / 2,628,000 = 986,301.37 readings, each
    # (1000 + 100) raw + (160 + 100) marker + (1160 + 100) processed = 2,620 bytes.
    held_gb = 1e6 * 2_592_000 / 2_628_000 * 2_620 / GB  # = 2.40664 GB
    assert quantity(hand_worked, "DynamoDB", "storage") == pytest.approx(held_gb)
    assert usd(hand_worked, "DynamoDB", "storage") == pytest.approx(held_gb * 0.25)
    assert usd(hand_worked, "DynamoDB", "point-in-time") == pytest.approx(held_gb * 0.20)


def test_given_the_hand_worked_month_then_logs_traces_alerts_and_egress_match(
    hand_worked: CostEstimate,
) -> None:
    # Logs: 21,000 invocations x 1,000 B + 20,000 requests x 400 B = 29,000,000 B -> $0.50/GB.
    assert usd(hand_worked, "CloudWatch Logs", "ingestion") == pytest.approx(29e6 / GB * 0.50)
    # X-Ray: 20,000 API requests and 1,000 processor invocations a month are far below the
    # reservoir of one a second, so every one is traced: 21,000 x $5 / 1e6 = $0.105.
    assert usd(hand_worked, "X-Ray", "traces") == pytest.approx(0.105)
    # SNS: 30 publishes x $0.50 / 1e6 + 30 emails x $2 / 100,000.
    assert hand_worked.monthly_usd_by_service()["SNS"] == pytest.approx(0.000015 + 0.0006)
    # Out: 10,000 x (400 + 100 x 100) + 10,000 x (400 + 116,000) = 1,268,000,000 B x $0.09/GB.
    assert usd(hand_worked, "Data transfer", "responses") == pytest.approx(1.268e9 / GB * 0.09)


def test_given_the_hand_worked_month_then_total_is_the_sum_and_the_cost_per_million(
    hand_worked: CostEstimate,
) -> None:
    held_gb = 1e6 * 2_592_000 / 2_628_000 * 2_620 / GB
    by_hand = (
        0.07  # API Gateway
        + 0.0042
        + 830 * 0.0000133334  # Lambda
        + 0.2772  # SQS
        + 3.75
        + 0.018125
        + 0.07096875  # rollup writes (test_..._rollups_cost_what_the_processor_does)
        + 0.06625  # rollup recompute reads
        + held_gb * 0.45  # DynamoDB
        + 0.000615  # SNS
        + 29e6 / GB * 0.50  # CloudWatch Logs
        + 0.105  # X-Ray
        + 1.268e9 / GB * 0.09  # data transfer
    )
    assert hand_worked.monthly_usd == pytest.approx(by_hand)
    assert hand_worked.cost_per_million_readings == pytest.approx(by_hand)
    kinds = hand_worked.cost_per_million_readings_by_kind()
    assert kinds["storage"] == pytest.approx(held_gb * 0.45)
    assert sum(kinds.values()) == pytest.approx(by_hand)


def test_given_one_reading_per_request_then_every_reading_is_an_api_request_and_an_invocation(
    hand_worked: CostEstimate,
) -> None:
    single = estimate_monthly_cost(one_reading_per_request(hand_worked.assumptions))
    # 1e6 ingest + 10,000 query requests; 1e6 + 100,000 processor + 10,000 query invocations.
    assert single.assumptions.batch_size == 1
    assert quantity(single, "API Gateway", "REST") == pytest.approx(1_010_000)
    assert usd(single, "API Gateway", "REST") == pytest.approx(1.01 * 3.50)
    assert quantity(single, "Lambda", "requests") == pytest.approx(1_110_000)
    # A lone 1000-byte message per request: one chunk to send; 10 per receive = 1 chunk.
    assert quantity(single, "SQS", "Send") == pytest.approx(1_000_000)
    assert quantity(single, "SQS", "Receive") == pytest.approx(100_000)
    assert single.cost_per_million_readings > hand_worked.cost_per_million_readings


def test_given_more_than_a_billion_requests_then_api_gateway_volume_tiers_apply() -> None:
    # 333M x $3.50 + 667M x $2.80 + 500M x $2.38 (per million)
    assert prices.API_GATEWAY_REST_REQUEST.monthly_cost(1.5e9) == pytest.approx(
        333 * 3.50 + 667 * 2.80 + 500 * 2.38
    )
    assert prices.API_GATEWAY_REST_REQUEST.monthly_cost(0) == 0


def test_given_a_busy_api_then_xray_traces_the_reservoir_and_a_share_of_the_rest() -> None:
    estimate = estimate_monthly_cost(
        Assumptions(readings_per_second=1000, batch_size=1, query_reads_per_reading=0)
    )
    # API: 1000 requests/s -> 1 + 0.05 x 999 = 50.95 traced/s.
    # Processor: 1000 messages/s / 10 = 100 invocations/s -> 1 + 0.05 x 99 = 5.95 traced/s.
    expected = (50.95 + 5.95) * prices.SECONDS_PER_MONTH
    assert quantity(estimate, "X-Ray", "traces") == pytest.approx(expected)


def test_given_a_keys_only_marker_outside_a_transaction_then_each_write_is_billed_once(
    hand_worked: CostEstimate,
) -> None:
    lean = estimate_monthly_cost(
        dataclasses.replace(
            hand_worked.assumptions, idempotency_marker_bytes=160, transactional_raw_writes=False
        )
    )
    # raw 1 WRU, marker 160 B = 1 WRU, processed 2 WRU -> $0.625 + $0.625 + $1.25
    assert usd(lean, "DynamoDB", "raw") == pytest.approx(0.625)
    assert usd(lean, "DynamoDB", "idempotency") == pytest.approx(0.625)
    assert usd(lean, "DynamoDB", "processed") == pytest.approx(1.25)
    # (1000 + 100) + (160 + 100) + (1160 + 100) = 2,620 bytes held per reading.
    held_gb = 1e6 * 2_592_000 / 2_628_000 * 2_620 / GB
    assert quantity(lean, "DynamoDB", "storage") == pytest.approx(held_gb)


def test_given_no_idempotency_marker_then_no_marker_writes_or_storage(
    hand_worked: CostEstimate,
) -> None:
    without = estimate_monthly_cost(
        dataclasses.replace(hand_worked.assumptions, idempotency_writes_per_reading=0)
    )
    assert usd(without, "DynamoDB", "idempotency") == 0
    # (1000 + 100) + (1160 + 100) = 2,360 bytes held per reading instead of 2,620.
    held_gb = 1e6 * 2_592_000 / 2_628_000 * 2_360 / GB
    assert quantity(without, "DynamoDB", "storage") == pytest.approx(held_gb)


def test_send_billing_groups_messages_into_calls_of_ten_and_256_kib() -> None:
    assert billed_send_requests([262_144]) == 4  # a full message: four 64 KiB chunks
    assert billed_send_requests([100_000, 100_000]) == 4  # one call of 200,000 B
    assert billed_send_requests([200_000, 100_000]) == 4 + 2  # too big together: two calls
    assert billed_send_requests([1000] * 11) == 1 + 1  # 10 entries, then 1


def test_a_batch_goes_into_one_message_when_it_fits_256_kib() -> None:
    sizes = queue_message_sizes(Assumptions(readings_per_second=1, batch_size=250))
    # 15 + 250 x 1024 + 249 commas
    assert sizes == [15 + 250 * 1024 + 249]


readings_per_second = st.floats(min_value=0.01, max_value=100_000)
bytes_per_reading = st.integers(min_value=1, max_value=4096)


@settings(max_examples=150, deadline=None)
@given(
    rate=readings_per_second,
    size=bytes_per_reading,
    batch=st.integers(min_value=1, max_value=250),
    factor=st.integers(min_value=2, max_value=10),
    queue_batch=st.sampled_from([1, 10, 100]),
)
def test_multiplying_the_batch_size_never_costs_more(
    rate: float, size: int, batch: int, factor: int, queue_batch: int
) -> None:
    def cost(b: int) -> float:
        return estimate_monthly_cost(
            Assumptions(
                readings_per_second=rate,
                batch_size=b,
                bytes_per_reading=size,
                queue_batch_size=queue_batch,
            )
        ).cost_per_million_readings

    try:
        bigger = cost(batch * factor)
    except AssumptionError:
        return  # the bigger batch is over the body limit: nothing to compare
    assert bigger <= cost(batch) + 1e-12


def test_one_more_reading_can_cost_more_when_the_batch_crosses_a_64_kb_sqs_chunk() -> None:
    # GIVEN 1 KiB readings: 63 make a 64,589-byte message (one chunk), 64 make 65,613 (two)
    def estimate(b: int) -> CostEstimate:
        return estimate_monthly_cost(Assumptions(readings_per_second=100, batch_size=b))

    # THEN the model keeps SQS's billing unit rather than smoothing it away
    assert math.ceil((15 + 63 * 1025 - 1) / 65536) == 1
    assert (
        estimate(64).monthly_usd_by_service()["SQS"] > estimate(63).monthly_usd_by_service()["SQS"]
    )


@settings(max_examples=150, deadline=None)
@given(
    rate=readings_per_second,
    batch=st.integers(min_value=1, max_value=30),  # 30 x 8 KiB readings fit one body
    size=bytes_per_reading,
    extra=st.integers(min_value=1, max_value=4096),
)
def test_bigger_readings_never_cost_less(rate: float, batch: int, size: int, extra: int) -> None:
    def cost(n: int) -> float:
        return estimate_monthly_cost(
            Assumptions(readings_per_second=rate, batch_size=batch, bytes_per_reading=n)
        ).cost_per_million_readings

    assert cost(size + extra) >= cost(size) - 1e-12


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("readings_per_second", -1.0),
        ("readings_per_second", 0.0),
        ("readings_per_second", math.inf),
        ("batch_size", 0),
        ("batch_size", 501),
        ("bytes_per_reading", 0),
        ("retention_days", 0.0),
        ("query_reads_per_reading", -0.5),
        ("xray_sampling_rate", 1.5),
    ],
)
def test_an_out_of_range_assumption_is_refused_naming_its_field(field: str, value: float) -> None:
    with pytest.raises(AssumptionError) as caught:
        Assumptions(**{"readings_per_second": 1.0, field: value})  # type: ignore[arg-type]
    assert caught.value.field == field
    assert field in str(caught.value)


def test_a_batch_over_the_body_limit_is_refused_naming_batch_size() -> None:
    # 256 readings of 1024 bytes: 15 + 262,144 + 255 bytes > 262,144
    with pytest.raises(AssumptionError, match="262144") as caught:
        Assumptions(readings_per_second=1.0, batch_size=256, bytes_per_reading=1024)
    assert caught.value.field == "batch_size"


def test_every_price_names_its_source_page_and_date() -> None:
    for price in prices.ALL_PRICES:
        assert price.source.startswith("https://aws.amazon.com/")
        assert price.as_of == prices.PRICES_AS_OF


def test_given_over_100_billion_sqs_requests_then_the_tier_applies_to_the_service_total() -> None:
    # 60,000 readings/s one per request: 157.68 G sends + 15.768 G receives + 15.768 G deletes
    # = 189.216 G requests: 100 G at $0.40 + 89.216 G at $0.30 (per million), shared pro rata.
    estimate = estimate_monthly_cost(
        Assumptions(readings_per_second=60_000, batch_size=1, query_reads_per_reading=0)
    )
    total = 157.68e9 + 2 * 15.768e9
    assert sum(line.quantity for line in estimate.lines if line.service == "SQS") == pytest.approx(
        total
    )
    assert estimate.monthly_usd_by_service()["SQS"] == pytest.approx(
        100e3 * 0.40 + (total - 100e9) / 1e6 * 0.30
    )
