"""The dashboard's token gate and data endpoints, against a real runtime over real HTTP."""

from __future__ import annotations

import stat
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from iot_pipeline_backend.dashboard import DASHBOARD_TOKEN_FILE, load_or_create_dashboard_token
from iot_pipeline_backend.errors import SettingsError
from iot_pipeline_backend.local.commands import banner
from iot_pipeline_backend.local.runtime import LocalPipeline
from iot_pipeline_backend.local.testing import RunningPipeline, running_pipeline

from .conftest import sdk_for

PAGES = [
    "/dashboard",
    "/dashboard/",
    "/dashboard/static/dashboard.js",
    "/dashboard/static/vendor/uplot/uPlot.iife.min.js",
    "/dashboard/api/devices",
    "/dashboard/api/series?device_id=greenhouse-1",
    "/dashboard/api/alerts",
    "/dashboard/api/figures",
    "/dashboard/api/nothing-here",
]


@pytest.fixture
def pipeline(data_dir: Path) -> Iterator[RunningPipeline]:
    with running_pipeline(data_dir=data_dir) as running:
        yield running


def _origin(pipeline: RunningPipeline) -> str:
    return pipeline.endpoint.removesuffix("/prod")


def _token(pipeline: RunningPipeline) -> str:
    return (pipeline.data_dir / DASHBOARD_TOKEN_FILE).read_text()


def _logged_in(pipeline: RunningPipeline) -> httpx.Client:
    client = httpx.Client(base_url=_origin(pipeline), follow_redirects=True, timeout=10)
    response = client.get("/dashboard", params={"token": _token(pipeline)})
    assert response.status_code == 200
    return client


def _ingest(pipeline: RunningPipeline, readings: list[dict[str, object]]) -> None:
    with sdk_for(pipeline) as sdk:
        sdk.ingest_batch(readings)
    assert pipeline.wait_idle(30)


@pytest.mark.parametrize("path", PAGES)
def test_without_the_token_every_page_and_endpoint_is_401_and_shows_nothing(
    pipeline: RunningPipeline, path: str
) -> None:
    # GIVEN a device with data
    _ingest(pipeline, [{"device_id": "greenhouse-1", "sensor_data": {"temperature": 21.5}}])
    wrong = "x" * len(_token(pipeline))
    login = httpx.get(_origin(pipeline) + "/dashboard", params={"token": _token(pipeline)})
    cookie_name = login.headers["set-cookie"].split("=", 1)[0]
    attempts = [
        httpx.get(_origin(pipeline) + path, timeout=10),
        httpx.get(_origin(pipeline) + path, params={"token": wrong}, timeout=10),
        httpx.get(_origin(pipeline) + path, headers={"authorization": f"Bearer {wrong}"}),
        httpx.get(_origin(pipeline) + path, headers={"cookie": f"{cookie_name}={wrong}"}),
    ]
    for response in attempts:
        # THEN 401, no data, no cookie, and nothing that would let another origin read it
        assert response.status_code == 401, (path, response.status_code)
        assert b"greenhouse-1" not in response.content
        assert b"21.5" not in response.content
        assert "set-cookie" not in response.headers
        assert "access-control-allow-origin" not in response.headers


