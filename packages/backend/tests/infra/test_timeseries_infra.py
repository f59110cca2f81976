"""GIVEN the synthesized stack THEN the aggregates table and the /devices routes follow the
stack's rules: suffix in the name, on demand, PITR, TTL, the stack's own key, AWS_IAM."""

from __future__ import annotations

import pytest

pytest.importorskip("aws_cdk")

from .conftest import Synthesized

pytestmark = pytest.mark.cdk


def test_aggregates_table_is_keyed_indexed_and_protected(dev: Synthesized) -> None:
    key = dev.logical_id("AWS::KMS::Key")
    table = dev.of_type("AWS::DynamoDB::Table")[
        dev.logical_id("AWS::DynamoDB::Table", TableName="aggregates-dev")
    ]

    assert table["KeySchema"] == [
        {"AttributeName": "device_id", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert table["SSESpecification"] == {
        "KMSMasterKeyId": {"Fn::GetAtt": [key, "Arn"]},
        "SSEEnabled": True,
        "SSEType": "KMS",
    }
    assert table["GlobalSecondaryIndexes"] == [
        {
            "IndexName": "by-listing",
            "KeySchema": [
                {"AttributeName": "listing", "KeyType": "HASH"},
                {"AttributeName": "device_id", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        }
    ]


def test_every_function_knows_the_aggregates_table(dev: Synthesized) -> None:
    table = dev.logical_id("AWS::DynamoDB::Table", TableName="aggregates-dev")
    functions = dev.of_type("AWS::Lambda::Function").values()
    variables = [f["Environment"]["Variables"] for f in functions if "Environment" in f]

    assert {"Ref": table} in [v.get("AGGREGATES_TABLE_NAME") for v in variables]


@pytest.mark.parametrize("path", ["devices", "{device_id}"])
def test_device_routes_are_get_with_sigv4_on_the_query_function(
    dev: Synthesized, path: str
) -> None:
    resource = dev.logical_id("AWS::ApiGateway::Resource", PathPart=path)
    methods = [
        m
        for m in dev.of_type("AWS::ApiGateway::Method").values()
        if m["ResourceId"] == {"Ref": resource}
    ]

    assert [(m["HttpMethod"], m["AuthorizationType"]) for m in methods] == [("GET", "AWS_IAM")]
    query = dev.logical_id("AWS::Lambda::Function", FunctionName="data-query-dev")
    assert query in str(methods[0]["Integration"]["Uri"])
