"""The backend's error tree; mapped to HTTP/SQS outcomes at one boundary (``handlers/http``).

::

    BackendError                    every error the backend raises on purpose
     ├── SettingsError              bad environment / config at start (process refuses to start)
     ├── ConfigError                pipeline config JSON invalid (names the key)
     ├── InvalidNextTokenError      a forged or corrupt pagination token (400)
     ├── MalformedMessageError      a queue message that is not ``{"readings": [...]}``
     ├── StoreUnavailableError      a store, the queue or the alert sink failed
     │    │                         (5xx; nothing acknowledged)
     │    └── PartiallyStoredError  stored but not queued by this request: the undo failed,
     │                              or another request holds some of the readings
     ├── RollupConflictError        a device's rollups changed under a writer (it retries)
     └── DeviceNotFoundError        ``GET /devices/{device_id}`` of an unknown device (404)

Contract violations in requests are :class:`iot_pipeline_common.ContractError` (4xx).
"""

from __future__ import annotations


class BackendError(Exception):
    """Base of the backend's own errors."""


class SettingsError(BackendError):
    """The process settings are invalid; the message names the variable."""


class ConfigError(BackendError):
    """The pipeline config is invalid; the message names the key."""


class InvalidNextTokenError(BackendError):
    """``next_token`` was not issued by this pipeline for this query."""


class MalformedMessageError(BackendError):
    """A queue message body is not the pipeline's ``{"readings": [...]}`` format."""


class StoreUnavailableError(BackendError):
    """A dependency (table, queue, topic, parameter) failed; the request is not acknowledged."""


class RollupConflictError(BackendError):
    """Another writer changed the device's rollups since they were read; recompute and retry."""


class DeviceNotFoundError(BackendError):
    """No reading of this device was ever processed."""

    def __init__(self, device_id: str) -> None:
        super().__init__(f"No device {device_id!r}: no reading of it has been processed")
        self.device_id = device_id


class PartiallyStoredError(StoreUnavailableError):
    """Readings may be stored though this request did not queue them (503, says so).

    ``undo_failed``: removing them failed too (a fault, counted); else some stay because
    another request holds them (it acknowledged them, or will remove them in turn).
    """

    def __init__(self, message: str, *, undo_failed: bool = True) -> None:
        super().__init__(message)
        self.undo_failed = undo_failed
