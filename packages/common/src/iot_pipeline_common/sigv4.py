"""SigV4 canonicalisation, shared by the SDK's signer and the local gateway's verifier.

Pure functions, no I/O, so the signer and the verifier cannot drift apart. The rules follow
botocore's ``SigV4Auth`` (the reference every AWS SDK agrees with) for service
``execute-api``: the URL path is normalised (dot segments and repeated slashes removed) and
percent-encoded once more; the query string is taken as sent, split into pairs and sorted;
header values are trimmed with inner whitespace folded; the payload is SHA-256 hashed.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote, unquote

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "execute-api"
TERMINATOR = "aws4_request"
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
#: Headers botocore never signs (its ``SIGNED_HEADERS_BLACKLIST``): hop-by-hop and tracing
#: headers that proxies and clients may change in transit.
UNSIGNED_HEADERS = frozenset(
    {
        "baggage",
        "connection",
        "expect",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "traceparent",
        "tracestate",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "x-amzn-trace-id",
    }
)
#: API Gateway's default tolerance between the signer's clock and its own.
MAX_CLOCK_SKEW_SECONDS = 300


def remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4, plus AWS's removal of repeated slashes."""
    if not path:
        return ""
    segments: list[str] = []
    for part in path.split("/"):
        if not part or part == ".":
            continue
        if part == "..":
            if segments:
                segments.pop()
        else:
            segments.append(part)
    first = "/" if path.startswith("/") else ""
    last = "/" if path.endswith("/") and segments else ""
    return first + "/".join(segments) + last


def canonical_uri(raw_path: str) -> str:
    """The canonical URI of a path *as sent on the wire* (already percent-encoded)."""
    return quote(remove_dot_segments(raw_path) or "/", safe="/~")


def canonical_query_string(raw_query: str) -> str:
    """The canonical query of a raw (percent-encoded) query string, pairs sorted."""
    if not raw_query:
        return ""
    pairs = [pair.partition("=") for pair in raw_query.split("&")]
    return "&".join(f"{key}={value}" for key, _, value in sorted((k, s, v) for k, s, v in pairs))


def encode_query_component(value: str) -> str:
    """RFC 3986 encoding used for canonical queries: only ``A-Za-z0-9-_.~`` stay literal."""
    return quote(value, safe="-_.~")


def encode_query(params: Iterable[tuple[str, str]]) -> str:
    """A query string whose raw form is already canonical (safe to send and to sign)."""
    return "&".join(
        f"{encode_query_component(key)}={encode_query_component(value)}" for key, value in params
    )


def renormalized_query_string(raw_query: str) -> str:
    """Decode then re-encode every pair (RFC 3986) before sorting.

    A verifier tries this when :func:`canonical_query_string` does not match, because a
    client that signs the *decoded* parameters (as many SDKs do) sends the same request
    with a different raw encoding (``+`` or unescaped ``,`` for instance).
    """
    if not raw_query:
        return ""
    pairs = []
    for pair in raw_query.split("&"):
        key, _, value = pair.partition("=")
        pairs.append(
            (
                encode_query_component(unquote(key.replace("+", " "))),
                encode_query_component(unquote(value.replace("+", " "))),
            )
        )
    return "&".join(f"{key}={value}" for key, value in sorted(pairs))


def fold_header_value(value: str) -> str:
    """Trim and collapse inner whitespace, as SigV4 requires."""
    return " ".join(value.split())


def canonical_headers(headers: Iterable[tuple[str, str]], signed_headers: Sequence[str]) -> str:
    """``name:value`` lines (values of repeated headers joined with ``,``), sorted by name.

    ``headers`` may repeat names; only names in ``signed_headers`` (lower case) are used.
    """
    wanted = set(signed_headers)
    values: dict[str, list[str]] = {}
    for name, value in headers:
        lname = name.lower()
        if lname in wanted:
            values.setdefault(lname, []).append(fold_header_value(value))
    return "\n".join(f"{name}:{','.join(values.get(name, []))}" for name in sorted(wanted))


