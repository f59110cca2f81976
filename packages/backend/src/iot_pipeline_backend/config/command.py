"""``iot-pipeline config check FILE``: validate a pipeline config before it goes live.

The same validation the local runtime applies to ``<data-dir>/config.json`` and the Lambdas
apply to the SSM parameter, so a file that passes here is accepted there.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from iot_pipeline_backend.adapters.local.files import read_config_file
from iot_pipeline_backend.errors import ConfigError

#: Exit code of a config that does not validate (as for a refused start of the runtime).
EXIT_INVALID = 2


@click.group("config")
def config() -> None:
    """Check the pipeline config (config.json locally, the SSM parameter on AWS)."""


@config.command("check")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--show/--no-show",
    default=False,
    show_default=True,
    help="Print the config in force (defaults filled in) as JSON when it is valid.",
)
def check(file: Path, show: bool) -> None:
    """Validate FILE as a pipeline config: exit 0 when valid, 2 naming each bad key.

    Unknown keys are errors (a typo must not silently fall back to a default), as are
    values out of range, e.g. `batch_size: must be at least 1`.
    """
    try:
        parsed = read_config_file(file)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_INVALID) from None
    click.echo(f"{file}: valid")
    if show:
        click.echo(json.dumps(parsed.model_dump(mode="json"), indent=2, sort_keys=True))
