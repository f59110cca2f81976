"""AWS adapters under partial failures DynamoDB and SQS report (botocore Stubber; moto
cannot produce UnprocessedItems, UnprocessedKeys or failed batch entries)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber
from iot_pipeline_backend.adapters.aws import CLIENT_CONFIG
from iot_pipeline_backend.adapters.aws._retry import Retrier, condition_failed
from iot_pipeline_backend.adapters.aws.dynamodb import DynamoProcessedReadingStore
from iot_pipeline_backend.adapters.aws.messaging import SqsReadingQueue
from iot_pipeline_backend.adapters.aws.raw import DynamoRawReadingStore
from iot_pipeline_backend.domain.process import process_reading
from iot_pipeline_backend.errors import StoreUnavailableError
from iot_pipeline_common.models import PipelineConfig, ProcessedItem, RawItem

T0 = 1_705_314_600_000
QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/q"


def processed(count: int) -> list[ProcessedItem]:
    return [
        process_reading(
            RawItem(
                device_id="d",
                event_date="2024-01-15",
                timestamp=T0 + i,
                reading_id=f"r-{i}",
                sensor_data={"temperature": 20.5},
                ingested_at="2024-01-15T10:30:00Z",
            ),
            config=PipelineConfig(),
            now_ms=T0,
        )
        for i in range(count)
    ]


@pytest.fixture
def session() -> boto3.Session:
    return boto3.Session(
        region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )


@pytest.fixture
def dynamodb(session: boto3.Session) -> Iterator[tuple[Any, Stubber]]:
    client = session.client("dynamodb")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def test_given_30_items_then_two_batch_writes_and_unprocessed_items_are_retried(
    dynamodb: tuple[Any, Stubber],
) -> None:
    client, stubber = dynamodb
    sleeps: list[float] = []
    store = DynamoProcessedReadingStore(client, "processed", retrier=Retrier(sleep=sleeps.append))
    first_chunk_left: dict[str, Any] = {"processed": [{"PutRequest": {"Item": {"x": {"S": "1"}}}}]}
    stubber.add_response(
        "batch_write_item", {"UnprocessedItems": first_chunk_left}, {"RequestItems": ANY}
    )
    stubber.add_response(
        "batch_write_item", {"UnprocessedItems": {}}, {"RequestItems": first_chunk_left}
    )
    stubber.add_response("batch_write_item", {"UnprocessedItems": {}}, {"RequestItems": ANY})

    store.store_processed_readings(processed(30))

    assert len(sleeps) == 1


def test_given_items_that_stay_unprocessed_then_store_unavailable(
    dynamodb: tuple[Any, Stubber],
) -> None:
    client, stubber = dynamodb
    store = DynamoProcessedReadingStore(client, "processed", retrier=Retrier(sleep=lambda _: None))
    left: dict[str, Any] = {"processed": [{"PutRequest": {"Item": {"x": {"S": "1"}}}}]}
    for _ in range(8):
        stubber.add_response("batch_write_item", {"UnprocessedItems": left}, {"RequestItems": ANY})

    with pytest.raises(StoreUnavailableError):
        store.store_processed_readings(processed(1))


def test_given_a_failed_send_entry_then_only_it_is_resent(session: boto3.Session) -> None:
    client = session.client("sqs")
    raw = [RawItem.model_validate(p.model_dump()) for p in processed(1)]
    with Stubber(client) as stubber:
        stubber.add_response(
            "send_message_batch",
            {
                "Successful": [],
                "Failed": [{"Id": "0", "SenderFault": False, "Code": "InternalError"}],
            },
            {"QueueUrl": QUEUE_URL, "Entries": ANY},
        )
        stubber.add_response(
            "send_message_batch",
            {"Successful": [{"Id": "0", "MessageId": "m", "MD5OfMessageBody": "x"}], "Failed": []},
            {"QueueUrl": QUEUE_URL, "Entries": ANY},
        )
        SqsReadingQueue(client, QUEUE_URL, retrier=Retrier(sleep=lambda _: None)).enqueue_readings(
            raw
        )
        stubber.assert_no_pending_responses()


def test_given_a_sender_fault_then_store_unavailable_without_retry(session: boto3.Session) -> None:
    client = session.client("sqs")
    raw = [RawItem.model_validate(p.model_dump()) for p in processed(1)]
    with Stubber(client) as stubber:
        stubber.add_response(
            "send_message_batch",
            {
                "Successful": [],
                "Failed": [{"Id": "0", "SenderFault": True, "Code": "InvalidMessageContents"}],
            },
            {"QueueUrl": QUEUE_URL, "Entries": ANY},
        )
        with pytest.raises(StoreUnavailableError, match="InvalidMessageContents"):
            SqsReadingQueue(
                client, QUEUE_URL, retrier=Retrier(sleep=lambda _: None)
            ).enqueue_readings(raw)


def test_given_a_throttled_conditional_put_then_the_raw_write_is_retried_once(
    dynamodb: tuple[Any, Stubber],
) -> None:
    client, stubber = dynamodb
    sleeps: list[float] = []
    store = DynamoRawReadingStore(client, "raw", retrier=Retrier(sleep=sleeps.append))
    [reading] = [RawItem.model_validate(p.model_dump()) for p in processed(1)]
    stubber.add_response("batch_get_item", {"Responses": {"raw": []}}, {"RequestItems": ANY})
    stubber.add_client_error(
        "put_item", service_error_code="ProvisionedThroughputExceededException"
    )
    stubber.add_response("put_item", {}, None)

    assert store.store_raw_readings([reading], key_sources=["client"]) == [reading]
    assert len(sleeps) == 1


def test_given_unprocessed_keys_then_only_they_are_read_again(
    dynamodb: tuple[Any, Stubber],
) -> None:
    client, stubber = dynamodb
    sleeps: list[float] = []
    store = DynamoRawReadingStore(client, "raw", retrier=Retrier(sleep=sleeps.append))
    readings = [RawItem.model_validate(p.model_dump()) for p in processed(2)]
    left = {"raw": {"Keys": [{"device_id": {"S": "d"}, "sk": {"S": "1705314600001#r-1"}}]}}
    stubber.add_response(
        "batch_get_item",
        {"Responses": {"raw": []}, "UnprocessedKeys": left},
        {"RequestItems": ANY},
    )
    stubber.add_response("batch_get_item", {"Responses": {"raw": []}}, {"RequestItems": left})
    stubber.add_response("put_item", {}, None)
    stubber.add_response("put_item", {}, None)

    assert store.store_raw_readings(readings, key_sources=["client", "client"]) == readings
    assert len(sleeps) == 1


def test_given_a_permanent_error_then_store_unavailable_at_once(
    dynamodb: tuple[Any, Stubber],
) -> None:
    client, stubber = dynamodb
    sleeps: list[float] = []
    store = DynamoRawReadingStore(client, "raw", retrier=Retrier(sleep=sleeps.append))
    stubber.add_client_error("batch_get_item", service_error_code="ValidationException")

    with pytest.raises(StoreUnavailableError, match="ValidationException"):
        store.store_raw_readings([RawItem.model_validate(p.model_dump()) for p in processed(1)])
    assert sleeps == []


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


def test_given_the_adapters_client_config_then_botocore_sends_a_failing_call_once(
    session: boto3.Session,
) -> None:
    # GIVEN a DynamoDB client as the adapters build it, and an endpoint answering 500
    client = session.client("dynamodb", config=CLIENT_CONFIG)
    sends: list[str] = []

    def answer_500(request: Any, **_: Any) -> AWSResponse:
        sends.append(request.url)
        body = b'{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError"}'
        return AWSResponse(request.url, 500, {}, _Body(body))

    client.meta.events.register("before-send.dynamodb", answer_500)
    # WHEN a call fails
    with pytest.raises(ClientError):
        client.get_item(TableName="raw", Key={"device_id": {"S": "d"}, "sk": {"S": "s"}})
    # THEN botocore did not retry it: the adapters' Retrier is the only retry layer
    assert len(sends) == 1


def _wrapped(code: str, reasons: list[str] | None = None) -> StoreUnavailableError:
    response: dict[str, Any] = {"Error": {"Code": code, "Message": "x"}}
    if reasons is not None:
        response["CancellationReasons"] = [{"Code": reason} for reason in reasons]
    wrapped = StoreUnavailableError("DynamoDB call failed")
    wrapped.__cause__ = ClientError(response, "TransactWriteItems")
    return wrapped


@pytest.mark.parametrize(
    ("code", "reasons", "answered"),
    [
        ("ConditionalCheckFailedException", None, True),
        # A transaction cancelled by its condition alone is an answer too
        # (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html)
        ("TransactionCanceledException", ["None", "ConditionalCheckFailed"], True),
        # ... but not one cancelled by a conflicting transaction, or anything else
        ("TransactionCanceledException", ["ConditionalCheckFailed", "TransactionConflict"], False),
        ("TransactionCanceledException", ["None", "ThrottlingError"], False),
        ("ValidationException", None, False),
    ],
)
def test_given_a_failed_call_then_only_a_failed_condition_counts_as_an_answer(
    code: str, reasons: list[str] | None, answered: bool
) -> None:
    assert condition_failed(_wrapped(code, reasons)) is answered
