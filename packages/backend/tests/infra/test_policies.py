"""GIVEN the synthesized policies WHEN a real IAM policy evaluator is asked THEN each call the
code makes is allowed and a sample of calls it never makes is denied.

The evaluator is ``@cloud-copilot/iam-simulate`` (``policy/``, pinned by its lockfile; the
``cdk`` nox session runs ``npm ci`` there). Policies are taken from the template with every
intrinsic resolved to concrete ARNs (``policy_resolution``), as CloudFormation would.

``EXPECTED_CALLS`` are the AWS calls each function's code makes, recorded on moto
(``policy/recorded_calls.json``, kept by ``test_recorded_calls.py``), plus the calls the
Lambda runtime and the event source mapping make with its role.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("aws_cdk")

from .call_recording import IOT_TOPIC, TLS
from .conftest import Synthesized
from .policy_resolution import ACCOUNT, REGION, TemplateValues

pytestmark = pytest.mark.cdk

POLICY_DIR = Path(__file__).parent / "policy"
SSM_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/aws-ssm-managed-key"
#: The key policy AWS gives the AWS-managed ``aws/ssm`` key: any principal of the account,
#: through SSM only (the policy such keys show in the KMS console).
AWS_SSM_KEY_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": [
                "kms:Encrypt",
                "kms:Decrypt",
                "kms:ReEncrypt*",
                "kms:GenerateDataKey*",
                "kms:CreateGrant",
                "kms:DescribeKey",
            ],
            "Resource": "*",
            "Condition": {
                "StringEquals": {
                    "kms:ViaService": f"ssm.{REGION}.amazonaws.com",
                    "kms:CallerAccount": ACCOUNT,
                }
            },
        }
    ],
}

Request = tuple[str, str, dict[str, str]]
#: function → (IAM action, resource, extra request context) of every AWS call its code makes:
#: recorded on moto by ``test_recorded_calls.py``, mapped to IAM actions there.
RECORDED = json.loads((POLICY_DIR / "recorded_calls.json").read_text())
#: Calls the Lambda runtime makes with every function's role (its logs, active tracing),
#: which no handler makes and so none is recorded.
_RUNTIME: list[Request] = [
    ("logs:CreateLogStream", "own_log_stream", {}),
    ("logs:PutLogEvents", "own_log_stream", {}),
    ("xray:PutTraceSegments", "*", {}),
    ("xray:PutTelemetryRecords", "*", {}),
]
#: The processor's event source mapping polls the queue with the processor's role
#: (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html#events-sqs-permissions);
#: the handler only sees the records it delivers.
_EVENT_SOURCE_MAPPING: list[Request] = [
    ("sqs:ReceiveMessage", "queue", TLS),
    ("sqs:DeleteMessage", "queue", TLS),
    ("sqs:GetQueueAttributes", "queue", TLS),
]
#: Lambda hands a failed asynchronous invocation to the on-failure destination with the
#: function's role (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html).
_ON_FAILURE: dict[str, list[Request]] = {"mqtt_ingestion": [("sqs:SendMessage", "mqtt_dlq", TLS)]}
EXPECTED_CALLS: dict[str, list[Request]] = {
    function: [(r["action"], r["resource"], r["context"]) for r in recorded["iam"]]
    + _RUNTIME
    + (_EVENT_SOURCE_MAPPING if function == "processor" else [])
    + _ON_FAILURE.get(function, [])
    for function, recorded in RECORDED.items()
}
#: A sample of calls the code never makes; each must be denied.
NEVER_CALLED: dict[str, list[tuple[str, str, dict[str, str]]]] = {
    "ingestion": [
        ("dynamodb:Scan", "raw", {}),
        ("dynamodb:Query", "raw", {}),
        ("dynamodb:DeleteTable", "raw", {}),
        ("dynamodb:PutItem", "processed", {}),
        ("sqs:DeleteQueue", "queue", TLS),
        ("sqs:PurgeQueue", "queue", TLS),
        ("sqs:ReceiveMessage", "queue", TLS),
        ("sns:Publish", "topic", TLS),
        ("ssm:GetParameter", "api_key", {}),
        ("kms:Decrypt", "key", {}),
        ("iot:Publish", "iot_topic/iot-pipeline/thing-2/readings", {}),
    ],
    "mqtt_ingestion": [
        ("dynamodb:Scan", "raw", {}),
        ("dynamodb:Query", "raw", {}),
        ("dynamodb:PutItem", "processed", {}),
        ("sqs:ReceiveMessage", "queue", TLS),
        ("ssm:GetParameter", "api_key", {}),
        ("iot:Publish", "iot_topic/iot-pipeline/thing-2/readings", {}),
        ("iot:Publish", "iot_topic/other/topic", {}),
    ],
    "processor": [
        ("dynamodb:Scan", "raw", {}),
        ("dynamodb:GetItem", "raw", {}),
        ("dynamodb:PutItem", "raw", {}),
        ("dynamodb:DeleteItem", "raw", {}),
        ("dynamodb:UpdateItem", "aggregates", {}),
        ("dynamodb:DeleteItem", "aggregates", {}),
        ("dynamodb:GetItem", "processed", {}),
        ("dynamodb:DeleteTable", "processed", {}),
        # granted by CDK's SqsEventSource, never called by the mapping: no longer granted
        ("sqs:ChangeMessageVisibility", "queue", TLS),
        ("sqs:GetQueueUrl", "queue", TLS),
        ("sqs:DeleteQueue", "queue", TLS),
        ("ssm:GetParameter", "api_key", {}),
    ],
    "query": [
        ("dynamodb:Scan", "processed", {}),
        ("dynamodb:GetItem", "processed", {}),
        ("dynamodb:PutItem", "raw", {}),
        ("dynamodb:DeleteTable", "raw", {}),
        ("dynamodb:PutItem", "aggregates", {}),
        ("dynamodb:GetItem", "aggregates_index", {}),
        ("sqs:SendMessage", "queue", TLS),
        ("ssm:GetParameter", "config", {}),
        ("kms:Decrypt", "ssm_key", {"kms:CallerAccount": ACCOUNT}),  # not through SSM
        ("kms:GenerateDataKey", "key", {}),
    ],
}


def _run_simulator(simulations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    node = shutil.which("node")
    assert node, "node is needed for the policy evaluation (see docs/deploy.md)"
    assert (POLICY_DIR / "node_modules" / "@cloud-copilot" / "iam-simulate").is_dir(), (
        f"run 'npm ci' in {POLICY_DIR} (the cdk nox session does)"
    )
    completed = subprocess.run(
        [node, "simulate.mjs"],
        cwd=POLICY_DIR,
        input=json.dumps(simulations),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    answers: list[dict[str, Any]] = json.loads(completed.stdout)
    return answers


class Deployment:
    """The dev template's policies and resources, resolved to concrete ARNs."""

    def __init__(self, synth: Synthesized) -> None:
        self.synth = synth
        self.values = values = TemplateValues(synth.resources)
        resources = synth.resources
        (self.key_id,) = synth.of_type("AWS::KMS::Key")
        self.key_arn = values.arn(self.key_id)
        self.key_policy = values.resolve(resources[self.key_id]["Properties"]["KeyPolicy"])
        (topic_id,) = synth.of_type("AWS::SNS::Topic")
        self.topic_arn = values.ref(topic_id)
        (topic_policy,) = synth.of_type("AWS::SNS::TopicPolicy").values()
        self.topic_policy = values.resolve(topic_policy["PolicyDocument"])
        queue_id = synth.logical_id("AWS::SQS::Queue", QueueName="iot-ingestion-queue-dev")
        (self.queue_policy,) = [
            values.resolve(p["PolicyDocument"])
            for p in synth.of_type("AWS::SQS::QueuePolicy").values()
            if p["Queues"] == [{"Ref": queue_id}]
        ]
        table = synth.logical_id
        aggregates = values.arn(table("AWS::DynamoDB::Table", TableName="aggregates-dev"))
        self.arns = {
            "raw": values.arn(table("AWS::DynamoDB::Table", TableName="raw-sensor-data-dev")),
            "processed": values.arn(table("AWS::DynamoDB::Table", TableName="processed-data-dev")),
            "aggregates": aggregates,
            "aggregates_index": f"{aggregates}/index/by-listing",
            "queue": values.arn(queue_id),
            "mqtt_dlq": values.arn(
                synth.logical_id("AWS::SQS::Queue", QueueName="iot-mqtt-dlq-dev")
            ),
            "topic": self.topic_arn,
            "config": f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/iot-pipeline/dev/config",
            "api_key": f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/iot-pipeline/dev/api-key",
            "key": self.key_arn,
            "ssm_key": SSM_KEY,
            "*": "*",
        }

    def arn(self, resource: str) -> str:
        """The ARN of a resource named as the recording names it."""
        if resource.startswith(IOT_TOPIC):
            return f"arn:aws:iot:{REGION}:{ACCOUNT}:topic/{resource.removeprefix(IOT_TOPIC)}"
        return self.arns[resource]

    def role_policies(self, function: str) -> list[dict[str, Any]]:
        stack = self.synth.stack
        owner = stack.iot.ingestion if function == "mqtt_ingestion" else stack.functions
        role = owner.role if function == "mqtt_ingestion" else getattr(owner, function).role
        role_id = self.synth.stack.get_logical_id(role.node.default_child)
        return [
            {"name": logical_id, "policy": self.values.resolve(props["PolicyDocument"])}
            for logical_id, props in self.synth.of_type("AWS::IAM::Policy").items()
            if {"Ref": role_id} in props["Roles"]
        ]

    def resource_policy(self, resource: str) -> dict[str, Any] | None:
        policies = {
            "key": self.key_policy,
            "ssm_key": AWS_SSM_KEY_POLICY,
            "topic": self.topic_policy,
            "queue": self.queue_policy,
        }
        return policies.get(resource)

    def log_stream(self, function: str) -> str:
        name = f"/aws/lambda/{function_name(function)}"
        return f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}:log-stream:2026/01/01/abc"

    def log_groups(self) -> list[str]:
        return [self.values.name(i) for i in self.synth.of_type("AWS::Logs::LogGroup")]

    def alarm_names(self) -> list[str]:
        return [str(p["AlarmName"]) for p in self.synth.of_type("AWS::CloudWatch::Alarm").values()]


