"""Process settings of the backend, read once from the environment and validated.

The same variables are set by the CDK stack on every Lambda and by ``iot-pipeline local``
before it imports the handlers, so the handlers never know where they run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from iot_pipeline_backend.errors import SettingsError

#: Environment variable names, in one place (the CDK stack imports these too).
ENV_BACKEND = "IOT_PIPELINE_BACKEND"
ENV_ENVIRONMENT = "IOT_PIPELINE_ENV"
#: The environment suffix when ``IOT_PIPELINE_ENV`` is unset (as the CDK app defaults it).
DEFAULT_ENVIRONMENT = "dev"
ENV_DATA_DIR = "IOT_PIPELINE_DATA_DIR"
ENV_RAW_TABLE = "RAW_TABLE_NAME"
ENV_PROCESSED_TABLE = "PROCESSED_TABLE_NAME"
ENV_AGGREGATES_TABLE = "AGGREGATES_TABLE_NAME"
ENV_QUEUE_URL = "QUEUE_URL"
ENV_ALERT_TOPIC_ARN = "ALERT_TOPIC_ARN"
ENV_CONFIG_PARAMETER = "CONFIG_PARAMETER_NAME"
ENV_API_KEY_PARAMETER = "API_KEY_PARAMETER_NAME"


class Settings(BaseModel):
    """Where the handlers read and write. ``backend`` picks the adapter set."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    backend: Literal["aws", "local"] = "local"
    environment: str = DEFAULT_ENVIRONMENT
    data_dir: Path = Path(".iot-pipeline")
    raw_table_name: str | None = None
    processed_table_name: str | None = None
    aggregates_table_name: str | None = None
    queue_url: str | None = None
    alert_topic_arn: str | None = None
    config_parameter_name: str | None = None
    api_key_parameter_name: str | None = None

    @model_validator(mode="after")
    def _aws_needs_names(self) -> Settings:
        if self.backend == "aws":
            missing = [
                env
                for env, value in (
                    (ENV_RAW_TABLE, self.raw_table_name),
                    (ENV_PROCESSED_TABLE, self.processed_table_name),
                    (ENV_AGGREGATES_TABLE, self.aggregates_table_name),
                    (ENV_QUEUE_URL, self.queue_url),
                    (ENV_ALERT_TOPIC_ARN, self.alert_topic_arn),
                    (ENV_CONFIG_PARAMETER, self.config_parameter_name),
                    (ENV_API_KEY_PARAMETER, self.api_key_parameter_name),
                )
                if not value
            ]
            if missing:
                raise ValueError(f"backend 'aws' needs {', '.join(missing)} to be set")
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and validate; raises :class:`SettingsError` naming the bad variable."""
        env = os.environ if environ is None else environ
        raw: dict[str, str] = {}
        for field, name in (
            ("backend", ENV_BACKEND),
            ("environment", ENV_ENVIRONMENT),
            ("data_dir", ENV_DATA_DIR),
            ("raw_table_name", ENV_RAW_TABLE),
            ("processed_table_name", ENV_PROCESSED_TABLE),
            ("aggregates_table_name", ENV_AGGREGATES_TABLE),
            ("queue_url", ENV_QUEUE_URL),
            ("alert_topic_arn", ENV_ALERT_TOPIC_ARN),
            ("config_parameter_name", ENV_CONFIG_PARAMETER),
            ("api_key_parameter_name", ENV_API_KEY_PARAMETER),
        ):
            if env.get(name):
                raw[field] = env[name]
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}"
                for e in exc.errors(include_url=False)
            )
            raise SettingsError(f"invalid backend settings: {problems}") from None
