"""The SDK against the references a user would otherwise reach for.

(a) signatures per second: the SDK's SigV4 signer vs botocore's ``SigV4Auth.add_auth`` on the
    same request (an ingest POST with a 150-byte body);
(b) signed single ingests per second, one after another over a kept-alive connection: the SDK
    ``Client`` vs ``requests`` + ``aws_requests_auth``, against the same local pipeline running
    in a child process (so the client's own cost is what differs).
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from unittest import mock

from run import Figure

ACCESS, SECRET = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
URL = "https://abc123.execute-api.eu-west-1.amazonaws.com/prod/ingest"
BODY = json.dumps(
    {
        "device_id": "device-123",
        "sensor_data": {"temperature": 25.5, "humidity": 60, "pressure": 1013},
        "reading_id": "018c8f1a2b3c4-9f8e7d6c5b4a",
        "seq": 42,
    }
).encode()


def _rates(
    value: Callable[[], None], reference: Callable[[], None], *, n: int, rounds: int = 5
) -> tuple[float, float]:
    """Best operations per second of each over ``rounds`` interleaved runs of ``n`` calls.

    Interleaving gives both sides the same share of a noisy machine; the best run is the
    one least disturbed by other processes.
    """
    best = {"value": float("inf"), "reference": float("inf")}
    for _ in range(rounds):
        for side, work in (("reference", reference), ("value", value)):
            started = time.perf_counter()
            for _ in range(n):
                work()
            best[side] = min(best[side], time.perf_counter() - started)
    return n / best["value"], n / best["reference"]


def signer_figure(*, quick: bool) -> Figure:
    import httpx
    from botocore.auth import SigV4Auth as BotocoreSigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    from iot_pipeline_sdk import SigV4Auth

    credentials = Credentials(ACCESS, SECRET)
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    botocore_signer = BotocoreSigV4Auth(credentials, "execute-api", "eu-west-1")
    sdk_signer = SigV4Auth(credentials=credentials, region="eu-west-1")
    # botocore reads the clock through this function; freeze it for both so neither pays twice.
    frozen = dt.datetime(2024, 1, 15, 10, 30, 0)

    # Each side re-signs one prepared request per iteration (both drop the previous
    # signature first), so the figure is the cost of a signature, not of building requests.
    botocore_request = AWSRequest(method="POST", url=URL, data=BODY, headers=headers)
    sdk_request = httpx.Request("POST", URL, content=BODY, headers=headers)

    def botocore_once() -> None:
        botocore_signer.add_auth(botocore_request)

    def sdk_once() -> None:
        next(sdk_signer.auth_flow(sdk_request))

    # Same answer first: a benchmark of two signers that disagree would mean nothing.
    checked = httpx.Request("POST", URL, content=BODY, headers=headers)
    at_frozen = SigV4Auth(
        credentials=credentials,
        region="eu-west-1",
        clock=lambda: calendar.timegm(frozen.timetuple()),
    )
    next(at_frozen.auth_flow(checked))
    n = 1_000 if quick else 10_000
    with mock.patch("botocore.auth.get_current_datetime", return_value=frozen):
        expected = AWSRequest(method="POST", url=URL, data=BODY, headers=headers)
        botocore_signer.add_auth(expected)
        if expected.headers["Authorization"] != checked.headers["authorization"]:
            raise AssertionError("the SDK signer and botocore disagree; fix that first")
        value, reference = _rates(sdk_once, botocore_once, n=n)
    return Figure(
        figure="SigV4 signatures per second (SDK signer vs botocore)",
        value=value,
        unit="signatures/s",
        reference="botocore SigV4Auth.add_auth",
        reference_value=reference,
        goal="≥ 4× botocore",
        goal_ratio=4.0,
        note=(
            "Same POST /prod/ingest request (headers and body) signed in a loop; both produce "
            "identical Authorization headers (checked before timing, and property-tested). "
            "Each side re-signs one prepared request (AWSRequest / httpx.Request) per iteration."
        ),
    )


def ingest_figure(*, quick: bool) -> Figure:
    import requests
    from aws_requests_auth.aws_auth import AWSRequestsAuth
    from iot_pipeline_backend.local.testing import running_pipeline_process
    from iot_pipeline_common.keys import new_reading_id
    from iot_pipeline_sdk import Client
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    n = 25 if quick else 1_000
    sensor_data = {"temperature": 25.5, "humidity": 60, "pressure": 1013}
    with (
        tempfile.TemporaryDirectory() as data_dir,
        running_pipeline_process(data_dir=Path(data_dir)) as pipeline,
    ):
        host = pipeline.endpoint.split("/")[2]
        session = requests.Session()
        # Retries on 429/5xx like the SDK's, so a transient server fault costs both sides
        # the same instead of aborting the run.
        retry = Retry(total=3, status_forcelist=(429, 500, 502, 503, 504), allowed_methods=None)
        session.mount("http://", HTTPAdapter(max_retries=retry))
        session.auth = AWSRequestsAuth(
            aws_access_key=pipeline.access_key,
            aws_secret_access_key=pipeline.secret_key,
            aws_host=host,
            aws_region=pipeline.region,
            aws_service="execute-api",
        )
        ingest_url = f"{pipeline.endpoint}/ingest"

        def requests_once() -> None:
            body = {"device_id": "bench-requests", "sensor_data": sensor_data}
            body["reading_id"] = new_reading_id()
            reply = session.post(ingest_url, json=body, timeout=10)
            reply.raise_for_status()

        with Client(
            endpoint=pipeline.endpoint,
            region=pipeline.region,
            credentials=(pipeline.access_key, pipeline.secret_key),
        ) as client:

            def sdk_once() -> None:
                client.ingest("bench-sdk", sensor_data)

            # Warm both connections and the server's caches before measuring.
            for _ in range(20):
                requests_once()
                sdk_once()
            value, reference = _rates(sdk_once, requests_once, n=n // 5)
        session.close()
    return Figure(
        figure="Signed single ingests per second (SDK Client vs requests)",
        value=value,
        unit="ingests/s",
        reference="requests + aws-requests-auth",
        reference_value=reference,
        goal="≥ 1.5× requests + aws-requests-auth",
        goal_ratio=1.5,
        note=(
            "One reading per request, sequential, one kept-alive connection, against the same "
            "local pipeline (child process, SQLite in a temp dir). Both send a reading_id; "
            "the SDK also validates each reading with the contract model before sending."
        ),
    )


def run(*, quick: bool) -> list[Figure]:
    """The SDK's figures (see the module docstring)."""
    return [signer_figure(quick=quick), ingest_figure(quick=quick)]
