"""Custom resource handler: create the SecureString api-key parameter with a random value.

Deployed as inline code (``index.handler``) by :mod:`.configuration`. It exists because
CloudFormation cannot create a SecureString parameter, and a value written into the
template (or returned as custom-resource data) would be readable by anyone who can read
the stack. Here the value is generated inside the function and only ever sent to SSM.
Updates keep the value: it is the HMAC key of issued pagination tokens.
"""

import contextlib
import json
import secrets
import urllib.request
from typing import Any

import boto3

_NOT_CREATED = "not-created"


def _respond(event: dict[str, Any], status: str, physical_id: str, reason: str) -> None:
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason,
            "PhysicalResourceId": physical_id,
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
        }
    ).encode()
    request = urllib.request.Request(  # noqa: S310 - CloudFormation's pre-signed https URL
        event["ResponseURL"], data=body, method="PUT", headers={"Content-Type": ""}
    )
    with urllib.request.urlopen(request, timeout=30):  # noqa: S310
        pass


def handler(event: dict[str, Any], context: object) -> None:
    """Create / keep / delete the parameter, then answer CloudFormation."""
    name = str(event["ResourceProperties"]["ParameterName"])
    kind = event["RequestType"]
    # A failed Create reports a placeholder id, so the rollback's Delete never removes a
    # parameter this resource did not create.
    physical_id = str(event.get("PhysicalResourceId") or _NOT_CREATED)
    status, reason = "SUCCESS", ""
    ssm = boto3.client("ssm")
    try:
        if kind == "Create" or (kind == "Update" and physical_id != name):
            # A renamed parameter is a new one; CloudFormation then deletes the old name.
            ssm.put_parameter(
                Name=name,
                Type="SecureString",
                Value=secrets.token_urlsafe(48),
                Description="iot-pipeline api key (HMAC key of pagination tokens)",
                Overwrite=False,
            )
            physical_id = name
        elif kind == "Delete" and physical_id == name:
            with contextlib.suppress(ssm.exceptions.ParameterNotFound):
                ssm.delete_parameter(Name=name)
    except Exception as exc:  # CloudFormation must always get an answer, or it hangs for an hour
        status, reason = "FAILED", f"{type(exc).__name__}: {exc}"[:500]
    _respond(event, status, physical_id, reason)
