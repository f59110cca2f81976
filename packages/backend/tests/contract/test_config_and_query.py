"""Config sources, token keys and paginated queries: the same behaviour on every backend."""

from __future__ import annotations

import json

import pytest
from iot_pipeline_backend.adapters.aws import parameters
from iot_pipeline_backend.adapters.local import files
from iot_pipeline_backend.domain.query import query_readings
from iot_pipeline_backend.errors import ConfigError, InvalidNextTokenError
from iot_pipeline_backend.ports import Alert
from iot_pipeline_common import keys
from iot_pipeline_common.models import PipelineConfig, QueryParams, RawItem

from .conftest import Backend

T0 = 1_705_314_600_000


@pytest.fixture(autouse=True)
def no_parameter_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    # Config changes must be visible at once in these tests (in Lambda they are cached 60 s).
    monkeypatch.setattr(parameters, "CONFIG_MAX_AGE", 0)


def test_given_a_valid_config_then_it_is_loaded(backend: Backend) -> None:
    backend.write_config(json.dumps({"batch_size": 25, "error_threshold": 2}))

    config = backend.config.load_config()

    assert config.batch_size == 25
    assert config.error_threshold == 2
    assert config.ranges == PipelineConfig().ranges


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('{"batch_sise": 5}', "batch_sise"),
        ('{"batch_size": "ten"}', "batch_size"),
        ('{"ranges": {"temperature": {"min": 50, "max": 10}}}', "ranges.temperature"),
    ],
)
def test_given_an_invalid_config_then_config_error_names_the_key(
    backend: Backend, text: str, named: str
) -> None:
    backend.write_config(text)

    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        backend.config.load_config()


def test_given_the_token_key_then_it_is_stable_and_long_enough(backend: Backend) -> None:
    first = backend.token_key.token_key()

    assert len(first) >= files.TOKEN_KEY_BYTES
    assert backend.token_key.token_key() == first


def test_given_an_alert_then_publishing_succeeds(backend: Backend) -> None:
    backend.alerts.publish_alert(
        Alert(subject="test alert \u2013 subject", message="hello", kind="alert_rule")
    )


def _store(backend: Backend, count: int) -> None:
    backend.raw.store_raw_readings(
        [
            RawItem(
                device_id="dev-q",
                event_date=keys.event_date_of(T0 + i),
                timestamp=T0 + i,
                reading_id=f"r-{i:03d}",
                sensor_data={"temperature": 20 + i / 10},
                ingested_at=keys.iso_utc(T0),
            )
            for i in range(count)
        ]
    )


def _query(backend: Backend, **params: object) -> tuple[list[str], str | None]:
    page = query_readings(
        QueryParams.model_validate({"device_id": "dev-q", "table": "raw", **params}),
        raw_store=backend.raw,
        processed_store=backend.processed,
        token_key=backend.token_key,
    )
    return [item.reading_id for item in page.items], page.next_token


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_given_pages_when_following_next_token_then_every_reading_comes_once_in_order(
    backend: Backend, order: str
) -> None:
    _store(backend, 7)
    seen: list[str] = []
    token: str | None = None
    for _ in range(10):
        ids, token = _query(backend, limit="3", order=order, next_token=token)
        seen += ids
        if token is None:
            break

    expected = [f"r-{i:03d}" for i in range(7)]
    assert seen == (expected if order == "asc" else expected[::-1])


def test_given_a_tampered_token_then_it_is_rejected(backend: Backend) -> None:
    _store(backend, 3)
    _, token = _query(backend, limit="1")
    assert token is not None
    payload, mac = token.split(".")
    forged = json.dumps({"last_sk": "9999999999999#z"}).encode().hex()
    # Change a character in the middle of the MAC: the last characters of unpadded base64
    # may carry ignored bits, and an edit there could leave the decoded MAC unchanged.
    middle = len(mac) // 2
    flipped = "B" if mac[middle] == "A" else "A"
    bad_mac = f"{payload}.{mac[:middle]}{flipped}{mac[middle + 1 :]}"

    for bad in (bad_mac, f"{payload}.", forged, "not-a-token", f"{mac}.{payload}"):
        with pytest.raises(InvalidNextTokenError):
            _query(backend, limit="1", next_token=bad)


def test_given_a_token_of_another_query_then_it_is_rejected(backend: Backend) -> None:
    _store(backend, 3)
    _, token = _query(backend, limit="1")

    with pytest.raises(InvalidNextTokenError, match="different query"):
        _query(backend, limit="1", order="desc", next_token=token)
