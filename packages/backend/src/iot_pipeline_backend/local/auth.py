"""SigV4 verification of AWS_IAM methods, answering with API Gateway's own 403 messages.

Canonicalisation comes from :mod:`iot_pipeline_common.sigv4` (shared with the SDK's signer),
so this module only decides *what* to check and in which order:

1. an ``Authorization`` header is present (else ``Missing Authentication Token``) and well
   formed, with an ``X-Amz-Date``;
2. the credential scope: service ``execute-api``, this runtime's region, terminator
   ``aws4_request``, date equal to the ``X-Amz-Date`` day;
3. ``host`` and ``x-amz-date`` are signed;
4. the access key is the configured one; a session token, if sent, is signed and matches;
5. the clock skew is within ±5 minutes;
6. ``x-amz-content-sha256``, if sent, is the body's hash;
7. the signature matches, compared in constant time. The query string is canonicalised as
   sent first, then decoded and re-encoded, since some signers sign decoded parameters.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from iot_pipeline_common import sigv4
from iot_pipeline_common.errors import ErrorCode

from iot_pipeline_backend.errors import BackendError

MISSING_AUTH_MESSAGE = "Missing Authentication Token"
INVALID_TOKEN_MESSAGE = "The security token included in the request is invalid."  # noqa: S105
SIGNATURE_MISMATCH_MESSAGE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)
INCOMPLETE_SIGNATURE_MESSAGE = (
    "Authorization header requires 'Credential' parameter. "
    "Authorization header requires 'Signature' parameter. "
    "Authorization header requires 'SignedHeaders' parameter. "
    "Authorization header must use the AWS4-HMAC-SHA256 algorithm."
)
MISSING_DATE_MESSAGE = (
    "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
)
_SKEW = timedelta(seconds=sigv4.MAX_CLOCK_SKEW_SECONDS)


class AuthenticationError(BackendError):
    """A request the gateway refuses before any handler runs (always a 403)."""

    status_code = 403

    def __init__(self, message: str, *, code: ErrorCode) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True, slots=True)
class VerifiedCaller:
    """Who signed a request that passed verification."""

    access_key: str


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """What the verifier needs of a request, exactly as it arrived on the wire."""

    method: str
    raw_path: str
    raw_query: str
    headers: Sequence[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        """The first value of a header (case-insensitive), or ``None``."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class SigV4Verifier:
    """Verifies requests signed for ``execute-api`` in ``region`` with one key pair."""

    def __init__(
        self,
        *,
        access_key: str,
        secret_key: str,
        region: str,
        session_token: str | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._access_key = access_key
        self._secret_key = secret_key
        self._region = region
        self._session_token = session_token
        self._clock = clock

    def __repr__(self) -> str:
        return f"SigV4Verifier(access_key={self._access_key!r}, region={self._region!r})"

    def verify(self, request: SignedRequest) -> VerifiedCaller:
        """Return the caller, or raise :class:`AuthenticationError` with API Gateway's message."""
        authorization = request.header("authorization")
        if authorization is None or not authorization.strip():
            raise AuthenticationError(MISSING_AUTH_MESSAGE, code=ErrorCode.MISSING_AUTH)
        parsed = sigv4.parse_authorization(authorization)
        if parsed is None:
            raise AuthenticationError(
                INCOMPLETE_SIGNATURE_MESSAGE, code=ErrorCode.INVALID_SIGNATURE
            )
        amz_date = request.header("x-amz-date")
        if amz_date is None:
            raise AuthenticationError(MISSING_DATE_MESSAGE, code=ErrorCode.INVALID_SIGNATURE)
        signed_at = _parse_amz_date(amz_date)
        self._check_scope(parsed, amz_date)
        for required, shown in (("host", "'Host' or ':authority'"), ("x-amz-date", "'X-Amz-Date'")):
            if required not in parsed.signed_headers:
                raise AuthenticationError(
                    f"{shown} must be a 'SignedHeader' in the AWS Authorization.",
                    code=ErrorCode.INVALID_SIGNATURE,
                )
        self._check_identity(parsed, request)
        self._check_clock(signed_at)
        body_hash = sigv4.payload_hash(request.body)
        claimed_hash = request.header("x-amz-content-sha256")
        if claimed_hash is not None and claimed_hash.strip().lower() != body_hash:
            raise AuthenticationError(
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
                code=ErrorCode.INVALID_SIGNATURE,
            )
        key = sigv4.signing_key(self._secret_key, parsed.date_stamp, parsed.region)
        headers = sigv4.canonical_headers(request.headers, parsed.signed_headers)
        uri = sigv4.canonical_uri(request.raw_path)
        queries = [sigv4.canonical_query_string(request.raw_query)]
        renormalized = sigv4.renormalized_query_string(request.raw_query)
        if renormalized != queries[0]:
            queries.append(renormalized)
        for query in queries:
            creq = sigv4.canonical_request(
                method=request.method,
                uri=uri,
                query=query,
                headers=headers,
                signed_headers=parsed.signed_headers,
                payload_hash=body_hash,
            )
            expected = sigv4.signature(
                key,
                sigv4.string_to_sign(
                    amz_date=amz_date, scope=parsed.scope, canonical_request_text=creq
                ),
            )
            if hmac.compare_digest(expected, parsed.signature):
                return VerifiedCaller(access_key=parsed.access_key)
        raise AuthenticationError(SIGNATURE_MISMATCH_MESSAGE, code=ErrorCode.INVALID_SIGNATURE)

    def _check_scope(self, parsed: sigv4.ParsedAuthorization, amz_date: str) -> None:
        if parsed.date_stamp != amz_date[:8]:
            raise AuthenticationError(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of "
                f"date from HTTP: '{parsed.date_stamp}' != '{amz_date[:8]}', "
                f"from '{amz_date}'.",
                code=ErrorCode.INVALID_SIGNATURE,
            )
        if parsed.region != self._region:
            raise AuthenticationError(
                f"Credential should be scoped to a valid region, not '{parsed.region}'. ",
                code=ErrorCode.INVALID_SIGNATURE,
            )
        if parsed.service != sigv4.SERVICE:
            raise AuthenticationError(
                f"Credential should be scoped to correct service: '{sigv4.SERVICE}'. ",
                code=ErrorCode.INVALID_SIGNATURE,
            )
        if parsed.terminator != sigv4.TERMINATOR:
            raise AuthenticationError(
                "Credential should be scoped with a valid terminator: "
                f"'{sigv4.TERMINATOR}', not '{parsed.terminator}'. ",
                code=ErrorCode.INVALID_SIGNATURE,
            )

    def _check_identity(self, parsed: sigv4.ParsedAuthorization, request: SignedRequest) -> None:
        if not hmac.compare_digest(parsed.access_key.encode(), self._access_key.encode()):
            raise AuthenticationError(INVALID_TOKEN_MESSAGE, code=ErrorCode.UNRECOGNIZED_CLIENT)
        token = request.header("x-amz-security-token")
        if token is None and self._session_token is None:
            return
        if (
            token is None
            or self._session_token is None
            or "x-amz-security-token" not in parsed.signed_headers
            or not hmac.compare_digest(token.strip().encode(), self._session_token.encode())
        ):
            raise AuthenticationError(INVALID_TOKEN_MESSAGE, code=ErrorCode.UNRECOGNIZED_CLIENT)

    def _check_clock(self, signed_at: datetime) -> None:
        now = self._clock()
        if now - _SKEW <= signed_at <= now + _SKEW:
            return
        # Formatted only for the refusal: three strftime calls cost more than the check.
        shown_now = now.strftime(sigv4.AMZ_DATE_FORMAT)
        shown_at = signed_at.strftime(sigv4.AMZ_DATE_FORMAT)
        if signed_at < now - _SKEW:
            earliest = (now - _SKEW).strftime(sigv4.AMZ_DATE_FORMAT)
            raise AuthenticationError(
                f"Signature expired: {shown_at} is now earlier than {earliest} "
                f"({shown_now} - 5 min.)",
                code=ErrorCode.REQUEST_EXPIRED,
            )
        if signed_at > now + _SKEW:
            latest = (now + _SKEW).strftime(sigv4.AMZ_DATE_FORMAT)
            raise AuthenticationError(
                f"Signature not yet current: {shown_at} is still later than {latest} "
                f"({shown_now} + 5 min.)",
                code=ErrorCode.REQUEST_EXPIRED,
            )


#: ``sigv4.AMZ_DATE_FORMAT`` as a pattern: ``strptime`` costs more than the rest of the
#: check of a request's date, and it also takes single-digit fields the format does not.
_AMZ_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z")


def _parse_amz_date(value: str) -> datetime:
    try:
        match = _AMZ_DATE.fullmatch(value.strip())
        if match is None:
            raise ValueError(value)
        year, month, day, hour, minute, second = (int(part) for part in match.groups())
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        raise AuthenticationError(
            f"X-Amz-Date must be in the ISO-8601 basic format yyyyMMdd'T'HHmmss'Z', "
            f"got '{value[:32]}'.",
            code=ErrorCode.INVALID_SIGNATURE,
        ) from None
