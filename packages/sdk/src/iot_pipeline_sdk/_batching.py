"""Turn any number of readings into request bodies the contract accepts.

Each body holds at most ``limits.BATCH_MAX_READINGS`` readings and at most
``limits.MAX_BODY_BYTES`` bytes; the size is that of the exact bytes that are sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import pydantic
from iot_pipeline_common import ErrorCode, ErrorDetail, Reading, limits
from iot_pipeline_common.errors import validation_details
from iot_pipeline_common.keys import new_reading_id

from iot_pipeline_sdk._errors import ValidationError

_PREFIX = b'{"readings":['
_SUFFIX = b"]}"


def prepare_readings(readings: Iterable[Reading | Mapping[str, Any]]) -> list[Reading]:
    """Validate every reading and give each one a ``reading_id`` (all before anything is sent).

    The id makes a retried or re-sent batch idempotent: the pipeline stores a reading id once.
    ``ingest_batch`` calls this itself; call it yourself to keep the ids, so that sending the
    same list again after a failure part-way stores nothing twice. Raises
    :class:`ValidationError` naming every bad index (``readings[3].sensor_data.humidity``).
    """
    prepared: list[Reading] = []
    details: list[ErrorDetail] = []
    for index, item in enumerate(readings):
        if isinstance(item, Reading):
            reading = item
        else:
            try:
                reading = Reading.model_validate(item)
            except pydantic.ValidationError as exc:
                for detail in validation_details(exc):
                    field = f"readings[{index}]" + (f".{detail.field}" if detail.field else "")
                    details.append(detail.model_copy(update={"field": field}))
                continue
        if reading.reading_id is None:
            reading = reading.model_copy(update={"reading_id": new_reading_id()})
        prepared.append(reading)
    if details:
        shown = "; ".join(f"{d.field}: {d.message}" for d in details[:5])
        more = f" (and {len(details) - 5} more)" if len(details) > 5 else ""
        raise ValidationError(
            status_code=400,
            code=ErrorCode.VALIDATION,
            message=f"Invalid readings: {shown}{more}",
            details=details,
        )
    return prepared


def encode_reading(reading: Reading) -> bytes:
    """The reading's JSON as sent (unset optional fields left out)."""
    return reading.model_dump_json(exclude_none=True).encode()


def batch_bodies(
    readings: list[Reading],
    *,
    max_readings: int = limits.BATCH_MAX_READINGS,
    max_bytes: int = limits.MAX_BODY_BYTES,
) -> Iterator[tuple[bytes, int]]:
    """``(body, reading count)`` per request, greedy, in order."""
    chunk: list[bytes] = []
    size = len(_PREFIX) + len(_SUFFIX)
    for index, reading in enumerate(readings):
        encoded = encode_reading(reading)
        extra = len(encoded) + (1 if chunk else 0)  # the comma before it
        if chunk and (len(chunk) >= max_readings or size + extra > max_bytes):
            yield _PREFIX + b",".join(chunk) + _SUFFIX, len(chunk)
            chunk, size = [], len(_PREFIX) + len(_SUFFIX)
            extra = len(encoded)
        if size + extra > max_bytes:
            raise ValidationError(
                status_code=413,
                code=ErrorCode.PAYLOAD_TOO_LARGE,
                message=(
                    f"Reading {index} alone encodes to {len(encoded)} bytes; a request body "
                    f"holds at most {max_bytes} bytes"
                ),
                details=[ErrorDetail(field=f"readings[{index}]", message="too large")],
            )
        chunk.append(encoded)
        size += extra
    if chunk:
        yield _PREFIX + b",".join(chunk) + _SUFFIX, len(chunk)
