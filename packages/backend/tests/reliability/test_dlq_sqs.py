"""The deployed shape in moto: an SQS queue with a redrive policy into its DLQ, DynamoDB tables,
an SNS alert topic and SSM config, named as the CDK stack names them; the processor handler on
the AWS adapters, fed the way the SQS event source mapping feeds it.

A poison message dead-letters after max receives while the others are processed once, the
error-threshold alert reaches the topic, ``iot-pipeline dlq list`` shows the message and
``dlq redrive`` replays it; the same SQS message delivered twice is one DynamoDB item.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from click.testing import CliRunner
from iot_pipeline_backend.adapters.aws import AwsAdapters, timeseries
from iot_pipeline_backend.cli import main
from iot_pipeline_backend.domain.ingest import ingest_readings
from iot_pipeline_backend.handlers import processor
from iot_pipeline_backend.handlers.runtime import use_adapters
from iot_pipeline_backend.infra.constants import ResourceNames
from iot_pipeline_backend.settings import Settings
from iot_pipeline_common.models import PipelineConfig, Reading
from moto import mock_aws

from .conftest import AdaptersWithFaults, FlakyProcessedStore

REGION = "us-east-1"
NAMES = ResourceNames(suffix="reliability")
MAX_RECEIVE_COUNT = 3
CONFIG = {"max_receive_count": MAX_RECEIVE_COUNT, "error_threshold": 1}


@dataclass
class DeployedStack:
    session: boto3.Session
    adapters: AwsAdapters
    queue_url: str
    dlq_url: str
    alerts_url: str

    @property
    def sqs(self) -> Any:
        return self.session.client("sqs")

    def messages_in(self, url: str) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )

    def processed_ids(self) -> list[str]:
        table = self.session.resource("dynamodb").Table(NAMES.processed_table)
        return sorted(str(item["reading_id"]) for item in table.scan()["Items"])

    def alerts(self) -> list[dict[str, Any]]:
        response = self.sqs.receive_message(QueueUrl=self.alerts_url, MaxNumberOfMessages=10)
        return [json.loads(json.loads(m["Body"])["Message"]) for m in response.get("Messages", [])]


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[DeployedStack]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        dynamodb = session.client("dynamodb")
        for table in (NAMES.raw_table, NAMES.processed_table):
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
            TableName=NAMES.aggregates_table, BillingMode="PAY_PER_REQUEST", **timeseries.TABLE_KEYS
        )
        sqs = session.client("sqs")
        dlq_url = sqs.create_queue(QueueName=NAMES.dead_letter_queue)["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        # Visibility 0: a failed message is visible again at once, so the test need not wait
        # out a timeout; the receive count still rises on every delivery.
        queue_url = sqs.create_queue(
            QueueName=NAMES.queue,
            Attributes={
                "VisibilityTimeout": "0",
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVE_COUNT)}
                ),
            },
        )["QueueUrl"]
        sns = session.client("sns")
        topic_arn = sns.create_topic(Name=NAMES.alert_topic)["TopicArn"]
        alerts_url = sqs.create_queue(QueueName="alert-inbox")["QueueUrl"]
        alerts_arn = sqs.get_queue_attributes(QueueUrl=alerts_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=alerts_arn)
        ssm = session.client("ssm")
        ssm.put_parameter(Name=NAMES.config_parameter, Type="String", Value=json.dumps(CONFIG))
        ssm.put_parameter(Name=NAMES.api_key_parameter, Type="SecureString", Value="k" * 40)
        settings = Settings(
            backend="aws",
            environment=NAMES.suffix,
            raw_table_name=NAMES.raw_table,
            processed_table_name=NAMES.processed_table,
            aggregates_table_name=NAMES.aggregates_table,
            queue_url=queue_url,
            alert_topic_arn=topic_arn,
            config_parameter_name=NAMES.config_parameter,
            api_key_parameter_name=NAMES.api_key_parameter,
        )
        adapters = AwsAdapters(settings, session=session, sleep=lambda _: None)
        previous = use_adapters(None)
        try:
            yield DeployedStack(session, adapters, queue_url, dlq_url, alerts_url)
        finally:
            use_adapters(previous)


def _install(stack: DeployedStack, failures: dict[str, int]) -> FlakyProcessedStore:
    faulty = FlakyProcessedStore(stack.adapters.processed, failures)
    use_adapters(AdaptersWithFaults(inner=stack.adapters, processed=faulty))  # type: ignore[arg-type]
    return faulty


def _event_source_mapping_poll(stack: DeployedStack) -> int:
    """One poll as the SQS event source mapping does it: receive, invoke, delete successes."""
    sqs = stack.sqs
    messages = sqs.receive_message(
        QueueUrl=stack.queue_url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
    ).get("Messages", [])
    if not messages:
        return 0
    event = {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{REGION}:123456789012:{NAMES.queue}",
                "awsRegion": REGION,
            }
            for m in messages
        ]
    }
    response = processor.lambda_handler(event, None)
    failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
    for message in messages:
        if message["MessageId"] not in failed:
            sqs.delete_message(QueueUrl=stack.queue_url, ReceiptHandle=message["ReceiptHandle"])
    return len(messages)


def _enqueue(stack: DeployedStack, *reading_ids: str) -> None:
    ingest_readings(
        [
            Reading(device_id="sqs-device", sensor_data={"temperature": 19.5}, reading_id=r)
            for r in reading_ids
        ],
        raw_store=stack.adapters.raw,
        queue=stack.adapters.queue,
        config=PipelineConfig(),
        now_ms=1_705_314_600_000,
    )


def _cli(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_given_a_poison_message_then_it_dead_letters_alone_and_redrive_replays_it(
    stack: DeployedStack,
) -> None:
    # GIVEN three messages, the middle one failing every time
    for reading_id in ("good-1", "poison", "good-2"):
        _enqueue(stack, reading_id)
    faulty = _install(stack, {"poison": -1})

    # WHEN the event source mapping polls until the queue is empty (bounded)
    polls = [_event_source_mapping_poll(stack) for _ in range(MAX_RECEIVE_COUNT + 2)]

    # THEN the poison message was delivered max_receive_count times, then moved to the DLQ
    assert polls == [3, 1, 1, 0, 0]
    assert faulty.attempts_of("poison") == MAX_RECEIVE_COUNT
    assert faulty.attempts_of("good-1") == faulty.attempts_of("good-2") == 1
    assert stack.processed_ids() == ["good-1", "good-2"]
    assert stack.messages_in(stack.queue_url) == 0
    assert stack.messages_in(stack.dlq_url) == 1
    # AND each failed batch raised the error-threshold alert on the topic
    alerts = stack.alerts()
    assert alerts and {a["kind"] for a in alerts} == {"error_threshold"}

    # WHEN an operator lists the deployed DLQ, by URL and by stack suffix
    by_url = _cli("dlq", "list", "--dlq-url", stack.dlq_url)
    [by_suffix] = [
        json.loads(line)
        for line in _cli("dlq", "list", "--stack-suffix", NAMES.suffix, "--json").splitlines()
    ]
    # THEN the poison message and its reading are shown, and it stays in the DLQ
    assert "1 reading(s) from sqs-device [poison]" in by_url
    assert by_suffix["reading_ids"] == ["poison"]
    assert stack.messages_in(stack.dlq_url) == 1

    # WHEN the cause is fixed and the DLQ is redriven (source queue found from the DLQ)
    faulty.heal()
    assert "Redrove 1 message(s)" in _cli("dlq", "redrive", "--dlq-url", stack.dlq_url)
    # THEN it is back in the queue, processed on the next poll, and the DLQ is empty
    assert stack.messages_in(stack.dlq_url) == 0
    assert _event_source_mapping_poll(stack) == 1
    assert stack.processed_ids() == ["good-1", "good-2", "poison"]
    assert stack.messages_in(stack.queue_url) == 0
    assert "empty" in _cli("dlq", "list", "--stack-suffix", NAMES.suffix)


def test_given_the_same_sqs_message_delivered_twice_then_one_dynamodb_item(
    stack: DeployedStack,
) -> None:
    # GIVEN one message whose first delivery was processed but not deleted
    _enqueue(stack, "twice-1", "twice-2")
    _install(stack, {})
    messages = stack.sqs.receive_message(QueueUrl=stack.queue_url, MaxNumberOfMessages=10)[
        "Messages"
    ]
    assert len(messages) == 1
    event = {
        "Records": [
            {
                "messageId": messages[0]["MessageId"],
                "receiptHandle": messages[0]["ReceiptHandle"],
                "body": messages[0]["Body"],
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "awsRegion": REGION,
            }
        ]
    }
    assert processor.lambda_handler(event, None)["batchItemFailures"] == []
    # WHEN SQS delivers it again (at-least-once) and it is processed again
    assert _event_source_mapping_poll(stack) == 1
    # THEN one item per reading in the processed table
    assert stack.processed_ids() == ["twice-1", "twice-2"]


def test_given_an_unknown_stack_suffix_then_a_clear_error(stack: DeployedStack) -> None:
    result = CliRunner().invoke(main, ["dlq", "list", "--stack-suffix", "nope"])
    assert result.exit_code == 1
    assert "cannot find the stack's queues for suffix 'nope'" in result.output
