"""Typed settings of one deployment, read once from CDK context and validated."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from iot_pipeline_common import PipelineConfig

from iot_pipeline_backend.errors import SettingsError
from iot_pipeline_backend.infra import constants
from iot_pipeline_backend.infra.constants import ResourceNames

# Lowercase so the suffix is valid in every resource name it goes into (tables, queues,
# functions, SSM paths, log groups), and short so the longest name stays within limits.
_SUFFIX = re.compile(r"^[a-z0-9][a-z0-9-]{0,19}$")

BundleMode = Literal["real", "stub"]

_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


def default_pipeline_config() -> PipelineConfig:
    """The config a deployment without ``config_file`` runs: the model's defaults, 30-day TTL.

    The retention is the one ``iot-pipeline cost`` prices by default, so a default
    deployment costs what the cost model says.
    """
    return PipelineConfig(retention_days=constants.DEFAULT_RETENTION_DAYS)


@dataclass(frozen=True, kw_only=True)
class DeploymentSettings:
    """What varies between deployments of the stack.

    ``bundle="stub"`` swaps the Lambda code and layer for tiny placeholders; it exists only
    so assertion tests on the template need not copy the real bundle each time.
    ``reserved_concurrency`` is reserved for each of the three functions (``0``: none, the
    functions share the account's unreserved pool). ``apigw_cloudwatch_role`` creates the
    account-wide role API Gateway writes execution logs with (a one-time prerequisite per
    account and region, see docs/deploy.md).
    """

    environment_suffix: str = constants.DEFAULT_ENVIRONMENT_SUFFIX
    pipeline_config: PipelineConfig = field(default_factory=default_pipeline_config)
    bundle: BundleMode = "real"
    retain_data: bool = True
    reserved_concurrency: int = constants.RESERVED_CONCURRENCY
    apigw_cloudwatch_role: bool = False

    def __post_init__(self) -> None:
        if not _SUFFIX.fullmatch(self.environment_suffix):
            raise SettingsError(
                f"{constants.CONTEXT_ENVIRONMENT_SUFFIX}: {self.environment_suffix!r} must be 1-20 "
                "characters of a-z, 0-9 and '-', starting with a letter or digit"
            )
        if self.reserved_concurrency != 0 and not (
            constants.MIN_RESERVED_CONCURRENCY <= self.reserved_concurrency <= 1000
        ):
            raise SettingsError(
                f"{constants.CONTEXT_RESERVED_CONCURRENCY}: {self.reserved_concurrency} must be 0 "
                f"(unreserved) or {constants.MIN_RESERVED_CONCURRENCY}-1000: the queue's event "
                "source mapping needs a maximum concurrency of at least 2 within it"
            )
        config = self.pipeline_config
        # Lambda refuses an SQS event source mapping with a batch over 10 and no batching
        # window: https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html
        # Refused here rather than a window chosen silently: the window is added latency.
        if config.batch_size > constants.SQS_BATCH_WITHOUT_WINDOW_MAX and (
            config.batching_window_seconds < 1
        ):
            raise SettingsError(
                f"{constants.CONTEXT_CONFIG_FILE}: batching_window_seconds must be at least 1 "
                f"when batch_size is over {constants.SQS_BATCH_WITHOUT_WINDOW_MAX} (batch_size "
                f"is {config.batch_size}; Lambda's SQS event source mapping requires it)"
            )

    @property
    def queue_visibility_timeout_seconds(self) -> int:
        """Six times the processor's timeout plus the batching window (Lambda's advice).

        The headroom lets the event source mapping retry a batch whose invocation was
        throttled before the messages reappear and count a receive towards the DLQ:
        https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html
        """
        config = self.pipeline_config
        return 6 * config.processing_timeout + config.batching_window_seconds

    @property
    def queue_max_concurrency(self) -> int:
        """Concurrent processor invocations the queue may start (``MaximumConcurrency``).

        Below the processor's reserved concurrency, so the mapping never invokes into a
        throttle (throttled batches return to the queue and count a receive), with a tenth
        kept for ``POST /process``, which runs on the same function.
        """
        reserved = self.reserved_concurrency
        if reserved == 0:
            return constants.UNRESERVED_QUEUE_CONCURRENCY
        return max(constants.MIN_QUEUE_CONCURRENCY, reserved - reserved // 10)

    @property
    def names(self) -> ResourceNames:
        """Every resource name for this suffix."""
        return ResourceNames(suffix=self.environment_suffix)

    @classmethod
    def from_context(cls, get: Callable[[str], object]) -> DeploymentSettings:
        """Build from CDK context (``node.try_get_context``); raises :class:`SettingsError`."""
        suffix = get(constants.CONTEXT_ENVIRONMENT_SUFFIX) or constants.DEFAULT_ENVIRONMENT_SUFFIX
        bundle = get(constants.CONTEXT_BUNDLE) or "real"
        if bundle not in ("real", "stub"):
            raise SettingsError(f"{constants.CONTEXT_BUNDLE}: must be 'real' or 'stub'")
        config = default_pipeline_config()
        config_file = get(constants.CONTEXT_CONFIG_FILE)
        if config_file:
            try:
                config = PipelineConfig.from_json_text(Path(str(config_file)).read_bytes())
            except (OSError, ValueError) as exc:
                raise SettingsError(f"{constants.CONTEXT_CONFIG_FILE}: {exc}") from None
            if "retention_days" not in config.model_fields_set:
                # Absent means the deployment's default; ``"retention_days": null`` keeps
                # readings forever.
                config = config.model_copy(
                    update={"retention_days": constants.DEFAULT_RETENTION_DAYS}
                )
        return cls(
            environment_suffix=str(suffix),
            pipeline_config=config,
            bundle="stub" if bundle == "stub" else "real",
            retain_data=_flag(get, constants.CONTEXT_RETAIN_DATA, default=True),
            reserved_concurrency=_count(
                get, constants.CONTEXT_RESERVED_CONCURRENCY, default=constants.RESERVED_CONCURRENCY
            ),
            apigw_cloudwatch_role=_flag(
                get, constants.CONTEXT_APIGW_CLOUDWATCH_ROLE, default=False
            ),
        )


def _flag(get: Callable[[str], object], key: str, *, default: bool) -> bool:
    value = get(key)
    if value is None:
        return default
    text = str(value).lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise SettingsError(f"{key}: {value!r} must be true or false")


def _count(get: Callable[[str], object], key: str, *, default: int) -> int:
    value = get(key)
    if value is None:
        return default
    try:
        return int(str(value))
    except ValueError:
        raise SettingsError(f"{key}: {value!r} must be a whole number") from None
