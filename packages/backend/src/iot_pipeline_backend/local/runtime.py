"""The local pipeline: gateway + queue poller + uvicorn over one data directory.

:class:`LocalPipeline` prepares the data directory (credentials, validated config), points
the Lambda handlers at it through the same environment variables the CDK stack sets, then
serves HTTP from a background thread while the queue poller feeds the processor. ``stop()``
is graceful: the server stops accepting, in-flight requests finish, then in-flight batches.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import socket
import threading
import time
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn
from iot_pipeline_common import limits

from iot_pipeline_backend import settings
from iot_pipeline_backend.adapters import Adapters
from iot_pipeline_backend.adapters.local import CONFIG_FILE, JsonFileConfigSource, LocalAdapters
from iot_pipeline_backend.adapters.local.wake import PipeWake
from iot_pipeline_backend.dashboard import (
    DASHBOARD_PATH,
    Dashboard,
    dashboard_url,
    load_or_create_dashboard_token,
)
from iot_pipeline_backend.errors import ConfigError, SettingsError
from iot_pipeline_backend.handlers.runtime import use_adapters
from iot_pipeline_backend.local.auth import SigV4Verifier
from iot_pipeline_backend.local.credentials import LocalCredentials, load_or_create_credentials
from iot_pipeline_backend.local.datadir import DataDirLock, prepare_data_dir
from iot_pipeline_backend.local.environment import (
    Backend,
    point_handlers_at,
    restore_environment,
)
from iot_pipeline_backend.local.gateway import HEALTH_PATH, Gateway, Route
from iot_pipeline_backend.local.logs import LOGGER_NAME
from iot_pipeline_backend.local.poller import DEFAULT_REGION, PollableQueue, QueuePoller
from iot_pipeline_backend.local.processor_process import ProcessorProcess

if TYPE_CHECKING:
    from iot_pipeline_backend.mqtt.server import MqttServer

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_DATA_DIR = Path(".iot-pipeline")
#: Written once the server listens (the URL of the stage), removed on a clean stop; a parent
#: process that started the runtime with ``--port 0`` reads the real port from it.
ENDPOINT_FILE = "endpoint"
#: The function names of the local "Lambdas" (as they appear in contexts and logs).
FUNCTION_NAMES = {
    "ingestion": "data-ingestion-local",
    "processor": "data-processor-local",
    "query": "data-query-local",
}

_log = logging.getLogger(f"{LOGGER_NAME}.runtime")


class _GatewayServer(uvicorn.Server):
    """uvicorn without its own signal handling: the runtime owns SIGINT/SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def validate_config(data_dir: Path) -> None:
    """Raise :class:`ConfigError` naming the bad key when ``config.json`` is invalid."""
    JsonFileConfigSource(data_dir / CONFIG_FILE).load_config()


def lambda_routes() -> list[Route]:
    """The API's three resources and the handlers behind them (imported on first use).

    The handlers run concurrently, as several Lambda containers would: their per-request
    state is per thread (``handlers.http.ThreadResolver``) or per invocation (the batch
    processor), and the database orders their writes (one writer, group commit).
    """
    handler: dict[str, Any] = {
        name: importlib.import_module(f"iot_pipeline_backend.handlers.{name}").lambda_handler
        for name in FUNCTION_NAMES
    }
    return [
        Route("POST", "/ingest", FUNCTION_NAMES["ingestion"], handler["ingestion"]),
        Route("POST", "/process", FUNCTION_NAMES["processor"], handler["processor"]),
        Route("GET", "/query", FUNCTION_NAMES["query"], handler["query"]),
        Route("GET", "/devices", FUNCTION_NAMES["query"], handler["query"]),
        Route("GET", "/devices/{device_id}", FUNCTION_NAMES["query"], handler["query"]),
    ]


