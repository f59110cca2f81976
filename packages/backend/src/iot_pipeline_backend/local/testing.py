"""Run the local pipeline from tests and embedding code.

* :func:`running_pipeline` runs gateway + poller in this process (a background thread) on a
  free port; fast, and what most tests want.
* :func:`running_pipeline_process` runs ``python -m iot_pipeline_backend.local`` as a child
  process, for tests that must kill it (``SIGKILL``) or signal it (``SIGTERM``).

Both yield an object with ``endpoint`` (``http://127.0.0.1:<port>/prod``), ``region``,
``access_key``, ``secret_key``, ``credentials_file``, ``profile``, ``data_dir`` and
``dashboard_url`` (``http://127.0.0.1:<port>/dashboard?token=…``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from iot_pipeline_backend.dashboard import dashboard_url, load_or_create_dashboard_token
from iot_pipeline_backend.local.credentials import PROFILE, load_or_create_credentials
from iot_pipeline_backend.local.datadir import lock_owner
from iot_pipeline_backend.local.runtime import DEFAULT_REGION, ENDPOINT_FILE, LocalPipeline


@dataclass(frozen=True)
class RunningPipeline:
    """A local pipeline started by :func:`running_pipeline`."""

    endpoint: str
    region: str
    access_key: str
    secret_key: str = field(repr=False)
    credentials_file: Path
    profile: str
    data_dir: Path
    dashboard_url: str = field(repr=False)
    _pipeline: LocalPipeline = field(repr=False)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """True once every queued reading has been processed (False on timeout)."""
        return self._pipeline.wait_idle(timeout)

    def sdk_environment(self) -> dict[str, str]:
        """The environment variables that point any AWS SDK at this pipeline."""
        return {
            "AWS_SHARED_CREDENTIALS_FILE": str(self.credentials_file),
            "AWS_PROFILE": self.profile,
            "AWS_DEFAULT_REGION": self.region,
        }


@contextmanager
def running_pipeline(*, data_dir: Path, region: str = DEFAULT_REGION) -> Iterator[RunningPipeline]:
    """Start the whole local pipeline in-process on a free port; stop it gracefully on exit."""
    pipeline = LocalPipeline(data_dir=data_dir, region=region, port=0)
    pipeline.start()
    try:
        yield RunningPipeline(
            endpoint=pipeline.endpoint,
            region=region,
            access_key=pipeline.credentials.access_key,
            secret_key=pipeline.credentials.secret_key,
            credentials_file=pipeline.credentials.path,
            profile=pipeline.credentials.profile,
            data_dir=pipeline.data_dir,
            dashboard_url=pipeline.dashboard_url,
            _pipeline=pipeline,
        )
    finally:
        pipeline.stop()


@dataclass
class PipelineProcess:
    """A local pipeline running as a child process."""

    endpoint: str
    region: str
    access_key: str
    secret_key: str = field(repr=False)
    credentials_file: Path
    profile: str
    data_dir: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    @property
    def dashboard_url(self) -> str:
        """The dashboard's URL with its token, as the child's banner prints it."""
        return dashboard_url(
            endpoint=self.endpoint, token=load_or_create_dashboard_token(self.data_dir)
        )

    def kill(self) -> None:
        """``SIGKILL``: no cleanup at all, as in a power cut or an OOM kill."""
        self.process.kill()
        self.process.wait(timeout=30)

    def terminate(self, *, timeout: float = 60.0) -> int:
        """``SIGTERM`` and wait for the graceful stop; returns the exit code."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)


@contextmanager
def running_pipeline_process(
    *,
    data_dir: Path,
    region: str = DEFAULT_REGION,
    startup_timeout: float = 60.0,
    log_file: Path | None = None,
    command: Sequence[str] | None = None,
) -> Iterator[PipelineProcess]:
    """Start ``python -m iot_pipeline_backend.local --port 0`` and wait for its endpoint.

    The child writes ``<data-dir>/endpoint`` once it listens; that is where the real port
    comes from. On exit the child is stopped with ``SIGTERM`` (then ``SIGKILL``) if alive.
    ``command`` replaces the program (``--data-dir`` and ``--region`` are appended), for a
    runtime built around the same entry point, such as a benchmark's.
    """
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    endpoint_file = data_dir / ENDPOINT_FILE
    logs = (log_file or data_dir / "runtime.log").open("ab")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    program = list(command or [sys.executable, "-m", "iot_pipeline_backend.local", "--port", "0"])
    program += ["--data-dir", str(data_dir), "--region", region]
    process = subprocess.Popen(program, stdout=logs, stderr=subprocess.STDOUT, env=env)
    try:
        give_up = time.monotonic() + startup_timeout
        # The endpoint file is the child's once the lock names it (a stale one, left by a
        # killed runtime, is removed by the child before it records itself as the owner).
        while lock_owner(data_dir) != process.pid or not endpoint_file.exists():
            if process.poll() is not None:
                raise RuntimeError(
                    f"the local pipeline exited with code {process.returncode} before listening; "
                    f"see {logs.name}"
                )
            if time.monotonic() > give_up:
                raise RuntimeError(f"the local pipeline did not listen within {startup_timeout} s")
            time.sleep(0.05)
        credentials = load_or_create_credentials(data_dir)
        yield PipelineProcess(
            endpoint=endpoint_file.read_text(encoding="utf-8").strip(),
            region=region,
            access_key=credentials.access_key,
            secret_key=credentials.secret_key,
            credentials_file=credentials.path,
            profile=PROFILE,
            data_dir=data_dir,
            process=process,
        )
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)
        logs.close()
