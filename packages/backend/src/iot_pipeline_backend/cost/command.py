"""``iot-pipeline cost``: the monthly AWS bill of a load, per service and per million readings."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import click

from iot_pipeline_backend.cost import prices
from iot_pipeline_backend.cost.assumptions import MARKER_BYTES, AssumptionError, Assumptions
from iot_pipeline_backend.cost.bill import CostEstimate
from iot_pipeline_backend.cost.model import estimate_monthly_cost, one_reading_per_request
from iot_pipeline_backend.cost.timeseries import summary_lines

_DEFAULTS = Assumptions(readings_per_second=1.0)

#: The command's help; {d.…} are the model's defaults, so the text cannot drift from them.
_HELP = """Estimate the monthly AWS bill of the pipeline for a load, per service and per
million readings, and compare it with sending one reading per request.

\b
What it prices (the pipeline as built; monthly averages, us-east-1):
- one API Gateway request and one ingestion invocation per batch of readings;
- per reading, one eventually consistent repeat lookup (BatchGetItem) when it has
  a reading_id, one conditional raw item write, the idempotency marker writes (as
  built: none for readings with a timestamp and a reading_id, like the SDK's), and
  one processed item write (DynamoDB on-demand: one WRU per started KB);
- the batch packed into SQS messages of up to 256 KiB, sent, received and deleted
  in batches of 10 (each started 64 KB of a call is billed as one request), and
  the idle long polls of the event source mapping;
- processor invocations of --queue-batch-size messages;
- reading the processed readings back through GET /query (strongly consistent);
- storage and point-in-time recovery of what --retention-days keeps;
- Lambda logs ({d.log_bytes_per_invocation} bytes per invocation), API access
  logs ({d.access_log_bytes_per_request} bytes per request), X-Ray traces, alert emails
  and the response bytes sent out.

\b
Lambda durations are assumptions:
- ingestion {d.ingestion_ms_per_request:g} ms + {d.ingestion_ms_per_reading:g} ms per reading;
- processor {d.processor_ms_per_invocation:g} ms + {d.processor_ms_per_reading:g} ms per reading;
- query {d.query_ms_per_request:g} ms + {d.query_ms_per_item:g} ms per item.

Retries, duplicates, failures, cold starts and free tiers are not priced, nor are
fixed account costs (alarms, custom metrics, KMS keys).
"""

#: Assumption field → the option that sets it, so a model error names what the user typed.
_OPTION_OF_FIELD = {
    "readings_per_second": "--readings-per-second",
    "batch_size": "--batch-size",
    "bytes_per_reading": "--bytes-per-reading",
    "queue_batch_size": "--queue-batch-size",
    "idempotency_writes_per_reading": "--idempotency-writes",
    "idempotency_marker_bytes": "--marker-bytes",
    "repeat_check_share": "--repeat-check-share",
    "retention_days": "--retention-days",
    "query_reads_per_reading": "--query-reads-per-reading",
    "xray_sampling_rate": "--xray-sampling-rate",
    "lambda_memory_mb": "--memory-mb",
    "connected_devices": "--connected-devices",
}


@click.command(
    "cost",
    help=_HELP.format(d=_DEFAULTS),
    epilog=(
        "Prices: us-east-1 list prices known on "
        f"{prices.PRICES_AS_OF.isoformat()}, free tiers left out; each price and its source "
        "page are in the --json output and docs/cost.md."
    ),
)
@click.option(
    "--readings-per-second",
    required=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Readings arriving per second, averaged over the month (> 0).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 500),
    default=_DEFAULTS.batch_size,
    show_default=True,
    help="Readings per POST /ingest request (1 = one reading per request; at most 500 and "
    "256 KiB per body).",
)
@click.option(
    "--bytes-per-reading",
    type=click.IntRange(min=1),
    default=_DEFAULTS.bytes_per_reading,
    show_default=True,
    help="One reading as stored: its raw DynamoDB item, and its JSON in the body and the "
    f"queue. Processing adds {_DEFAULTS.processed_extra_bytes} bytes to the processed item.",
)
@click.option(
    "--queue-batch-size",
    type=click.IntRange(min=1),
    default=_DEFAULTS.queue_batch_size,
    show_default=True,
    help="SQS messages per processor invocation (the pipeline config's batch_size); "
    "batches are assumed full.",
)
@click.option(
    "--idempotency-writes",
    type=click.FloatRange(0, 1),
    default=_DEFAULTS.idempotency_writes_per_reading,
    show_default=True,
    help="Marker items written per reading besides the raw item: 0 for readings with a "
    "timestamp and a reading_id (the SDK's) or none, 1 for a reading_id without "
    "timestamp; a share for a mix.",
)
@click.option(
    "--marker-bytes",
    type=click.IntRange(min=1),
    default=None,
    help="Size of one idempotency marker item.  [default: as built, keys only, "
    f"{MARKER_BYTES} bytes]",
)
@click.option(
    "--repeat-check-share",
    type=click.FloatRange(0, 1),
    default=_DEFAULTS.repeat_check_share,
    show_default=True,
    help="Share of readings that carry a reading_id, each looked up once (half a read "
    "unit) before it is written.",
)
@click.option(
    "--retention-days",
    type=click.FloatRange(min=0, min_open=True),
    default=_DEFAULTS.retention_days,
    show_default=True,
    help="Days readings are kept; DynamoDB storage and PITR are billed on what is held.",
)
@click.option(
    "--query-reads-per-reading",
    type=click.FloatRange(min=0),
    default=_DEFAULTS.query_reads_per_reading,
    show_default=True,
    help="Times each processed reading is read back through GET /query "
    f"(pages of {_DEFAULTS.query_page_size}, eventually consistent).",
)
@click.option(
    "--xray-sampling-rate",
    type=click.FloatRange(0, 1),
    default=_DEFAULTS.xray_sampling_rate,
    show_default=True,
    help="Share of requests traced beyond the first each second (X-Ray's default rule).",
)
@click.option(
    "--memory-mb",
    type=click.IntRange(128, 10_240),
    default=_DEFAULTS.lambda_memory_mb,
    show_default=True,
    help="Memory of each Lambda function (default: the stack's); duration is billed in GB-seconds.",
)
@click.option(
    "--protocol",
    type=click.Choice(["http", "mqtt"]),
    default="http",
    show_default=True,
    help="How readings arrive: signed HTTPS to API Gateway, or MQTT to AWS IoT Core "
    "(a message of --batch-size readings; rule + Lambda action; see docs/mqtt.md).",
)
@click.option(
    "--connected-devices",
    type=click.IntRange(min=0),
    default=100,
    show_default=True,
    help="With --protocol mqtt: devices connected all month (IoT Core connectivity).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def cost(
    *,
    readings_per_second: float,
    batch_size: int,
    bytes_per_reading: int,
    queue_batch_size: int,
    idempotency_writes: float,
    marker_bytes: int | None,
    repeat_check_share: float,
    retention_days: float,
    query_reads_per_reading: float,
    xray_sampling_rate: float,
    memory_mb: int,
    protocol: str,
    connected_devices: int,
    as_json: bool,
) -> None:
    try:
        assumptions = dataclasses.replace(
            _DEFAULTS,
            readings_per_second=readings_per_second,
            batch_size=batch_size,
            bytes_per_reading=bytes_per_reading,
            queue_batch_size=queue_batch_size,
            idempotency_writes_per_reading=idempotency_writes,
            idempotency_marker_bytes=marker_bytes,
            repeat_check_share=repeat_check_share,
            retention_days=retention_days,
            query_reads_per_reading=query_reads_per_reading,
            xray_sampling_rate=xray_sampling_rate,
            lambda_memory_mb=memory_mb,
        )
        if protocol == "mqtt":
            from iot_pipeline_backend.cost.mqtt import estimate_mqtt_monthly_cost

            estimate = estimate_mqtt_monthly_cost(assumptions, connected_devices=connected_devices)
            single = estimate_mqtt_monthly_cost(
                one_reading_per_request(assumptions), connected_devices=connected_devices
            )
        else:
            estimate = estimate_monthly_cost(assumptions)
            single = estimate_monthly_cost(one_reading_per_request(assumptions))
    except AssumptionError as exc:
        raise click.BadParameter(
            exc.message, param_hint=f"'{_OPTION_OF_FIELD.get(exc.field, exc.field)}'"
        ) from None

    if as_json:
        data = _as_json(estimate, single)
        data["protocol"] = protocol
        if protocol == "mqtt":
            from iot_pipeline_backend.cost.mqtt import MQTT_PRICES

            data["prices"] += [_price_json(price) for price in MQTT_PRICES]
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(_as_table(estimate, single))


def _as_json(estimate: CostEstimate, single: CostEstimate) -> dict[str, Any]:
    return {
        **estimate.to_dict(),
        "assumptions": dataclasses.asdict(estimate.assumptions),
        "one_reading_per_request": single.to_dict(),
        "prices": [_price_json(price) for price in prices.ALL_PRICES],
    }


def _price_json(price: prices.Price) -> dict[str, Any]:
    return {
        "name": price.name,
        "usd": price.usd,
        "per": price.per,
        "unit": price.unit,
        "volume_tiers": [list(tier) for tier in price.volume_tiers],
        "source": price.source,
        "as_of": price.as_of.isoformat(),
    }


def _quantity(value: float) -> str:
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= factor:
            return f"{value / factor:,.2f}{suffix}"
    return f"{value:,.2f}"


def _as_table(estimate: CostEstimate, single: CostEstimate) -> str:
    a = estimate.assumptions
    per_million = 1_000_000 / estimate.readings_per_month
    header = ("service", "item", "quantity/month", "unit", "USD/month", "USD per M readings")
    rows = [
        (
            line.service,
            line.item,
            _quantity(line.quantity),
            line.unit,
            f"{line.monthly_usd:,.2f}",
            f"{line.monthly_usd * per_million:.4f}",
        )
        for line in estimate.lines
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    right = {2, 4, 5}

    def render(row: tuple[str, ...]) -> str:
        return "  ".join(
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    kinds = estimate.cost_per_million_readings_by_kind()
    out = [
        f"{a.readings_per_second:g} readings/s = {_quantity(estimate.readings_per_month)} "
        f"readings a month, {a.batch_size} per request, {a.bytes_per_reading} bytes each, "
        f"kept {a.retention_days:g} days (us-east-1, prices of {prices.PRICES_AS_OF.isoformat()})",
        "",
        render(header),
        rule,
        *(render(row) for row in rows),
        rule,
        "",
        "per service (USD/month):",
        *(
            f"  {service:<16} {usd:>12,.2f}"
            for service, usd in estimate.monthly_usd_by_service().items()
        ),
        "",
        f"total: ${estimate.monthly_usd:,.2f} a month",
        f"cost per million readings: ${estimate.cost_per_million_readings:.4f} "
        f"(usage {kinds['usage']:.4f}, storage {kinds['storage']:.4f}, "
        f"fixed {kinds['fixed']:.4f})",
        f"one reading per request: ${single.cost_per_million_readings:.4f} per million readings "
        f"(${single.monthly_usd:,.2f} a month), "
        f"{single.cost_per_million_readings / estimate.cost_per_million_readings:.2f}x this",
        "",
        *summary_lines(a),
    ]
    return "\n".join(out)
