"""Logger, Tracer and Metrics for the handlers, with defaults that work outside Lambda.

Powertools reads these variables when a Logger, Metrics or Tracer is created (and when
metrics are flushed), so the defaults below are set before any of them exists. Outside
Lambda (tests, the local runtime) tracing is off, so no X-Ray daemon is needed, and metrics
are off, so EMF lines do not flood the console; set the variables explicitly to override.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

SERVICE = "iot-pipeline"
METRICS_NAMESPACE = "IoTPipeline"

os.environ.setdefault("POWERTOOLS_SERVICE_NAME", SERVICE)
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", METRICS_NAMESPACE)
if "AWS_LAMBDA_FUNCTION_NAME" not in os.environ:
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")

from aws_lambda_powertools import Logger, Metrics  # noqa: E402
from aws_lambda_powertools.metrics import MetricUnit  # noqa: E402
from aws_lambda_powertools.metrics.functions import is_metrics_disabled  # noqa: E402
from aws_lambda_powertools.shared.functions import resolve_truthy_env_var_choice  # noqa: E402

from iot_pipeline_backend import deadline  # noqa: E402
from iot_pipeline_backend.settings import (  # noqa: E402
    DEFAULT_ENVIRONMENT,
    ENV_ENVIRONMENT,
)

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE)
#: Every metric also carries the deployment's environment suffix (the stack sets
#: ``IOT_PIPELINE_ENV``), so one deployment's alarms never count another's failures in the
#: same account and region.
ENVIRONMENT_DIMENSION = "environment"
metrics.set_default_dimensions(
    **{ENVIRONMENT_DIMENSION: os.environ.get(ENV_ENVIRONMENT, DEFAULT_ENVIRONMENT)}
)

__all__ = ["count", "lambda_entry", "logger", "metrics", "tracer"]


def count(name: str, value: int) -> None:
    """Add to an EMF count metric (flushed when the invocation ends).

    Skipped when metrics are disabled: Powertools would otherwise keep collecting values
    that are never flushed, and print them once a hundred have piled up.
    """
    if not is_metrics_disabled():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


_tracer: list[Tracer] = []
_tracer_lock = threading.Lock()


def tracer() -> Tracer:
    """The process's Tracer, created on first use.

    Creating a Tracer imports the X-Ray SDK and with it botocore; deferring that to the
    first invocation keeps the handler modules' cold import lean.
    """
    if not _tracer:
        with _tracer_lock:
            if not _tracer:
                from aws_lambda_powertools import Tracer

                _tracer.append(Tracer(service=SERVICE))
    return _tracer[0]


def tracing_disabled() -> bool:
    """Whether tracing is off: known from ``POWERTOOLS_TRACE_DISABLED`` (set outside Lambda,
    so in the local runtime) without building a Tracer, whose X-Ray SDK and botocore
    imports cost a local process's first request ~0.6 s; else the Tracer decides."""
    if resolve_truthy_env_var_choice(env=os.getenv("POWERTOOLS_TRACE_DISABLED", "false")):
        return True
    return bool(tracer().disabled)


Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def lambda_entry(func: Handler) -> Handler:
    """Wrap a handler: request id in every log line, a trace segment, metrics flushed,
    and retries bounded by the time the invocation has left.

    ``context`` may be ``None`` or a minimal object when a test or the local runtime
    calls the handler, so only attributes that exist are read.
    """

    @functools.wraps(func)
    def with_request_id(event: dict[str, Any], context: Any) -> dict[str, Any]:
        request_id = getattr(context, "aws_request_id", None)
        if request_id:
            # Thread-local keys: the local runtime runs several invocations at once.
            logger.thread_safe_append_keys(request_id=request_id)
        try:
            # Retries never outlive the invocation (nor an API request's 29 s).
            with deadline.invocation(context, api_request="Records" not in event):
                return func(event, context)
        finally:
            logger.thread_safe_remove_keys(["request_id"])

    built: list[tuple[Handler, Handler]] = []

    @functools.wraps(func)
    def entry(event: dict[str, Any], context: Any) -> dict[str, Any]:
        if not built:
            # Disabled (outside Lambda by default), capture_lambda_handler would still open
            # a no-op subsegment and annotate it on every invocation.
            traced: Handler = (
                with_request_id
                if tracing_disabled()
                else tracer().capture_lambda_handler(with_request_id)
            )
            built.append((traced, metrics.log_metrics(traced)))
        traced_only, with_metrics = built[0]
        return (traced_only if is_metrics_disabled() else with_metrics)(event, context)

    return entry
