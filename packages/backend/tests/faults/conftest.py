"""The fault matrix's parts: the handlers on moto, faults raised at botocore's call boundary.

A :class:`Fault` registers a ``before-call.<service>.<Operation>`` hook on the adapters' own
client that raises the ``ClientError`` AWS would send — once, every time, or as throttling —
so the adapters' code runs unchanged and only the AWS answer is wrong. Time is fake: the
adapters sleep through :class:`FakeTime`, which also plays the Lambda context's
``get_remaining_time_in_millis()``, so retry time is measured against the invocation's budget
without waiting for it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from iot_pipeline_backend.adapters.aws import AwsAdapters
from iot_pipeline_backend.handlers.runtime import use_adapters

# The suite's moto stack (the same resources every AWS test uses).
from ..conftest import AwsStack, aws_credentials, aws_stack  # noqa: TID252

#: The errors a boundary answers, per mode: (code, HTTP status).
ERRORS = {
    "once": ("InternalServerError", 500),
    "persistent": ("InternalServerError", 500),
    "throttled": ("ThrottlingException", 400),
    "midway": ("InternalServerError", 500),
}
#: ``midway`` lets this many calls through, then fails every one.
MIDWAY_SUCCESSES = 3
DYNAMODB_THROTTLE = ("ProvisionedThroughputExceededException", 400)


class FakeTime:
    """The invocation's clock: only sleeps move it; its budget is the context's time left."""

    def __init__(self, budget_seconds: float) -> None:
        self.budget = budget_seconds
        self.slept = 0.0

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.slept += seconds

    def context(self) -> FakeLambdaContext:
        return FakeLambdaContext(time=self)


@dataclass
class FakeLambdaContext:
    """The Lambda context attributes the handlers and Powertools read."""

    time: FakeTime
    function_name: str = "data-ingestion-test"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test"
    memory_limit_in_mb: int = 512
    aws_request_id: str = "fault-matrix-request"
    log_group_name: str = "/aws/lambda/test"
    log_stream_name: str = "stream"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.time.budget - self.time.slept) * 1000))


@dataclass
class Fault:
    """Fail ``service``'s ``operation`` as ``mode`` says; counts the calls it saw."""

    service: str
    operation: str
    mode: str
    calls: int = 0
    failed: int = 0
    active: bool = True

    def error(self) -> tuple[str, int]:
        if self.mode == "throttled" and self.service == "dynamodb":
            return DYNAMODB_THROTTLE
        return ERRORS[self.mode]

    def __call__(self, **_: Any) -> None:
        self.calls += 1
        if not self.active or (self.mode == "once" and self.failed):
            return
        if self.mode == "midway" and self.calls <= MIDWAY_SUCCESSES:
            return
        self.failed += 1
        code, status = self.error()
        raise ClientError(
            {
                "Error": {"Code": code, "Message": f"injected {self.mode} fault"},
                "ResponseMetadata": {"HTTPStatusCode": status},
            },
            self.operation,
        )


@dataclass
class Harness:
    """The stack in moto, adapters with fake time installed for the handlers, and faults."""

    stack: AwsStack
    adapters: AwsAdapters
    time: FakeTime
    faults: list[Fault] = field(default_factory=list)
    #: Every reading any message carried so far (messages are deleted once read).
    ever_queued: set[tuple[str, str]] = field(default_factory=set)

    def new_container(self) -> None:
        """Another Lambda container: fresh adapters (no cached config), same fake time."""
        self.adapters.close()
        self.adapters = AwsAdapters(
            self.stack.settings, session=self.stack.session, sleep=self.time.sleep
        )
        use_adapters(self.adapters)

    def inject(self, service: str, operation: str, mode: str) -> Fault:
        fault = Fault(service, operation, mode)
        client = self.adapters.clients[service]
        client.meta.events.register(f"before-call.{service}.{operation}", fault)
        self.faults.append(fault)
        return fault

    def clear(self) -> None:
        for fault in self.faults:
            fault.active = False

    @property
    def aws(self) -> boto3.Session:
        return self.stack.session

    def raw_items(self) -> list[dict[str, Any]]:
        return self._scan(self.stack.settings.raw_table_name or "")

    def processed_items(self) -> list[dict[str, Any]]:
        return self._scan(self.stack.settings.processed_table_name or "")

    def _scan(self, table: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.aws.client("dynamodb").scan(TableName=table)["Items"]
        return items

    def queued_readings(self) -> set[tuple[str, str]]:
        """(device_id, sort key) of every reading a queue message ever carried."""
        self.ever_queued.update(
            (r["device_id"], f"{r['timestamp']:013d}#{r['reading_id']}")
            for body in self.stack.drain_queue()
            for r in json.loads(body)["readings"]
        )
        return set(self.ever_queued)

    def receive_messages(self) -> list[dict[str, Any]]:
        """Every queued message (left in flight, as the event source mapping holds them)."""
        sqs = self.aws.client("sqs")
        messages: list[dict[str, Any]] = []
        while batch := sqs.receive_message(
            QueueUrl=self.stack.settings.queue_url or "",
            MaxNumberOfMessages=10,
            VisibilityTimeout=300,
        ).get("Messages", []):
            messages.extend(batch)
        return messages


@pytest.fixture
def harness(monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    aws_credentials(monkeypatch)
    # Metrics on, so the EMF lines the handlers flush can be read back from stdout.
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    config = {"alert_rules": [{"name": "hot", "field": "temperature", "above": 30}]}
    with aws_stack(config=config) as stack:
        time = FakeTime(budget_seconds=29.0)
        adapters = AwsAdapters(stack.settings, session=stack.session, sleep=time.sleep)
        previous = use_adapters(adapters)
        harness = Harness(stack=stack, adapters=adapters, time=time)
        try:
            yield harness
        finally:
            use_adapters(previous)
            harness.adapters.close()


def emitted_metrics(stdout: str) -> dict[str, float]:
    """Metric name → total value of the EMF lines in ``stdout``."""
    totals: dict[str, float] = {}
    for line in stdout.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        document = json.loads(line)
        for directive in document["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                value = document[metric["Name"]]
                values = value if isinstance(value, list) else [value]
                totals[metric["Name"]] = totals.get(metric["Name"], 0) + sum(values)
    return totals


def emitted_dimensions(stdout: str, metric: str) -> list[dict[str, str]]:
    """The dimension values of each EMF line in ``stdout`` that carries ``metric``."""
    found: list[dict[str, str]] = []
    for line in stdout.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        document = json.loads(line)
        for directive in document["_aws"]["CloudWatchMetrics"]:
            if any(m["Name"] == metric for m in directive["Metrics"]):
                for names in directive["Dimensions"]:
                    found.append({name: document[name] for name in names})
    return found


def header(response: dict[str, Any], name: str) -> str:
    """A response header, from ``headers`` or ``multiValueHeaders`` (Powertools uses both)."""
    single = (response.get("headers") or {}).get(name)
    if single is not None:
        return str(single)
    return str((response.get("multiValueHeaders") or {})[name][0])
