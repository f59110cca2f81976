"""Every name and fixed number of the deployment, in one place.

Each name carries the ``environment_suffix`` (context ``-c environment_suffix=qa``, default
``dev``), so several copies of the pipeline live side by side in one account.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from iot_pipeline_common import limits

DEFAULT_ENVIRONMENT_SUFFIX: Final = "dev"
CONTEXT_ENVIRONMENT_SUFFIX: Final = "environment_suffix"
CONTEXT_BUNDLE: Final = "bundle"
CONTEXT_CONFIG_FILE: Final = "config_file"
CONTEXT_RETAIN_DATA: Final = "retain_data"
CONTEXT_RESERVED_CONCURRENCY: Final = "reserved_concurrency"
CONTEXT_APIGW_CLOUDWATCH_ROLE: Final = "apigw_cloudwatch_role"

STAGE_NAME: Final = limits.STAGE
STAGE_RATE_LIMIT_RPS: Final = 1000
STAGE_BURST_LIMIT: Final = 2000

#: Per function, by default (context ``reserved_concurrency``; 0 = unreserved). Lambda keeps
#: 100 of the account's quota unreserved, so three functions need a quota of 3 × this + 100.
RESERVED_CONCURRENCY: Final = 100
#: Lambda's lower bound for an SQS event source mapping's MaximumConcurrency.
MIN_QUEUE_CONCURRENCY: Final = 2
MIN_RESERVED_CONCURRENCY: Final = MIN_QUEUE_CONCURRENCY
#: The queue's MaximumConcurrency when the processor has no reserved concurrency.
UNRESERVED_QUEUE_CONCURRENCY: Final = 100
#: An SQS event source mapping takes a batch over 10 only with a batching window.
SQS_BATCH_WITHOUT_WINDOW_MAX: Final = 10
LAMBDA_MEMORY_MB: Final = 512
API_FUNCTION_TIMEOUT_SECONDS: Final = 29  # API Gateway's own integration limit
#: SQS's longest retention: a backlog behind an outage survives two weeks.
QUEUE_RETENTION_DAYS: Final = 14
DLQ_RETENTION_DAYS: Final = 14
#: Days a default deployment keeps readings (DynamoDB TTL); the cost model prices the same.
DEFAULT_RETENTION_DAYS: Final = 30

METRICS_NAMESPACE: Final = "IoTPipeline"
#: The handlers' Powertools ``service`` dimension and the metric they add when a store or
#: enqueue call fails for good (handlers/observability.py; a test keeps them in step).
METRICS_SERVICE: Final = "iot-pipeline"
STORE_FAILURES_METRIC: Final = "StoreFailures"
LOG_LEVEL: Final = "INFO"

# Alarm thresholds, each over one 5-minute period.
ALARM_PERIOD_MINUTES: Final = 5
LAMBDA_ERRORS_THRESHOLD: Final = 10
LAMBDA_THROTTLES_THRESHOLD: Final = 5
DYNAMODB_THROTTLES_THRESHOLD: Final = 10
DLQ_MESSAGES_THRESHOLD: Final = 1
API_5XX_THRESHOLD: Final = 5
STORE_FAILURES_THRESHOLD: Final = 1

HANDLER_MODULE: Final = "iot_pipeline_backend.handlers"

# Table keys (docs/architecture.md "Data model").
PARTITION_KEY: Final = "device_id"
SORT_KEY: Final = "sk"
TTL_ATTRIBUTE: Final = "expires_at"


@dataclass(frozen=True, kw_only=True)
class ResourceNames:
    """The physical name of every named resource for one ``environment_suffix``."""

    suffix: str

    @property
    def stack(self) -> str:
        return f"iot-pipeline-{self.suffix}"

    @property
    def raw_table(self) -> str:
        return f"raw-sensor-data-{self.suffix}"

    @property
    def processed_table(self) -> str:
        return f"processed-data-{self.suffix}"

    @property
    def aggregates_table(self) -> str:
        return f"aggregates-{self.suffix}"

    @property
    def queue(self) -> str:
        return f"iot-ingestion-queue-{self.suffix}"

    @property
    def dead_letter_queue(self) -> str:
        return f"iot-ingestion-dlq-{self.suffix}"

    @property
    def alert_topic(self) -> str:
        return f"iot-alerts-{self.suffix}"

    @property
    def api(self) -> str:
        return f"iot-api-{self.suffix}"

    @property
    def ingestion_function(self) -> str:
        return f"data-ingestion-{self.suffix}"

    @property
    def processor_function(self) -> str:
        return f"data-processor-{self.suffix}"

    @property
    def query_function(self) -> str:
        return f"data-query-{self.suffix}"

    @property
    def api_key_writer_function(self) -> str:
        return f"iot-api-key-writer-{self.suffix}"

    @property
    def dependencies_layer(self) -> str:
        return f"iot-pipeline-deps-{self.suffix}"

    @property
    def config_parameter(self) -> str:
        return f"/iot-pipeline/{self.suffix}/config"

    @property
    def api_key_parameter(self) -> str:
        return f"/iot-pipeline/{self.suffix}/api-key"

    @property
    def kms_alias(self) -> str:
        return f"alias/iot-pipeline-{self.suffix}"

    @property
    def dashboard(self) -> str:
        return f"iot-pipeline-{self.suffix}"

    @property
    def access_log_group(self) -> str:
        return f"/aws/apigateway/iot-api-{self.suffix}/access"

    def execution_log_group(self, rest_api_id: str) -> str:
        """Where API Gateway writes a stage's execution logs (the name it always uses)."""
        return f"API-Gateway-Execution-Logs_{rest_api_id}/{STAGE_NAME}"

    def function_log_group(self, function_name: str) -> str:
        """Lambda writes to this group by default; creating it ourselves sets KMS and retention."""
        return f"/aws/lambda/{function_name}"

    def alarm(self, what: str) -> str:
        return f"iot-pipeline-{self.suffix}-{what}"