def function_name(function: str) -> str:
    """The deployed name of a function of the recording."""
    return "mqtt-ingestion-dev" if function == "mqtt_ingestion" else f"data-{function}-dev"


def _simulation(
    *,
    principal: str,
    action: str,
    resource: str,
    context: dict[str, str],
    identity: list[dict[str, Any]],
    resource_policy: dict[str, Any] | None,
) -> dict[str, Any]:
    simulation: dict[str, Any] = {
        "request": {
            "principal": principal,
            "action": action,
            "resource": {"resource": resource, "accountId": ACCOUNT},
            "contextVariables": context,
        },
        "identityPolicies": identity,
        "serviceControlPolicies": [],
        "resourceControlPolicies": [],
    }
    if resource_policy is not None:
        simulation["resourcePolicy"] = resource_policy
    return simulation


def _function_request(
    deployment: Deployment, function: str, call: tuple[str, str, dict[str, str]]
) -> dict[str, Any]:
    action, resource, context = call
    arn = (
        deployment.log_stream(function)
        if resource == "own_log_stream"
        else deployment.arn(resource)
    )
    return _simulation(
        principal=f"arn:aws:sts::{ACCOUNT}:assumed-role/{function}-role/{function_name(function)}",
        action=action,
        resource=arn,
        context=context,
        identity=deployment.role_policies(function),
        resource_policy=deployment.resource_policy(resource),
    )


