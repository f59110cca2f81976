"""Platform choices every construct shares: Lambda runtime, architecture, log retention."""

from __future__ import annotations

from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs

from iot_pipeline_backend.infra.bundling import LAMBDA_PYTHON_VERSION

#: The newest Python runtime aws-cdk-lib offers; the layer's wheels are built for the same
#: version (``bundling.LAMBDA_PYTHON_VERSION``), which a test keeps in step.
LAMBDA_RUNTIME = lambda_.Runtime.PYTHON_3_14
LAMBDA_ARCHITECTURE = lambda_.Architecture.ARM_64
LOG_RETENTION = logs.RetentionDays.ONE_MONTH

if LAMBDA_RUNTIME.name != f"python{LAMBDA_PYTHON_VERSION}":
    raise RuntimeError("the Lambda runtime and the layer's Python version disagree")
