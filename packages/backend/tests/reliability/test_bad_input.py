"""Bad input over real HTTP with real signatures: every hostile body the issue lists, then
generated ones (hypothesis). Whatever arrives, the answer is never a 5xx, a refusal is a clear
JSON 4xx, and a refused request stores nothing.

The pipeline is shared by the module; "stores nothing" is checked by counting the rows of the
raw table in its SQLite file before and after each refused request.
"""

from __future__ import annotations

import json
import math
import string
from typing import Any

import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from iot_pipeline_backend.local.testing import RunningPipeline
from iot_pipeline_common import limits

from .conftest import JSON_HEADERS, assert_error_body, store_counts

VALID = {"device_id": "bad-input-ok", "sensor_data": {"temperature": 21.5, "humidity": 40}}


def _post(
    session: requests.Session,
    pipeline: RunningPipeline,
    body: bytes,
    *,
    path: str = "/ingest",
    headers: dict[str, str] | None = None,
) -> requests.Response:
    return session.post(
        pipeline.endpoint + path,
        data=body,
        headers=JSON_HEADERS if headers is None else headers,
        timeout=30,
    )


def _refused_and_nothing_stored(
    session: requests.Session,
    pipeline: RunningPipeline,
    body: bytes,
    *,
    status: int = 400,
    path: str = "/ingest",
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    before = store_counts(pipeline.data_dir).raw
    response = _post(session, pipeline, body, path=path, headers=headers)
    assert response.status_code == status, response.text[:500]
    error = assert_error_body(response)
    assert store_counts(pipeline.data_dir).raw == before, "a refused request stored something"
    return error


# -- the hostile bodies the issue names -----------------------------------------------------


def test_given_a_body_over_256_kib_then_413_and_nothing_stored(
    shared_pipeline: RunningPipeline, session: requests.Session
) -> None:
    # GIVEN a valid-looking batch padded just past the limit
    padding = "x" * (limits.MAX_BODY_BYTES + 1)
    body = json.dumps({"device_id": "big", "sensor_data": {"t": 1}, "pad": padding}).encode()
    # WHEN posted THEN 413 payload_too_large
    error = _refused_and_nothing_stored(session, shared_pipeline, body, status=413)
    assert error["error"] == "payload_too_large"


def test_given_a_chunked_body_over_the_limit_without_content_length_then_413(
    shared_pipeline: RunningPipeline,
) -> None:
    # GIVEN a body streamed in chunks, so the gateway only learns its size while reading
    body = b"[" + b"1," * (limits.MAX_BODY_BYTES // 2) + b"1]"
    url = shared_pipeline.endpoint + "/ingest"
    signed = AWSRequest(method="POST", url=url, data=body, headers=dict(JSON_HEADERS))
    SigV4Auth(
        Credentials(shared_pipeline.access_key, shared_pipeline.secret_key),
        "execute-api",
        shared_pipeline.region,
    ).add_auth(signed)
    chunks = (body[i : i + 65_536] for i in range(0, len(body), 65_536))
    before = store_counts(shared_pipeline.data_dir).raw
    # WHEN sent with Transfer-Encoding: chunked
    response = requests.post(url, data=chunks, headers=dict(signed.headers), timeout=30)
    # THEN 413, nothing stored
    assert response.status_code == 413, response.text
    assert assert_error_body(response)["error"] == "payload_too_large"
    assert store_counts(shared_pipeline.data_dir).raw == before


def test_given_deeply_nested_json_then_400_not_a_crash(
    shared_pipeline: RunningPipeline, session: requests.Session
) -> None:
    for body in (
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 20_000 + b"1" + b"}" * 20_000,
        json.dumps({"device_id": "deep", "sensor_data": {"t": 1}}).encode()[:-1]
        + b', "x": '
        + b"[" * 10_000
        + b"]" * 10_000
        + b"}",
    ):
        _refused_and_nothing_stored(session, shared_pipeline, body)


def test_given_huge_json_within_the_size_limit_then_400_naming_the_problem(
    shared_pipeline: RunningPipeline, session: requests.Session
) -> None:
    # GIVEN 15,000 sensor fields (the contract allows 50), just under 256 KiB
    fields = ",".join(f'"f{i}": {i}' for i in range(15_000))
    body = b'{"device_id": "wide", "sensor_data": {' + fields.encode() + b"}}"
    assert len(body) <= limits.MAX_BODY_BYTES
    error = _refused_and_nothing_stored(session, shared_pipeline, body)
    assert error["details"][0]["field"] == "sensor_data"
    # AND a batch of 501 readings (the contract allows 500)
    batch = json.dumps({"readings": [VALID] * (limits.BATCH_MAX_READINGS + 1)}).encode()
    error = _refused_and_nothing_stored(session, shared_pipeline, batch)
    assert error["details"][0]["field"] == "readings"


def test_given_a_body_that_is_not_utf8_then_400_not_500(
    shared_pipeline: RunningPipeline, session: requests.Session
) -> None:
    # GIVEN JSON with a Latin-1 byte in a string, and bytes that are not text at all
    for body in (
        b'{"device_id": "caf\xe9", "sensor_data": {"temperature": 21.5}}',
        b"\xff\xfe\x00\x01\x80",
        "{}".encode("utf-16"),
    ):
        error = _refused_and_nothing_stored(session, shared_pipeline, body)
        # THEN the message says what is wrong with the body
        assert "UTF-8" in error["message"] or "JSON" in error["message"], error
        _refused_and_nothing_stored(session, shared_pipeline, body, path="/process")


def test_given_a_wrong_content_type_then_no_5xx_and_a_non_json_body_is_refused(
    shared_pipeline: RunningPipeline, session: requests.Session
) -> None:
    # GIVEN bodies that are not JSON, declared as form data, plain text, XML or binary
    for content_type, body in (
        ("application/x-www-form-urlencoded", b"device_id=d&sensor_data=1"),
        ("text/plain", b"device d temperature 21.5"),
        ("application/xml", b"<reading><device_id>d</device_id></reading>"),
        ("application/octet-stream", bytes(range(256))),
    ):
        _refused_and_nothing_stored(
            session, shared_pipeline, body, headers={"Content-Type": content_type}
        )
    # AND the contract's JSON under another content type: API Gateway's proxy integration
    # passes any content type through, and so does the local gateway; it is read as JSON.
    before = store_counts(shared_pipeline.data_dir).raw
    response = _post(
        session, shared_pipeline, json.dumps(VALID).encode(), headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 200, response.text
    assert store_counts(shared_pipeline.data_dir).raw == before + 1


def test_given_nan_infinity_and_huge_numbers_then_400_naming_the_field(
    shared_pipeline: RunningPipeline, session: requests.Session
) -> None:
    cases: dict[bytes, str] = {
        b'{"device_id": "n", "sensor_data": {"temperature": NaN}}': "sensor_data.temperature",
        b'{"device_id": "n", "sensor_data": {"x": Infinity}}': "sensor_data.x",
        b'{"device_id": "n", "sensor_data": {"x": -Infinity}}': "sensor_data.x",
        b'{"device_id": "n", "sensor_data": {"x": 1e400}}': "sensor_data.x",
        b'{"device_id": "n", "sensor_data": {"x": 1e16}}': "sensor_data.x",
        b'{"device_id": "n", "sensor_data": {"x": 1}, "timestamp": 18446744073709551616}': (
            "timestamp"
        ),
        b'{"device_id": "n", "sensor_data": {"x": 1}, "seq": 9223372036854775808}': "seq",
        b'{"device_id": "n", "sensor_data": {"x": 1}, "timestamp": NaN}': "timestamp",
        b'{"device_id": "n", "sensor_data": {"x": 1}, "timestamp": 1.5}': "timestamp",
        b'{"device_id": "n", "sensor_data": {"pressure": 1e300}}': "sensor_data.pressure",
    }
    for body, field in cases.items():
        error = _refused_and_nothing_stored(session, shared_pipeline, body)
        assert [d["field"] for d in error["details"]] == [field], (body, error)
    # AND a number with thousands of digits is refused by the parser itself
    digits = b"9" * 5_000
    for body in (
        b'{"device_id": "n", "sensor_data": {"x": ' + digits + b"}}",
        b'{"device_id": "n", "sensor_data": {"x": 1}, "timestamp": ' + digits + b"}",
    ):
        _refused_and_nothing_stored(session, shared_pipeline, body)


def test_given_epoch_seconds_or_pre_2000_timestamp_then_400_saying_milliseconds(
    shared_pipeline: RunningPipeline, session: requests.Session
) -> None:
    # GIVEN a device that sends time.time() as is (seconds), or an unset clock (1970)
    for timestamp, hint in ((1705314600, "looks like epoch seconds"), (0, "2000-01-01")):
        body = json.dumps(dict(VALID, timestamp=timestamp)).encode()
        # THEN 400 naming `timestamp`, saying milliseconds, and nothing is stored
        error = _refused_and_nothing_stored(session, shared_pipeline, body)
        assert [d["field"] for d in error["details"]] == ["timestamp"]
        assert "milliseconds" in error["details"][0]["message"]
        assert hint in error["message"]


def test_given_one_bad_reading_in_a_batch_then_400_naming_its_index_and_nothing_stored(
    shared_pipeline: RunningPipeline, session: requests.Session
) -> None:
    readings = [dict(VALID, reading_id=f"batch-{n}") for n in range(10)]
    readings[7] = {"device_id": "bad", "sensor_data": {"humidity": 140}}
    error = _refused_and_nothing_stored(
        session, shared_pipeline, json.dumps({"readings": readings}).encode()
    )
    assert [d["field"] for d in error["details"]] == ["readings[7].sensor_data.humidity"]


def test_given_bad_query_strings_then_400_never_500(
    shared_pipeline: RunningPipeline, session: requests.Session
) -> None:
    for query in (
        "",
        "device_id=",
        "device_id=d&limit=abc",
        "device_id=d&limit=1e3",
        "device_id=d&limit=99999999999999999999999999999",
        "device_id=d&start=-1",
        "device_id=d&start=10&end=5",
        "device_id=d&event_date=2024-02-30",
        "device_id=d&event_date=2024-01-01&start=1",
        "device_id=d&table=secret",
        "device_id=d&order=sideways",
        "device_id=d&next_token=abc.def",
        "device_id=d&next_token=" + "A" * (limits.NEXT_TOKEN_MAX_LENGTH + 1),
        "device_id=%ff%fe",
        "device_id=%00",
        "device_id=d&unknown=1",
        "device_id=" + "d" * 10_000,
    ):
        response = session.get(f"{shared_pipeline.endpoint}/query?{query}", timeout=30)
        assert response.status_code == 400, (query, response.text[:300])
        assert_error_body(response)


# -- generated bodies -----------------------------------------------------------------------

_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

_numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -0.0, 1e15, 1e15 + 1, -1e16, 2**63, 2**64, 1e308]),
)
_scalars = st.one_of(
    st.none(), st.booleans(), _numbers, st.text(max_size=40), st.binary(max_size=8).map(repr)
)
_json = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=25,
)
_identifiers = st.one_of(
    st.text(alphabet=string.ascii_letters + string.digits + "._:-", min_size=1, max_size=130),
    st.text(max_size=20),
    _scalars,
)
_sensor_names = st.one_of(
    st.sampled_from(["temperature", "humidity", "pressure"]),
    st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,70}", fullmatch=True),
    st.text(max_size=10),
)
_readings = st.fixed_dictionaries(
    {
        "device_id": _identifiers,
        "sensor_data": st.one_of(
            st.dictionaries(_sensor_names, st.one_of(_numbers, _scalars), max_size=6), _json
        ),
    },
    optional={
        "timestamp": st.one_of(_numbers, _scalars),
        "reading_id": _identifiers,
        "seq": st.one_of(_numbers, _scalars),
        "colour": _json,
    },
)
_bodies = st.one_of(
    _readings,
    st.fixed_dictionaries({"readings": st.lists(_readings, max_size=4)}),
    st.fixed_dictionaries({"readings": _json}),
    _json,
)