@pytest.fixture(scope="module")
def deployment(dev: Synthesized) -> Deployment:
    return Deployment(dev)


@pytest.fixture(scope="module")
def verdicts(deployment: Deployment) -> dict[str, str]:
    """Every question of this module, asked in one run of the evaluator."""
    questions: dict[str, dict[str, Any]] = {}
    for table in (EXPECTED_CALLS, NEVER_CALLED):
        for function, calls in table.items():
            for call in calls:
                questions[_label(function, call)] = _function_request(deployment, function, call)
    questions |= _logs_questions(deployment) | _alarm_questions(deployment)
    answers = _run_simulator(list(questions.values()))
    for label, answer in zip(questions, answers, strict=True):
        assert answer["result"] != "Error", (label, answer["errors"])
    return {label: answer["result"] for label, answer in zip(questions, answers, strict=True)}


def _label(function: str, call: tuple[str, str, dict[str, str]]) -> str:
    action, resource, context = call
    return f"{function} {action} {resource} {sorted(context.items())}"


LOGS_KEY_ACTIONS = ("kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey")


def _logs_questions(deployment: Deployment) -> dict[str, dict[str, Any]]:
    questions = {}
    groups = [*deployment.log_groups(), "elsewhere"]
    for group in groups:
        account = "210987654321" if group == "elsewhere" else ACCOUNT
        group_arn = f"arn:aws:logs:{REGION}:{account}:log-group:{group}"
        for action in LOGS_KEY_ACTIONS:
            questions[f"logs {action} {group}"] = _simulation(
                principal=f"logs.{REGION}.amazonaws.com",
                action=action,
                resource=deployment.key_arn,
                context={"kms:EncryptionContext:aws:logs:arn": group_arn},
                identity=[],
                resource_policy=deployment.key_policy,
            )
    return questions


