"""Shared fixtures: a fresh data directory and local adapters over a real SQLite file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from iot_pipeline_backend.adapters.aws import AwsAdapters, timeseries
from iot_pipeline_backend.adapters.local import LocalAdapters
from iot_pipeline_backend.settings import Settings
from moto import mock_aws


class FakeClock:
    """A wall clock that only moves when a test says so (visibility timeouts without sleeps)."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def local_adapters(tmp_path: Path, clock: FakeClock) -> Iterator[LocalAdapters]:
    adapters = LocalAdapters.open(tmp_path / "data", clock=clock)
    yield adapters
    adapters.close()


REGION = "us-east-1"


@dataclass
class AwsStack:
    session: boto3.Session
    settings: Settings
    adapters: AwsAdapters

    def drain_queue(self) -> list[str]:
        sqs = self.session.client("sqs")
        bodies: list[str] = []
        while True:
            response = sqs.receive_message(
                QueueUrl=self.settings.queue_url or "", MaxNumberOfMessages=10
            )
            messages = response.get("Messages", [])
            if not messages:
                return bodies
            for message in messages:
                bodies.append(message["Body"])
                sqs.delete_message(
                    QueueUrl=self.settings.queue_url or "", ReceiptHandle=message["ReceiptHandle"]
                )


def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


_sessions: list[boto3.Session] = []


def _session() -> boto3.Session:
    # One session for the whole run: its loader caches the service models, which are the
    # slow part of creating a client.
    if not _sessions:
        _sessions.append(boto3.Session(region_name=REGION))
    return _sessions[0]


@contextmanager
def aws_stack(*, config: dict[str, object] | None = None) -> Iterator[AwsStack]:
    """Inside ``mock_aws``: the stack's resources and adapters built from its settings."""
    with mock_aws():
        session = _session()
        dynamodb = session.client("dynamodb")
        for table in ("raw-sensor-data-test", "processed-data-test"):
            dynamodb.create_table(
                TableName=table,
                KeySchema=[
                    {"AttributeName": "device_id", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                AttributeDefinitions=[
                    {"AttributeName": "device_id", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "S"},
                ],
                BillingMode="PAY_PER_REQUEST",
            )
        dynamodb.create_table(
            TableName="aggregates-test", BillingMode="PAY_PER_REQUEST", **timeseries.TABLE_KEYS
        )
        queue_url = session.client("sqs").create_queue(QueueName="iot-ingestion-test")["QueueUrl"]
        topic_arn = session.client("sns").create_topic(Name="iot-alerts-test")["TopicArn"]
        ssm = session.client("ssm")
        ssm.put_parameter(
            Name="/iot-pipeline/test/config", Type="String", Value=json.dumps(config or {})
        )
        ssm.put_parameter(
            Name="/iot-pipeline/test/api-key", Type="SecureString", Value="s3cr3t-api-key"
        )
        settings = Settings(
            backend="aws",
            environment="test",
            raw_table_name="raw-sensor-data-test",
            processed_table_name="processed-data-test",
            aggregates_table_name="aggregates-test",
            queue_url=queue_url,
            alert_topic_arn=topic_arn,
            config_parameter_name="/iot-pipeline/test/config",
            api_key_parameter_name="/iot-pipeline/test/api-key",
        )
        adapters = AwsAdapters(settings, session=session, sleep=lambda _: None)
        yield AwsStack(session=session, settings=settings, adapters=adapters)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsStack]:
    """The stack's resources in moto, and AWS adapters on them."""
    aws_credentials(monkeypatch)
    with aws_stack() as stack:
        yield stack