def _encode(value: Any) -> bytes:
    # allow_nan: NaN and Infinity go out as the bare literals a careless client would send.
    return json.dumps(value, allow_nan=True).encode()


def _expected_new_readings(body: Any) -> int:
    if isinstance(body, dict) and "readings" in body:
        return len(body["readings"])
    return 1


def _check_generated(
    session: requests.Session, pipeline: RunningPipeline, body: bytes, *, path: str
) -> int:
    before = store_counts(pipeline.data_dir).raw
    response = _post(session, pipeline, body, path=path)
    assert response.status_code < 500, (body[:300], response.status_code, response.text[:300])
    after = store_counts(pipeline.data_dir).raw
    if response.status_code >= 400:
        assert_error_body(response)
        assert after == before, ("a refused request stored something", body[:300])
    return response.status_code


def test_given_generated_ingest_bodies_then_never_5xx_and_refusals_store_nothing(
    shared_pipeline: RunningPipeline, session: requests.Session
) -> None:
    statuses: list[int] = []

    @_SETTINGS
    @given(body=_bodies)
    def check(body: Any) -> None:
        status = _check_generated(session, shared_pipeline, _encode(body), path="/ingest")
        statuses.append(status)
        if status == 200:
            # An accepted body was valid by the contract: check it against the model.
            assert _expected_new_readings(body) >= 1

    check()
    assert len(statuses) >= 150
    assert any(s == 400 for s in statuses)


