"""The api-key custom resource handler against moto SSM and a real HTTP response endpoint.

GIVEN a CloudFormation request WHEN the handler runs THEN the SecureString exists (or is gone)
and CloudFormation gets an answer that never carries the value.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from iot_pipeline_backend.infra import api_key_resource
from moto import mock_aws

pytestmark = pytest.mark.cdk

NAME = "/iot-pipeline/test/api-key"


class CloudFormationEndpoint:
    """Records the bodies PUT to the pre-signed response URL."""

    def __init__(self) -> None:
        self.responses: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                length = int(self.headers["Content-Length"])
                outer.responses.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/response"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def event(self, kind: str, *, physical_id: str | None = None) -> dict[str, Any]:
        event = {
            "RequestType": kind,
            "ResponseURL": self.url,
            "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/s/1",
            "RequestId": f"req-{len(self.responses)}",
            "LogicalResourceId": "ApiKeyParameter",
            "ResourceProperties": {"ServiceToken": "arn", "ParameterName": NAME},
        }
        if physical_id is not None:
            event["PhysicalResourceId"] = physical_id
        return event


@pytest.fixture
def cfn(monkeypatch: pytest.MonkeyPatch) -> Iterator[CloudFormationEndpoint]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    endpoint = CloudFormationEndpoint()
    endpoint.thread.start()
    with mock_aws():
        yield endpoint
    endpoint.server.shutdown()
    endpoint.server.server_close()


def _parameter() -> dict[str, Any]:
    ssm = boto3.client("ssm")
    return ssm.get_parameter(Name=NAME, WithDecryption=True)["Parameter"]  # type: ignore[return-value]


def test_create_writes_a_random_secure_string_and_reports_only_its_name(
    cfn: CloudFormationEndpoint,
) -> None:
    api_key_resource.handler(cfn.event("Create"), None)
    parameter = _parameter()
    assert parameter["Type"] == "SecureString"
    assert len(parameter["Value"]) >= 48
    (answer,) = cfn.responses
    assert answer["Status"] == "SUCCESS"
    assert answer["PhysicalResourceId"] == NAME
    assert parameter["Value"] not in json.dumps(answer)


def test_two_creates_generate_different_keys(cfn: CloudFormationEndpoint) -> None:
    api_key_resource.handler(cfn.event("Create"), None)
    first = _parameter()["Value"]
    api_key_resource.handler(cfn.event("Delete", physical_id=NAME), None)
    api_key_resource.handler(cfn.event("Create"), None)
    assert _parameter()["Value"] != first


def test_update_keeps_the_key_so_issued_tokens_stay_valid(cfn: CloudFormationEndpoint) -> None:
    api_key_resource.handler(cfn.event("Create"), None)
    before = _parameter()["Value"]
    api_key_resource.handler(cfn.event("Update", physical_id=NAME), None)
    assert _parameter()["Value"] == before
    assert [r["Status"] for r in cfn.responses] == ["SUCCESS", "SUCCESS"]


def test_delete_removes_the_parameter(cfn: CloudFormationEndpoint) -> None:
    api_key_resource.handler(cfn.event("Create"), None)
    api_key_resource.handler(cfn.event("Delete", physical_id=NAME), None)
    with pytest.raises(boto3.client("ssm").exceptions.ParameterNotFound):
        _parameter()
    assert cfn.responses[-1]["Status"] == "SUCCESS"


def test_failed_create_reports_failure_and_its_rollback_keeps_a_foreign_parameter(
    cfn: CloudFormationEndpoint,
) -> None:
    boto3.client("ssm").put_parameter(Name=NAME, Type="SecureString", Value="someone-elses")
    api_key_resource.handler(cfn.event("Create"), None)
    failed = cfn.responses[-1]
    assert failed["Status"] == "FAILED"
    assert "ParameterAlreadyExists" in failed["Reason"]
    api_key_resource.handler(cfn.event("Delete", physical_id=failed["PhysicalResourceId"]), None)
    assert cfn.responses[-1]["Status"] == "SUCCESS"
    assert _parameter()["Value"] == "someone-elses"
