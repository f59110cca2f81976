"""``iot-pipeline``: run the pipeline locally, inspect it, and estimate its AWS cost.

Each subcommand lives beside the code it drives; this module only assembles them, importing
each lazily so ``iot-pipeline --help`` stays fast.
"""

from __future__ import annotations

import importlib

import click

#: (module, attribute) of every subcommand; add a line here for a new one.
COMMANDS: list[tuple[str, str]] = [
    ("iot_pipeline_backend.config.command", "config"),
    ("iot_pipeline_backend.cost.command", "cost"),
    ("iot_pipeline_backend.dlq.command", "dlq"),
    ("iot_pipeline_backend.mqtt.command", "devices"),
    ("iot_pipeline_backend.local.commands", "local"),
    ("iot_pipeline_backend.local.commands", "demo"),
]


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(attr.replace("_", "-") for _, attr in COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        for module, attr in COMMANDS:
            if attr.replace("_", "-") == cmd_name:
                command = getattr(importlib.import_module(module), attr)
                assert isinstance(command, click.Command)
                return command
        return None


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="iot-pipeline-backend")
def main() -> None:
    """iot-pipeline: a serverless IoT data pipeline on AWS, and the same pipeline locally.

    Start with `iot-pipeline local` (the whole pipeline on this machine, no AWS account),
    or `iot-pipeline demo` to see it ingest, process and query simulated devices.
    """
