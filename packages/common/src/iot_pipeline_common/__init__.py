"""iot-pipeline's wire contract: models, limits and SigV4 canonicalisation (no I/O)."""

from iot_pipeline_common.errors import (
    ContractError,
    ErrorCode,
    PayloadTooLargeError,
    RequestValidationError,
)
from iot_pipeline_common.models import (
    AlertRule,
    Anomaly,
    BatchIngestRequest,
    BatchIngestResponse,
    ErrorBody,
    ErrorDetail,
    IngestedItem,
    IngestResponse,
    PipelineConfig,
    ProcessedItem,
    ProcessRequest,
    ProcessResponse,
    QueryParams,
    QueryResponse,
    RawItem,
    Reading,
    SensorRange,
)
from iot_pipeline_common.parsing import (
    parse_ingest_body,
    parse_process_body,
    parse_query_params,
)

__all__ = [
    "AlertRule",
    "Anomaly",
    "BatchIngestRequest",
    "BatchIngestResponse",
    "ContractError",
    "ErrorBody",
    "ErrorCode",
    "ErrorDetail",
    "IngestResponse",
    "IngestedItem",
    "PayloadTooLargeError",
    "PipelineConfig",
    "ProcessRequest",
    "ProcessResponse",
    "ProcessedItem",
    "QueryParams",
    "QueryResponse",
    "RawItem",
    "Reading",
    "RequestValidationError",
    "SensorRange",
    "parse_ingest_body",
    "parse_process_body",
    "parse_query_params",
]
