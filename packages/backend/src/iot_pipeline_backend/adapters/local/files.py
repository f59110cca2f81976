"""The local runtime's file-backed adapters: config.json, token.key and alerts.jsonl."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import threading
import time
from dataclasses import asdict
from pathlib import Path

import pydantic
from iot_pipeline_common import keys
from iot_pipeline_common.errors import validation_details
from iot_pipeline_common.models import PipelineConfig

from iot_pipeline_backend.errors import ConfigError, StoreUnavailableError
from iot_pipeline_backend.ports import Alert

TOKEN_KEY_BYTES = 32
#: Seconds an emptied config.json counts as a save in progress rather than a bad config:
#: an editor or ``write_text`` that saves in place truncates the file before writing it.
SAVE_GRACE_SECONDS = 1.0
#: How much of alerts.jsonl recent_alerts() reads first (grown until enough lines are read).
RECENT_ALERTS_WINDOW_BYTES = 64 * 1024

_log = logging.getLogger(__name__)


def config_error(exc: pydantic.ValidationError, *, source: str) -> ConfigError:
    """A ConfigError whose message names every bad key."""
    problems = "; ".join(f"{d.field or 'config'}: {d.message}" for d in validation_details(exc))
    return ConfigError(f"invalid pipeline config in {source}: {problems}")


def read_config_file(path: Path) -> PipelineConfig:
    """Parse and validate one config file; :class:`ConfigError` names the file and each bad key."""
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror})") from None
    try:
        return PipelineConfig.from_json_text(text)
    except pydantic.ValidationError as exc:
        raise config_error(exc, source=str(path)) from None


class JsonFileConfigSource:
    """``<data-dir>/config.json``; missing means defaults, reloaded when the file changes.

    A running pipeline must not stop because someone saved a typo: once a valid config has
    been loaded, a change that does not validate is logged once (naming the key), reported by
    :attr:`problem`, and the last valid config stays in force until the file is fixed. With
    no valid config loaded yet there is nothing to fall back on, and the error is raised.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        # (mtime_ns, size) of the file last read, and the digest of what it held.
        self._stamp: tuple[int, int] | None = None
        self._digest: bytes | None = None
        self._last_good: PipelineConfig | None = None
        self._problem: str | None = None

    @property
    def problem(self) -> str | None:
        """Why the file's current content is not in force (``None`` when it is)."""
        return self._problem

    def load_config(self) -> PipelineConfig:
        """The config in force; raises :class:`ConfigError` when no valid one was ever loaded."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            stat = None
        with self._lock:
            if stat is None:
                self._forget_problem()
                if self._stamp is not None or self._last_good is None:
                    # The defaults, built once while the file stays away (a config is
                    # loaded for every request).
                    self._stamp = self._digest = None
                    self._last_good = PipelineConfig()
                return self._last_good
            stamp = (stat.st_mtime_ns, stat.st_size)
            if stamp == self._stamp:
                return self._in_force()
            if (
                stat.st_size == 0
                and self._last_good is not None
                and time.time_ns() - stat.st_mtime_ns < SAVE_GRACE_SECONDS * 1e9
            ):
                # Caught between truncate and write: keep what is in force and look again
                # next time (the stamp is not kept), rather than logging a config error.
                return self._last_good
            self._stamp = stamp
            try:
                text = self.path.read_bytes()
            except OSError as exc:
                return self._reject(f"{self.path}: cannot read it ({exc.strerror})")
            digest = hashlib.sha256(text).digest()
            if digest == self._digest:
                return self._in_force()  # touched or rewritten with the same content
            self._digest = digest
            try:
                config = PipelineConfig.from_json_text(text)
            except pydantic.ValidationError as exc:
                return self._reject(str(config_error(exc, source=self.path.name)))
            self._forget_problem()
            self._last_good = config
            return config

    def _in_force(self) -> PipelineConfig:
        if self._last_good is None:
            raise ConfigError(self._problem or f"{self.path}: no valid config loaded")
        return self._last_good

    def _reject(self, message: str) -> PipelineConfig:
        self._problem = message
        if self._last_good is None:
            raise ConfigError(message)
        # Once per change of the file: the poller asks for the config on every poll.
        _log.error(
            "%s; still using the last valid config until the file is fixed",
            message,
            extra={"config_file": str(self.path)},
        )
        return self._last_good

    def _forget_problem(self) -> None:
        if self._problem is not None:
            _log.info("%s is valid again; using it", self.path.name)
            self._problem = None


class FileTokenKey:
    """``<data-dir>/token.key``: 32 random bytes, created on first use with mode 0600."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._key: bytes | None = None

    def token_key(self) -> bytes:
        """The key; created atomically so two processes never disagree on it."""
        with self._lock:
            if self._key is None:
                self._key = self._read_or_create()
            return self._key

    def _read_or_create(self) -> bytes:
        try:
            key = self.path.read_bytes()
        except FileNotFoundError:
            key = self._create()
        if len(key) < TOKEN_KEY_BYTES:
            raise StoreUnavailableError(f"{self.path.name} is truncated") from None
        return key

    def _create(self) -> bytes:
        return create_private_file(self.path, secrets.token_bytes(TOKEN_KEY_BYTES))


def create_private_file(path: Path, data: bytes) -> bytes:
    """Create ``path`` (mode 0600) holding ``data``, unless it exists; return what it holds.

    Written in full to a private temporary file, then linked into place: a crash leaves no
    file or a complete one, never an empty one that would fail every use after a restart.
    link(), unlike rename(), fails when another process got there first, so two processes
    never disagree on the contents.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return path.read_bytes()
        return data
    finally:
        tmp.unlink(missing_ok=True)


class JsonLinesAlertSink:
    """Appends one JSON object per alert to ``<data-dir>/alerts.jsonl``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def publish_alert(self, alert: Alert) -> None:
        """Append the alert with the time it was published."""
        line = json.dumps(
            {"published_at": keys.iso_utc(keys.now_ms()), **asdict(alert)}, default=str
        )
        try:
            with self._lock, self.path.open("a", encoding="utf-8") as out:
                out.write(line + "\n")
        except OSError as exc:
            raise StoreUnavailableError("cannot write the alerts file") from exc

    def read_alerts(self) -> list[dict[str, object]]:
        """Every alert published so far (for the CLI and tests)."""
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line]

    def recent_alerts(self, limit: int) -> list[dict[str, object]]:
        """The last ``limit`` alerts, newest first, reading only the end of the file."""
        window = RECENT_ALERTS_WINDOW_BYTES
        try:
            with self.path.open("rb") as alerts:
                size = alerts.seek(0, os.SEEK_END)
                while True:
                    alerts.seek(max(0, size - window))
                    lines = alerts.read().split(b"\n")
                    # A window that does not start the file may start mid-line; the last
                    # piece is empty or a line still being written (every line ends in \n).
                    complete = [line for line in lines[(window < size) : -1] if line]
                    if len(complete) >= limit or window >= size:
                        break
                    window *= 4
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in reversed(complete[-limit:])]