def canonical_request(
    *,
    method: str,
    uri: str,
    query: str,
    headers: str,
    signed_headers: Sequence[str],
    payload_hash: str,
) -> str:
    """Join the canonical parts; ``headers`` is the output of :func:`canonical_headers`."""
    return "\n".join(
        [method.upper(), uri, query, headers + "\n", ";".join(sorted(signed_headers)), payload_hash]
    )


def credential_scope(date_stamp: str, region: str, service: str = SERVICE) -> str:
    """``20240115/us-east-1/execute-api/aws4_request``."""
    return f"{date_stamp}/{region}/{service}/{TERMINATOR}"


def string_to_sign(*, amz_date: str, scope: str, canonical_request_text: str) -> str:
    """The string the signature covers."""
    digest = hashlib.sha256(canonical_request_text.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}"


@lru_cache(maxsize=128)
def signing_key(secret_key: str, date_stamp: str, region: str, service: str = SERVICE) -> bytes:
    """The derived key; cached because it changes only once a day per credential."""
    k_date = hmac.digest(f"AWS4{secret_key}".encode(), date_stamp.encode(), "sha256")
    k_region = hmac.digest(k_date, region.encode(), "sha256")
    k_service = hmac.digest(k_region, service.encode(), "sha256")
    return hmac.digest(k_service, TERMINATOR.encode(), "sha256")


def signature(key: bytes, string_to_sign_text: str) -> str:
    """Hex HMAC-SHA256 of the string to sign."""
    return hmac.new(key, string_to_sign_text.encode("utf-8"), hashlib.sha256).hexdigest()


def payload_hash(body: bytes) -> str:
    """Hex SHA-256 of the body."""
    return hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256


def authorization_header(
    *, access_key: str, scope: str, signed_headers: Sequence[str], signature_hex: str
) -> str:
    """The ``Authorization`` header value."""
    return (
        f"{ALGORITHM} Credential={access_key}/{scope}, "
        f"SignedHeaders={';'.join(sorted(signed_headers))}, Signature={signature_hex}"
    )


@dataclass(frozen=True, slots=True)
class ParsedAuthorization:
    """The parts of an ``Authorization: AWS4-HMAC-SHA256 ...`` header."""

    access_key: str
    date_stamp: str
    region: str
    service: str
    terminator: str
    signed_headers: tuple[str, ...]
    signature: str

    @property
    def scope(self) -> str:
        return f"{self.date_stamp}/{self.region}/{self.service}/{self.terminator}"


_AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256\s+"
    r"Credential=(?P<credential>[^,\s]+)\s*,\s*"
    r"SignedHeaders=(?P<signed>[^,\s]+)\s*,\s*"
    r"Signature=(?P<signature>[0-9a-f]{64})\s*$"
)


def parse_authorization(value: str) -> ParsedAuthorization | None:
    """Parse an Authorization header; ``None`` when it is not a well-formed SigV4 header."""
    match = _AUTH_RE.match(value.strip())
    if match is None:
        return None
    parts = match["credential"].split("/")
    if len(parts) != 5 or not all(parts):
        return None
    access_key, date_stamp, region, service, terminator = parts
    signed = tuple(match["signed"].split(";"))
    if not all(signed) or list(signed) != sorted(signed):
        return None
    return ParsedAuthorization(
        access_key=access_key,
        date_stamp=date_stamp,
        region=region,
        service=service,
        terminator=terminator,
        signed_headers=signed,
        signature=match["signature"],
    )


def signed_header_names(headers: Mapping[str, str] | Iterable[str]) -> list[str]:
    """Lower-case names a signer signs: every header but :data:`UNSIGNED_HEADERS`, sorted."""
    names = headers.keys() if isinstance(headers, Mapping) else headers
    return sorted({n.lower() for n in names} - UNSIGNED_HEADERS)
