"""Structured (one JSON object per line) logs for the local runtime.

Fields passed with ``extra=`` become top-level keys, so an access line reads
``{"time": ..., "level": "info", "logger": "iot_pipeline.local.access", "message": "POST
/prod/ingest 200", "request_id": ..., "status": 200, "duration_ms": 3.1}``.

The handlers log through Powertools, which in Lambda writes its own JSON to stdout (where
CloudWatch collects it). Under the local runtime its lines go to the same stream as the
runtime's, in the same shape (``time``, ``level``, ``logger``, ``message``, then Powertools'
keys such as ``location`` and ``request_id``), so one reader handles every line.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import TextIO

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.logging.types import LogRecord

LOGGER_NAME = "iot_pipeline.local"
_STANDARD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()
    # uvicorn adds an ANSI-coloured copy of its message; JSON readers want the plain one.
    | {"message", "asctime", "color_message"}
)


class JsonLogFormatter(logging.Formatter):
    """Formats a record as one JSON line; ``extra`` fields are kept, exceptions as text."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


class HandlerLogFormatter(LambdaPowertoolsFormatter):
    """Powertools' formatter (so appended keys such as ``request_id`` still work), writing
    the runtime's key names and order."""

    def __init__(self) -> None:
        super().__init__(utc=True, use_rfc3339=True)

    def serialize(self, log: LogRecord) -> str:
        """``{"time", "level", "logger", "message", ...Powertools' other keys}``."""
        log = dict(log)
        head = {
            "time": log.pop("timestamp", None),
            "level": str(log.pop("level", "")).lower(),
            "logger": log.pop("service", "iot-pipeline"),
            "message": log.pop("message", ""),
        }
        return json.dumps({**head, **log}, default=str)


def configure_logging(level: str = "info", *, stream: TextIO | None = None) -> None:
    """Send the runtime's, uvicorn's and the handlers' logs to ``stream`` (stderr) as JSON."""
    output = stream or sys.stderr
    _route_handler_logs(output, level)
    handler = logging.StreamHandler(output)
    handler.setFormatter(JsonLogFormatter())
    for name in (LOGGER_NAME, "iot_pipeline_backend", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level.upper())
        logger.propagate = False


def _route_handler_logs(stream: TextIO, level: str) -> None:
    # The handlers' Powertools logger exists once their module is imported; take over its
    # one handler rather than adding ours, so no line is written twice.
    from iot_pipeline_backend.handlers.observability import logger

    handler = logger.registered_handler
    if isinstance(handler, logging.StreamHandler):
        handler.setStream(stream)
    handler.setFormatter(HandlerLogFormatter())
    if "POWERTOOLS_LOG_LEVEL" not in os.environ:
        logger.setLevel(level.upper())
