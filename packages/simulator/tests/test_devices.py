"""Device models: determinism, statistics, injected faults and delivery behaviours."""

from __future__ import annotations

import statistics

import pytest
from iot_pipeline_common.models import Reading
from iot_pipeline_simulator.devices import Fleet, Send
from iot_pipeline_simulator.errors import ProfileError, RunConfigError
from iot_pipeline_simulator.profiles import (
    PROFILES,
    DeliveryBehaviour,
    DeviceProfile,
    FaultRates,
    SensorModel,
    get_profile,
)


def _sends(fleet: Fleet, slots: int) -> list[Send]:
    return [send for device in range(fleet.devices) for send in fleet.readings(device, slots)]


def _only(sensor: SensorModel, **kwargs: object) -> DeviceProfile:
    return DeviceProfile(name="test", description="one sensor", sensors=(sensor,), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_given_the_same_seed_when_generated_twice_then_the_readings_are_identical(
    name: str,
) -> None:
    def generate(seed: int) -> list[Send]:
        fleet = Fleet(
            profile=PROFILES[name], devices=5, rate=2, seed=seed, start_ms=1_700_000_000_000
        )
        return _sends(fleet, 200)

    first, again, other = generate(42), generate(42), generate(43)
    assert first == again
    assert [s.reading.sensor_data for s in first] != [s.reading.sensor_data for s in other]


def test_given_another_start_time_then_only_timestamps_move() -> None:
    profile = PROFILES["greenhouse"]
    early = _sends(Fleet(profile=profile, devices=3, rate=1, seed=5, start_ms=0), 100)
    late = _sends(Fleet(profile=profile, devices=3, rate=1, seed=5, start_ms=86_400_000), 100)
    assert [s.reading.timestamp + 86_400_000 for s in early] == [s.reading.timestamp for s in late]
    assert [(s.reading.reading_id, s.reading.sensor_data, s.kind) for s in early] == [
        (s.reading.reading_id, s.reading.sensor_data, s.kind) for s in late
    ]


def test_given_devices_generated_in_any_order_then_each_device_gets_the_same_readings() -> None:
    profile = PROFILES["factory"]
    forward = Fleet(profile=profile, devices=4, rate=1, seed=9, start_ms=0)
    backward = Fleet(profile=profile, devices=4, rate=1, seed=9, start_ms=0)
    by_device = {d: list(forward.readings(d, 50)) for d in range(4)}
    assert {d: list(backward.readings(d, 50)) for d in reversed(range(4))} == by_device


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_given_a_profile_then_every_reading_not_broken_on_purpose_is_valid(name: str) -> None:
    fleet = Fleet(profile=PROFILES[name], devices=10, rate=1, seed=3, start_ms=1_700_000_000_000)
    sends = _sends(fleet, 300)
    broken = [s for s in sends if s.reading.expect_rejection]
    for send in sends:
        if not send.reading.expect_rejection:
            Reading.model_validate(send.reading.to_wire())  # raises if a field is out of range
    for send in broken:
        with pytest.raises(ValueError, match="must be between"):
            Reading.model_validate(send.reading.to_wire())
    assert bool(broken) == bool(PROFILES[name].faults.out_of_range)


def test_given_a_device_then_seq_is_monotonic_and_gapless_and_ids_follow_seed_device_seq() -> None:
    fleet = Fleet(profile=PROFILES["cold-chain"], devices=3, rate=1, seed=11, start_ms=0)
    for device in range(3):
        firsts = [s.reading for s in fleet.readings(device, 300) if s.kind != "duplicate"]
        assert [r.seq for r in firsts] == list(range(len(firsts)))
        assert all(r.reading_id == f"cold-chain-{device:05d}-s11-{r.seq}" for r in firsts)
        assert [r.timestamp for r in firsts] == sorted(r.timestamp for r in firsts)


def test_given_gaussian_noise_then_the_sample_deviation_matches_the_model() -> None:
    profile = _only(SensorModel("temperature", "°C", 20, -40, 85, noise=0.5, decimals=4))
    values = [
        s.reading.sensor_data["temperature"]
        for s in _sends(Fleet(profile=profile, devices=10, rate=1, seed=1, start_ms=0), 1000)
    ]
    assert statistics.fmean(values) == pytest.approx(20, abs=0.03)
    assert statistics.stdev(values) == pytest.approx(0.5, rel=0.05)


def test_given_upward_drift_then_late_readings_are_higher_than_early_ones() -> None:
    profile = _only(
        SensorModel("temperature", "°C", 4, -30, 30, noise=0.2, drift_per_hour=0.5, decimals=3)
    )
    # One reading every 100 s: 720 slots are 20 hours, so the drift adds 10 °C.
    fleet = Fleet(profile=profile, devices=1, rate=0.01, seed=2, start_ms=0)
    values = [s.reading.sensor_data["temperature"] for s in fleet.readings(0, 720)]
    assert statistics.fmean(values[-50:]) - statistics.fmean(values[:50]) == pytest.approx(
        9.3, abs=0.5
    )


def test_given_a_daily_cycle_then_values_swing_by_the_amplitude_over_a_day() -> None:
    profile = _only(SensorModel("humidity", "%", 60, 0, 100, amplitude=10, decimals=3))
    fleet = Fleet(profile=profile, devices=1, rate=1 / 600, seed=4, start_ms=0)
    values = [s.reading.sensor_data["humidity"] for s in fleet.readings(0, 144)]  # one day
    assert max(values) == pytest.approx(70, abs=0.1)
    assert min(values) == pytest.approx(50, abs=0.1)


@pytest.mark.parametrize(
    ("faults", "delivery", "measure"),
    [
        (FaultRates(spike=0.1), DeliveryBehaviour(), "spike"),
        (FaultRates(out_of_range=0.1), DeliveryBehaviour(), "out_of_range"),
        (FaultRates(dropout=0.1), DeliveryBehaviour(), "dropout"),
        (FaultRates(), DeliveryBehaviour(duplicate=0.1), "duplicate"),
        (FaultRates(), DeliveryBehaviour(late=0.1), "late"),
        (FaultRates(), DeliveryBehaviour(out_of_order=0.1), "out_of_order"),
    ],
)
def test_given_a_configured_rate_then_the_fault_appears_at_that_rate(
    faults: FaultRates, delivery: DeliveryBehaviour, measure: str
) -> None:
    sensor = SensorModel("temperature", "°C", 20, -40, 85, noise=0.3, spike=10)
    profile = _only(sensor, faults=faults, delivery=delivery)
    slots = 10_000
    fleet = Fleet(profile=profile, devices=10, rate=1, seed=8, start_ms=0)
    sends = _sends(fleet, slots // 10)
    if measure == "dropout":
        seen = slots - len(sends)
    elif measure in {"spike", "out_of_range"}:
        seen = sum(measure in s.reading.faults for s in sends)
    else:
        seen = sum(s.kind == measure for s in sends)
    # Binomial(10 000, 0.1): mean 1000, sd 30; ±4 sd.
    assert 880 <= seen <= 1120


def test_given_stuck_windows_then_a_window_repeats_its_first_value() -> None:
    sensor = SensorModel("humidity", "%", 60, 0, 100, noise=3, decimals=3)
    profile = _only(sensor, faults=FaultRates(stuck=0.2, stuck_window=10))
    fleet = Fleet(profile=profile, devices=1, rate=1, seed=6, start_ms=0)
    sends = list(fleet.readings(0, 1000))
    stuck = [s for s in sends if "stuck" in s.reading.faults]
    assert 100 < len(stuck) < 260  # ≈ 20 % of windows × 9 repeated slots
    for send in stuck:
        window_start = send.reading.seq - send.reading.seq % 10
        assert send.reading.sensor_data == sends[window_start].reading.sensor_data


def test_given_bursts_then_held_readings_go_out_together_at_the_window_end() -> None:
    sensor = SensorModel("temperature", "°C", 20, -40, 85, noise=0.3)
    profile = _only(sensor, delivery=DeliveryBehaviour(burst=0.3, burst_window=5))
    fleet = Fleet(profile=profile, devices=1, rate=1, seed=6, start_ms=0)
    bursts = [s for s in fleet.readings(0, 500) if s.kind == "burst"]
    assert bursts
    by_due: dict[float, int] = {}
    for send in bursts:
        assert send.due > (send.reading.timestamp / 1000) - 0.001
        by_due[send.due] = by_due.get(send.due, 0) + 1
    assert set(by_due.values()) == {5}


def test_given_bad_options_then_clear_errors() -> None:
    with pytest.raises(ProfileError, match="choose one of"):
        get_profile("submarine")
    with pytest.raises(RunConfigError, match="--rate"):
        Fleet(profile=PROFILES["clean"], devices=1, rate=0, seed=1, start_ms=0)
    with pytest.raises(RunConfigError, match="--devices"):
        Fleet(profile=PROFILES["clean"], devices=0, rate=1, seed=1, start_ms=0)
    with pytest.raises(ProfileError, match="accepted range"):
        SensorModel("humidity", "%", 50, 0, 120)


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_given_a_profile_then_its_normal_readings_stay_inside_the_default_anomaly_ranges(
    name: str,
) -> None:
    # GIVEN the processor's default anomaly ranges (temperature -20..50 °C, ...)
    from iot_pipeline_simulator.profiles import outside_default_ranges

    fleet = Fleet(profile=PROFILES[name], devices=4, rate=1, seed=3, start_ms=1_700_000_000_000)
    clean = [
        send.reading
        for device in range(4)
        for send in fleet.readings(device, 2000)
        if not send.reading.faults
    ]
    # THEN readings without an injected fault are (nearly) never flagged: anomalies mean faults
    flagged = sum(outside_default_ranges(r.sensor_data) for r in clean)
    assert flagged <= 0.01 * len(clean), (name, flagged, len(clean))
