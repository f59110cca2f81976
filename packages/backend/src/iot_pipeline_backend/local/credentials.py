"""The local runtime's only credential, kept in an AWS shared-credentials file.

Any SigV4 client finds it with ``AWS_SHARED_CREDENTIALS_FILE=<data-dir>/credentials
AWS_PROFILE=iot-pipeline-local``; keys are random per data dir, made on first start.
"""

from __future__ import annotations

import configparser
import os
import secrets
import string
from dataclasses import dataclass
from pathlib import Path

from iot_pipeline_backend.errors import SettingsError

PROFILE = "iot-pipeline-local"
CREDENTIALS_FILE_NAME = "credentials"
_ACCESS_KEY_ALPHABET = string.ascii_uppercase + string.digits
_SECRET_ALPHABET = string.ascii_letters + string.digits + "/+"


@dataclass(frozen=True, slots=True)
class LocalCredentials:
    """The access key pair the gateway accepts, and where it is stored."""

    access_key: str
    secret_key: str
    path: Path
    profile: str = PROFILE

    def __repr__(self) -> str:
        # Never print the secret, even in a traceback or a debug log.
        return f"LocalCredentials(access_key={self.access_key!r}, path={str(self.path)!r})"


def generate_key_pair() -> tuple[str, str]:
    """A fresh ``AKIA`` + 16 upper-alnum access key and a 40-character secret."""
    access = "AKIA" + "".join(secrets.choice(_ACCESS_KEY_ALPHABET) for _ in range(16))
    secret = "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))
    return access, secret


def load_or_create_credentials(data_dir: Path) -> LocalCredentials:
    """Read ``<data_dir>/credentials``, creating it (mode 0600) with fresh keys if absent.

    Raises :class:`SettingsError` naming the file when it exists but has no usable profile.
    """
    path = data_dir / CREDENTIALS_FILE_NAME
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        access, secret = generate_key_pair()
        text = f"[{PROFILE}]\naws_access_key_id = {access}\naws_secret_access_key = {secret}\n"
        try:
            # O_EXCL: two processes starting on the same data dir must not both write keys.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return _read(path)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        return LocalCredentials(access_key=access, secret_key=secret, path=path)
    return _read(path)


def _read(path: Path) -> LocalCredentials:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path}: not an AWS shared-credentials file ({exc})") from None
    if not parser.has_section(PROFILE):
        raise SettingsError(f"{path}: profile [{PROFILE}] is missing; delete the file to renew it")
    section = parser[PROFILE]
    access = section.get("aws_access_key_id", "").strip()
    secret = section.get("aws_secret_access_key", "").strip()
    if not access or not secret:
        raise SettingsError(
            f"{path}: profile [{PROFILE}] needs aws_access_key_id and aws_secret_access_key"
        )
    return LocalCredentials(access_key=access, secret_key=secret, path=path)
