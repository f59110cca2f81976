"""Time-series reads: minute rollups kept by the processor, aggregates, the device list.

``rollups``  the processor's step after storing processed readings (recompute, never add)
``buckets``  ``GET /query`` with ``interval``: rollups merged into aligned buckets
``devices``  ``GET /devices`` and ``GET /devices/{device_id}``
``stats``    exact decimal statistics shared by all three
"""

from iot_pipeline_backend.domain.timeseries.buckets import aggregate_readings
from iot_pipeline_backend.domain.timeseries.devices import get_device, list_devices
from iot_pipeline_backend.domain.timeseries.rollups import maintain_rollups

__all__ = ["aggregate_readings", "get_device", "list_devices", "maintain_rollups"]
