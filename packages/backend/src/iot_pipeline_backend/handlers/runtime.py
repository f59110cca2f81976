"""The adapters the handlers use: built once per process from :class:`Settings`.

A Lambda container builds them on its first invocation and keeps them (clients and
connections are reused). The local runtime may hand in its own instance with
:func:`use_adapters` so the HTTP gateway and the queue poller share one database handle.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

from iot_pipeline_backend.settings import Settings

if TYPE_CHECKING:
    from iot_pipeline_backend.adapters import Adapters

_lock = threading.Lock()
_current: Adapters | None = None


def build_adapters(settings: Settings) -> Adapters:
    """The adapter set ``settings.backend`` names (boto3 is imported only for ``aws``)."""
    if settings.backend == "aws":
        from iot_pipeline_backend.adapters.aws import AwsAdapters

        return AwsAdapters.from_settings(settings)
    from iot_pipeline_backend.adapters.local import LocalAdapters

    return LocalAdapters.open(settings.data_dir)


def current_adapters() -> Adapters:
    """This process's adapters, built from the environment on first use."""
    global _current
    adapters = _current
    if adapters is None:
        with _lock:
            if _current is None:
                _current = build_adapters(Settings.from_env())
            adapters = _current
    return adapters


def use_adapters(adapters: Adapters | None) -> Adapters | None:
    """Install ``adapters`` (``None`` = rebuild from the environment next time).

    Returns the previous set; the caller owns it (and closes it when it is done).
    """
    global _current
    with _lock:
        previous, _current = _current, adapters
    return previous


if "AWS_LAMBDA_FUNCTION_NAME" in os.environ:
    # In Lambda, fail the INIT phase with a SettingsError naming the variable, instead of
    # failing every invocation later; adapters themselves are still built on first use.
    Settings.from_env()