def _alarm_questions(deployment: Deployment) -> dict[str, dict[str, Any]]:
    questions = {}
    alarms = [(name, ACCOUNT) for name in deployment.alarm_names()]
    # Another deployment's alarm and another account's alarm of the same name.
    strangers = [("iot-pipeline-qa-dlq-not-empty", ACCOUNT), ("iot-pipeline-dev-x", "210987654321")]
    for name, account in [*alarms, *strangers]:
        context = {
            "aws:SourceArn": f"arn:aws:cloudwatch:{REGION}:{account}:alarm:{name}",
            "aws:SourceAccount": account,
        }
        for action, resource, policy in (
            ("sns:Publish", deployment.topic_arn, deployment.topic_policy),
            ("kms:GenerateDataKey", deployment.key_arn, deployment.key_policy),
            ("kms:Decrypt", deployment.key_arn, deployment.key_policy),
        ):
            questions[f"alarm {action} {account} {name}"] = _simulation(
                principal="cloudwatch.amazonaws.com",
                action=action,
                resource=resource,
                context=context | (TLS if action == "sns:Publish" else {}),
                identity=[],
                resource_policy=policy,
            )
    return questions


@pytest.mark.parametrize(
    ("function", "call"),
    [(f, c) for f, calls in EXPECTED_CALLS.items() for c in calls],
    ids=lambda value: value if isinstance(value, str) else f"{value[0]}-{value[1]}",
)
def test_each_call_a_function_makes_is_allowed(
    verdicts: dict[str, str], function: str, call: tuple[str, str, dict[str, str]]
) -> None:
    assert verdicts[_label(function, call)] == "Allowed"


@pytest.mark.parametrize(
    ("function", "call"),
    [(f, c) for f, calls in NEVER_CALLED.items() for c in calls],
    ids=lambda value: value if isinstance(value, str) else f"{value[0]}-{value[1]}",
)
def test_calls_a_function_never_makes_are_denied(
    verdicts: dict[str, str], function: str, call: tuple[str, str, dict[str, str]]
) -> None:
    assert verdicts[_label(function, call)] != "Allowed"


def test_cloudwatch_logs_may_use_the_key_for_every_declared_log_group(
    verdicts: dict[str, str], deployment: Deployment
) -> None:
    groups = deployment.log_groups()
    assert len(groups) == 7  # 4 functions, the api-key writer, API access and execution logs
    for group in groups:
        for action in LOGS_KEY_ACTIONS:
            assert verdicts[f"logs {action} {group}"] == "Allowed", (action, group)


def test_cloudwatch_logs_may_not_use_the_key_for_another_accounts_group(
    verdicts: dict[str, str],
) -> None:
    for action in LOGS_KEY_ACTIONS:
        assert verdicts[f"logs {action} elsewhere"] != "Allowed"


def test_every_alarm_may_publish_to_the_encrypted_topic(
    verdicts: dict[str, str], deployment: Deployment
) -> None:
    names = deployment.alarm_names()
    # errors and throttles x 4, 2 tables, 2 DLQs, 5XX, store failures, the MQTT rule's 2
    assert len(names) == 16
    for name in names:
        for action in ("sns:Publish", "kms:GenerateDataKey", "kms:Decrypt"):
            assert verdicts[f"alarm {action} {ACCOUNT} {name}"] == "Allowed", (action, name)


def test_alarms_of_other_deployments_or_accounts_may_not_use_the_topic_or_key(
    verdicts: dict[str, str],
) -> None:
    for label in (f"{ACCOUNT} iot-pipeline-qa-dlq-not-empty", "210987654321 iot-pipeline-dev-x"):
        for action in ("sns:Publish", "kms:GenerateDataKey", "kms:Decrypt"):
            assert verdicts[f"alarm {action} {label}"] != "Allowed", (action, label)


def test_the_evaluator_denies_logs_with_the_old_slash_pattern(deployment: Deployment) -> None:
    # The check is live: the key policy the stack used to have fails it.
    policy = json.loads(json.dumps(deployment.key_policy).replace(":log-group:*", ":log-group/*"))
    group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/data-ingestion-dev"
    (answer,) = _run_simulator(
        [
            _simulation(
                principal=f"logs.{REGION}.amazonaws.com",
                action="kms:GenerateDataKey",
                resource=deployment.key_arn,
                context={"kms:EncryptionContext:aws:logs:arn": group},
                identity=[],
                resource_policy=policy,
            )
        ]
    )
    assert answer["result"] != "Allowed"
