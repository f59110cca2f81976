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


@dataclass(frozen=True, kw_only=True)
class DeploymentSettings:
    """What varies between deployments of the stack.

    ``bundle="stub"`` swaps the Lambda code and layer for tiny placeholders; it exists only
    so assertion tests on the template need not copy the real bundle each time.
    """

    environment_suffix: str = constants.DEFAULT_ENVIRONMENT_SUFFIX
    pipeline_config: PipelineConfig = field(default_factory=PipelineConfig)
    bundle: BundleMode = "real"
    retain_data: bool = True

    def __post_init__(self) -> None:
        if not _SUFFIX.fullmatch(self.environment_suffix):
            raise SettingsError(
                f"{constants.CONTEXT_ENVIRONMENT_SUFFIX}: {self.environment_suffix!r} must be 1-20 "
                "characters of a-z, 0-9 and '-', starting with a letter or digit"
            )

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
        config = PipelineConfig()
        config_file = get(constants.CONTEXT_CONFIG_FILE)
        if config_file:
            try:
                config = PipelineConfig.from_json_text(Path(str(config_file)).read_bytes())
            except (OSError, ValueError) as exc:
                raise SettingsError(f"{constants.CONTEXT_CONFIG_FILE}: {exc}") from None
        retain = get(constants.CONTEXT_RETAIN_DATA)
        return cls(
            environment_suffix=str(suffix),
            pipeline_config=config,
            bundle="stub" if bundle == "stub" else "real",
            retain_data=str(retain).lower() not in ("false", "0", "no"),
        )
