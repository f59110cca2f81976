"""The device list and one device: first/last seen, distinct readings, the latest reading."""

from __future__ import annotations

from typing import Any

from iot_pipeline_common import limits
from iot_pipeline_common.aggregates import Device, DevicesParams, DevicesResponse

from iot_pipeline_backend.domain.query import decode_next_token, encode_next_token
from iot_pipeline_backend.errors import DeviceNotFoundError
from iot_pipeline_backend.ports import DeviceRecord, TimeSeriesStore, TokenKeySource

_VERSION = 1


def device_of(record: DeviceRecord) -> Device:
    """The API's view of a device record."""
    return Device(
        device_id=record.device_id,
        first_seen=record.first_seen,
        last_seen=record.last_seen,
        readings=record.readings,
        latest=record.latest,
    )


def get_device(device_id: str, *, timeseries: TimeSeriesStore) -> Device:
    """One device, or :class:`DeviceNotFoundError` when none of its readings was processed."""
    # An id no reading could carry names no device (and never reaches a store).
    well_formed = len(device_id) <= limits.ID_MAX_LENGTH and limits.ID_REGEX.fullmatch(device_id)
    record = timeseries.get_device(device_id) if well_formed else None
    if record is None:
        raise DeviceNotFoundError(device_id)
    return device_of(record)


def list_devices(
    params: DevicesParams, *, timeseries: TimeSeriesStore, token_key: TokenKeySource
) -> DevicesResponse:
    """One page of devices whose id starts with ``prefix``, in ``device_id`` order."""
    identity: dict[str, Any] = {"v": _VERSION, "kind": "devices", "prefix": params.prefix}
    after = (
        None
        if params.next_token is None
        else decode_next_token(params.next_token, identity, key=token_key.token_key())
    )
    page = timeseries.list_devices(prefix=params.prefix, limit=params.limit, after=after)
    token = (
        None
        if page.last_device_id is None
        else encode_next_token(identity, page.last_device_id, key=token_key.token_key())
    )
    items = [device_of(record) for record in page.devices]
    return DevicesResponse(count=len(items), items=items, next_token=token)