def test_given_generated_process_bodies_then_never_5xx(
    shared_pipeline: RunningPipeline, session: requests.Session
) -> None:
    statuses: list[int] = []
    process_bodies = st.one_of(
        st.fixed_dictionaries(
            {"device_id": _identifiers},
            optional={
                "event_date": st.one_of(st.dates().map(str), st.text(max_size=12), _scalars),
                "start": st.one_of(_numbers, _scalars),
                "end": st.one_of(_numbers, _scalars),
                "extra": _json,
            },
        ),
        _json,
    )

    @_SETTINGS
    @given(body=process_bodies)
    def check(body: Any) -> None:
        statuses.append(_check_generated(session, shared_pipeline, _encode(body), path="/process"))

    check()
    assert len(statuses) >= 150


def test_given_generated_raw_bytes_then_never_5xx(
    shared_pipeline: RunningPipeline, session: requests.Session
) -> None:
    statuses: list[int] = []

    @_SETTINGS
    @given(body=st.binary(max_size=300), path=st.sampled_from(["/ingest", "/process"]))
    def check(body: bytes, path: str) -> None:
        statuses.append(_check_generated(session, shared_pipeline, body, path=path))

    check()
    assert len(statuses) >= 150


def test_given_generated_query_strings_then_never_5xx(
    shared_pipeline: RunningPipeline, session: requests.Session
) -> None:
    statuses: list[int] = []
    values = st.one_of(
        st.text(max_size=30),
        st.integers(min_value=-(2**70), max_value=2**70).map(str),
        st.floats().map(str),
        st.dates().map(str),
        st.sampled_from(["raw", "processed", "asc", "desc", "", "null"]),
    )
    names = st.one_of(
        st.sampled_from(
            ["device_id", "event_date", "start", "end", "table", "limit", "order", "next_token"]
        ),
        st.text(max_size=10),
    )

    # Explicit examples keep the "reached the handler" check below from depending on
    # whether random generation happened to produce a valid query.
    @_SETTINGS
    @example(params=[("device_id", "d1")])
    @example(params=[("device_id", "d1"), ("table", "raw"), ("limit", "5"), ("order", "desc")])
    @given(params=st.lists(st.tuples(names, values), max_size=6))
    def check(params: list[tuple[str, str]]) -> None:
        response = session.get(shared_pipeline.endpoint + "/query", params=params, timeout=30)
        statuses.append(response.status_code)
        assert response.status_code < 500, (params, response.text[:300])
        if response.status_code >= 400:
            assert_error_body(response)
        else:
            page = response.json()
            assert set(page) == {"count", "items", "next_token"}
            assert page["count"] == len(page["items"])
            assert all(math.isfinite(item["timestamp"]) for item in page["items"])

    check()
    assert len(statuses) >= 150
    assert any(s == 200 for s in statuses), "no generated query ever reached the handler"
