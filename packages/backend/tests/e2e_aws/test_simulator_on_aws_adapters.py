"""End to end on the AWS adapters: ``iot-sim run`` + ``iot-sim verify`` through the local
gateway, whose handlers use the AWS adapter set against a moto server.

The resources and each function's environment are taken from the synthesized CDK template
(the committed snapshot, kept current by the infra suite): table names and key schemas, TTL
attributes, queue names with the redrive policy, the topic, the SSM parameter names, and the
``Environment.Variables`` of every function with their ``Ref``s resolved the way
CloudFormation resolves them (a table's name, a queue's URL, a topic's ARN). So if template
and code disagree on a name or a variable, this test fails.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from iot_pipeline_backend.local.runtime import LocalPipeline
from iot_pipeline_common.models import PipelineConfig
from moto.server import ThreadedMotoServer

TEMPLATE = (
    Path(__file__).resolve().parents[1] / "infra" / "snapshots" / "iot-pipeline-dev.template.json"
)
REGION = "us-east-1"
FUNCTIONS = ("data-ingestion-dev", "data-processor-dev", "data-query-dev")
#: Variables that name the function itself, not where it reads and writes.
OWN_VARIABLES = {"POWERTOOLS_SERVICE_NAME"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def moto_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    port = _free_port()
    # One log line per AWS call would bury a failure's output.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    for name, value in {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    try:
        yield endpoint
    finally:
        server.stop()


def create_resources(template: dict[str, Any], session: boto3.Session) -> dict[str, str]:
    """Create what the template declares that the functions use; logical id → Ref value."""
    resources: dict[str, Any] = template["Resources"]
    refs: dict[str, str] = {}
    dynamodb, sqs = session.client("dynamodb"), session.client("sqs")
    arns: dict[str, str] = {}
    # Queues without a redrive policy first: the DLQ's ARN is the main queue's target.
    queues = sorted(
        ((k, v["Properties"]) for k, v in resources.items() if v["Type"] == "AWS::SQS::Queue"),
        key=lambda kv: "RedrivePolicy" in kv[1],
    )
    for logical_id, props in queues:
        attributes: dict[str, str] = {"VisibilityTimeout": str(props.get("VisibilityTimeout", 30))}
        if "RedrivePolicy" in props:
            policy = props["RedrivePolicy"]
            target = policy["deadLetterTargetArn"]["Fn::GetAtt"][0]
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": arns[target], "maxReceiveCount": policy["maxReceiveCount"]}
            )
        url = sqs.create_queue(QueueName=props["QueueName"], Attributes=attributes)["QueueUrl"]
        refs[logical_id] = url
        arns[logical_id] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
    for logical_id, resource in resources.items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::DynamoDB::Table":
            indexes = [
                {key: index[key] for key in ("IndexName", "KeySchema", "Projection")}
                for index in props.get("GlobalSecondaryIndexes", [])
            ]
            dynamodb.create_table(
                TableName=props["TableName"],
                KeySchema=props["KeySchema"],
                AttributeDefinitions=props["AttributeDefinitions"],
                BillingMode=props["BillingMode"],
                **({"GlobalSecondaryIndexes": indexes} if indexes else {}),
            )
            ttl = props.get("TimeToLiveSpecification")
            if ttl:
                dynamodb.update_time_to_live(
                    TableName=props["TableName"], TimeToLiveSpecification=ttl
                )
            refs[logical_id] = props["TableName"]
        elif resource["Type"] == "AWS::SNS::Topic":
            refs[logical_id] = session.client("sns").create_topic(Name=props["TopicName"])[
                "TopicArn"
            ]
    return refs


def function_environment(template: dict[str, Any], refs: dict[str, str]) -> dict[str, str]:
    """The functions' shared Environment.Variables, Refs resolved; all three must agree."""
    resolved: dict[str, dict[str, str]] = {}
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        if (
            resource["Type"] != "AWS::Lambda::Function"
            or props.get("FunctionName") not in FUNCTIONS
        ):
            continue
        variables = props["Environment"]["Variables"]
        resolved[props["FunctionName"]] = {
            name: refs[value["Ref"]] if isinstance(value, dict) else str(value)
            for name, value in variables.items()
            if name not in OWN_VARIABLES
        }
    assert sorted(resolved) == sorted(FUNCTIONS), "a function is missing from the template"
    first, *others = resolved.values()
    # The local runtime runs the three handlers in one process, with one environment.
    assert all(other == first for other in others), resolved
    return first


def test_given_the_templates_resources_in_moto_then_a_simulated_fleet_verifies(
    moto_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the template's resources in a moto server, and its functions' environment
    template = json.loads(TEMPLATE.read_text())
    session = boto3.Session(region_name=REGION)
    environment = function_environment(template, create_resources(template, session))
    ssm = session.client("ssm")
    ssm.put_parameter(
        Name=environment["CONFIG_PARAMETER_NAME"],
        Type="String",
        Value=PipelineConfig().model_dump_json(),
    )
    ssm.put_parameter(
        Name=environment["API_KEY_PARAMETER_NAME"],
        Type="SecureString",
        Value=secrets.token_urlsafe(32),
    )
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert environment["IOT_PIPELINE_BACKEND"] == "aws"
    # WHEN the local gateway and poller run the handlers on the AWS adapters
    with LocalPipeline(data_dir=tmp_path / "gateway", port=0, backend="aws") as pipeline:
        client_env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
            "AWS_SHARED_CREDENTIALS_FILE": str(pipeline.credentials.path),
            "AWS_PROFILE": pipeline.credentials.profile,
            "AWS_REGION": REGION,
        }
        report = tmp_path / "run.json"
        iot_sim = [str(Path(sys.executable).with_name("iot-sim"))]
        run = subprocess.run(
            [*iot_sim, "run", "--endpoint", pipeline.endpoint, "--devices", "20", "--rate",
             "2", "--duration", "3", "--batch", "10", "--seed", "17",
             "--report-json", str(report)],
            env=client_env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert run.returncode == 0, run.stdout + run.stderr
        assert json.loads(report.read_text())["totals"]["acknowledged"] > 0, run.stdout
        # THEN every acknowledged reading is stored once, raw and processed
        verify = subprocess.run(
            [*iot_sim, "verify", "--report-json", str(report), "--wait", "20"],
            env=client_env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert verify.returncode == 0, verify.stdout + verify.stderr
    # AND the readings are where the template says: in its tables, behind the moto server
    dynamodb = session.client("dynamodb")
    for table in ("RAW_TABLE_NAME", "PROCESSED_TABLE_NAME"):
        assert dynamodb.scan(TableName=environment[table], Limit=1)["Items"], table
