"""SigV4 request signing as an ``httpx.Auth``, on ``iot_pipeline_common.sigv4``.

The canonicalisation is the one the local gateway verifies with, and it produces the same
signature as botocore's ``SigV4Auth`` for the same request (a property test holds it to that).
It is faster because the derived signing key is cached per (secret, day, region, service)
and the per-request work is a few string joins and two hashes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from functools import lru_cache
from typing import Protocol

import httpx
from iot_pipeline_common import sigv4

from iot_pipeline_sdk._errors import ConfigurationError

#: Headers the client leaves unsigned on top of SigV4's own list: the transport sets them,
#: and a proxy may rewrite them without changing the request's meaning.
TRANSPORT_HEADERS = frozenset({"accept-encoding", "content-length"})


class FrozenCredentials(Protocol):
    """What signing needs: botocore's ``ReadOnlyCredentials`` has these attributes."""

    @property
    def access_key(self) -> str | None: ...

    @property
    def secret_key(self) -> str | None: ...

    @property
    def token(self) -> str | None: ...


class CredentialSource(Protocol):
    """botocore's ``Credentials`` / ``RefreshableCredentials``: frozen once per request."""

    def get_frozen_credentials(self) -> FrozenCredentials: ...


_canonical_uri = lru_cache(maxsize=512)(sigv4.canonical_uri)


class _AmzDateClock:
    """``X-Amz-Date`` strings, formatted once per second rather than once per request."""

    __slots__ = ("_cached", "_clock")

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        # One tuple, replaced in one assignment: threads sharing a client never see a second
        # paired with another second's text.
        self._cached: tuple[int, str] = (-1, "")

    def now(self) -> str:
        second = int(self._clock())
        cached_second, text = self._cached
        if second != cached_second:
            text = time.strftime(sigv4.AMZ_DATE_FORMAT, time.gmtime(second))
            self._cached = (second, text)
        return text


#: Headers the signer writes; stale copies (a re-sent request) are replaced, never signed.
_SIGNER_HEADERS = frozenset({"authorization", "x-amz-date", "x-amz-security-token"})


def sign_headers(
    *,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: list[tuple[str, str]],
    body: bytes,
    access_key: str,
    secret_key: str,
    token: str | None,
    region: str,
    amz_date: str,
    service: str = sigv4.SERVICE,
) -> dict[str, str]:
    """The headers to add for a SigV4 signature: ``X-Amz-Date``, token, ``Authorization``.

    ``headers`` are the request's headers, ``host`` included (any case, names may repeat);
    the ones SigV4 leaves out (``sigv4.UNSIGNED_HEADERS``) are skipped, and the returned
    date and token headers are signed too.
    """
    added = {"x-amz-date": amz_date}
    if token:
        added["x-amz-security-token"] = token
    values: dict[str, list[str]] = {}
    for name, value in headers:
        lname = name.lower()
        if lname not in sigv4.UNSIGNED_HEADERS:
            values.setdefault(lname, []).append(" ".join(value.split()))
    for name, value in added.items():
        values[name] = [value]
    signed = sorted(values)
    canonical_headers = "\n".join(f"{name}:{','.join(values[name])}" for name in signed)
    signed_headers = ";".join(signed)
    date_stamp = amz_date[:8]
    scope = f"{date_stamp}/{region}/{service}/{sigv4.TERMINATOR}"
    canonical_request = (
        f"{method.upper()}\n{_canonical_uri(raw_path)}\n"
        f"{sigv4.canonical_query_string(raw_query)}\n{canonical_headers}\n\n"
        f"{signed_headers}\n{sigv4.payload_hash(body)}"
    )
    string_to_sign = sigv4.string_to_sign(
        amz_date=amz_date, scope=scope, canonical_request_text=canonical_request
    )
    key = sigv4.signing_key(secret_key, date_stamp, region, service)
    added["authorization"] = (
        f"{sigv4.ALGORITHM} Credential={access_key}/{scope}, "
        f"SignedHeaders={signed_headers}, Signature={sigv4.signature(key, string_to_sign)}"
    )
    return added


class SigV4Auth(httpx.Auth):
    """Sign every request with AWS Signature Version 4 (service ``execute-api``).

    ``credentials`` is botocore's ``Credentials`` (or anything with
    ``get_frozen_credentials()``); refreshable credentials are frozen once per request, so a
    refresh never splits one signature between two keys. ``clock`` returns epoch seconds.
    """

    requires_request_body = True

    def __init__(
        self,
        *,
        credentials: CredentialSource,
        region: str,
        service: str = sigv4.SERVICE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.credentials = credentials
        self.region = region
        self.service = service
        self._amz_date = _AmzDateClock(clock)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Add the signature headers, then send."""
        frozen = self.credentials.get_frozen_credentials()
        if not frozen.access_key or not frozen.secret_key:
            raise ConfigurationError("the AWS credentials have no access key or secret key")
        path, _, query = request.url.raw_path.decode("ascii").partition("?")
        # ``Headers.raw`` is the cheap view (``multi_items`` re-detects the encoding per item);
        # header names are ASCII by HTTP's grammar and values are sent as latin-1 by httpx.
        to_sign: list[tuple[str, str]] = []
        stale: list[str] = []
        for raw_name, raw_value in request.headers.raw:
            name = raw_name.decode("latin-1").lower()
            if name in _SIGNER_HEADERS:
                stale.append(name)
            elif name not in TRANSPORT_HEADERS:
                to_sign.append((name, raw_value.decode("latin-1")))
        for name in stale:
            del request.headers[name]
        added = sign_headers(
            method=request.method,
            raw_path=path,
            raw_query=query,
            headers=to_sign,
            body=request.content,
            access_key=frozen.access_key,
            secret_key=frozen.secret_key,
            token=frozen.token,
            region=self.region,
            amz_date=self._amz_date.now(),
            service=self.service,
        )
        for name, value in added.items():
            request.headers[name] = value
        yield request
