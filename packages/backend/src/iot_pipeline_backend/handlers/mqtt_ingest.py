"""AWS IoT topic rule → the same ingest as ``POST /ingest``, for the thing's own readings.

The rule (infra/iot.py) selects ``SELECT *, topic(2) AS thing FROM 'iot-pipeline/+/readings'``
(https://docs.aws.amazon.com/iot/latest/developerguide/iot-sql-functions.html#iot-function-topic),
so the event is the device's JSON payload plus ``thing``, the topic's second level, which
IoT Core's policy only lets the thing itself publish to. ``thing`` is taken out again and
the rest is parsed, checked (every ``device_id`` = the thing) and stored exactly as an HTTP
body is. A refused payload stores nothing, and the device is told on its errors topic; a
store failure raises, so Lambda's asynchronous retries run and then its on-failure
destination (the MQTT dead-letter queue) keeps the event.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from iot_pipeline_common import keys
from iot_pipeline_common.errors import ContractError, RequestValidationError

from iot_pipeline_backend.errors import StoreUnavailableError
from iot_pipeline_backend.handlers.observability import count, lambda_entry, logger
from iot_pipeline_backend.handlers.runtime import current_adapters
from iot_pipeline_backend.mqtt import errors_topic
from iot_pipeline_backend.mqtt.bridge import error_body, ingest_published

#: The alias the rule's SQL gives ``topic(2)``.
THING_FIELD = "thing"

_replies: list[Any] = []
_replies_lock = threading.Lock()


def device_replies() -> Any:
    """The process's :class:`IotDeviceReplies`, created on first refusal (boto3 then)."""
    if not _replies:
        with _replies_lock:
            if not _replies:
                import boto3

                from iot_pipeline_backend.adapters.aws import CLIENT_CONFIG
                from iot_pipeline_backend.adapters.aws.iot import IotDeviceReplies

                _replies.append(IotDeviceReplies(boto3.client("iot-data", config=CLIENT_CONFIG)))
    return _replies[0]


def ingest_rule_event(event: Any) -> dict[str, Any]:
    """Ingest one rule event; ``{"stored": n}`` or ``{"stored": 0, "error": body}``."""
    thing = event.pop(THING_FIELD, None) if isinstance(event, dict) else None
    if not isinstance(thing, str) or not thing:
        # Only a rule other than ours could send this; there is no device to tell.
        logger.error("rule event without a thing name; is the rule's SQL ours?")
        raise RequestValidationError(f"The rule event has no {THING_FIELD!r}")
    try:
        stored = ingest_published(
            json.dumps(event), thing_name=thing, adapters=current_adapters(), now_ms=keys.now_ms()
        )
    except ContractError as exc:
        body = error_body(exc)
        logger.warning("mqtt payload refused", extra={"thing": thing, "error": body.message})
        count("MqttPayloadsRefused", 1)
        try:
            device_replies().tell(errors_topic(thing), body)
        except StoreUnavailableError:
            # Nothing was stored, so a retry would only refuse again: the log keeps it.
            logger.exception("could not tell the device why its payload was refused")
        return {"stored": 0, "error": body.model_dump(mode="json")}
    count("ReadingsIngested", len(stored))
    return {"stored": len(stored)}


@lambda_entry
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """IoT rule Lambda action event → stored and queued readings."""
    return ingest_rule_event(event)
