"""SSM Parameter Store unreadable after a warm start: the last good value carries on, bounded.

The parameters live in moto; the fault is raised at botocore's call boundary of the adapters'
own SSM client, so Powertools' provider and the adapter run unchanged.
"""

from __future__ import annotations

import logging

import pytest
from iot_pipeline_backend.adapters.aws import parameters
from iot_pipeline_backend.adapters.aws.parameters import SsmConfigSource, SsmTokenKey
from iot_pipeline_backend.errors import StoreUnavailableError
from iot_pipeline_backend.handlers import ingestion

from ..handlers.conftest import api_event  # noqa: TID252
from .conftest import Harness


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def no_parameter_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every read goes to SSM (in Lambda Powertools caches it for a minute), so the fault hits.
    monkeypatch.setattr(parameters, "CONFIG_MAX_AGE", 0)
    monkeypatch.setattr(parameters, "TOKEN_KEY_MAX_AGE", 0)


def test_given_a_config_read_once_when_ssm_fails_then_it_is_used_until_too_old(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    settings = harness.stack.settings
    clock = Clock()
    source = SsmConfigSource(
        harness.adapters.clients["ssm"], settings.config_parameter_name or "", clock=clock
    )
    good = source.load_config()
    fault = harness.inject("ssm", "GetParameter", "persistent")
    # WHEN SSM cannot be read a little later
    clock.now += parameters.LAST_GOOD_MAX_AGE - 1 - parameters.RETRY_SSM_AFTER
    with caplog.at_level(logging.WARNING, logger=parameters.__name__):
        # THEN the last good config is served, and the log says so (naming the parameter)
        assert source.load_config() == good
    assert fault.calls >= 1
    assert settings.config_parameter_name in caplog.text
    assert "InternalServerError" in caplog.text
    # AND SSM is not asked again (nor its retries waited through) until the retry interval
    calls = fault.calls
    assert [source.load_config() for _ in range(20)] == [good] * 20
    assert fault.calls == calls
    clock.now += parameters.RETRY_SSM_AFTER
    assert source.load_config() == good
    assert fault.calls > calls
    # AND once it is older than the bound, the failure is the caller's again
    clock.now += 2
    with pytest.raises(StoreUnavailableError):
        source.load_config()


def test_given_a_cold_container_when_ssm_fails_then_nothing_is_made_up(harness: Harness) -> None:
    settings = harness.stack.settings
    source = SsmConfigSource(harness.adapters.clients["ssm"], settings.config_parameter_name or "")
    harness.inject("ssm", "GetParameter", "persistent")
    with pytest.raises(StoreUnavailableError):
        source.load_config()


def test_given_a_token_key_read_once_when_ssm_fails_then_the_same_key_is_used_and_not_logged(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    settings = harness.stack.settings
    clock = Clock()
    tokens = SsmTokenKey(
        harness.adapters.clients["ssm"], settings.api_key_parameter_name, clock=clock
    )
    key = tokens.token_key()
    secret = harness.aws.client("ssm").get_parameter(
        Name=settings.api_key_parameter_name or "", WithDecryption=True
    )["Parameter"]["Value"]
    harness.inject("ssm", "GetParameter", "throttled")
    with caplog.at_level(logging.WARNING, logger=parameters.__name__):
        assert tokens.token_key() == key
    assert "ThrottlingException" in caplog.text
    assert secret not in caplog.text
    clock.now += parameters.LAST_GOOD_MAX_AGE + 1
    with pytest.raises(StoreUnavailableError):
        tokens.token_key()


def test_given_a_warm_ingestion_container_when_ssm_fails_then_readings_are_still_accepted(
    harness: Harness,
) -> None:
    reading = {"device_id": "dev-s", "sensor_data": {"temperature": 21.0}}
    first = ingestion.lambda_handler(api_event("POST", "/ingest", body=reading), None)
    assert first["statusCode"] == 200
    harness.inject("ssm", "GetParameter", "persistent")
    # WHEN the next request finds SSM unreadable
    second = ingestion.lambda_handler(api_event("POST", "/ingest", body=reading), None)
    # THEN it is stored with the config of a moment ago instead of answering 503
    assert second["statusCode"] == 200
    assert len(harness.raw_items()) == 2
