"""The command-line options that shape a load run, and the connection options it shares.

``iot-sim run`` takes eighteen options of its own (endpoint, fleet size and rate, batching,
profile and seed, concurrency, timeouts and retries, reports); as a decorator stack they
outweighed the command itself, so they live here as one stack, :func:`load_options`, and
:mod:`iot_pipeline_simulator.cli` keeps only what the commands do. :func:`connection_options`
(AWS region and profile) is shared by ``run`` and ``verify``. Each stack applies its options
in the order listed, which is the order ``--help`` shows; the MQTT options stay in
:mod:`iot_pipeline_simulator.mqtt_run`, next to the sink they configure.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import click


def connection_options(command: Any) -> Any:
    """Add ``--region`` and ``--aws-profile``: how ``run`` and ``verify`` sign their requests."""
    for option in reversed(
        [
            click.option(
                "--region",
                envvar="AWS_REGION",
                metavar="REGION",
                help="AWS region to sign for (env AWS_REGION). Default: from an execute-api "
                "endpoint URL or the AWS profile; local endpoints need it (us-east-1).",
            ),
            click.option(
                "--aws-profile",
                envvar="AWS_PROFILE",
                metavar="NAME",
                help="Profile in the AWS shared credentials file (AWS_SHARED_CREDENTIALS_FILE); "
                "for the local pipeline: iot-pipeline-local.",
            ),
        ]
    ):
        command = option(command)
    return command


#: ``run``'s options top to bottom, as ``--help`` lists them; the MQTT options follow them.
_LOAD_OPTIONS: Final[tuple[Callable[[Any], Any], ...]] = (
    click.option(
        "--endpoint",
        envvar="IOT_PIPELINE_ENDPOINT",
        required=True,
        metavar="URL",
        help="The pipeline's stage URL, e.g. http://127.0.0.1:8000/prod or "
        "https://abc123.execute-api.eu-west-1.amazonaws.com/prod (env IOT_PIPELINE_ENDPOINT).",
    ),
    click.option(
        "--devices",
        type=click.IntRange(min=1),
        default=10,
        show_default=True,
        help="Simulated devices, named <profile>-00000, <profile>-00001, ...",
    ),
    click.option(
        "--rate",
        type=click.FloatRange(min=0, min_open=True),
        default=1.0,
        show_default=True,
        help="Readings per second per device (0.2 = one every 5 s). Total = devices × rate.",
    ),
    click.option(
        "--duration",
        type=click.FloatRange(min=0, min_open=True),
        default=10.0,
        show_default=True,
        help="Seconds of scheduled load. Requests still in flight then get --drain-timeout more.",
    ),
    click.option(
        "--batch",
        type=click.IntRange(1, 500),
        default=1,
        show_default=True,
        help='Readings per request (POST /ingest with {"readings": [...]}); 1 sends singly.',
    ),
    click.option(
        "--batch-by",
        type=click.Choice(["fleet", "device"]),
        default="fleet",
        show_default=True,
        help="fleet: a gateway groups whatever is due across devices (waits at most "
        "--batch-window); device: each device sends its own K readings at once.",
    ),
    click.option(
        "--batch-window",
        type=click.FloatRange(min=0),
        default=0.1,
        show_default=True,
        help="Fleet batching: seconds a reading may wait for its batch to fill.",
    ),
    click.option(
        "--profile",
        "profile_name",
        default="greenhouse",
        show_default=True,
        metavar="NAME",
        help="Device profile; `iot-sim profiles` lists them (clean = no faults).",
    ),
    click.option(
        "--seed",
        type=click.IntRange(min=0),
        help="Seed of every random choice. Same seed → same readings and reading ids. "
        "Default: a random seed, printed and kept in the report.",
    ),
    connection_options,
    click.option(
        "--max-in-flight",
        type=click.IntRange(min=1),
        default=64,
        show_default=True,
        help="Concurrent requests (and HTTP connections). Readings due while all are busy wait; "
        "the wait shows as schedule lag.",
    ),
    click.option(
        "--timeout",
        type=click.FloatRange(min=0, min_open=True),
        default=10.0,
        show_default=True,
        help="Seconds per HTTP request.",
    ),
    click.option(
        "--retries",
        type=click.IntRange(min=0),
        default=2,
        show_default=True,
        help="SDK retries of throttled, 5xx and connection failures (latency includes them).",
    ),
    click.option(
        "--drain-timeout",
        type=click.FloatRange(min=0),
        default=30.0,
        show_default=True,
        help="Seconds to wait for in-flight requests after the schedule ends.",
    ),
    click.option(
        "--report-json",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Write the JSON report here (what `iot-sim verify` reads).",
    ),
    click.option(
        "--report-html",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Write a self-contained HTML report with throughput and latency charts here.",
    ),
    click.option("--quiet", "-q", is_flag=True, help="No live progress and no summary table."),
)


def load_options(command: Any) -> Any:
    """Add the options of ``iot-sim run`` (all but the MQTT ones), in ``--help`` order."""
    # Decorators apply bottom-up, so the stack goes on reversed to keep the order above.
    for option in reversed(_LOAD_OPTIONS):
        command = option(command)
    return command
