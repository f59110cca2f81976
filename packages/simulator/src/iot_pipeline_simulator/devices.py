"""Simulated devices: what each one measures at each slot of its schedule, and when it sends it.

A fleet of N devices, each due every ``1 / rate`` seconds from a seeded phase. For device
``i`` and slot ``k`` every value and every choice (noise, faults, delivery) is a pure function
of ``(seed, i, k)`` (see :mod:`iot_pipeline_simulator.streams`), so the same seed gives the same
readings in any order and a device's state is two integers (next slot, next ``seq``).
Only timestamps depend on when the run starts.

Each device's daily cycle starts at a seeded hour of its day (devices live in different time
zones), so a run's readings do not depend on the wall-clock hour either.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final, Literal

from iot_pipeline_common import limits

from iot_pipeline_simulator.errors import RunConfigError
from iot_pipeline_simulator.profiles import DeviceProfile, SensorModel
from iot_pipeline_simulator.streams import derive, gaussian, uniform

SendKind = Literal["on_time", "duplicate", "late", "out_of_order", "burst"]

# Stream tags, so each kind of draw has its own independent stream.
_PHASE: Final = 1
_CLOCK: Final = 2
_STUCK: Final = 3
_BURST: Final = 4
# Draw indices within a slot's stream.
_D_DROPOUT, _D_RANGE, _D_RANGE_FIELD, _D_RANGE_SIDE = 0, 1, 2, 3
_D_DUPLICATE, _D_LATE, _D_OUT_OF_ORDER, _D_DELAY = 4, 5, 6, 7
_D_SENSORS, _D_PER_SENSOR = 10, 4


@dataclass(frozen=True, slots=True)
class SimReading:
    """One reading a simulated device produced; ``faults`` names what was injected."""

    device: int
    device_id: str
    seq: int
    timestamp: int
    reading_id: str
    sensor_data: dict[str, float]
    faults: tuple[str, ...] = ()

    @property
    def expect_rejection(self) -> bool:
        """True when the reading is invalid on purpose and the API must answer 400."""
        return "out_of_range" in self.faults

    def to_wire(self) -> dict[str, Any]:
        """The ``POST /ingest`` body of this reading."""
        return {
            "device_id": self.device_id,
            "sensor_data": self.sensor_data,
            "timestamp": self.timestamp,
            "reading_id": self.reading_id,
            "seq": self.seq,
        }


@dataclass(frozen=True, slots=True)
class Send:
    """A reading due to go on the wire ``due`` seconds after the run started."""

    due: float
    reading: SimReading
    kind: SendKind = "on_time"


def reading_id_for(*, device_id: str, seed: int, seq: int) -> str:
    """The deterministic ``reading_id`` of a simulated reading (also used by ``verify``)."""
    return f"{device_id}-s{seed}-{seq}"


class Fleet:
    """``devices`` simulated devices of one profile, each sending ``rate`` readings/s."""

    def __init__(
        self,
        *,
        profile: DeviceProfile,
        devices: int,
        rate: float,
        seed: int,
        start_ms: int,
        id_prefix: str | None = None,
    ) -> None:
        if devices < 1:
            raise RunConfigError("--devices must be at least 1")
        if not rate > 0 or not math.isfinite(rate):
            raise RunConfigError("--rate must be a positive number of readings per second")
        if seed < 0:
            raise RunConfigError("--seed must be zero or positive")
        self.profile = profile
        self.devices = devices
        self.rate = rate
        self.seed = seed
        self.start_ms = start_ms
        self.period = 1.0 / rate
        self.id_prefix = id_prefix or profile.name
        width = max(5, len(str(devices - 1)))
        self._id_format = f"{self.id_prefix}-{{:0{width}d}}"
        if len(self.device_id(devices - 1)) > limits.ID_MAX_LENGTH - 40:
            raise RunConfigError("the device id prefix is too long")
        # Per-device state: two machine integers, so 10,000 devices cost ~160 kB.
        self._next_slot = array("q", bytes(8 * devices))
        self._next_seq = array("q", bytes(8 * devices))
        self._keys = [derive(seed, i) for i in range(devices)]
        self._phases = [uniform(derive(k, _PHASE), 0) * self.period for k in self._keys]
        self._hour0 = [uniform(derive(k, _CLOCK), 0) * 24.0 for k in self._keys]

    # -- identity and schedule -------------------------------------------------------------

    def device_id(self, index: int) -> str:
        """``greenhouse-00042``: the profile (or prefix) and the device's index."""
        return self._id_format.format(index)

    def slot_due(self, index: int, slot: int) -> float:
        """Seconds after the run start when slot ``slot`` of device ``index`` is due."""
        return self._phases[index] + slot * self.period

    def next_due(self, index: int) -> float:
        """When the device's next slot is due (seconds after the run start)."""
        return self.slot_due(index, self._next_slot[index])

    # -- generation ------------------------------------------------------------------------

    def advance(self, index: int) -> list[Send]:
        """Produce the device's next slot: zero sends (dropout), one, or two (duplicate)."""
        slot = self._next_slot[index]
        self._next_slot[index] = slot + 1
        device_key = self._keys[index]
        key = derive(device_key, slot)
        faults = self.profile.faults
        if faults.dropout and uniform(key, _D_DROPOUT) < faults.dropout:
            return []
        seq = self._next_seq[index]
        self._next_seq[index] = seq + 1
        due = self.slot_due(index, slot)
        reading = self._reading(index, slot, seq, due, key)
        return self._deliveries(index, slot, due, key, reading)

    def readings(self, index: int, count: int) -> Iterator[Send]:
        """The device's next sends until ``count`` slots have passed (for previews and tests)."""
        for _ in range(count):
            yield from self.advance(index)

    def _reading(self, index: int, slot: int, seq: int, due: float, key: int) -> SimReading:
        device_key = self._keys[index]
        faults = self.profile.faults
        injected: list[str] = []
        data: dict[str, float] = {}
        hour0 = self._hour0[index]
        # One stream per stuck window: each sensor's draw in it says whether it is stuck.
        stuck_key = derive(device_key, _STUCK, slot // faults.stuck_window) if faults.stuck else 0
        for j, sensor in enumerate(self.profile.sensors):
            draw = _D_SENSORS + j * _D_PER_SENSOR
            value: float
            if faults.stuck and uniform(stuck_key, j) < faults.stuck:
                first = slot - slot % faults.stuck_window
                value = self._clean(sensor, hour0, first, derive(device_key, first), draw)
                if first != slot:
                    injected.append("stuck")
            else:
                value = self._clean(sensor, hour0, slot, key, draw)
            if faults.spike and sensor.spike and uniform(key, draw + 2) < faults.spike:
                side = 1.0 if uniform(key, draw + 3) < 0.5 else -1.0
                value = min(sensor.high, max(sensor.low, value + side * sensor.spike))
                injected.append("spike")
            data[sensor.name] = round(value, sensor.decimals)
        if faults.out_of_range and uniform(key, _D_RANGE) < faults.out_of_range:
            self._break_range(data, key)
            injected.append("out_of_range")
        device_id = self.device_id(index)
        return SimReading(
            device=index,
            device_id=device_id,
            seq=seq,
            timestamp=self.start_ms + round(due * 1000),
            reading_id=reading_id_for(device_id=device_id, seed=self.seed, seq=seq),
            sensor_data=data,
            faults=tuple(dict.fromkeys(injected)),
        )

    def _clean(self, sensor: SensorModel, hour0: float, slot: int, key: int, draw: int) -> float:
        elapsed_h = slot * self.period / 3600.0
        value = sensor.base + sensor.drift_per_hour * elapsed_h
        if sensor.amplitude:
            hour = (hour0 + elapsed_h) % 24.0
            value += sensor.amplitude * math.cos(2.0 * math.pi * (hour - sensor.peak_hour) / 24.0)
        if sensor.noise:
            value += sensor.noise * gaussian(key, draw)
        return min(sensor.high, max(sensor.low, value))

    def _break_range(self, data: dict[str, float], key: int) -> None:
        checked = [name for name in data if name in limits.KNOWN_SENSOR_RANGES]
        name = checked[int(uniform(key, _D_RANGE_FIELD) * len(checked))]
        low, high = limits.KNOWN_SENSOR_RANGES[name]
        excess = round(1.0 + uniform(key, _D_RANGE_SIDE + 20) * 50.0, 1)
        data[name] = high + excess if uniform(key, _D_RANGE_SIDE) < 0.5 else low - excess

    def _deliveries(
        self, index: int, slot: int, due: float, key: int, reading: SimReading
    ) -> list[Send]:
        behaviour = self.profile.delivery
        send_at = due
        kind: SendKind = "on_time"
        if behaviour.burst:
            window = slot // behaviour.burst_window
            offline = uniform(derive(self._keys[index], _BURST, window), 0) < behaviour.burst
            if offline:
                # Held while offline, flushed together when the window ends.
                send_at = self.slot_due(index, (window + 1) * behaviour.burst_window)
                kind = "burst"
        if kind == "on_time" and behaviour.late and uniform(key, _D_LATE) < behaviour.late:
            send_at = due + behaviour.late_delay_s * (0.5 + uniform(key, _D_DELAY))
            kind = "late"
        elif (
            kind == "on_time"
            and behaviour.out_of_order
            and uniform(key, _D_OUT_OF_ORDER) < behaviour.out_of_order
        ):
            send_at = due + 1.5 * self.period
            kind = "out_of_order"
        sends = [Send(send_at, reading, kind)]
        if behaviour.duplicate and uniform(key, _D_DUPLICATE) < behaviour.duplicate:
            delay = behaviour.duplicate_delay_s * (0.5 + uniform(key, _D_DELAY + 1))
            sends.append(Send(send_at + delay, reading, "duplicate"))
        return sends
