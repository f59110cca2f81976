"""The SDK's time-series reads against the real local runtime, sync and async in pairs."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from iot_pipeline_sdk import AsyncClient, Bucket, Client, NotFoundError, ValidationError

testing = pytest.importorskip(
    "iot_pipeline_backend.local.testing", reason="the local runtime is not installed"
)

DAY = "2024-01-15"
HOUR_MS = 3_600_000
DAY_START_MS = 1705276800000  # 2024-01-15T00:00:00Z


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with testing.running_pipeline(data_dir=tmp_path_factory.mktemp("pipeline")) as running:
        options = _options(running)
        with Client(**options) as client:
            # Three hours of a reading every 5 minutes, temperature rising 0.5 per reading.
            client.ingest_batch(
                {
                    "device_id": "ts-1",
                    "timestamp": DAY_START_MS + i * 300_000,
                    "reading_id": f"ts-1-{i}",
                    "sensor_data": {"temperature": 20 + i / 2, "humidity": 40},
                }
                for i in range(36)
            )
            client.ingest("ts-2", {"temperature": 10}, timestamp=DAY_START_MS)
        assert running.wait_idle(60)
        yield running


def _options(pipeline: Any) -> dict[str, Any]:
    return {
        "endpoint": pipeline.endpoint,
        "region": pipeline.region,
        "profile": pipeline.profile,
        "credentials_file": pipeline.credentials_file,
    }


@pytest.fixture
def client(pipeline: Any) -> Iterator[Client]:
    with Client(**_options(pipeline)) as sync_client:
        yield sync_client


@pytest.fixture
async def async_client(pipeline: Any) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(**_options(pipeline)) as client:
        yield client


def _hourly_averages(buckets: list[Bucket]) -> list[tuple[int, float | None]]:
    return [(b.start, b.stats["temperature"].avg) for b in buckets]


EXPECTED = [
    (DAY_START_MS + h * HOUR_MS, sum(20 + i / 2 for i in range(12 * h, 12 * h + 12)) / 12)
    for h in range(3)
]


def test_given_three_hours_when_aggregated_hourly_then_one_average_per_hour(
    client: Client,
) -> None:
    page = client.aggregate("ts-1", event_date=DAY, interval="1h", limit=2, stats=["avg"])

    assert page.count == 2 and page.has_more
    assert _hourly_averages(list(page.auto_paging_iter())) == EXPECTED
    assert page.items[0].stats["temperature"].count is None  # only what was asked


async def test_given_three_hours_when_aggregated_async_then_the_same_averages(
    async_client: AsyncClient,
) -> None:
    buckets = [b async for b in async_client.iter_aggregate("ts-1", event_date=DAY, interval="1h")]

    assert _hourly_averages(buckets) == EXPECTED
    assert buckets[0].count == 12


def test_given_devices_when_listed_and_fetched_then_their_records(client: Client) -> None:
    assert [d.device_id for d in client.iter_devices(limit=1)] == ["ts-1", "ts-2"]
    device = client.get_device("ts-1")
    assert (device.readings, device.first_seen) == (36, DAY_START_MS)
    assert device.latest is not None and device.latest.reading_id == "ts-1-35"
    with pytest.raises(NotFoundError):
        client.get_device("nobody")


async def test_given_devices_when_listed_async_then_the_same_records(
    async_client: AsyncClient,
) -> None:
    ids = [d.device_id async for d in async_client.iter_devices(prefix="ts-")]
    assert ids == ["ts-1", "ts-2"]
    assert (await async_client.get_device("ts-2")).readings == 1
    with pytest.raises(NotFoundError):
        await async_client.get_device("nobody")


def test_given_bad_parameters_then_validation_error_before_sending(client: Client) -> None:
    with pytest.raises(ValidationError, match="interval"):
        client.aggregate("ts-1", event_date=DAY, interval="2h")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="start"):
        client.aggregate("ts-1", interval="1h")
    with pytest.raises(ValidationError, match="device_id"):
        client.get_device("../query")


def test_given_the_readme_example_when_run_then_it_prints_hourly_averages(
    pipeline: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the README's "hourly averages of a device" block, pointed at this pipeline
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    block = readme.split("Hourly averages of a device", 1)[1].split("```python\n", 1)[1]
    code = block.split("```", 1)[0].replace("http://127.0.0.1:8000/prod", pipeline.endpoint)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(pipeline.credentials_file))
    monkeypatch.setenv("AWS_PROFILE", pipeline.profile)
    # Two whole hours that end at least an hour ago, inside the example's "last day"
    first_hour = (int(time.time() * 1000) // HOUR_MS - 3) * HOUR_MS
    with Client(**_options(pipeline)) as client:
        client.ingest_batch(
            {
                "device_id": "device-123",
                "timestamp": first_hour + i * 600_000,
                "reading_id": f"readme-{i}",
                "sensor_data": {"temperature": 20 + i},
            }
            for i in range(12)
        )
    assert pipeline.wait_idle(60)
    # WHEN it runs as written
    exec(compile(code, "README.md", "exec"), {})  # noqa: S102 - the documented example
    # THEN it prints one line per hour and the device's total
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"hour {first_hour} 6 22.5 20 25",
        f"hour {first_hour + HOUR_MS} 6 28.5 26 31",
        "12 readings in all",
    ]
