"""The data directory one local runtime owns: created, checked writable, and locked.

Two runtimes on one data dir would share a SQLite queue they both poll and one ``endpoint``
file each believes is its own. So a runtime holds ``flock(LOCK_EX)`` on ``<data-dir>/lock``
for its whole life; a second one is refused, naming the owner's pid. The kernel drops the
lock when the owner dies however it dies (``SIGKILL``, a double Ctrl-C), so a stale lock
never blocks the next start, and only the lock's holder writes or removes ``endpoint``.
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

from iot_pipeline_backend.errors import SettingsError

LOCK_FILE = "lock"


def prepare_data_dir(path: Path) -> Path:
    """Create ``path`` if needed; :class:`SettingsError` naming it when it is not usable."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test.{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise SettingsError(unusable_path_message(path, exc)) from None
    return path


def unusable_path_message(path: Path, exc: OSError) -> str:
    """One line naming the data dir and why it cannot be used (no traceback)."""
    reason = exc.strerror or str(exc)
    where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(path) else ""
    return f"cannot use data dir {path}: {reason}{where}; pass --data-dir with a writable directory"


class DataDirLock:
    """An exclusive ``flock`` on ``<data-dir>/lock``, from :meth:`acquire` to :meth:`release`."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_FILE
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock or raise :class:`SettingsError` naming the runtime that holds it."""
        if self._fd is not None:
            return
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise SettingsError(unusable_path_message(self.path.parent, exc)) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            owner = _read_owner(fd)
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise SettingsError(unusable_path_message(self.path.parent, exc)) from None
            by = f" (pid {owner})" if owner else ""
            raise SettingsError(
                f"data dir {self.path.parent} is in use by another iot-pipeline local{by}; "
                "stop it first, or pass another --data-dir"
            ) from None
        self._fd = fd

    def record_owner(self) -> None:
        """Write this process's pid into the lock file (for the refusal message of the next)."""
        if self._fd is None:
            raise SettingsError("the data dir lock is not held")
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        """Drop the lock (the file stays: removing it would race with the next runtime)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        os.close(fd)


def lock_owner(data_dir: Path) -> int | None:
    """The pid recorded by the runtime that holds (or last held) ``data_dir``'s lock."""
    try:
        text = (data_dir / LOCK_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _read_owner(fd: int) -> int | None:
    text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    return int(text) if text.isdigit() else None
