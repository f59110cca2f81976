"""The queue poller and the processor in a process of their own, beside the gateway.

One interpreter runs one thread of Python at a time: with the gateway, the ingest handlers,
the poller, the processor and the writer in one process, the runtime uses one core however
many it has. ``iot-pipeline local`` therefore runs the poller (the event source mapping)
and the processor in a child process, as Lambda runs them apart from API Gateway: the
gateway process stores and enqueues, the child receives, processes and deletes, both on the
same SQLite file. Their writes queue for the data dir's write lock (``writer.py``), and every
guarantee is the database's, so nothing changes for a message: received (counted) in a
committed lease, processed and deleted in one commit, redelivered after the visibility
timeout when the child dies in between.

The parent wakes the child through a pipe after each committed send, so an idle child
starts at once instead of at its next poll. The child dies with the parent (``kill -9``
included: ``PR_SET_PDEATHSIG`` on Linux, and it watches its parent id everywhere), and the
parent starts a new child if one exits while the runtime runs.
"""

from __future__ import annotations

import argparse
import ctypes
import importlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from iot_pipeline_backend.adapters.local.wake import PipeWake

_log = logging.getLogger("iot_pipeline.local.processor")

#: Seconds between the child's checks that its parent is alive (where no death signal exists).
PARENT_CHECK_S = 0.5
#: Seconds before a child that exited is started again (a crash loop stays slow).
RESTART_DELAY_S = 1.0
_PR_SET_PDEATHSIG = 1


class ProcessorProcess:
    """The parent's side: starts the child, restarts it if it exits, stops it."""

    def __init__(self, *, data_dir: Path, region: str, wake: PipeWake) -> None:
        self._data_dir = data_dir
        self._region = region
        self._wake = wake
        self._stopping = threading.Event()
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._supervisor: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        """The running child's process id."""
        process = self._process
        return None if process is None else process.pid

    def start(self) -> None:
        """Start the child and the thread that keeps one running."""
        self._spawn()
        self._supervisor = threading.Thread(
            target=self._supervise, name="iot-pipeline-processor-supervisor", daemon=True
        )
        self._supervisor.start()

    def wait_idle(self, depth: Callable[[], int], timeout: float) -> bool:
        """True once ``depth()`` (the queue's) is 0, False after ``timeout`` s.

        A message is deleted in the commit of its batch, so an empty queue is a processed one.
        """
        give_up = time.monotonic() + timeout
        while depth():
            if time.monotonic() > give_up:
                return False
            time.sleep(0.02)
        return True

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the child to finish its batch and exit; kill it after ``timeout`` s."""
        with self._lock:  # no replacement starts once this is set (``_spawn``)
            self._stopping.set()
            process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._supervisor is not None:
            self._supervisor.join(timeout)
            self._supervisor = None
        self._wake.close()  # the child is gone: nobody reads it, and a restart makes a new one

    def _spawn(self) -> None:
        command = [
            sys.executable,
            "-m",
            "iot_pipeline_backend.local.processor_process",
            "--data-dir",
            str(self._data_dir),
            "--region",
            self._region,
            "--wake-fd",
            str(self._wake.read_fd),
            "--parent-pid",
            str(os.getpid()),
        ]
        with self._lock:
            if self._stopping.is_set():
                return
            # stdout and stderr are the runtime's: the child's JSON logs go where its own go.
            self._process = subprocess.Popen(command, pass_fds=(self._wake.read_fd,))

    def _supervise(self) -> None:
        while not self._stopping.is_set():
            with self._lock:
                process = self._process
            if process is None:
                return
            code = process.wait()
            if self._stopping.is_set():
                return
            _log.error(
                "the processor process exited; starting a new one",
                extra={"exit_code": code},
            )
            if self._stopping.wait(RESTART_DELAY_S):
                return
            self._spawn()


# -- the child -------------------------------------------------------------------------------


def _die_with_parent() -> None:
    """Ask Linux to kill this process when its parent dies (no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass  # the parent-id check below still ends the child


def main(argv: list[str] | None = None) -> int:
    """The child: poll the data dir's queue and run the processor until told to stop."""
    parser = argparse.ArgumentParser(prog="iot_pipeline_backend.local.processor_process")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--region", required=True)
    parser.add_argument("--wake-fd", type=int, required=True)
    parser.add_argument("--parent-pid", type=int, required=True)
    args = parser.parse_args(argv)
    _die_with_parent()
    if os.getppid() != args.parent_pid:
        return 0  # the parent died before the death signal was armed

    from iot_pipeline_backend.adapters.local import LocalAdapters
    from iot_pipeline_backend.handlers.runtime import use_adapters
    from iot_pipeline_backend.local.environment import point_handlers_at
    from iot_pipeline_backend.local.logs import configure_logging
    from iot_pipeline_backend.local.poller import QueuePoller

    configure_logging(os.environ.get("POWERTOOLS_LOG_LEVEL", "info").lower())
    point_handlers_at(args.data_dir, region=args.region, backend="local")
    adapters = LocalAdapters.open(args.data_dir)
    adapters.queue.wake_on(args.wake_fd)
    use_adapters(adapters)
    handler = importlib.import_module("iot_pipeline_backend.handlers.processor").lambda_handler
    # One polling thread: this process holds one interpreter lock, and a processed write
    # plans only after the previous one committed (``adapters/local/fold.py``), so a second
    # poller mostly competed with the first and with the writer thread for the lock (measured:
    # 20 % more CPU a batch, and end-to-end throughput 5–15 % lower with two).
    poller = QueuePoller(
        queue=adapters.queue,
        handler=handler,
        config=adapters.config,
        region=args.region,
        concurrency=1,
    )
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            os._exit(128 + signum)  # a second signal: now (the queue redelivers)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    poller.start()
    while not stop.wait(PARENT_CHECK_S):
        if os.getppid() != args.parent_pid:
            break  # the runtime is gone: stop, as its poller thread would have
    started = time.monotonic()
    poller.stop(timeout=30.0)
    adapters.close()
    _log.info("processor process stopped", extra={"seconds": round(time.monotonic() - started, 3)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
