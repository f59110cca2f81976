"""curl's own SigV4 (``--aws-sigv4``), an implementation we did not write, against the gateway."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from iot_pipeline_backend.local.testing import running_pipeline


def _curl_version() -> tuple[int, int] | None:
    if shutil.which("curl") is None:
        return None
    first = subprocess.run(["curl", "--version"], capture_output=True, text=True).stdout
    match = re.match(r"curl (\d+)\.(\d+)", first)
    return (int(match[1]), int(match[2])) if match else None


CURL = _curl_version()
pytestmark = pytest.mark.skipif(
    CURL is None or CURL < (7, 75), reason="needs curl 7.75+ (--aws-sigv4)"
)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with running_pipeline(data_dir=tmp_path_factory.mktemp("curl")) as running:
        yield running


def curl(pipeline: Any, path: str, *extra: str) -> dict[str, Any]:
    # What docs/local.md shows: provider1:provider2:region:service, keys as --user.
    result = subprocess.run(
        [
            "curl",
            "-sS",
            "--aws-sigv4",
            f"aws:amz:{pipeline.region}:execute-api",
            "--user",
            f"{pipeline.access_key}:{pipeline.secret_key}",
            *extra,
            pipeline.endpoint + path,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    reply: dict[str, Any] = json.loads(result.stdout)
    return reply


def test_given_curl_aws_sigv4_when_ingesting_and_querying_sorted_then_both_work(
    pipeline: Any,
) -> None:
    ack = curl(
        pipeline,
        "/ingest",
        "-H",
        "content-type: application/json",
        "-d",
        '{"device_id": "curl-1", "sensor_data": {"humidity": 60}}',
    )
    assert ack["message"] == "Data ingested successfully"
    # Parameters in alphabetical order: every curl version signs them right.
    page = curl(pipeline, "/query?device_id=curl-1&limit=5&table=raw")
    assert [item["reading_id"] for item in page["items"]] == [ack["reading_id"]]
    assert page["items"][0]["sensor_data"] == {"humidity": 60}


@pytest.mark.skipif(CURL is not None and CURL >= (8, 0), reason="curl 8 sorts the query")
def test_given_curl_7_and_unsorted_query_parameters_then_403_as_documented(
    pipeline: Any,
) -> None:
    # curl 7 signs the query as written; SigV4 wants it sorted, so AWS (and we) refuse it.
    reply = curl(pipeline, "/query?table=raw&device_id=curl-1")
    assert reply["error"] == "invalid_signature"


def test_given_curl_without_region_and_service_then_the_403_says_what_scope_is_wrong(
    pipeline: Any,
) -> None:
    result = subprocess.run(
        [
            "curl",
            "-sS",
            "--aws-sigv4",
            "aws:amz",
            "--user",
            f"{pipeline.access_key}:x",
            pipeline.endpoint + "/query?device_id=curl-1",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    reply = json.loads(result.stdout)
    assert reply["error"] == "invalid_signature"
    assert reply["message"].startswith("Credential should be scoped to a valid region")
