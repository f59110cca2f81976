"""A wake-up between processes: the local queue's sends, to a poller in another process.

A byte through a pipe after each committed send; the poller waits on the pipe's read end
with a timeout, as it waits on a condition for sends of its own process.
"""

from __future__ import annotations

import contextlib
import os
import select


class PipeWake:
    """One byte through a pipe: the sender's side never blocks, the receiver waits on it."""

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.write_fd, False)
        self._closed = False

    def notify(self) -> None:
        """Wake the receiver (a full pipe already will); nothing once closed."""
        if self._closed:
            return  # the descriptor's number may belong to another file by now
        with contextlib.suppress(OSError):  # BlockingIOError included: the pipe is full
            os.write(self.write_fd, b"\0")

    def close(self) -> None:
        """Close both ends (a child started with the read end keeps its own copy)."""
        if self._closed:
            return
        self._closed = True
        for fd in (self.read_fd, self.write_fd):
            with contextlib.suppress(OSError):
                os.close(fd)


def wait_on(fd: int, timeout: float) -> None:
    """Block until ``fd`` is readable or ``timeout`` s pass, then drain it."""
    readable, _, _ = select.select([fd], [], [], timeout)
    if readable:
        with contextlib.suppress(OSError):  # another waiter drained it first
            os.read(fd, 4096)