def test_the_token_url_sets_an_httponly_strict_cookie_and_drops_the_token_from_the_url(
    pipeline: RunningPipeline,
) -> None:
    token = _token(pipeline)
    response = httpx.get(_origin(pipeline) + "/dashboard", params={"token": token}, timeout=10)
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard"
    cookie = response.headers["set-cookie"]
    assert f"={token};" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert "Path=/dashboard" in cookie
    # WHEN the browser follows the redirect with the cookie THEN it gets the page
    client = _logged_in(pipeline)
    page = client.get("/dashboard")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "access-control-allow-origin" not in page.headers
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    # AND another app's odd cookies on the same host do not hide it
    name = cookie.split("=", 1)[0]
    odd = httpx.get(
        _origin(pipeline) + "/dashboard/api/figures",
        headers={"cookie": f'theme="dark\\"; flag; {name}={token}; x=[1,2]'},
        timeout=10,
    )
    assert odd.status_code == 200
    # AND a script may use the token as a bearer token instead
    bearer = httpx.get(
        _origin(pipeline) + "/dashboard/api/figures",
        headers={"authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert bearer.status_code == 200


def test_the_data_endpoints_show_devices_series_alerts_and_figures(
    pipeline: RunningPipeline,
) -> None:
    # GIVEN one reading a minute for five minutes (two in the last one), and a hot device
    minute = 60_000
    base = (int(time.time() * 1000) // minute - 10) * minute
    temperatures = {base + n * minute + 1_000: 20.0 + n for n in range(5)}
    temperatures[base + 4 * minute + 2_000] = 30.0
    readings: list[dict[str, object]] = [
        {"device_id": "greenhouse-1", "timestamp": at, "sensor_data": {"temperature": t}}
        for at, t in temperatures.items()
    ]
    readings[-1]["sensor_data"] = {"temperature": 30.0, "humidity": 50.0}
    latest = base + 4 * minute + 2_000
    readings.append(
        {"device_id": "greenhouse-2", "timestamp": latest, "sensor_data": {"temperature": 55.0}}
    )
    _ingest(pipeline, readings)
    client = _logged_in(pipeline)

    body = client.get("/dashboard/api/devices").json()
    assert body["more"] is False
    devices = {d["device_id"]: d for d in body["devices"]}
    assert devices.keys() == {"greenhouse-1", "greenhouse-2"}
    assert devices["greenhouse-1"]["last_seen"] == latest
    assert devices["greenhouse-1"]["readings"] == 6
    assert devices["greenhouse-1"]["values"] == {"temperature": 30.0, "humidity": 50.0}
    assert devices["greenhouse-1"]["status"] == "processed"
    assert devices["greenhouse-2"]["status"] == "anomaly"
    assert devices["greenhouse-2"]["anomalies"][0]["field"] == "temperature"

    alerts = client.get("/dashboard/api/alerts").json()["alerts"]
    assert [a["device_id"] for a in alerts] == ["greenhouse-2"]
    assert alerts[0]["kind"] == "alert_rule"

    figures = client.get("/dashboard/api/figures").json()
    assert figures["readings_stored"] == 7
    assert figures["readings_processed"] == 7
    assert figures["queue_depth"] == 0
    assert figures["dlq_size"] == 0

    # THEN the chart's columns are the minute buckets, computed here by brute force
    series = client.get(
        "/dashboard/api/series",
        params={"device_id": "greenhouse-1", "interval": "1m", "start": base, "end": latest},
    ).json()
    by_minute: dict[int, list[float]] = {}
    for at, t in temperatures.items():
        by_minute.setdefault(at - at % minute, []).append(t)
    assert series["buckets"] == sorted(by_minute)
    assert series["min"] == [min(by_minute[b]) for b in sorted(by_minute)]
    assert series["max"] == [max(by_minute[b]) for b in sorted(by_minute)]
    assert series["avg"] == [sum(by_minute[b]) / len(by_minute[b]) for b in sorted(by_minute)]

    # AND the page says what the API says for the same questions
    with sdk_for(pipeline) as sdk:
        api_devices = sdk.request("GET", "/devices")["items"]
        api_buckets = sdk.request(
            "GET",
            "/query",
            params={
                "device_id": "greenhouse-1",
                "interval": "1m",
                "start": base,
                "end": latest,
                "fields": "temperature",
            },
        )["items"]
    assert [d["device_id"] for d in api_devices] == [d["device_id"] for d in body["devices"]]
    assert [d["last_seen"] for d in api_devices] == [d["last_seen"] for d in body["devices"]]
    assert [b["start"] for b in api_buckets] == series["buckets"]
    assert [b["stats"]["temperature"]["avg"] for b in api_buckets] == series["avg"]


def test_a_bad_series_request_is_a_400_naming_the_field(pipeline: RunningPipeline) -> None:
    client = _logged_in(pipeline)
    response = client.get(
        "/dashboard/api/series", params={"device_id": "d", "start": "soon", "end": "1"}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "validation_error"
    assert [d["field"] for d in body["details"]] == ["start"]
    # AND a range of too many buckets says which interval to change
    too_many = client.get(
        "/dashboard/api/series",
        params={"device_id": "d", "interval": "1m", "start": "0", "end": str(30 * 86_400_000)},
    )
    assert too_many.status_code == 400
    assert "longer interval" in too_many.json()["message"]


def test_the_dashboard_is_read_only(pipeline: RunningPipeline) -> None:
    client = _logged_in(pipeline)
    assert client.post("/dashboard/api/devices").status_code == 405


def test_the_token_is_private_stable_across_restarts_and_in_the_banner(tmp_path: Path) -> None:
    first = LocalPipeline(data_dir=tmp_path, port=0)
    path = tmp_path / DASHBOARD_TOKEN_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first.dashboard_token) >= 40
    again = LocalPipeline(data_dir=tmp_path, port=0)
    assert again.dashboard_token == first.dashboard_token
    assert f"/dashboard?token={first.dashboard_token}" in banner(first)


def test_a_damaged_token_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / DASHBOARD_TOKEN_FILE).write_bytes(b"")
    with pytest.raises(SettingsError, match=r"dashboard\.token"):
        load_or_create_dashboard_token(tmp_path)


def test_a_damaged_alerts_file_is_a_500_for_alerts_only(pipeline: RunningPipeline) -> None:
    # GIVEN an alerts file someone broke by hand
    (pipeline.data_dir / "alerts.jsonl").write_text("not json\n")
    client = _logged_in(pipeline)
    # THEN the alerts endpoint says only that it failed, and the rest keeps working
    broken = client.get("/dashboard/api/alerts")
    assert broken.status_code == 500
    assert broken.json() == {
        "message": "Internal server error",
        "error": "internal_error",
        "details": [],
    }
    assert client.get("/dashboard/api/figures").status_code == 200
