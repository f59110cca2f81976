"""The simulator's adapter to a real pipeline: the SDK's ``AsyncClient``.

Credentials and region are resolved exactly as the SDK resolves them (explicit options, then
``AWS_PROFILE`` / ``AWS_SHARED_CREDENTIALS_FILE`` / the rest of botocore's chain).
"""

from __future__ import annotations

from collections.abc import Sequence

from iot_pipeline_sdk import AsyncClient

from iot_pipeline_simulator.verify import StoredReading, StoredReadings, Table

#: Items per query page when reading a device back (the contract's maximum).
_PAGE = 1000


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
