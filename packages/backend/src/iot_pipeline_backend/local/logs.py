"""Structured (one JSON object per line) logs for the local runtime.

Fields passed with ``extra=`` become top-level keys, so an access line reads
``{"time": ..., "level": "info", "logger": "iot_pipeline.local.access", "message": "POST
/prod/ingest 200", "request_id": ..., "status": 200, "duration_ms": 3.1}``.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TextIO

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


def configure_logging(level: str = "info", *, stream: TextIO | None = None) -> None:
    """Send the runtime's and uvicorn's logs to ``stream`` (stderr) as JSON lines."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonLogFormatter())
    for name in (LOGGER_NAME, "iot_pipeline_backend", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level.upper())
        logger.propagate = False
