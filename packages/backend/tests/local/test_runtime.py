"""LocalPipeline start/stop leave the embedding process as they found it."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import pytest
from iot_pipeline_backend import settings
from iot_pipeline_backend.errors import SettingsError
from iot_pipeline_backend.local.gateway import Route
from iot_pipeline_backend.local.runtime import LocalPipeline


def _handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"statusCode": 200, "body": ""}


def test_given_failed_start_then_environment_and_port_are_released(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(settings.ENV_DATA_DIR, "/somewhere/else")
    # GIVEN routes without a processor while the queue poller is asked for
    pipeline = LocalPipeline(
        data_dir=tmp_path, port=0, routes=[Route("GET", "/query", "q", _handler)]
    )
    # WHEN the start fails half-way
    with pytest.raises(SettingsError, match="POST /process"):
        pipeline.start()
    # THEN the environment is restored, no endpoint is advertised, the port is free again
    assert os.environ[settings.ENV_DATA_DIR] == "/somewhere/else"
    assert not (tmp_path / "endpoint").exists()
    with socket.socket() as probe:
        probe.bind((pipeline.host, pipeline.port))


def test_given_clean_run_then_environment_restored_after_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(settings.ENV_BACKEND, raising=False)
    pipeline = LocalPipeline(
        data_dir=tmp_path, port=0, routes=[Route("POST", "/process", "p", _handler)]
    )
    pipeline.start()
    assert os.environ[settings.ENV_BACKEND] == "local"
    assert (tmp_path / "endpoint").read_text().strip() == pipeline.endpoint
    pipeline.stop()
    assert settings.ENV_BACKEND not in os.environ


def test_given_listening_socket_then_protocol_is_tcp_so_responses_are_not_nagle_delayed() -> None:
    # asyncio enables TCP_NODELAY on accepted connections only for IPPROTO_TCP listeners;
    # without it every other small response waits for the peer's delayed ACK (~40 ms).
    import socket

    from iot_pipeline_backend.local.runtime import _bind

    sock = _bind("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
    finally:
        sock.close()
