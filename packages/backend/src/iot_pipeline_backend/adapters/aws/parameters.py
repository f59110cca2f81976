"""Config JSON and the token key from SSM Parameter Store, through Powertools (cached).

A value read once is kept as the *last good* one: when SSM cannot be read later (throttled
past botocore's retries, an outage), a warm container goes on with it for up to
:data:`LAST_GOOD_MAX_AGE` seconds and logs a warning, instead of failing every request and
batch for a parameter that has not changed. A cold container, or one whose last good value is
older than that, fails as before (StoreUnavailableError). An *invalid* document is never
covered: it is refused at once, naming the key.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
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
#: Seconds a value read from SSM may still be used while SSM cannot be read.
LAST_GOOD_MAX_AGE = 900
#: Seconds between attempts to read SSM again while it is failing (the last good value
#: answers meanwhile).
RETRY_SSM_AFTER = 10

Clock = Callable[[], float]
_log = logging.getLogger(__name__)


def _get(provider: SSMProvider, name: str, *, decrypt: bool, max_age: int) -> str:
    try:
        value = provider.get(name, max_age=max_age, decrypt=decrypt)
    except GetParameterError as exc:
        raise StoreUnavailableError(f"cannot read SSM parameter {name}") from exc
    if not isinstance(value, str):
        raise StoreUnavailableError(f"SSM parameter {name} is not a string")
    return value


class _LastGood:
    """One parameter's value with when it was last read from SSM (or Powertools' cache)."""

    def __init__(self, *, clock: Clock) -> None:
        self._clock = clock
        self._value: str | None = None
        self._read_at = 0.0
        # While SSM is failing it is asked again only after this (clock time): each attempt
        # costs botocore's retries, which every request would otherwise wait through.
        self._retry_at = 0.0

    def get(self, read: Callable[[], str]) -> str:
        now = self._clock()
        last = self._value if now - self._read_at <= LAST_GOOD_MAX_AGE else None
        if last is not None and now < self._retry_at:
            return last
        try:
            value = read()
        except StoreUnavailableError as exc:
            if last is None:
                raise
            self._retry_at = now + RETRY_SSM_AFTER
            # The value itself is never logged: the token key's parameter is a secret.
            _log.warning(
                "%s (%s); using the value read %.0f s ago, asking again in %.0f s",
                exc,
                exc.__cause__,
                now - self._read_at,
                RETRY_SSM_AFTER,
            )
            return last
        # Timed after the read: a read that waited through retries is as fresh as its end.
        self._value, self._read_at, self._retry_at = value, self._clock(), 0.0
        return value


class SsmConfigSource:
    """``/iot-pipeline/{env}/config``: a String parameter holding the config JSON."""

    def __init__(
        self, client: SSMClient, parameter_name: str, *, clock: Clock = time.monotonic
    ) -> None:
        self._provider = SSMProvider(boto3_client=client)
        self._name = parameter_name
        self._lock = threading.Lock()
        self._parsed: tuple[str, PipelineConfig] | None = None
        self._last_good = _LastGood(clock=clock)

    def load_config(self) -> PipelineConfig:
        """The validated config; raises ConfigError naming a bad key."""
        text = self._last_good.get(
            lambda: _get(self._provider, self._name, decrypt=False, max_age=CONFIG_MAX_AGE)
        )
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

    def __init__(
        self, client: SSMClient, parameter_name: str | None, *, clock: Clock = time.monotonic
    ) -> None:
        self._provider = SSMProvider(boto3_client=client)
        self._name = parameter_name
        self._last_good = _LastGood(clock=clock)

    def token_key(self) -> bytes:
        """SHA-256 of the decrypted secret, domain-separated from any other use of it."""
        if not self._name:
            raise SettingsError("API_KEY_PARAMETER_NAME is not set; query pagination needs it")
        name = self._name
        secret = self._last_good.get(
            lambda: _get(self._provider, name, decrypt=True, max_age=TOKEN_KEY_MAX_AGE)
        )
        return hashlib.sha256(b"iot-pipeline next_token\x00" + secret.encode()).digest()
