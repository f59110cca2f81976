"""``iot-pipeline local`` and ``iot-pipeline demo``."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

import click

from iot_pipeline_backend.errors import ConfigError, SettingsError
from iot_pipeline_backend.local.datadir import unusable_path_message
from iot_pipeline_backend.local.environment import Backend
from iot_pipeline_backend.local.logs import configure_logging
from iot_pipeline_backend.local.runtime import (
    DEFAULT_DATA_DIR,
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEFAULT_REGION,
    LocalPipeline,
)

#: ``--mqtt-port``'s default (the IANA port of MQTT over TLS); not imported from the MQTT
#: server so ``iot-pipeline --help`` does not load it.
DEFAULT_MQTT_PORT = 8883

#: Exit code for a refused start (bad config, unusable credentials file, port taken).
EXIT_BAD_SETUP = 2


class StartupError(click.ClickException):
    """The runtime refused to start; the message names the file and key at fault."""

    exit_code = EXIT_BAD_SETUP


def banner(pipeline: LocalPipeline) -> str:
    """What ``iot-pipeline local`` prints once it listens: where it is and how to sign."""
    creds = pipeline.credentials
    return "\n".join(
        [
            "iot-pipeline local is running",
            f"  endpoint     {pipeline.endpoint}",
            f"  region       {pipeline.region}",
            f"  profile      {creds.profile}",
            f"  access key   {creds.access_key}",
            f"  credentials  {creds.path}",
            f"  data dir     {pipeline.data_dir}",
            f"  health       {pipeline.health_url}  (unsigned; reports a config.json that "
            "does not validate)",
            *(
                [
                    f"  mqtt         {pipeline.mqtt.endpoint} (TLS, client certificates from "
                    "`iot-pipeline devices add NAME`)"
                ]
                if pipeline.mqtt is not None
                else []
            ),
            f"  dashboard    {pipeline.dashboard_url}",
            "",
            "Sign requests with any SigV4 client (the SDK, iot-sim, botocore, awscurl, "
            f'curl --aws-sigv4 "aws:amz:{pipeline.region}:execute-api"):',
            f"  export AWS_SHARED_CREDENTIALS_FILE={creds.path} AWS_PROFILE={creds.profile} "
            f"AWS_REGION={pipeline.region} AWS_DEFAULT_REGION={pipeline.region}",
            "",
            "Ctrl-C (or SIGTERM) stops it; in-flight requests and batches finish first.",
        ]
    )


_data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_DATA_DIR,
    show_default=True,
    help="Directory for the SQLite database (readings, queue, DLQ), the credentials file, "
    "config.json and alerts.jsonl. Created if missing; data survives restarts.",
)


@click.command("local")
@click.option(
    "--host",
    default=DEFAULT_HOST,
    show_default=True,
    help="Interface to listen on. Keep 127.0.0.1 unless other machines must reach it.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="TCP port to listen on; 0 picks a free port (the banner shows the real one).",
)
@_data_dir_option
@click.option(
    "--region",
    default=DEFAULT_REGION,
    show_default=True,
    help="Region clients must sign for (the credential scope), as with a real API.",
)
@click.option(
    "--mqtt-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Port of the MQTT endpoint (MQTT 3.1.1 over TLS, device certificates) "
    "[default: 8883, or a free port when --port is 0]; 0 picks a free port.",
)
@click.option("--no-mqtt", is_flag=True, help="Do not serve MQTT (HTTP only).")
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    default="info",
    show_default=True,
    help="Threshold of the structured JSON logs written to stderr.",
)
@click.option(
    "--backend",
    type=click.Choice(["local", "aws"]),
    default="local",
    show_default=True,
    help="local: SQLite in DATA_DIR. aws: the handlers use the AWS adapters, configured like "
    "the deployed functions by the environment (RAW_TABLE_NAME, PROCESSED_TABLE_NAME, "
    "QUEUE_URL, ALERT_TOPIC_ARN, CONFIG_PARAMETER_NAME, API_KEY_PARAMETER_NAME, AWS "
    "credentials; AWS_ENDPOINT_URL for an emulator), and the poller receives from the SQS "
    "queue: a local, SigV4-verifying gateway in front of AWS resources.",
)
@click.option(
    "--processor",
    type=click.Choice(["process", "thread"]),
    default="process",
    show_default=True,
    help="Where the queue poller and the processor run: process, a child process of their "
    "own beside the gateway (a second core, as Lambda runs apart from API Gateway; it dies "
    "with the runtime); thread, inside the runtime's process. With --backend aws, always "
    "thread.",
)
def local(
    host: str,
    port: int,
    data_dir: Path,
    region: str,
    mqtt_port: int | None,
    no_mqtt: bool,
    log_level: str,
    backend: Backend,
    processor: str,
) -> None:
    """Run the whole pipeline on this machine: API gateway, queue poller, SQLite storage.

    Serves POST /prod/ingest, POST /prod/process and GET /prod/query with SigV4 (AWS_IAM)
    verification exactly as API Gateway does, runs the same Lambda handlers, and feeds the
    processor from a durable queue. On first start it writes fresh keys to
    DATA_DIR/credentials (profile iot-pipeline-local); only those keys are accepted.
    A bad DATA_DIR/config.json stops the start with an error naming the key, as do a data
    dir that cannot be written and one another runtime holds (exit code 2).

    Devices that speak MQTT connect over TLS with a certificate from
    `iot-pipeline devices add NAME` and publish to iot-pipeline/NAME/readings (QoS 1);
    the PUBACK is sent once the reading is stored and queued.
    """
    configure_logging(log_level)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", log_level.upper())
    try:
        if mqtt_port is None:
            mqtt_port = 0 if port == 0 else DEFAULT_MQTT_PORT
        pipeline = LocalPipeline(
            data_dir=data_dir,
            region=region,
            host=host,
            port=port,
            mqtt_port=None if no_mqtt else mqtt_port,
            backend=backend,
            processor_process=processor == "process",
        )
        pipeline.start()
    except (ConfigError, SettingsError) as exc:
        raise StartupError(str(exc)) from None
    except OSError as exc:
        # A file in the data dir that cannot be created or read (permissions, a full disk).
        raise StartupError(unusable_path_message(data_dir, exc)) from None
    stop_requested = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        if stop_requested.is_set():
            # A second Ctrl-C means "now": the SQLite queue redelivers what was in flight.
            os._exit(128 + signum)
        stop_requested.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    click.echo(banner(pipeline))
    sys.stdout.flush()
    try:
        while not stop_requested.wait(0.5):
            pass
    finally:
        click.echo("stopping: finishing in-flight requests and batches ...", err=True)
        pipeline.stop()


@click.command("demo")
@click.option(
    "--devices",
    type=click.IntRange(1, 500),
    default=5,
    show_default=True,
    help="Number of simulated devices sending readings concurrently.",
)
@click.option(
    "--duration",
    type=click.FloatRange(0.5, 3600),
    default=5.0,
    show_default=True,
    help="Seconds the devices keep sending.",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep the pipeline's data here (default: a temporary directory, removed after).",
)
@click.option(
    "--keep-running",
    is_flag=True,
    help="After the summary, keep the pipeline (and its dashboard) up until Ctrl-C.",
)
def demo(devices: int, duration: float, data_dir: Path | None, keep_running: bool) -> None:
    """Start the local pipeline, drive it with simulated devices, query the results back.

    Prints the dashboard URL (open it to watch the devices), then what was sent,
    acknowledged, processed and flagged as anomalies, plus a sample processed reading.
    Exits 0 only if every acknowledged reading was processed.
    """
    from iot_pipeline_backend.local.demo import DemoError, run_demo

    configure_logging("warning")
    try:
        ok = run_demo(
            devices=devices,
            duration=duration,
            data_dir=data_dir,
            echo=click.echo,
            keep_running=keep_running,
        )
    except (ConfigError, SettingsError) as exc:
        raise StartupError(str(exc)) from None
    except DemoError as exc:
        raise click.ClickException(str(exc)) from None
    if not ok:
        sys.exit(1)
