"""The simulator's adapter to a real pipeline: the SDK's ``AsyncClient``.

Credentials and region are resolved exactly as the SDK resolves them (explicit options, then
``AWS_PROFILE`` / ``AWS_SHARED_CREDENTIALS_FILE`` / the rest of botocore's chain).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from iot_pipeline_common import IngestResponse
from iot_pipeline_sdk import AsyncClient, BatchIngestResponse

from iot_pipeline_simulator.verify import StoredReading, StoredReadings, Table

#: Items per query page when reading a device back (the contract's maximum).
_PAGE = 1000
#: The device a preflight query asks about; it never has readings.
PREFLIGHT_DEVICE = "iot-sim-preflight"


def open_client(
    *,
    endpoint: str,
    region: str | None,
    aws_profile: str | None,
    max_connections: int,
    timeout_s: float,
    retries: int,
) -> AsyncClient:
    """An ``AsyncClient`` sized for ``max_connections`` concurrent requests."""
    return AsyncClient(
        endpoint=endpoint,
        region=region,
        profile=aws_profile,
        timeout=timeout_s,
        retries=retries,
        max_connections=max_connections,
    )


class PipelineSink:
    """The runner's sink on a real pipeline: the SDK client, plus an unchecked path.

    Valid readings go through the SDK (signing, retries, batching limits). A reading that is
    invalid on purpose would be refused by the SDK's own validation before it left; it goes
    through the SDK's unchecked ``request()`` instead (still signed, retried and mapped to the
    SDK's errors), so the *pipeline* must reject it.
    """

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def preflight(self) -> None:
        """One signed read before the clock starts.

        Bad credentials, a wrong region or an unreachable endpoint fail here, once, instead
        of as thousands of errors; and the first request's one-off costs (imports, connection
        setup) do not show up as schedule lag.
        """
        await self._client.query(PREFLIGHT_DEVICE, table="raw", limit=1)

    async def ingest(
        self,
        device_id: str,
        sensor_data: Mapping[str, float],
        *,
        timestamp: int | None = None,
        reading_id: str | None = None,
        seq: int | None = None,
    ) -> IngestResponse:
        """One reading through the SDK."""
        return await self._client.ingest(
            device_id, sensor_data, timestamp=timestamp, reading_id=reading_id, seq=seq
        )

    async def ingest_batch(self, readings: list[dict[str, Any]]) -> BatchIngestResponse:
        """A batch through the SDK."""
        return await self._client.ingest_batch(readings)

    async def ingest_invalid(self, body: dict[str, Any]) -> IngestResponse:
        """POST ``body`` unvalidated; the SDK's error for the status that comes back."""
        return IngestResponse.model_validate(
            await self._client.request("POST", "/ingest", json=body)
        )


def stored_readings(client: AsyncClient) -> StoredReadings:
    """Read a device's stored items back through ``GET /query`` (all pages)."""

    async def fetch(
        device_id: str, *, table: Table, start: int, end: int
    ) -> Sequence[StoredReading]:
        found: list[StoredReading] = []
        if table == "raw":
            async for raw in client.iter_query(
                device_id, start=start, end=end, table="raw", limit=_PAGE
            ):
                found.append(StoredReading(raw.reading_id, raw.seq, raw.timestamp, raw.ingested_at))
        else:
            async for item in client.iter_query(
                device_id, start=start, end=end, table="processed", limit=_PAGE
            ):
                found.append(
                    StoredReading(item.reading_id, item.seq, item.timestamp, item.ingested_at)
                )
        return found

    return fetch
