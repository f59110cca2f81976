"""The SDK's SigV4 signatures are botocore's, byte for byte, on random requests."""

from __future__ import annotations

import calendar
import datetime as dt
import string
from unittest import mock

import httpx
from botocore.auth import SigV4Auth as BotocoreSigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from iot_pipeline_sdk import SigV4Auth
from iot_pipeline_sdk._auth import TRANSPORT_HEADERS, sign_headers

ACCESS, SECRET = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

methods = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "get"])
# Path segments mix unreserved, reserved, percent-escapes and dot segments.
segments = st.one_of(
    st.text(alphabet=string.ascii_letters + string.digits + "-._~", min_size=1, max_size=8),
    st.sampled_from([".", "..", "", "%20", "%2F", "a%7Eb", "%C3%A9", "@", ":", "!$&'()*+,;="]),
)
paths = st.lists(segments, max_size=6).map(lambda parts: "/" + "/".join(parts))
query_chars = string.ascii_letters + string.digits + "-._~%"
query_pairs = st.lists(
    st.tuples(
        st.text(alphabet=query_chars.replace("%", ""), min_size=1, max_size=6),
        st.text(alphabet=query_chars.replace("%", "") + "%2C%20", max_size=8),
    ),
    max_size=5,
)
# Header names exclude what the signer itself sets or what makes botocore use ``Date``.
header_names = st.one_of(
    st.text(alphabet=string.ascii_lowercase + "-", min_size=1, max_size=10),
    st.sampled_from(
        ["Content-Type", "X-Custom", "user-agent", "Connection", "expect", "traceparent", "TE"]
    ),
).filter(
    lambda n: (
        n.lower() not in {"date", "authorization", "x-amz-date", "x-amz-security-token", "host"}
    )
)
header_values = st.text(alphabet=string.ascii_letters + string.digits + " \t,;=/-", max_size=20)
headers_strategy = st.lists(st.tuples(header_names, header_values), max_size=6)
bodies = st.binary(max_size=300)
unicode = st.characters(exclude_categories=("Cs",))
tokens = st.one_of(st.none(), st.text(alphabet=string.ascii_letters + "/+=", min_size=1))
moments = st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2099, 12, 31))
hosts = st.sampled_from(
    ["127.0.0.1:8000", "localhost", "abc123.execute-api.eu-west-1.amazonaws.com", "h:443"]
)


def botocore_headers(
    *,
    method: str,
    url: str,
    headers: list[tuple[str, str]],
    body: bytes,
    token: str | None,
    region: str,
    moment: dt.datetime,
) -> dict[str, str]:
    request = AWSRequest(method=method, url=url, data=body)
    for name, value in headers:
        request.headers[name] = value  # HTTPHeaders keeps repeated names
    with mock.patch("botocore.auth.get_current_datetime", return_value=moment):
        BotocoreSigV4Auth(Credentials(ACCESS, SECRET, token), "execute-api", region).add_auth(
            request
        )
    return {k.lower(): str(v) for k, v in request.headers.items()}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    method=methods,
    host=hosts,
    path=paths,
    query=query_pairs,
    headers=headers_strategy,
    body=bodies,
    token=tokens,
    moment=moments,
)
def test_given_random_request_when_signed_then_headers_equal_botocores(
    method: str,
    host: str,
    path: str,
    query: list[tuple[str, str]],
    headers: list[tuple[str, str]],
    body: bytes,
    token: str | None,
    moment: dt.datetime,
) -> None:
    # GIVEN a request botocore signs from its URL (host header derived from it)
    raw_query = "&".join(f"{k}={v}" for k, v in query)
    url = f"https://{host}{path}" + (f"?{raw_query}" if raw_query else "")
    expected = botocore_headers(
        method=method,
        url=url,
        headers=headers,
        body=body,
        token=token,
        region="eu-west-1",
        moment=moment,
    )
    host_header = host.removesuffix(":443")
    # WHEN the SDK's pure signer signs the same parts
    ours = sign_headers(
        method=method,
        raw_path=path,
        raw_query=raw_query,
        headers=[("Host", host_header), *headers],
        body=body,
        access_key=ACCESS,
        secret_key=SECRET,
        token=token,
        region="eu-west-1",
        amz_date=moment.strftime("%Y%m%dT%H%M%SZ"),
    )
    # THEN every header it adds is the one botocore adds
    assert ours["authorization"] == expected["authorization"]
    assert ours["x-amz-date"] == expected["x-amz-date"]
    assert ours.get("x-amz-security-token") == expected.get("x-amz-security-token")


@settings(max_examples=150, deadline=None)
@given(
    method=methods,
    path=paths,
    params=st.lists(
        st.tuples(st.text(unicode, min_size=1, max_size=6), st.text(unicode, max_size=8)),
        max_size=4,
    ),
    headers=st.dictionaries(header_names, header_values, max_size=4),
    body=bodies,
    token=tokens,
    moment=moments,
)
def test_given_httpx_request_when_auth_flow_runs_then_signature_equals_botocores(
    method: str,
    path: str,
    params: list[tuple[str, str]],
    headers: dict[str, str],
    body: bytes,
    token: str | None,
    moment: dt.datetime,
) -> None:
    # GIVEN an httpx request as httpx encodes it (any unicode in the query)
    request = httpx.Request(
        method,
        httpx.URL("http://127.0.0.1:8000/prod" + path, params=params),
        headers=headers,
        content=body,
    )
    auth = SigV4Auth(
        credentials=Credentials(ACCESS, SECRET, token),
        region="us-east-1",
        clock=lambda: float(calendar.timegm(moment.timetuple())),
    )
    # WHEN the auth flow signs it
    signed = next(auth.auth_flow(request))
    # THEN botocore, given the same URL, body and the headers the SDK signs, agrees
    sent_headers = [
        (name, value)
        for name, value in request.headers.multi_items()
        if name
        not in TRANSPORT_HEADERS | {"authorization", "x-amz-date", "x-amz-security-token", "host"}
    ]
    expected = botocore_headers(
        method=method,
        url=str(request.url),
        headers=sent_headers,
        body=body,
        token=token,
        region="us-east-1",
        moment=moment,
    )
    assert signed.headers["authorization"] == expected["authorization"]
    assert signed.headers["x-amz-date"] == expected["x-amz-date"]


def test_given_refreshable_credentials_when_keys_rotate_then_each_request_uses_current_keys() -> (
    None
):
    # GIVEN a credential source whose keys change between two requests
    keys = iter([("AK1", "S1", None), ("AK2", "S2", "tok")])

    class Rotating:
        def get_frozen_credentials(self) -> Credentials:
            return Credentials(*next(keys))

    auth = SigV4Auth(credentials=Rotating(), region="us-east-1", clock=lambda: 1_700_000_000.0)
    # WHEN two requests are signed
    first = next(auth.auth_flow(httpx.Request("GET", "http://h/prod/query")))
    second = next(auth.auth_flow(httpx.Request("GET", "http://h/prod/query")))
    # THEN each carries the keys current at its signing time
    assert "Credential=AK1/20231114/" in first.headers["authorization"]
    assert "x-amz-security-token" not in first.headers
    assert "Credential=AK2/20231114/" in second.headers["authorization"]
    assert second.headers["x-amz-security-token"] == "tok"
