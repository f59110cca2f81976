"""``iot-pipeline devices``: issue, list and revoke the certificates of MQTT devices."""

from __future__ import annotations

import json
from pathlib import Path

import click

from iot_pipeline_backend.mqtt import errors_topic, readings_topic
from iot_pipeline_backend.mqtt.certificates import DeviceAuthority, DeviceIdentityError

#: The same default as ``iot-pipeline local`` (not imported: that would load the server).
DEFAULT_DATA_DIR = Path(".iot-pipeline")
EXIT_REFUSED = 2

_data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_DATA_DIR,
    show_default=True,
    help="The data directory of `iot-pipeline local`; its CA lives in DATA_DIR/mqtt/.",
)


class DeviceCommandError(click.ClickException):
    """A refused ``devices`` command; the message names the device or file."""

    exit_code = EXIT_REFUSED


@click.group("devices")
def devices() -> None:
    """Device identities for MQTT: X.509 certificates signed by the local CA.

    Like AWS IoT Core's "create certificate": each device gets a certificate whose subject
    CN is its thing name, which must be the device_id it publishes. It connects with that
    certificate to `iot-pipeline local` (MQTT over TLS, port 8883 by default), publishes to
    iot-pipeline/<device_id>/readings and may subscribe to iot-pipeline/<device_id>/errors.
    """


@devices.command("add")
@click.argument("names", metavar="NAME...", nargs=-1, required=True)
@_data_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print the paths as JSON, one line a device.")
@click.option(
    "--reuse",
    is_flag=True,
    help="Print the credentials a device already holds instead of refusing (a fleet's setup).",
)
def add(names: tuple[str, ...], data_dir: Path, as_json: bool, reuse: bool) -> None:
    """Issue each device NAME a certificate and private key, and print where they are.

    NAME is the thing name and must be the device_id of every reading it publishes.
    Refused while NAME holds a certificate that is not revoked (unless --reuse). With
    --json each device is one line {"certificate", "private_key", "ca"} (absolute paths).
    """
    authority = DeviceAuthority.open(data_dir.resolve())
    for name in names:
        try:
            credentials = authority.ensure_device(name) if reuse else authority.add_device(name)
        except DeviceIdentityError as exc:
            raise DeviceCommandError(str(exc)) from None
        if as_json:
            click.echo(json.dumps(credentials.as_json()))
            continue
        click.echo(f"device {name} can connect over MQTT with")
        click.echo(f"  certificate  {credentials.certificate}")
        click.echo(f"  private key  {credentials.private_key}")
        click.echo(f"  CA           {credentials.ca}")
        click.echo(f"  publish to   {readings_topic(name)} (QoS 1)")
        click.echo(f"  errors on    {errors_topic(name)}")


@devices.command("list")
@_data_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON array.")
def list_(data_dir: Path, as_json: bool) -> None:
    """Every device that holds a certificate: name, serial, expiry, revoked or not."""
    records = DeviceAuthority.open(data_dir.resolve()).list_devices()
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "name": r.name,
                        "serial": format(r.serial, "x"),
                        "not_after": r.not_after.isoformat(),
                        "revoked": r.revoked,
                    }
                    for r in records
                ]
            )
        )
        return
    if not records:
        click.echo("no devices yet; add one with `iot-pipeline devices add NAME`")
        return
    for r in records:
        state = "revoked" if r.revoked else "active"
        click.echo(f"{r.name}\t{state}\texpires {r.not_after:%Y-%m-%d}\tserial {r.serial:x}")


@devices.command("revoke")
@click.argument("name")
@_data_dir_option
def revoke(name: str, data_dir: Path) -> None:
    """Revoke NAME's certificate: its next connection is refused (running servers too).

    The serial goes into DATA_DIR/mqtt/revoked.crl, which the server reads at every
    connect. Connections already open stay open until they reconnect. `devices add NAME`
    can then issue a fresh certificate.
    """
    try:
        record = DeviceAuthority.open(data_dir.resolve()).revoke(name)
    except DeviceIdentityError as exc:
        raise DeviceCommandError(str(exc)) from None
    click.echo(f"revoked the certificate of {name} (serial {record.serial:x})")
