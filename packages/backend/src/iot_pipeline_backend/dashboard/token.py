"""The dashboard's access token: ``<data-dir>/dashboard.token``, as a notebook server keeps one.

Random, created once (atomically, mode 0600, like ``token.key``) and kept across restarts, so
a bookmarked URL keeps working. Whoever can read the data directory can open the dashboard;
nobody else can.
"""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path

from iot_pipeline_backend.adapters.local.files import create_private_file
from iot_pipeline_backend.errors import SettingsError

DASHBOARD_TOKEN_FILE = "dashboard.token"  # noqa: S105 - a file name, not a secret
#: Random bytes behind the token (43 URL-safe characters).
TOKEN_BYTES = 32
_MIN_LENGTH = 32


def load_or_create_dashboard_token(data_dir: Path) -> str:
    """The token of this data directory, created on first use."""
    path = data_dir / DASHBOARD_TOKEN_FILE
    try:
        stored = path.read_bytes()
    except FileNotFoundError:
        stored = create_private_file(path, secrets.token_urlsafe(TOKEN_BYTES).encode("ascii"))
    token = stored.decode("ascii", errors="replace").strip()
    if len(token) < _MIN_LENGTH or not token.isascii() or not token.isprintable():
        raise SettingsError(
            f"{path} does not hold a usable dashboard token (at least {_MIN_LENGTH} printable "
            "characters); delete it and a new one is created at the next start"
        )
    return token


def token_matches(candidate: str | None, token: str) -> bool:
    """True when ``candidate`` is the token (constant-time, so timing reveals no prefix)."""
    if candidate is None:
        return False
    return hmac.compare_digest(candidate.encode("utf-8"), token.encode("utf-8"))
