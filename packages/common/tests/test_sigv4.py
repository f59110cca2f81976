"""Canonicalisation agrees with botocore's SigV4Auth on representative requests.

(The SDK's property tests compare whole signatures on random requests.)
"""

from __future__ import annotations

import datetime as dt
from unittest import mock

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from iot_pipeline_common import sigv4

ACCESS, SECRET = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
FROZEN = dt.datetime(2024, 1, 15, 10, 30, 0)


def botocore_authorization(method: str, url: str, body: bytes, headers: dict[str, str]) -> str:
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
    with mock.patch("botocore.auth.get_current_datetime", return_value=FROZEN):
        SigV4Auth(Credentials(ACCESS, SECRET), "execute-api", "us-east-1").add_auth(request)
    return str(request.headers["Authorization"])


def ours(method: str, url: str, body: bytes, headers: dict[str, str]) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    amz_date = FROZEN.strftime(sigv4.AMZ_DATE_FORMAT)
    all_headers = {**headers, "host": parts.netloc, "x-amz-date": amz_date}
    signed = sigv4.signed_header_names(all_headers)
    creq = sigv4.canonical_request(
        method=method,
        uri=sigv4.canonical_uri(parts.path),
        query=sigv4.canonical_query_string(parts.query),
        headers=sigv4.canonical_headers(all_headers.items(), signed),
        signed_headers=signed,
        payload_hash=sigv4.payload_hash(body),
    )
    scope = sigv4.credential_scope(amz_date[:8], "us-east-1")
    sts = sigv4.string_to_sign(amz_date=amz_date, scope=scope, canonical_request_text=creq)
    sig = sigv4.signature(sigv4.signing_key(SECRET, amz_date[:8], "us-east-1"), sts)
    return sigv4.authorization_header(
        access_key=ACCESS, scope=scope, signed_headers=signed, signature_hex=sig
    )


@pytest.mark.parametrize(
    ("method", "url", "body", "headers"),
    [
        ("POST", "http://127.0.0.1:8000/prod/ingest", b'{"device_id":"d"}', {}),
        (
            "GET",
            "https://abc.execute-api.us-east-1.amazonaws.com/prod/query?device_id=d1&limit=5&event_date=2024-01-15",
            b"",
            {"Content-Type": "application/json"},
        ),
        ("GET", "http://localhost:8000/prod/a/../query?b=2&a=1&a=0", b"", {"X-Custom": "  a   b "}),
        ("POST", "http://h/prod/ingest%20x//y/", b"\x00\xff", {"user-agent": "not signed"}),
    ],
)
def test_given_request_then_authorization_matches_botocore(
    method: str, url: str, body: bytes, headers: dict[str, str]
) -> None:
    assert ours(method, url, body, headers) == botocore_authorization(method, url, body, headers)


def test_given_authorization_header_then_parsed_and_malformed_rejected() -> None:
    header = ours("POST", "http://h/prod/ingest", b"{}", {})
    parsed = sigv4.parse_authorization(header)
    assert parsed is not None
    assert (parsed.access_key, parsed.date_stamp, parsed.region, parsed.service) == (
        ACCESS,
        "20240115",
        "us-east-1",
        "execute-api",
    )
    assert parsed.signed_headers == ("host", "x-amz-date")
    assert parsed.scope == "20240115/us-east-1/execute-api/aws4_request"
    for bad in ["", "Bearer x", header.replace("Signature=", "Sig="), header[:-1] + "Z"]:
        assert sigv4.parse_authorization(bad) is None


def test_given_encoded_query_variants_then_renormalized_form_is_rfc3986() -> None:
    assert sigv4.renormalized_query_string("b=a+b&a=x%2cy") == "a=x%2Cy&b=a%20b"
    assert sigv4.encode_query([("k", "a b/,")]) == "k=a%20b%2F%2C"
    assert sigv4.canonical_query_string("") == ""
