"""GIVEN the synthesized stack THEN the MQTT path is IoT Core → the same ingest, least privilege.

Rule, device policy, error action, the function's grants and alarms, named per environment.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

pytest.importorskip("aws_cdk")

from .conftest import Synthesized
from .test_least_privilege import XRAY, _logs, _name, permissions

pytestmark = pytest.mark.cdk

THING = "${iot:Connection.Thing.ThingName}"
IOT_ARN = "arn:{Partition}:iot:{Region}:{AccountId}:"


def _rule(synth: Synthesized) -> dict[str, Any]:
    [rule] = synth.of_type("AWS::IoT::TopicRule").values()
    return rule


def test_the_rule_selects_every_things_readings_and_invokes_the_mqtt_ingestion(
    dev: Synthesized,
) -> None:
    rule = _rule(dev)
    assert rule["RuleName"] == "iot_pipeline_readings_dev"
    payload = rule["TopicRulePayload"]
    assert payload["Sql"] == "SELECT *, topic(2) AS thing FROM 'iot-pipeline/+/readings'"
    assert payload["AwsIotSqlVersion"] == "2016-03-23"
    [action] = payload["Actions"]
    assert _name(action["Lambda"]["FunctionArn"], dev) == "AWS::Lambda::Function"
    function_id = action["Lambda"]["FunctionArn"]["Fn::GetAtt"][0]
    function = dev.resources[function_id]["Properties"]
    assert function["FunctionName"] == "mqtt-ingestion-dev"
    assert function["Handler"] == "iot_pipeline_backend.handlers.mqtt_ingest.lambda_handler"
    # The rule may invoke it; only this rule, from this account.
    [permission] = [
        p for p in dev.of_type("AWS::Lambda::Permission").values()
        if p["Principal"] == "iot.amazonaws.com"
    ]  # fmt: skip
    assert permission["FunctionName"] == {"Fn::GetAtt": [function_id, "Arn"]}
    assert permission["SourceArn"]["Fn::GetAtt"][0] == dev.logical_id(
        "AWS::IoT::TopicRule", RuleName="iot_pipeline_readings_dev"
    )
    assert permission["SourceAccount"] == {"Ref": "AWS::AccountId"}


def test_failures_go_to_the_mqtt_dlq_through_a_role_that_may_only_send_there(
    dev: Synthesized,
) -> None:
    sqs_action = _rule(dev)["TopicRulePayload"]["ErrorAction"]["Sqs"]
    assert _name(sqs_action["QueueUrl"], dev) == "iot-mqtt-dlq-dev"
    role = dev.stack.iot.node.find_child("ErrorActionRole")
    assert permissions(dev, role) == {"sqs:SendMessage": {"iot-mqtt-dlq-dev"}}
    [invoke_config] = dev.of_type("AWS::Lambda::EventInvokeConfig").values()
    assert invoke_config["MaximumRetryAttempts"] == 2
    destination = invoke_config["DestinationConfig"]["OnFailure"]["Destination"]
    assert _name(destination, dev) == "iot-mqtt-dlq-dev"


def test_the_mqtt_ingestion_may_store_raw_enqueue_and_answer_on_errors_topics_only(
    dev: Synthesized,
) -> None:
    raw = {"raw-sensor-data-dev"}
    granted = permissions(dev, dev.stack.iot.ingestion.role)
    assert granted == {
        **_logs("mqtt-ingestion-dev"),
        **XRAY,
        # ingestion's raw calls (the same ingest; tests/infra/policy/recorded_calls.json)
        "dynamodb:PutItem": raw,
        "dynamodb:BatchGetItem": raw,
        "dynamodb:GetItem": raw,
        "dynamodb:UpdateItem": raw,
        "dynamodb:DeleteItem": raw,
        "dynamodb:ConditionCheckItem": raw,
        "sqs:SendMessage": {"iot-ingestion-queue-dev", "iot-mqtt-dlq-dev"},
        "ssm:GetParameter": {
            "arn:{Partition}:ssm:{Region}:{AccountId}:parameter/iot-pipeline/dev/config"
        },
        "iot:Publish": {f"{IOT_ARN}topic/iot-pipeline/*/errors"},
    }


def test_a_thing_connects_as_itself_and_uses_only_its_own_topics(dev: Synthesized) -> None:
    [policy] = dev.of_type("AWS::IoT::Policy").values()
    assert policy["PolicyName"] == "iot-pipeline-thing-dev"
    statements = policy["PolicyDocument"]["Statement"]
    granted = {s["Action"]: _name(s["Resource"], dev) for s in statements}
    assert granted == {
        "iot:Connect": f"{IOT_ARN}client/{THING}",
        "iot:Publish": f"{IOT_ARN}topic/iot-pipeline/{THING}/readings",
        "iot:Subscribe": f"{IOT_ARN}topicfilter/iot-pipeline/{THING}/errors",
        "iot:Receive": f"{IOT_ARN}topic/iot-pipeline/{THING}/errors",
    }
    assert all(s["Effect"] == "Allow" for s in statements)
    connect = next(s for s in statements if s["Action"] == "iot:Connect")
    assert connect["Condition"] == {"Bool": {"iot:Connection.Thing.IsAttached": "true"}}


def test_alarms_watch_the_rule_the_function_and_the_dlq(dev: Synthesized) -> None:
    alarms = {
        a["AlarmName"]: a for a in dev.of_type("AWS::CloudWatch::Alarm").values()
        if "mqtt" in a["AlarmName"]
    }  # fmt: skip
    assert set(alarms) == {
        f"iot-pipeline-dev-{what}"
        for what in (
            "mqtt-rule-failures",
            "mqtt-rule-parse-errors",
            "mqtt-ingestion-errors",
            "mqtt-ingestion-throttles",
            "mqtt-dlq-not-empty",
        )
    }
    failures = alarms["iot-pipeline-dev-mqtt-rule-failures"]
    assert failures["Namespace"] == "AWS/IoT" and failures["MetricName"] == "Failure"
    assert {d["Name"]: d["Value"] for d in failures["Dimensions"]} == {
        "RuleName": "iot_pipeline_readings_dev",
        "ActionType": "Lambda",
    }
    assert all(a["AlarmActions"] for a in alarms.values())


def test_every_mqtt_name_carries_the_environment_suffix(qa: Synthesized) -> None:
    text = json.dumps(qa.resources)
    assert "iot_pipeline_readings_qa" in text
    for name in ("mqtt-ingestion-qa", "iot-mqtt-dlq-qa", "iot-pipeline-thing-qa"):
        assert name in text
    ours = json.dumps({k: v for k, v in qa.resources.items() if k.startswith("Iot")})
    assert re.search(r"[-_]dev(?![a-z])", ours) is None
