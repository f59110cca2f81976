"""``iot-pipeline cost`` through the real command group: JSON shape, the table, bad input."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner
from iot_pipeline_backend.cli import main
from iot_pipeline_backend.cost import Assumptions, estimate_monthly_cost

SERVICES = {
    "API Gateway",
    "Lambda",
    "SQS",
    "DynamoDB",
    "SNS",
    "CloudWatch Logs",
    "X-Ray",
    "Data transfer",
}


def run(*args: str) -> Any:
    return CliRunner().invoke(main, ["cost", *args])


def test_given_json_then_one_object_with_cost_breakdown_assumptions_and_comparison() -> None:
    result = run("--readings-per-second", "100", "--batch-size", "100", "--json")

    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    expected = estimate_monthly_cost(Assumptions(readings_per_second=100, batch_size=100))
    assert body["cost_per_million_readings"] == pytest.approx(expected.cost_per_million_readings)
    assert body["monthly_usd"] == pytest.approx(expected.monthly_usd)
    assert set(body["services"]) == SERVICES
    assert sum(body["services"].values()) == pytest.approx(body["monthly_usd"])
    assert {line["kind"] for line in body["breakdown"]} == {"usage", "storage", "fixed"}
    assert body["assumptions"]["readings_per_second"] == 100
    assert body["assumptions"]["batch_size"] == 100
    assert body["assumptions"]["bytes_per_reading"] == 1024
    assert body["assumptions"]["idempotency_writes_per_reading"] == 0  # SDK-shaped: no marker
    assert body["assumptions"]["lambda_memory_mb"] == 512  # the stack's
    assert body["assumptions"]["idempotency_marker_bytes"] is None  # as built: keys only
    single = body["one_reading_per_request"]
    assert single["batch_size"] == 1
    assert single["cost_per_million_readings"] > body["cost_per_million_readings"]
    assert set(single["services"]) == SERVICES
    assert all(p["source"].startswith("https://aws.amazon.com/") for p in body["prices"])
    assert {p["as_of"] for p in body["prices"]} == {"2025-01-01"}


def test_given_options_then_json_reflects_them() -> None:
    result = run(
        "--readings-per-second",
        "5",
        "--batch-size",
        "20",
        "--bytes-per-reading",
        "300",
        "--queue-batch-size",
        "50",
        "--idempotency-writes",
        "0",
        "--marker-bytes",
        "200",
        "--repeat-check-share",
        "0.5",
        "--retention-days",
        "7",
        "--query-reads-per-reading",
        "0",
        "--xray-sampling-rate",
        "0.1",
        "--memory-mb",
        "1024",
        "--json",
    )

    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert {
        k: body["assumptions"][k]
        for k in (
            "batch_size",
            "bytes_per_reading",
            "queue_batch_size",
            "idempotency_writes_per_reading",
            "idempotency_marker_bytes",
            "repeat_check_share",
            "retention_days",
            "query_reads_per_reading",
            "xray_sampling_rate",
            "lambda_memory_mb",
        )
    } == {
        "batch_size": 20,
        "bytes_per_reading": 300,
        "queue_batch_size": 50,
        "idempotency_writes_per_reading": 0,
        "idempotency_marker_bytes": 200,
        "repeat_check_share": 0.5,
        "retention_days": 7,
        "query_reads_per_reading": 0,
        "xray_sampling_rate": 0.1,
        "lambda_memory_mb": 1024,
    }
    marker = [line for line in body["breakdown"] if line["item"].startswith("idempotency")]
    assert marker[0]["monthly_usd"] == 0


def test_given_no_json_flag_then_a_table_per_service_with_totals_and_the_comparison() -> None:
    result = run("--readings-per-second", "100")

    assert result.exit_code == 0, result.output
    out = result.output
    expected = estimate_monthly_cost(Assumptions(readings_per_second=100))
    single = estimate_monthly_cost(Assumptions(readings_per_second=100, batch_size=1))
    for service in SERVICES:
        assert service in out
    assert "100 per request, 1024 bytes each" in out
    assert f"cost per million readings: ${expected.cost_per_million_readings:.4f}" in out
    assert f"one reading per request: ${single.cost_per_million_readings:.4f}" in out
    assert f"total: ${expected.monthly_usd:,.2f} a month" in out


@pytest.mark.parametrize("rate", ["-5", "0", "fast"])
def test_given_a_bad_rate_then_a_usage_error_names_the_option(rate: str) -> None:
    result = run("--readings-per-second", rate)

    assert result.exit_code == 2
    assert "Invalid value for '--readings-per-second'" in result.output
    assert "Traceback" not in result.output


def test_given_no_rate_then_a_usage_error_names_the_missing_option() -> None:
    result = run("--batch-size", "10")

    assert result.exit_code == 2
    assert "--readings-per-second" in result.output


def test_given_a_batch_over_the_body_limit_then_a_usage_error_names_batch_size() -> None:
    # 300 readings x 1024 bytes is more than a 256 KiB body
    result = run("--readings-per-second", "1", "--batch-size", "300")

    assert result.exit_code == 2
    assert "Invalid value for '--batch-size'" in result.output
    assert "262144" in result.output


def test_help_explains_every_option_and_the_assumptions() -> None:
    result = run("--help")

    assert result.exit_code == 0
    for option in (
        "--readings-per-second",
        "--batch-size",
        "--bytes-per-reading",
        "--queue-batch-size",
        "--idempotency-writes",
        "--marker-bytes",
        "--repeat-check-share",
        "--retention-days",
        "--query-reads-per-reading",
        "--xray-sampling-rate",
        "--memory-mb",
        "--json",
    ):
        assert option in result.output
    assert "ingestion 30 ms + 2 ms per reading" in result.output
    assert "64 KB" in result.output
