"""Config JSON and the token key from SSM Parameter Store, through Powertools (cached)."""

from __future__ import annotations

import hashlib
import threading
from typing import TYPE_CHECKING

import pydantic
from aws_lambda_powertools.utilities.parameters import SSMProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from iot_pipeline_common.models import PipelineConfig

from iot_pipeline_backend.adapters.local.files import config_error
from iot_pipeline_backend.errors import SettingsError, StoreUnavailableError

if TYPE_CHECKING:
    from mypy_boto3_ssm.client import SSMClient

#: Seconds a parameter value is reused before SSM is asked again.
CONFIG_MAX_AGE = 60
TOKEN_KEY_MAX_AGE = 300


def _get(provider: SSMProvider, name: str, *, decrypt: bool, max_age: int) -> str:
    try:
        value = provider.get(name, max_age=max_age, decrypt=decrypt)
    except GetParameterError as exc:
        raise StoreUnavailableError(f"cannot read SSM parameter {name}") from exc
    if not isinstance(value, str):
        raise StoreUnavailableError(f"SSM parameter {name} is not a string")
    return value


class SsmConfigSource:
    """``/iot-pipeline/{env}/config``: a String parameter holding the config JSON."""

    def __init__(self, client: SSMClient, parameter_name: str) -> None:
        self._provider = SSMProvider(boto3_client=client)
        self._name = parameter_name
        self._lock = threading.Lock()
        self._parsed: tuple[str, PipelineConfig] | None = None

    def load_config(self) -> PipelineConfig:
        """The validated config; raises ConfigError naming a bad key."""
        text = _get(self._provider, self._name, decrypt=False, max_age=CONFIG_MAX_AGE)
        with self._lock:
            if self._parsed is not None and self._parsed[0] == text:
                return self._parsed[1]
            try:
                config = PipelineConfig.from_json_text(text)
            except pydantic.ValidationError as exc:
                raise config_error(exc, source=f"SSM parameter {self._name}") from None
            self._parsed = (text, config)
            return config


class SsmTokenKey:
    """The ``next_token`` key, derived from the SecureString api-key parameter."""

    def __init__(self, client: SSMClient, parameter_name: str | None) -> None:
        self._provider = SSMProvider(boto3_client=client)
        self._name = parameter_name

    def token_key(self) -> bytes:
        """SHA-256 of the decrypted secret, domain-separated from any other use of it."""
        if not self._name:
            raise SettingsError("API_KEY_PARAMETER_NAME is not set; query pagination needs it")
        secret = _get(self._provider, self._name, decrypt=True, max_age=TOKEN_KEY_MAX_AGE)
        return hashlib.sha256(b"iot-pipeline next_token\x00" + secret.encode()).digest()