class LocalPipeline:
    """One running local pipeline. ``start()`` returns once it accepts requests."""

    def __init__(
        self,
        *,
        data_dir: Path = DEFAULT_DATA_DIR,
        region: str = DEFAULT_REGION,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        routes: Sequence[Route] | None = None,
        poll_queue: bool = True,
        backend: Backend = "local",
        mqtt_port: int | None = None,
        processor_process: bool = False,
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.region = region
        self.host = host
        self._requested_port = port
        self.port = port
        self._routes = routes
        self._poll_queue = poll_queue
        # The poller and processor in a child process (``processor_process.py``), local only.
        self._processor_process = processor_process and backend == "local"
        self._processor: ProcessorProcess | None = None
        self._mqtt_port = mqtt_port  # None: no MQTT endpoint (see iot_pipeline_backend.mqtt)
        self.mqtt: MqttServer | None = None
        self.backend: Backend = backend
        prepare_data_dir(self.data_dir)
        self._lock = DataDirLock(self.data_dir)
        self.credentials: LocalCredentials = load_or_create_credentials(self.data_dir)
        validate_config(self.data_dir)
        self._adapters: Adapters | None = None
        self._polled: PollableQueue | None = None
        self.dashboard_token = load_or_create_dashboard_token(self.data_dir)
        self._dashboard: Dashboard | None = None
        self._previous_adapters: Adapters | None = None
        self._previous_environment: dict[str, str | None] | None = None
        self._poller: QueuePoller | None = None
        self._gateway: Gateway | None = None
        self._server: _GatewayServer | None = None
        self._thread: threading.Thread | None = None
        self._server_error: BaseException | None = None

    @property
    def endpoint(self) -> str:
        """The stage URL, e.g. ``http://127.0.0.1:8000/prod``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/{limits.STAGE}"

    @property
    def dashboard_url(self) -> str:
        """The dashboard's URL with its token (open it once; a cookie keeps the token)."""
        return dashboard_url(endpoint=self.endpoint, token=self.dashboard_token)

    @property
    def endpoint_file(self) -> Path:
        """``<data-dir>/endpoint``: the endpoint while the runtime is up."""
        return self.data_dir / ENDPOINT_FILE

    def start(self, *, timeout: float = 30.0) -> None:
        """Lock the data dir, bind, start the poller and the server.

        Raises :class:`SettingsError` when another runtime holds the data dir, the port is
        taken, or the server is not up within ``timeout`` s.
        """
        self._lock.acquire()
        try:
            # Ours now; an endpoint file left by a runtime that was killed is stale.
            self.endpoint_file.unlink(missing_ok=True)
            self._lock.record_owner()
            sock = _bind(self.host, self._requested_port)
        except BaseException:
            self._lock.release()
            raise
        self.port = sock.getsockname()[1]
        try:
            self._start_serving(sock, timeout=timeout)
        except BaseException:
            # Leave nothing half-started behind: threads, adapters, environment, socket.
            self.stop()
            sock.close()
            raise
        _write_atomically(self.endpoint_file, self.endpoint + "\n")
        _log.info(
            "local pipeline started",
            extra={"endpoint": self.endpoint, "data_dir": str(self.data_dir)},
        )

    def _start_serving(self, sock: socket.socket, *, timeout: float) -> None:
        self._previous_environment = point_handlers_at(
            self.data_dir, region=self.region, backend=self.backend
        )
        verifier = SigV4Verifier(
            access_key=self.credentials.access_key,
            secret_key=self.credentials.secret_key,
            region=self.region,
        )
        # One adapter set for the gateway's handlers and the poller: one database handle.
        if self.backend == "aws":
            from iot_pipeline_backend.adapters.aws import AwsAdapters

            aws = AwsAdapters.from_settings(settings.Settings.from_env())
            self._adapters, self._polled = aws, aws.polled_queue
        else:
            local = LocalAdapters.open(self.data_dir)
            self._adapters, self._polled = local, local.queue
        self._previous_adapters = use_adapters(self._adapters)
        routes = list(self._routes) if self._routes is not None else lambda_routes()
        # The dashboard reads the local stores' figures (row counts, queue and DLQ depth); in
        # front of AWS resources the stack's CloudWatch dashboard shows them instead.
        if isinstance(self._adapters, LocalAdapters):
            self._dashboard = Dashboard(adapters=self._adapters, token=self.dashboard_token)
        self._gateway = Gateway(
            routes=routes,
            verifier=verifier,
            region=self.region,
            health=self.health,
            mounts={} if self._dashboard is None else {DASHBOARD_PATH: self._dashboard},
        )
        if self._poll_queue and self._processor_process:
            assert isinstance(self._adapters, LocalAdapters)
            wake = PipeWake()
            self._adapters.queue.announce_to(wake.notify)
            self._processor = ProcessorProcess(
                data_dir=self.data_dir, region=self.region, wake=wake
            )
            self._processor.start()
        elif self._poll_queue:
            self._start_poller(routes)
        if self._mqtt_port is not None:
            from iot_pipeline_backend.mqtt.server import MqttServer

            self.mqtt = MqttServer(
                data_dir=self.data_dir,
                adapters=self._adapters,
                host=self.host,
                port=self._mqtt_port,
            )
            self.mqtt.start(timeout=timeout)
        config = uvicorn.Config(
            self._gateway,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=30,
            limit_concurrency=512,
            server_header=False,
            # Not "auto": with httptools installed uvicorn would answer some malformed
            # requests itself, in text/plain, not the API's JSON error body.
            http="h11",
            loop="asyncio",
        )
        self._server = _GatewayServer(config)
        self._thread = threading.Thread(
            target=self._serve, args=(sock,), name="iot-pipeline-gateway", daemon=True
        )
        self._thread.start()
        give_up = time.monotonic() + timeout
        while not self._server.started:
            if self._server_error is not None or not self._thread.is_alive():
                raise SettingsError(f"the gateway failed to start: {self._server_error}")
            if time.monotonic() > give_up:
                raise SettingsError(f"the gateway did not start within {timeout:g} s")
            time.sleep(0.02)

    def _start_poller(self, routes: Sequence[Route]) -> None:
        processor = next((r.handler for r in routes if r.resource == "/process"), None)
        if processor is None:
            raise SettingsError("the queue poller needs the processor's POST /process route")
        assert self._adapters is not None and self._polled is not None
        self._poller = QueuePoller(
            queue=self._polled,
            handler=processor,
            config=self._adapters.config,
            region=self.region,
        )
        self._poller.start()

    def _serve(self, sock: socket.socket) -> None:
        assert self._server is not None
        try:
            self._server.run(sockets=[sock])
        except BaseException as exc:  # surfaced by start()/stop(); the thread must not die silently
            self._server_error = exc
            _log.exception("gateway stopped with an error")
        finally:
            sock.close()

    @property
    def health_url(self) -> str:
        """``http://127.0.0.1:8000/health``: the health line (unsigned, outside the stage)."""
        return self.endpoint.rsplit("/", 1)[0] + HEALTH_PATH

    def health(self) -> dict[str, Any]:
        """``ok``, or ``degraded`` with the reason (a config.json change that does not validate)."""
        # The config's last problem and the queue depth are the local adapters' (a runtime
        # in front of AWS resources has neither to report), as the dashboard's figures are.
        local = self._adapters if isinstance(self._adapters, LocalAdapters) else None
        problem = local.config.problem if local is not None else None
        return {
            "status": "ok" if problem is None else "degraded",
            "config": {
                "file": str(self.data_dir / CONFIG_FILE),
                "valid": problem is None,
                "error": problem,
            },
            "queue_depth": local.queue.depth() if local is not None else None,
        }

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """True once the queue is drained and no batch is running (False on timeout)."""
        if self._processor is not None and isinstance(self._adapters, LocalAdapters):
            return self._processor.wait_idle(self._adapters.queue.depth, timeout)
        return True if self._poller is None else self._poller.wait_idle(timeout)

    def stop(self, *, timeout: float = 30.0) -> None:
        """Stop accepting, let in-flight requests finish, then in-flight batches."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._gateway is not None:
            self._gateway.close()
            self._gateway = None
        if self.mqtt is not None:
            self.mqtt.stop(timeout=timeout)
            self.mqtt = None
        if self._dashboard is not None:
            self._dashboard.close()
            self._dashboard = None
        if self._poller is not None:
            self._poller.stop(timeout=timeout)
            self._poller = None
        if self._processor is not None:
            self._processor.stop(timeout=timeout)
            self._processor = None
        if self._adapters is not None:
            use_adapters(self._previous_adapters)
            self._previous_adapters = None
            self._adapters.close()
            self._adapters = None
            self._polled = None
        if self._previous_environment is not None:
            restore_environment(self._previous_environment)
            self._previous_environment = None
        if self._lock.held:
            # Only the runtime that owns the data dir removes its endpoint file.
            self.endpoint_file.unlink(missing_ok=True)
            self._lock.release()
        _log.info("local pipeline stopped", extra={"data_dir": str(self.data_dir)})

    def __enter__(self) -> LocalPipeline:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # Name the protocol: asyncio sets TCP_NODELAY on accepted connections only when the
    # listening socket says IPPROTO_TCP; without it Nagle delays every other response ~40 ms.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SettingsError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


__all__ = [
    "DEFAULT_DATA_DIR",
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "DEFAULT_REGION",
    "ENDPOINT_FILE",
    "ConfigError",
    "LocalPipeline",
    "lambda_routes",
    "point_handlers_at",
    "restore_environment",
    "validate_config",
]
