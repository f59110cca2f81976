"""The simulator's adapter to a real pipeline: the SDK's ``AsyncClient``.

Credentials and region are resolved exactly as the SDK resolves them (explicit options, then
``AWS_PROFILE`` / ``AWS_SHARED_CREDENTIALS_FILE`` / the rest of botocore's chain).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx
from iot_pipeline_common import IngestResponse
from iot_pipeline_sdk import APIError, AsyncClient, BatchIngestResponse, ValidationError

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
    invalid on purpose would be refused by the SDK's own validation before it left; it is
    signed with the client's SigV4 auth and posted as is, so the *pipeline* must reject it.
    """

    def __init__(
        self, client: AsyncClient, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._client = client
        self._raw = httpx.AsyncClient(auth=client.auth, timeout=client.timeout, transport=transport)
        self._ingest_url = str(client.endpoint).rstrip("/") + "/ingest"

    async def preflight(self) -> None:
        """One signed read before the clock starts.

        Bad credentials, a wrong region or an unreachable endpoint fail here, once, instead
        of as thousands of errors; and the first request's one-off costs (imports, connection
        setup) do not show up as schedule lag.
        """
        await self._client.query(PREFLIGHT_DEVICE, table="raw", limit=1)

    async def aclose(self) -> None:
        """Close the unchecked path's connections (the client is closed by its owner)."""
        await self._raw.aclose()

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
        """POST ``body`` unvalidated; raise the SDK's error for the status that comes back."""
        response = await self._raw.post(
            self._ingest_url, json=body, headers={"content-type": "application/json"}
        )
        if response.is_success:
            return IngestResponse.model_validate_json(response.content)
        code, message = _error_fields(response)
        error_class = ValidationError if response.status_code in (400, 413) else APIError
        raise error_class(
            status_code=response.status_code,
            code=code,
            message=message,
            request_id=response.headers.get("x-amzn-requestid"),
        )


def _error_fields(response: httpx.Response) -> tuple[str, str]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        code = body.get("error")
        message = body.get("message")
        return (
            code if isinstance(code, str) else f"http_{response.status_code}",
            message if isinstance(message, str) else response.reason_phrase,
        )
    return f"http_{response.status_code}", response.text[:200]


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
