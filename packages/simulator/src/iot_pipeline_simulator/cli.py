"""``iot-sim``: simulated devices at load against an iot-pipeline, and a loss check after.

Exit codes: 0 all good; 1 the run or the verification found a problem (see the summary);
2 bad options, an unreadable report, or no credentials.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

import click
from iot_pipeline_common.keys import now_ms
from iot_pipeline_sdk import IoTPipelineError
from rich.console import Console
from rich.table import Table

from iot_pipeline_simulator.console import live_progress, run_summary, verify_summary
from iot_pipeline_simulator.devices import Fleet
from iot_pipeline_simulator.errors import SimulatorError
from iot_pipeline_simulator.html_report import write_html
from iot_pipeline_simulator.load_options import connection_options, load_options
from iot_pipeline_simulator.mqtt_run import MqttSettings, mqtt_options
from iot_pipeline_simulator.pipeline import PipelineSink, open_client, stored_readings
from iot_pipeline_simulator.profiles import PROFILES, get_profile
from iot_pipeline_simulator.report import RunReport, build_report
from iot_pipeline_simulator.runner import LoadRunner, RunOptions
from iot_pipeline_simulator.verify import verify_run

_CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class _Fatal(click.ClickException):
    exit_code = 2


@contextmanager
def _reported_errors() -> Iterator[None]:
    """The one boundary where simulator and SDK errors become a message and exit code 2."""
    try:
        yield
    except (SimulatorError, IoTPipelineError) as exc:
        raise _Fatal(str(exc)) from None


@click.group(context_settings=_CONTEXT)
@click.version_option(package_name="iot-pipeline-simulator")
def main() -> None:
    """iot-sim: realistic IoT devices driving an iot-pipeline at load.

    \b
    Start the local pipeline, run 100 greenhouse devices for 30 s, then check nothing was lost:
      iot-pipeline local --data-dir .iot-pipeline &
      export AWS_SHARED_CREDENTIALS_FILE="$PWD/.iot-pipeline/credentials"
      export AWS_PROFILE=iot-pipeline-local AWS_REGION=us-east-1
      iot-sim run --endpoint http://127.0.0.1:8000/prod --devices 100 --rate 1 --duration 30 \\
          --report-json run.json --report-html run.html
      iot-sim verify --report-json run.json

    Every reading carries its device's monotonic `seq` and a reading_id derived from the seed,
    so `verify` can count what was lost, duplicated or reordered.
    """


@main.command(context_settings=_CONTEXT)
@load_options
@mqtt_options
def run(
    *,
    mqtt: MqttSettings | None,
    endpoint: str,
    devices: int,
    rate: float,
    duration: float,
    batch: int,
    batch_by: Literal["fleet", "device"],
    batch_window: float,
    profile_name: str,
    seed: int | None,
    region: str | None,
    aws_profile: str | None,
    max_in_flight: int,
    timeout: float,
    retries: int,
    drain_timeout: float,
    report_json: Path | None,
    report_html: Path | None,
    quiet: bool,
) -> None:
    """Drive N simulated devices at R readings/s each for S seconds, open loop.

    Readings are sent when they are due whatever the pipeline's latency; the schedule lag
    (how late requests started) is reported so a slow simulator never passes for a fast
    pipeline. One signed read checks endpoint and credentials before the clock starts (exit 2
    if it fails). Exits 1 when anything was rejected unexpectedly, failed, shed or left
    unfinished.

    \b
    Examples:
      iot-sim run --endpoint http://127.0.0.1:8000/prod --devices 50 --rate 2 --duration 20
      iot-sim run --endpoint $URL --devices 10000 --rate 0.2 --duration 60 --batch 100 \\
          --profile factory --seed 7 --report-json run.json --report-html run.html
    """
    console = Console(stderr=True)
    with _reported_errors():
        profile = get_profile(profile_name)
        options = RunOptions(
            duration_s=duration,
            batch_size=batch,
            batch_by=batch_by,
            batch_window_s=batch_window,
            max_in_flight=max_in_flight,
            drain_timeout_s=drain_timeout,
        )
        chosen_seed = seed if seed is not None else random.randrange(1_000_000)
        if mqtt is not None:
            mqtt.check(batch=batch, batch_by=batch_by)
        client = open_client(
            endpoint=endpoint,
            region=region,
            aws_profile=aws_profile,
            max_connections=max_in_flight,
            timeout_s=timeout,
            retries=retries,
        )

        async def drive() -> RunReport:
            async with client:
                http_sink = PipelineSink(client)
                await http_sink.preflight()
                fleet = Fleet(
                    profile=profile,
                    devices=devices,
                    rate=rate,
                    seed=chosen_seed,
                    start_ms=now_ms(),
                )
                sink: Any = http_sink
                if mqtt is not None:
                    sink = mqtt.open_sink(
                        device_ids=[fleet.device_id(i) for i in range(devices)],
                        max_in_flight=max_in_flight,
                        timeout_s=timeout,
                    )
                    await sink.preflight()
                runner = LoadRunner(sink=sink, fleet=fleet, options=options)
                show = not quiet and console.is_terminal
                try:
                    async with live_progress(
                        runner, console=console, duration_s=duration, enabled=show
                    ):
                        result = await runner.run()
                finally:
                    if mqtt is not None:
                        await sink.close()
            return build_report(
                result, endpoint=str(client.endpoint), region=client.region, aws_profile=aws_profile
            )

        if not quiet:
            console.print(
                f"iot-sim: {devices:,} {profile.name} devices × {rate:g}/s for {duration:g} s "
                f"→ {client.endpoint} (seed {chosen_seed})"
            )
        report = asyncio.run(drive())
        if report_json:
            report.write(report_json)
        if report_html:
            write_html(report, report_html)
    if not quiet:
        Console().print(run_summary(report))
    t = report.totals
    if t.rejected_unexpected or t.accepted_invalid or t.errors or t.shed or t.unfinished:
        sys.exit(1)


@main.command(context_settings=_CONTEXT)
@click.option(
    "--report-json",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="The report `iot-sim run --report-json` wrote; names the pipeline and the readings.",
)
@click.option(
    "--endpoint",
    metavar="URL",
    help="Query this endpoint instead of the one in the report.",
)
@connection_options
@click.option(
    "--wait",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="Seconds to keep polling while acknowledged readings are not processed yet.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=16,
    show_default=True,
    help="Devices read back at once (two queries each, raw and processed).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as JSON on stdout.")
def verify(
    *,
    report_json: Path,
    endpoint: str | None,
    region: str | None,
    aws_profile: str | None,
    wait: float,
    concurrency: int,
    as_json: bool,
) -> None:
    """Check that every acknowledged reading of a run is stored, once, raw and processed.

    Per device: acknowledged reading ids versus the raw and processed tables → lost,
    duplicated, reordered (arrived after a higher seq), and readings rejected on purpose that
    were stored anyway. Exits 1 when anything acknowledged is missing or duplicated.

    \b
    Example:
      iot-sim verify --report-json run.json --wait 60
    """
    with _reported_errors():
        report = RunReport.load(report_json)
        client = open_client(
            endpoint=endpoint or report.endpoint,
            region=region or report.region,
            aws_profile=aws_profile or report.aws_profile,
            max_connections=concurrency,
            timeout_s=30.0,
            retries=3,
        )

        async def check() -> Any:
            async with client:
                return await verify_run(
                    report, stored_readings(client), wait_s=wait, concurrency=concurrency
                )

        result = asyncio.run(check())
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        console = Console()
        console.print(verify_summary(result))
        failing = [d for d in result.devices if not d.ok]
        for device in failing[:10]:
            console.print(f"  {device.describe()}", markup=False)
        if len(failing) > 10:
            console.print(f"  ... and {len(failing) - 10} more devices (--json lists them all)")
    if not result.ok:
        sys.exit(1)


@main.command(context_settings=_CONTEXT)
@click.option("--json", "as_json", is_flag=True, help="Print the profiles as JSON.")
def profiles(*, as_json: bool) -> None:
    """List the device profiles: sensors, fault rates and delivery behaviours."""
    if as_json:
        click.echo(json.dumps({name: asdict(p) for name, p in PROFILES.items()}, indent=2))
        return
    console = Console()
    for profile in PROFILES.values():
        table = Table(title=f"{profile.name}: {profile.description}", title_justify="left")
        for column in ("sensor", "unit", "base", "daily ±", "noise σ", "drift/h", "range"):
            table.add_column(column)
        for s in profile.sensors:
            table.add_row(
                s.name,
                s.unit,
                f"{s.base:g}",
                f"{s.amplitude:g}",
                f"{s.noise:g}",
                f"{s.drift_per_hour:g}",
                f"{s.low:g}…{s.high:g}",
            )
        console.print(table)
        rates = {**asdict(profile.faults), **asdict(profile.delivery)}
        console.print("  " + ", ".join(f"{k}={v:g}" for k, v in rates.items()) + "\n")


@main.command(context_settings=_CONTEXT)
@click.option("--profile", "profile_name", default="greenhouse", show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--devices", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True)
@click.option(
    "--slots", type=click.IntRange(min=1), default=5, show_default=True, help="Per device."
)
@click.option(
    "--start-ms",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Epoch ms of the run start (timestamps are relative to it).",
)
def preview(
    *, profile_name: str, seed: int, devices: int, rate: float, slots: int, start_ms: int
) -> None:
    """Print the sends a run would make, as JSON lines, without sending anything.

    \b
    Same options → the same output (that is what --seed promises):
      iot-sim preview --profile factory --seed 7 --devices 2 --slots 3
    """
    with _reported_errors():
        fleet = Fleet(
            profile=get_profile(profile_name),
            devices=devices,
            rate=rate,
            seed=seed,
            start_ms=start_ms,
        )
        for device in range(devices):
            for send in fleet.readings(device, slots):
                line = {
                    "due_s": round(send.due, 3),
                    "kind": send.kind,
                    "faults": list(send.reading.faults),
                    **send.reading.to_wire(),
                }
                click.echo(json.dumps(line))
