"""The environment the Lambda handlers read, set by the local runtime as the stack sets it.

The handlers build their adapters from the same variables a deployed function gets
(:mod:`iot_pipeline_backend.settings`); the runtime points them at its data directory, or,
with ``--backend aws``, leaves the AWS names the caller exported in place.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from iot_pipeline_backend import settings

#: ``local``: SQLite in the data directory. ``aws``: the AWS adapters, configured like a
#: Lambda function by the environment (table, queue, topic, parameter names; credentials;
#: ``AWS_ENDPOINT_URL`` for an emulator), with the poller receiving from the SQS queue.
Backend = Literal["local", "aws"]


def point_handlers_at(
    data_dir: Path, *, region: str, backend: Backend = "local"
) -> dict[str, str | None]:
    """Set the environment the handlers read (the same variables the CDK stack sets).

    Returns the previous values, for :func:`restore_environment`.
    """
    wanted = {
        settings.ENV_BACKEND: backend,
        settings.ENV_DATA_DIR: str(data_dir),
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION") or region,
    }
    previous = {name: os.environ.get(name) for name in wanted}
    os.environ.update(wanted)
    return previous


def restore_environment(previous: dict[str, str | None]) -> None:
    """Undo :func:`point_handlers_at` (an embedding process gets its environment back)."""
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
