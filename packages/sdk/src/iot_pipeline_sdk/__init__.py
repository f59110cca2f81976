"""iot-pipeline's Python SDK: sync and async clients with SigV4, retries and pagination.

::

    from iot_pipeline_sdk import Client

    with Client(endpoint="https://abc123.execute-api.eu-west-1.amazonaws.com/prod") as client:
        client.ingest("device-123", {"temperature": 25.5, "humidity": 60})
        for item in client.iter_query("device-123", event_date="2024-01-15"):
            print(item.timestamp, item.temperature_fahrenheit)
        for bucket in client.iter_aggregate("device-123", event_date="2024-01-15", interval="1h"):
            print(bucket.start, bucket.stats["temperature"].avg)

Errors (see :mod:`iot_pipeline_sdk._errors` for the tree) and the contract models are
importable from here too.
"""

from iot_pipeline_common import (
    BatchIngestResponse,
    Bucket,
    Device,
    ErrorDetail,
    FieldAggregate,
    IngestedItem,
    IngestResponse,
    ProcessedItem,
    ProcessResponse,
    QueryResponse,
    RawItem,
    Reading,
)

from iot_pipeline_sdk._async_client import AsyncClient
from iot_pipeline_sdk._auth import SigV4Auth
from iot_pipeline_sdk._base import __version__
from iot_pipeline_sdk._batching import prepare_readings
from iot_pipeline_sdk._client import Client
from iot_pipeline_sdk._errors import (
    APIError,
    AuthError,
    ConfigurationError,
    IoTPipelineError,
    NotFoundError,
    ServerError,
    ThrottledError,
    TransportError,
    ValidationError,
)
from iot_pipeline_sdk._pagination import AsyncQueryPage, QueryPage
from iot_pipeline_sdk._retry import RetryPolicy

__all__ = [
    "APIError",
    "AsyncClient",
    "AsyncQueryPage",
    "AuthError",
    "BatchIngestResponse",
    "Bucket",
    "Client",
    "ConfigurationError",
    "Device",
    "ErrorDetail",
    "FieldAggregate",
    "IngestResponse",
    "IngestedItem",
    "IoTPipelineError",
    "NotFoundError",
    "ProcessResponse",
    "ProcessedItem",
    "QueryPage",
    "QueryResponse",
    "RawItem",
    "Reading",
    "RetryPolicy",
    "ServerError",
    "SigV4Auth",
    "ThrottledError",
    "TransportError",
    "ValidationError",
    "__version__",
    "prepare_readings",
]
