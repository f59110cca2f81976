"""``iot-sim run --protocol mqtt``: the options, and the sink they build for a fleet."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from iot_pipeline_simulator.errors import RunConfigError
from iot_pipeline_simulator.mqtt import (
    MqttSink,
    certificates_in,
    local_endpoint,
    provision,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class MqttSettings:
    """Where the devices connect and where their certificates come from."""

    endpoint: str | None
    certs_dir: Path | None
    ca: Path | None
    data_dir: Path | None

    @staticmethod
    def check(*, batch: int, batch_by: str) -> None:
        """Refuse run options MQTT cannot honour, before anything connects."""
        if batch > 1 and batch_by != "device":
            raise RunConfigError(
                "--protocol mqtt: a device publishes only its own readings, so batches are "
                "per device (--batch-by device)"
            )

    def open_sink(
        self, *, device_ids: Sequence[str], max_in_flight: int, timeout_s: float
    ) -> MqttSink:
        """A sink with a certificate for every device (issued by the local CA if asked)."""
        if self.certs_dir is not None:
            certificates = certificates_in(self.certs_dir, device_ids, ca=self.ca)
        elif self.data_dir is not None:
            certificates = provision(self.data_dir, device_ids)
        else:
            raise RunConfigError("--protocol mqtt needs --certs-dir or --data-dir")
        endpoint = self.endpoint
        if endpoint is None:
            if self.data_dir is None:
                raise RunConfigError("--protocol mqtt needs --mqtt-endpoint or --data-dir")
            endpoint = local_endpoint(self.data_dir)
        return MqttSink(
            endpoint=endpoint,
            certificates=certificates,
            max_in_flight=max_in_flight,
            timeout_s=timeout_s,
        )


def mqtt_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the MQTT options to ``iot-sim run``; it receives them as one ``mqtt`` argument."""

    @functools.wraps(command)
    def with_mqtt(
        *args: Any,
        protocol: str,
        mqtt_endpoint: str | None,
        certs_dir: Path | None,
        ca: Path | None,
        data_dir: Path | None,
        **kwargs: Any,
    ) -> Any:
        settings = (
            None
            if protocol == "http"
            else MqttSettings(endpoint=mqtt_endpoint, certs_dir=certs_dir, ca=ca, data_dir=data_dir)
        )
        return command(*args, mqtt=settings, **kwargs)

    directory = click.Path(file_okay=False, exists=True, path_type=Path)
    options = [
        click.option(
            "--protocol",
            type=click.Choice(["http", "mqtt"]),
            default="http",
            show_default=True,
            help="How devices send: signed HTTPS POST /ingest, or MQTT over TLS with a "
            "certificate per device (QoS 1 to iot-pipeline/<device>/readings). --endpoint "
            "still serves the preflight and `verify`.",
        ),
        click.option(
            "--mqtt-endpoint",
            metavar="URL",
            help="mqtts://HOST:PORT of the MQTT server. Default: what the local pipeline of "
            "--data-dir listens on.",
        ),
        click.option(
            "--certs-dir",
            type=directory,
            help="Device certificates: <dir>/<device_id>.crt and .key, as "
            "`iot-pipeline devices add` writes them (DATA_DIR/mqtt/devices).",
        ),
        click.option(
            "--ca",
            type=click.Path(dir_okay=False, exists=True, path_type=Path),
            help="CA certificate the server's certificate is signed by. Default: ca.crt in "
            "--certs-dir or its parent.",
        ),
        click.option(
            "--data-dir",
            type=directory,
            help="The local pipeline's data dir: certificates for the fleet are issued (or "
            "reused) with `iot-pipeline devices add --reuse`, and the endpoint read from it.",
        ),
    ]
    for option in reversed(options):
        with_mqtt = option(with_mqtt)
    return with_mqtt
