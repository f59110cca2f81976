"""Record the AWS calls a handler really makes, and name the IAM actions that authorize them.

:class:`CallRecorder` is a botocore event hook on the handler's own clients. It listens on
``before-parameter-build``, which every call passes with the parameters as the code gave them
(``before-call`` only sees the serialized HTTP body); a call a fault hook fails later is still
recorded, as IAM authorizes the attempt. :func:`iam_requests` maps each call to the IAM
requests AWS evaluates for it, per the Service Authorization Reference:

* DynamoDB (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazondynamodb.html):
  one action per operation on the table or index named; BatchGetItem / BatchWriteItem on each
  table of ``RequestItems``; TransactWriteItems has no action of its own, each item is
  authorized as its PutItem / UpdateItem / DeleteItem / ConditionCheckItem
  (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html).
  A table under the stack's customer-managed key (aggregates) also needs the caller's
  ``kms:Decrypt`` (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/encryption.howitworks.html).
* SQS (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsqs.html):
  a batch call is authorized as its single action (SendMessageBatch → sqs:SendMessage,
  DeleteMessageBatch → sqs:DeleteMessage, ChangeMessageVisibilityBatch →
  sqs:ChangeMessageVisibility); the queue policy requires TLS.
* SNS Publish → sns:Publish; the topic's customer-managed key needs kms:GenerateDataKey and
  kms:Decrypt (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html).
* SSM GetParameter → ssm:GetParameter; ``WithDecryption`` of a SecureString adds kms:Decrypt
  of the aws/ssm key, made by SSM (kms:ViaService)
  (https://docs.aws.amazon.com/systems-manager/latest/userguide/sysman-paramstore-access.html).
* iot-data Publish → iot:Publish on the topic's ARN
  (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsiot.html).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from .policy_resolution import ACCOUNT, REGION

TLS = {"aws:SecureTransport": "true"}
VIA_SSM = {"kms:ViaService": f"ssm.{REGION}.amazonaws.com", "kms:CallerAccount": ACCOUNT}
#: Resources under the stack's customer-managed key ``key``.
UNDER_STACK_KEY = {"aggregates", "aggregates_index"}
#: An iot-data topic is recorded as ``iot_topic/<topic>``.
IOT_TOPIC = "iot_topic/"

_SQS_ACTIONS = {
    "SendMessage": "sqs:SendMessage",
    "SendMessageBatch": "sqs:SendMessage",
    "DeleteMessage": "sqs:DeleteMessage",
    "DeleteMessageBatch": "sqs:DeleteMessage",
    "ChangeMessageVisibility": "sqs:ChangeMessageVisibility",
    "ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
    "ReceiveMessage": "sqs:ReceiveMessage",
    "GetQueueAttributes": "sqs:GetQueueAttributes",
}
_TRANSACT_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}


@dataclass(frozen=True, order=True)
class Call:
    """One AWS call: service, operation, the resource it names (by role), the parameters
    that change its authorization."""

    service: str
    operation: str
    resource: str
    detail: str = ""


@dataclass
class CallRecorder:
    """Records every call of the clients it is attached to, resources named by ``names``
    (physical name, queue URL or ARN → the stack's role for it: ``raw``, ``queue``, ...)."""

    names: dict[str, str]
    calls: set[Call] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def attach(self, client: Any) -> None:
        """Record ``client``'s calls from now on."""
        client.meta.events.register("before-parameter-build", self._before_call)

    def attach_session(self, session: Any) -> None:
        """Record the calls of every client ``session`` (a boto3 Session) creates from now on
        (a client copies its session's event hooks when it is created)."""
        session.events.register("before-parameter-build", self._before_call)

    def _name(self, value: str) -> str:
        assert value in self.names, f"a call names {value!r}, which is no resource of the stack"
        return self.names[value]

    def _before_call(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        service = model.service_model.service_name
        with self._lock:
            self.calls.update(self._calls(service, model.name, params))

    def _calls(self, service: str, operation: str, params: dict[str, Any]) -> list[Call]:
        if "RequestItems" in params:
            return [Call(service, operation, self._name(t)) for t in params["RequestItems"]]
        if operation == "TransactWriteItems":
            return [
                Call(service, operation, self._name(request["TableName"]), kind)
                for item in params["TransactItems"]
                for kind, request in item.items()
            ]
        if "TableName" in params:
            table = self._name(params["TableName"])
            index = params.get("IndexName")
            return [Call(service, operation, f"{table}_index" if index else table, index or "")]
        if "QueueUrl" in params:
            return [Call(service, operation, self._name(params["QueueUrl"]))]
        if "TopicArn" in params:
            return [Call(service, operation, self._name(params["TopicArn"]))]
        if service == "ssm":
            decrypt = "WithDecryption" if params.get("WithDecryption") else ""
            return [Call(service, operation, self._name(params["Name"]), decrypt)]
        if service == "iot-data":
            return [Call(service, operation, IOT_TOPIC + params["topic"])]
        raise AssertionError(f"no resource known for {service} {operation}: map it here")


def iam_requests(call: Call) -> list[tuple[str, str, dict[str, str]]]:
    """(IAM action, resource, request context) of every request AWS authorizes for ``call``."""
    resource = call.resource
    if call.service == "dynamodb":
        if call.operation == "TransactWriteItems":
            requests = [(_TRANSACT_ACTIONS[call.detail], resource, {})]
        elif call.operation == "TransactGetItems":
            requests = [("dynamodb:GetItem", resource, {})]
        else:
            requests = [(f"dynamodb:{call.operation}", resource, {})]
        if resource in UNDER_STACK_KEY:
            requests.append(("kms:Decrypt", "key", {}))
        return requests
    if call.service == "sqs":
        return [(_SQS_ACTIONS[call.operation], resource, TLS)]
    if call.service == "sns":
        assert call.operation == "Publish", call
        return [("sns:Publish", resource, TLS), *((a, "key", {}) for a in _SNS_KEY_ACTIONS)]
    if call.service == "ssm":
        requests = [(f"ssm:{call.operation}", resource, {})]
        if call.detail == "WithDecryption":
            requests.append(("kms:Decrypt", "ssm_key", VIA_SSM))
        return requests
    if call.service == "iot-data":
        assert call.operation == "Publish", call
        return [("iot:Publish", resource, {})]
    raise AssertionError(f"no IAM mapping for {call}")


_SNS_KEY_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")
