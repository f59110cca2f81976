"""Named device profiles: what each sensor measures, how it misbehaves, how it is delivered.

A profile is data, not code: :class:`SensorModel` says how one field moves (base value,
diurnal cycle, Gaussian noise, drift), :class:`FaultRates` how often a device lies
(spikes, stuck-at, dropouts, out-of-range values the API must reject) and
:class:`DeliveryBehaviour` how its readings travel (duplicate sends, late and out-of-order
arrivals, bursts after an offline spell). ``iot-sim profiles`` prints them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from iot_pipeline_common import limits
from iot_pipeline_common.models import PipelineConfig

from iot_pipeline_simulator.errors import ProfileError


@dataclass(frozen=True, slots=True)
class SensorModel:
    """One sensor field: ``base + diurnal + drift + noise``, clamped to ``[low, high]``.

    ``amplitude`` is the half swing of the daily cycle (it peaks at ``peak_hour`` device
    time; a negative amplitude peaks 12 hours later), ``noise`` the standard deviation of
    the Gaussian noise, ``drift_per_hour`` a slow linear trend (calibration loss).
    """

    name: str
    unit: str
    base: float
    low: float
    high: float
    amplitude: float = 0.0
    peak_hour: float = 14.0
    noise: float = 0.0
    drift_per_hour: float = 0.0
    #: Size of an injected spike, in units of the field (applied up or down).
    spike: float = 0.0
    decimals: int = 2

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise ProfileError(f"sensor {self.name}: low must be below high")
        if not self.low <= self.base <= self.high:
            raise ProfileError(f"sensor {self.name}: base must lie within [low, high]")
        bounds = limits.KNOWN_SENSOR_RANGES.get(self.name)
        if bounds is not None and (self.low < bounds[0] or self.high > bounds[1]):
            # A clean reading must always be valid; only the out-of-range fault breaks this.
            raise ProfileError(
                f"sensor {self.name}: [{self.low}, {self.high}] exceeds the accepted range "
                f"[{bounds[0]:g}, {bounds[1]:g}]"
            )


@dataclass(frozen=True, slots=True)
class FaultRates:
    """Probabilities per reading (or per window) of each injected sensor fault."""

    #: A sensor value jumps by ``SensorModel.spike`` for one reading.
    spike: float = 0.0
    #: A window of ``stuck_window`` readings repeats its first value.
    stuck: float = 0.0
    stuck_window: int = 20
    #: The device misses a reading slot entirely (nothing is sent, ``seq`` is not used up).
    dropout: float = 0.0
    #: A known sensor reports a physically impossible value; the API must reject it (400).
    out_of_range: float = 0.0


@dataclass(frozen=True, slots=True)
class DeliveryBehaviour:
    """Probabilities per reading (or per window) of each delivery behaviour."""

    #: The reading is sent a second time, same ``reading_id``, ``duplicate_delay_s`` later.
    duplicate: float = 0.0
    duplicate_delay_s: float = 0.5
    #: The reading arrives ``late_delay_s`` after it was due (device time unchanged).
    late: float = 0.0
    late_delay_s: float = 5.0
    #: The reading arrives after the device's next reading.
    out_of_order: float = 0.0
    #: A window of ``burst_window`` readings is held (device offline) and sent at once.
    burst: float = 0.0
    burst_window: int = 10


@dataclass(frozen=True, slots=True)
class DeviceProfile:
    """A kind of device: its sensors, faults and delivery behaviours."""

    name: str
    description: str
    sensors: tuple[SensorModel, ...]
    faults: FaultRates = field(default_factory=FaultRates)
    delivery: DeliveryBehaviour = field(default_factory=DeliveryBehaviour)

    def __post_init__(self) -> None:
        if not limits.SENSOR_FIELDS_MIN <= len(self.sensors) <= limits.SENSOR_FIELDS_MAX:
            raise ProfileError(f"profile {self.name}: needs 1 to 50 sensors")
        if self.faults.out_of_range and not any(
            s.name in limits.KNOWN_SENSOR_RANGES for s in self.sensors
        ):
            raise ProfileError(
                f"profile {self.name}: out-of-range faults need a range-checked sensor "
                f"({', '.join(limits.KNOWN_SENSOR_RANGES)})"
            )


def _climate(*, temperature: float, humidity: float) -> tuple[SensorModel, ...]:
    return (
        SensorModel("temperature", "°C", temperature, -40, 85, amplitude=6, noise=0.3, spike=15),
        SensorModel(
            "humidity", "%", humidity, 0, 100, amplitude=-12, noise=1.5, spike=25, decimals=1
        ),
        SensorModel("pressure", "hPa", 1013, 900, 1080, amplitude=1.5, noise=0.4, spike=20),
    )


PROFILES: dict[str, DeviceProfile] = {
    profile.name: profile
    for profile in (
        DeviceProfile(
            name="clean",
            description="Well-behaved climate sensors: no faults, every reading delivered once "
            "and on time. The baseline for throughput and loss checks.",
            sensors=_climate(temperature=21, humidity=50),
        ),
        DeviceProfile(
            name="greenhouse",
            description="Climate and CO2 sensors with a strong daily cycle; occasional spikes, "
            "stuck humidity sensors, flaky Wi-Fi (duplicates, short offline bursts).",
            sensors=(
                *_climate(temperature=24, humidity=70),
                SensorModel("co2_ppm", "ppm", 650, 300, 2000, amplitude=-150, noise=20, spike=600),
                SensorModel("soil_moisture", "%", 38, 0, 100, noise=0.8, drift_per_hour=-0.4),
            ),
            faults=FaultRates(spike=0.004, stuck=0.01, dropout=0.005, out_of_range=0.003),
            delivery=DeliveryBehaviour(
                duplicate=0.01, late=0.003, out_of_order=0.005, burst=0.01, burst_window=8
            ),
        ),
        DeviceProfile(
            name="cold-chain",
            description="Refrigerated trucks near 4 °C with a slowly failing compressor (upward "
            "drift); cellular gaps mean many late readings and long offline bursts.",
            sensors=(
                SensorModel(
                    "temperature",
                    "°C",
                    4,
                    -30,
                    30,
                    amplitude=0.6,
                    noise=0.15,
                    drift_per_hour=0.3,
                    spike=8,
                ),
                SensorModel("humidity", "%", 85, 0, 100, noise=2, spike=10, decimals=1),
                SensorModel("door_open_s", "s", 0, 0, 600, noise=0.0, spike=120, decimals=0),
            ),
            faults=FaultRates(spike=0.003, dropout=0.02, out_of_range=0.002),
            delivery=DeliveryBehaviour(
                duplicate=0.02,
                late=0.02,
                late_delay_s=8.0,
                out_of_order=0.01,
                burst=0.03,
                burst_window=15,
            ),
        ),
        DeviceProfile(
            name="factory",
            description="Machine monitors: warm (~38 °C), vibrating, noisy; frequent spikes and "
            "stuck sensors, wired network (few delivery problems, some retries sent twice).",
            sensors=(
                SensorModel(
                    "temperature",
                    "°C",
                    # Below the default 50 °C anomaly limit, so only the spikes are flagged.
                    38,
                    0,
                    150,
                    amplitude=4,
                    noise=0.8,
                    drift_per_hour=0.5,
                    spike=40,
                ),
                SensorModel("humidity", "%", 35, 0, 100, amplitude=-5, noise=1.0, decimals=1),
                SensorModel("pressure", "hPa", 1005, 900, 1080, noise=0.5),
                SensorModel("vibration_mm_s", "mm/s", 2.8, 0, 50, noise=0.4, spike=20),
                SensorModel("current_a", "A", 12, 0, 60, amplitude=3, peak_hour=11, noise=0.6),
            ),
            faults=FaultRates(spike=0.01, stuck=0.02, stuck_window=30, out_of_range=0.005),
            delivery=DeliveryBehaviour(duplicate=0.02, out_of_order=0.005),
        ),
    )
}


def get_profile(name: str) -> DeviceProfile:
    """The profile called ``name``; :class:`ProfileError` lists the known ones otherwise."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ProfileError(
            f"unknown profile {name!r}; choose one of: {', '.join(sorted(PROFILES))}"
        ) from None


_DEFAULT_RANGES = PipelineConfig().ranges


def outside_default_ranges(sensor_data: Mapping[str, float]) -> bool:
    """True when the processor's default anomaly ranges flag this reading."""
    for name, value in sensor_data.items():
        bounds = _DEFAULT_RANGES.get(name)
        if bounds is None:
            continue
        if (bounds.min is not None and value < bounds.min) or (
            bounds.max is not None and value > bounds.max
        ):
            return True
    return False
