"""A published payload → the same ingest as ``POST /ingest``, for one thing's own readings.

Both MQTT entry points call :func:`ingest_published`: the local server for each PUBLISH on
``iot-pipeline/<thing>/readings`` (and sends the PUBACK only once it returned), and the
Lambda behind the AWS IoT topic rule. So a payload is parsed by the same
``parse_ingest_body``, stored and queued by the same ``domain.ingest.ingest_readings`` in
one :func:`~iot_pipeline_backend.adapters.atomic` group, as an HTTP request is.

A thing publishes only its own readings: every ``device_id`` in the payload must be the
connection's thing name, or nothing is stored and the error names the field.
"""

from __future__ import annotations

from collections.abc import Sequence

from iot_pipeline_common.errors import ContractError, ErrorCode, RequestValidationError
from iot_pipeline_common.models import ErrorBody, ErrorDetail, RawItem, Reading
from iot_pipeline_common.parsing import parse_ingest_body

from iot_pipeline_backend.adapters import Adapters, atomic
from iot_pipeline_backend.domain.ingest import ingest_readings
from iot_pipeline_backend.errors import StoreUnavailableError


def check_own_readings(readings: Sequence[Reading], *, thing_name: str, batch: bool) -> None:
    """Raise a :class:`RequestValidationError` naming each reading of another device."""
    details = [
        ErrorDetail(
            field=f"readings[{index}].device_id" if batch else "device_id",
            message=f"is {reading.device_id!r}, not this connection's thing name "
            f"{thing_name!r}; a device publishes only its own readings",
            type="thing_name",
        )
        for index, reading in enumerate(readings)
        if reading.device_id != thing_name
    ]
    if details:
        shown = "; ".join(f"{d.field}: {d.message}" for d in details[:5])
        raise RequestValidationError(f"Invalid reading: {shown}", details=details)


def ingest_published(
    payload: bytes | str, *, thing_name: str, adapters: Adapters, now_ms: int
) -> list[RawItem]:
    """Validate, check ownership, store and enqueue; return the stored records.

    Raises a :class:`ContractError` for a payload to refuse (nothing stored) and
    :class:`StoreUnavailableError` when a store or the queue failed (nothing acknowledged).
    """
    request = parse_ingest_body(payload)
    single = isinstance(request, Reading)
    readings = [request] if isinstance(request, Reading) else request.readings
    check_own_readings(readings, thing_name=thing_name, batch=not single)
    config = adapters.config.load_config()
    with atomic(adapters):
        return ingest_readings(
            readings,
            raw_store=adapters.raw,
            queue=adapters.queue,
            config=config,
            now_ms=now_ms,
        )


def error_body(exc: ContractError | StoreUnavailableError) -> ErrorBody:
    """The JSON body a device gets on its errors topic: the same one HTTP would answer."""
    if isinstance(exc, ContractError):
        return ErrorBody(message=exc.message, error=exc.code.value, details=exc.details)
    return ErrorBody(
        message="The service is temporarily unavailable; nothing was stored. Publish again.",
        error=ErrorCode.SERVICE_UNAVAILABLE.value,
    )


__all__ = ["check_own_readings", "error_body", "ingest_published"]
