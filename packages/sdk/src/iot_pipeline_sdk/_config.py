"""Resolve the endpoint, region and credentials a client signs with (no I/O beyond botocore's)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path

import botocore.exceptions
import botocore.session
import httpx

from iot_pipeline_sdk._auth import CredentialSource
from iot_pipeline_sdk._errors import ConfigurationError

#: ``{api-id}.execute-api.{region}.amazonaws.com`` (also VPC endpoint and China hosts).
_EXECUTE_API_HOST = re.compile(
    r"\.execute-api\.(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+)\.(?:vpce\.)?amazonaws\.com(?:\.cn)?$"
)


def normalize_endpoint(endpoint: str) -> httpx.URL:
    """The base URL with its stage and without a trailing slash, e.g. ``.../prod``."""
    try:
        url = httpx.URL(endpoint.rstrip("/"))
    except httpx.InvalidURL as exc:
        raise ConfigurationError(f"endpoint {endpoint!r} is not a valid URL: {exc}") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigurationError(
            f"endpoint {endpoint!r} must be an http(s) URL with a host, "
            "e.g. https://abc123.execute-api.eu-west-1.amazonaws.com/prod"
        )
    if url.query or url.fragment:
        raise ConfigurationError(f"endpoint {endpoint!r} must not carry a query or fragment")
    return url


def region_from_host(host: str) -> str | None:
    """``abc.execute-api.eu-west-1.amazonaws.com`` → ``eu-west-1``; ``None`` for other hosts."""
    match = _EXECUTE_API_HOST.search(host.lower())
    return match["region"] if match else None


def resolve_region(
    *,
    region: str | None,
    endpoint: httpx.URL,
    session: Callable[[], botocore.session.Session],
    environ: Mapping[str, str] | None = None,
) -> str:
    """Explicit ``region``, else the execute-api host's, else the environment, else the profile.

    ``session`` is called only when the profile has to be consulted.
    """
    if region:
        return region
    from_host = region_from_host(endpoint.host)
    if from_host:
        return from_host
    env = os.environ if environ is None else environ
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        if env.get(name):
            return env[name]
    configured = session().get_config_variable("region")
    if isinstance(configured, str) and configured:
        return configured
    raise ConfigurationError(
        f"no region for endpoint {endpoint}: pass region=..., set AWS_REGION, "
        "or set a region in the AWS profile"
    )


def botocore_session(
    *, profile: str | None, credentials_file: str | os.PathLike[str] | None
) -> botocore.session.Session:
    """A botocore session for ``profile`` (its standard credential chain)."""
    try:
        session = botocore.session.Session(profile=profile)
        if credentials_file is not None:
            session.set_config_variable("credentials_file", os.fspath(credentials_file))
        # Touch the profile now, so a missing one is a clear error at construction.
        if profile is not None:
            session.get_scoped_config()
    except botocore.exceptions.ProfileNotFound as exc:
        missing = _missing_credentials_file(credentials_file)
        if missing is not None:
            raise ConfigurationError(f"AWS profile {profile!r}: {missing}") from exc
        where = _named_credentials_file(credentials_file)
        in_file = f" in {where[0]} or the AWS config file" if where is not None else ""
        raise ConfigurationError(f"AWS profile {profile!r} not found{in_file}: {exc}") from exc
    return session


def _named_credentials_file(
    credentials_file: str | os.PathLike[str] | None,
) -> tuple[Path, str] | None:
    """The credentials file the caller named, and where it was named; ``None`` for none."""
    if credentials_file is not None:
        return Path(os.fspath(credentials_file)), "credentials_file="
    from_env = os.environ.get("AWS_SHARED_CREDENTIALS_FILE")
    if from_env:
        return Path(from_env).expanduser(), "AWS_SHARED_CREDENTIALS_FILE"
    return None


def _missing_credentials_file(credentials_file: str | os.PathLike[str] | None) -> str | None:
    # botocore skips a missing credentials file silently, then reports "profile not found";
    # the file is the thing to fix, so say so.
    named = _named_credentials_file(credentials_file)
    if named is None or named[0].is_file():
        return None
    path, origin = named
    relative = "" if path.is_absolute() else " (a relative path is read from the current directory)"
    return (
        f"credentials file {path} (from {origin}) does not exist{relative}; "
        "for the local runtime it is <data-dir>/credentials, printed by its banner"
    )


def resolve_credentials(session: botocore.session.Session) -> CredentialSource:
    """botocore's credential chain: environment, shared files, SSO, container, instance metadata.

    The object returned may be refreshable; the signer freezes it once per request.
    """
    try:
        credentials = session.get_credentials()
    except botocore.exceptions.BotoCoreError as exc:
        configured = session.get_config_variable("credentials_file")
        named = None if configured == os.environ.get("AWS_SHARED_CREDENTIALS_FILE") else configured
        missing = _missing_credentials_file(named)
        if isinstance(exc, botocore.exceptions.ProfileNotFound) and missing is not None:
            raise ConfigurationError(f"cannot load AWS credentials: {missing}") from exc
        raise ConfigurationError(f"cannot load AWS credentials: {exc}") from exc
    if credentials is None:
        raise ConfigurationError(
            "no AWS credentials found: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
            "AWS_PROFILE (and AWS_SHARED_CREDENTIALS_FILE for the local runtime), "
            "or pass credentials=..."
        )
    source: CredentialSource = credentials
    return source
