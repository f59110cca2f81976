"""The local MQTT endpoint: TLS with client certificates, one asyncio loop in its own thread.

Why a small server on amqtt's codec rather than amqtt's broker or a supervised mosquitto:
the pipeline's guarantee is that a PUBACK, like a 200, means "stored and queued". amqtt's
broker sends the PUBACK as soon as it has read the PUBLISH, before its auth and topic
plugins see the message, and mosquitto would need a C plugin to hold it back. Devices here
only publish their readings and read their own errors (no device-to-device fan-out), so
what a broker adds is not needed, and what is needed (PUBACK after the store) is what a
broker's hooks cannot give. The wire format is amqtt's, a maintained codec, not ours.

Blocking ingest (SQLite) runs on a small thread pool, so one slow fsync never stalls the
loop that serves every connection. ``stop()`` closes the listener, lets each connection
finish the packet it is handling (its PUBACK included), then closes them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import socket
import ssl
import threading
from pathlib import Path
from typing import Final

from cryptography import x509
from iot_pipeline_common import keys

from iot_pipeline_backend.adapters import Adapters
from iot_pipeline_backend.errors import SettingsError
from iot_pipeline_backend.local.logs import LOGGER_NAME
from iot_pipeline_backend.mqtt.bridge import ingest_published
from iot_pipeline_backend.mqtt.certificates import DeviceAuthority, thing_name_of
from iot_pipeline_backend.mqtt.session import DeviceSession, PeerIdentity

DEFAULT_MQTT_PORT: Final = 8883
#: ``<data-dir>/mqtt/endpoint``: ``mqtts://host:port`` while the server listens.
ENDPOINT_FILE: Final = "endpoint"
_INGEST_THREADS: Final = 4
_TLS_HANDSHAKE_TIMEOUT_S: Final = 10.0

_log = logging.getLogger(f"{LOGGER_NAME}.mqtt")


class MqttServer:
    """MQTT 3.1.1 over TLS for devices holding a certificate from the data dir's CA."""

    def __init__(
        self,
        *,
        data_dir: Path,
        adapters: Adapters,
        host: str = "127.0.0.1",
        port: int = DEFAULT_MQTT_PORT,
    ) -> None:
        self.authority = DeviceAuthority.open(data_dir)
        self.host = host
        self.port = port
        self._adapters = adapters
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._sessions: dict[asyncio.Task[None], DeviceSession] = {}
        self._executor = concurrent.futures.ThreadPoolExecutor(
            _INGEST_THREADS, thread_name_prefix="iot-pipeline-mqtt-ingest"
        )
        self._crl_stamp: tuple[int, int] | None = None
        self._revoked: set[int] = set()

    @property
    def endpoint(self) -> str:
        """``mqtts://127.0.0.1:8883``: what a device connects to."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"mqtts://{host}:{self.port}"

    @property
    def endpoint_file(self) -> Path:
        """Where the endpoint is written while the server listens."""
        return self.authority.directory / ENDPOINT_FILE

    def start(self, *, timeout: float = 30.0) -> None:
        """Listen; return once connections are accepted (``port`` is then the real one)."""
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(
            target=loop.run_forever, name="iot-pipeline-mqtt", daemon=True
        )
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._listen(), loop).result(timeout)
        except OSError as exc:
            self.stop()
            raise SettingsError(
                f"cannot listen for MQTT on {self.host}:{self.port}: {exc.strerror} "
                "(choose another with --mqtt-port, or --no-mqtt)"
            ) from None
        tmp = self.endpoint_file.with_suffix(".tmp")
        tmp.write_text(self.endpoint + "\n", encoding="utf-8")
        tmp.replace(self.endpoint_file)
        _log.info("mqtt listening", extra={"endpoint": self.endpoint})

    def stop(self, *, timeout: float = 30.0) -> None:
        """Stop accepting; finish each connection's current packet; close everything."""
        self.endpoint_file.unlink(missing_ok=True)
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            try:
                asyncio.run_coroutine_threadsafe(self._close(timeout), loop).result(timeout + 5)
            except (TimeoutError, concurrent.futures.TimeoutError):
                _log.warning("mqtt connections did not close in time")
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)
        if loop is not None and not loop.is_running():
            loop.close()
        self._loop = self._thread = None
        self._executor.shutdown(wait=True)

    # -- on the loop ---------------------------------------------------------------------

    async def _listen(self) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self._server = await asyncio.start_server(
            self._accept,
            host=self.host,
            port=self.port,
            family=family,
            ssl=self._tls_context(),
            ssl_handshake_timeout=_TLS_HANDSHAKE_TIMEOUT_S,
            reuse_address=True,
        )
        self.port = self._server.sockets[0].getsockname()[1]

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(
            self.authority.server_certificate_path, self.authority.server_key_path
        )
        context.load_verify_locations(cafile=self.authority.ca_certificate_path)
        # No certificate signed by the CA, no connection: the handshake itself fails.
        context.verify_mode = ssl.CERT_REQUIRED
        return context

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if not der:  # unreachable with CERT_REQUIRED; kept so a config slip fails closed
            writer.close()
            return
        certificate = x509.load_der_x509_certificate(der)
        session = DeviceSession(
            reader,
            writer,
            identity=PeerIdentity(
                thing_name=thing_name_of(certificate), serial=certificate.serial_number
            ),
            is_revoked=self._is_revoked,
            ingest=self._ingest,
        )
        task = asyncio.current_task()
        assert task is not None
        self._sessions[task] = session
        try:
            await session.serve()
        finally:
            self._sessions.pop(task, None)

    def _is_revoked(self, serial: int) -> bool:
        # Re-read the CRL when it changed, so `devices revoke` applies to a running server.
        try:
            stat = os.stat(self.authority.crl_path)
            stamp = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            stamp = (0, 0)
        if stamp != self._crl_stamp:
            self._revoked = self.authority.revoked_serials()
            self._crl_stamp = stamp
        return serial in self._revoked

    async def _ingest(self, thing_name: str, payload: bytes) -> int:
        loop = asyncio.get_running_loop()
        stored = await loop.run_in_executor(
            self._executor,
            lambda: ingest_published(
                payload, thing_name=thing_name, adapters=self._adapters, now_ms=keys.now_ms()
            ),
        )
        return len(stored)

    async def _close(self, limit_s: float) -> None:
        if self._server is not None:
            self._server.close()
        for task, session in list(self._sessions.items()):
            session.stopping = True
            if not session.busy:
                task.cancel()
        if self._sessions:
            await asyncio.wait(list(self._sessions), timeout=limit_s)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None


__all__ = ["DEFAULT_MQTT_PORT", "ENDPOINT_FILE", "MqttServer"]
