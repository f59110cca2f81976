"""One log format on one stream: the handlers' Powertools lines look like the runtime's."""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import logging
from iot_pipeline_backend.local.logs import configure_logging
configure_logging("info")
from iot_pipeline_backend.handlers.observability import logger
logger.thread_safe_append_keys(request_id="req-1")
logger.info("from a handler")
try:
    1 / 0
except ZeroDivisionError:
    logger.exception("handler failed")
logging.getLogger("iot_pipeline.local.runtime").info("from the runtime", extra={"k": 1})
"""


def test_given_the_local_runtime_logging_then_handler_lines_go_to_stderr_in_its_json_shape() -> (
    None
):
    # GIVEN the runtime's logging, WHEN a handler (Powertools) and the runtime both log
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=True
    )
    # THEN nothing goes to stdout (it carries the banner only)
    assert result.stdout == ""
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    # AND every line on stderr starts with the same keys, in the same order
    assert [list(line)[:4] for line in lines] == [["time", "level", "logger", "message"]] * 3
    handler, failure, runtime = lines
    assert (handler["level"], handler["logger"], handler["message"]) == (
        "info",
        "iot-pipeline",
        "from a handler",
    )
    assert handler["request_id"] == "req-1"  # Powertools' appended keys still work
    assert failure["level"] == "error" and "ZeroDivisionError" in failure["exception"]
    assert (runtime["logger"], runtime["k"]) == ("iot_pipeline.local.runtime", 1)
    # AND the times have one format (UTC, milliseconds)
    assert {len(line["time"]) for line in lines} == {len("2024-01-15T10:30:00.123+00:00")}
