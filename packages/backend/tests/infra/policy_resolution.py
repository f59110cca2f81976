"""Concrete ARNs for a synthesized template: what CloudFormation would resolve at deploy time.

Intrinsics (``Ref``, ``Fn::GetAtt``, ``Fn::Join``, ``Fn::Sub``) are replaced by the values
CloudFormation documents for each resource type, in one fake account and region, so the
policies can be handed to an IAM policy evaluator as they will be in AWS.
"""

from __future__ import annotations

import re
from typing import Any

ACCOUNT = "123456789012"
REGION = "us-east-1"
PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "iot-pipeline-dev",
}
REST_API_ID = "a1b2c3d4e5"
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"


class TemplateValues:
    """Resolves intrinsic functions of one template's resources."""

    def __init__(self, resources: dict[str, Any]) -> None:
        self._resources = resources

    def _props(self, logical_id: str) -> dict[str, Any]:
        props: dict[str, Any] = self._resources[logical_id].get("Properties", {})
        return props

    def _type(self, logical_id: str) -> str:
        return str(self._resources[logical_id]["Type"])

    def name(self, logical_id: str) -> str:
        """The physical name: the resource's own name property, or a stand-in."""
        props = self._props(logical_id)
        for key in ("TableName", "QueueName", "TopicName", "LogGroupName", "FunctionName"):
            if key in props:
                return str(self.resolve(props[key]))
        return logical_id

    def ref(self, logical_id: str) -> str:
        """What ``Ref`` returns for the resource type."""
        if logical_id in PSEUDO:
            return PSEUDO[logical_id]
        kind = self._type(logical_id)
        if kind == "AWS::SQS::Queue":
            return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{self.name(logical_id)}"
        if kind == "AWS::SNS::Topic":
            return f"arn:aws:sns:{REGION}:{ACCOUNT}:{self.name(logical_id)}"
        if kind == "AWS::KMS::Key":
            return KEY_ID
        if kind == "AWS::ApiGateway::RestApi":
            return REST_API_ID
        if kind == "AWS::ApiGateway::Stage":
            return str(self._props(logical_id)["StageName"])
        return self.name(logical_id)

    def arn(self, logical_id: str) -> str:
        """What ``Fn::GetAtt [id, Arn]`` returns for the resource type."""
        kind, name = self._type(logical_id), self.name(logical_id)
        arns = {
            "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}",
            "AWS::SQS::Queue": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}",
            "AWS::Logs::LogGroup": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}:*",
            "AWS::KMS::Key": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{KEY_ID}",
            "AWS::Lambda::Function": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}",
            "AWS::IAM::Role": f"arn:aws:iam::{ACCOUNT}:role/{name}",
        }
        return arns[kind]

    def resolve(self, value: Any) -> Any:
        """``value`` with every intrinsic function replaced by its concrete result."""
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Ref"}:
            return self.ref(value["Ref"])
        if set(value) == {"Fn::GetAtt"}:
            logical_id, attribute = value["Fn::GetAtt"]
            if attribute == "Arn":
                return self.arn(logical_id)
            if attribute in ("QueueName", "TopicName"):
                return self.name(logical_id)
            raise AssertionError(f"no stand-in for GetAtt {logical_id}.{attribute}")
        if set(value) == {"Fn::Join"}:
            separator, parts = value["Fn::Join"]
            return separator.join(str(self.resolve(part)) for part in parts)
        if set(value) == {"Fn::Sub"}:
            text = value["Fn::Sub"]
            return re.sub(r"\$\{([^}]+)\}", lambda m: self.ref(m.group(1)), text)
        return {key: self.resolve(item) for key, item in value.items()}
