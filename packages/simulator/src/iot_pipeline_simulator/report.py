"""The run report: one JSON document that ``verify`` reads back, and its builders.

It names the pipeline (endpoint, region, credentials profile), the fleet (profile, seed,
devices, rate) and, per device, the acknowledged ``seq`` numbers as inclusive ranges. Reading
ids are deterministic (``reading_id_format``), so ranges of seqs are all ``verify`` needs and
a 10,000-device report stays small.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Final, Literal

import pydantic
from iot_pipeline_common.keys import iso_utc
from pydantic import BaseModel, ConfigDict, Field

from iot_pipeline_simulator.devices import reading_id_for
from iot_pipeline_simulator.errors import ReportError
from iot_pipeline_simulator.outcomes import RunResult

REPORT_FORMAT: Final[Literal["iot-sim-report/1"]] = "iot-sim-report/1"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeviceRecord(_Model):
    """What one device got acknowledged (seq ranges, inclusive) and rejected as expected."""

    acked: list[tuple[int, int]] = Field(default_factory=list)
    rejected: list[int] = Field(default_factory=list)
    #: Smallest and largest timestamp the pipeline acknowledged (bounds verify's queries).
    first_timestamp: int | None = None
    last_timestamp: int | None = None

    def acked_seqs(self) -> Iterable[int]:
        """Every acknowledged seq, ascending."""
        for first, last in self.acked:
            yield from range(first, last + 1)


class Totals(_Model):
    """Counters of the run (see ``docs/simulator.md`` for each one's meaning)."""

    slots: int
    dropouts: int
    readings: int
    requests: int
    sent: int
    #: Distinct readings acknowledged: what ``verify`` checks, counted the same way.
    acknowledged: int
    #: ``200`` answers, duplicate sends included (older reports: 0).
    acknowledgements: int = 0
    #: Acknowledged readings outside the default anomaly ranges: the processor flags these.
    anomalies_expected: int = 0
    rejected_expected: int
    rejected_before_sending: int
    rejected_unexpected: int
    accepted_invalid: int
    previously_stored: int
    shed: int
    unfinished: int
    errors: int


class Throughput(_Model):
    """Readings per second over the schedule window."""

    target_per_s: float
    offered_per_s: float
    acknowledged_per_s: float


class Timeline(_Model):
    """Per-interval series for the charts."""

    interval_s: float
    points: list[dict[str, float]]


class RunReport(_Model):
    """The JSON report of ``iot-sim run`` (``--report-json``)."""

    format: Literal["iot-sim-report/1"] = REPORT_FORMAT
    endpoint: str
    region: str | None = None
    aws_profile: str | None = None
    profile: str
    seed: int
    devices: int
    rate_per_device: float
    duration_s: float
    batch: int
    batch_by: Literal["fleet", "device"]
    max_in_flight: int
    started_at: str
    start_ms: int
    schedule_s: float
    elapsed_s: float
    reading_id_format: str = "{device_id}-s{seed}-{seq}"
    totals: Totals
    errors: dict[str, int]
    error_samples: dict[str, str]
    faults: dict[str, int]
    deliveries: dict[str, int]
    throughput: Throughput
    latency_ms: dict[str, float]
    schedule_lag_ms: dict[str, float]
    timeline: Timeline
    device_records: dict[str, DeviceRecord]

    def reading_id(self, device_id: str, seq: int) -> str:
        """The reading id the run gave ``seq`` of ``device_id``."""
        return reading_id_for(device_id=device_id, seed=self.seed, seq=seq)

    def write(self, path: Path) -> None:
        """Write the report as compact JSON (``ReportError`` if the file cannot be written)."""
        try:
            path.write_text(self.model_dump_json() + "\n", encoding="utf-8")
        except OSError as exc:
            raise ReportError(f"cannot write the JSON report {path}: {exc.strerror}") from None

    @classmethod
    def load(cls, path: Path) -> RunReport:
        """Read a report written by ``iot-sim run``; ``ReportError`` names what is wrong."""
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ReportError(f"cannot read the report {path}: {exc.strerror}") from None
        try:
            return cls.model_validate_json(text)
        except pydantic.ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "document"
            raise ReportError(
                f"{path} is not an iot-sim run report ({where}: {first['msg']})"
            ) from None


def seq_ranges(seqs: Iterable[int]) -> list[tuple[int, int]]:
    """``[0, 1, 2, 5, 6, 9]`` → ``[(0, 2), (5, 6), (9, 9)]`` (duplicates ignored)."""
    ranges: list[tuple[int, int]] = []
    for seq in sorted(set(seqs)):
        if ranges and seq == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], seq)
        else:
            ranges.append((seq, seq))
    return ranges


def acked_count(record: DeviceRecord) -> int:
    """Distinct acknowledged readings of one device (its acknowledged seqs)."""
    return sum(last - first + 1 for first, last in record.acked)


def build_report(
    result: RunResult, *, endpoint: str, region: str | None, aws_profile: str | None
) -> RunReport:
    """Turn a finished run into its report."""
    fleet, totals, ledger = result.fleet, result.totals, result.ledger
    records: dict[str, DeviceRecord] = {}
    for device in range(fleet.devices):
        acked = ledger.acked[device]
        rejected = ledger.rejected.get(device, [])
        if acked is None and not rejected:
            continue
        records[fleet.device_id(device)] = DeviceRecord(
            acked=seq_ranges(acked or ()),
            rejected=sorted(set(rejected)),
            first_timestamp=ledger.first_ts.get(device),
            last_timestamp=ledger.last_ts.get(device),
        )
    window = max(result.schedule_s, 1e-9)
    return RunReport(
        endpoint=endpoint,
        region=region,
        aws_profile=aws_profile,
        profile=fleet.profile.name,
        seed=fleet.seed,
        devices=fleet.devices,
        rate_per_device=fleet.rate,
        duration_s=result.options.duration_s,
        batch=result.options.batch_size,
        batch_by=result.options.batch_by,
        max_in_flight=result.options.max_in_flight,
        started_at=iso_utc(fleet.start_ms),
        start_ms=fleet.start_ms,
        schedule_s=round(result.schedule_s, 3),
        elapsed_s=round(result.elapsed_s, 3),
        totals=Totals(
            slots=totals.slots,
            dropouts=totals.dropouts,
            readings=totals.readings,
            requests=totals.requests,
            sent=totals.sent,
            acknowledged=sum(acked_count(record) for record in records.values()),
            acknowledgements=totals.acknowledged,
            anomalies_expected=totals.anomalies_expected,
            rejected_expected=totals.rejected_expected,
            rejected_before_sending=totals.rejected_before_sending,
            rejected_unexpected=totals.rejected_unexpected,
            accepted_invalid=totals.accepted_invalid,
            previously_stored=totals.previously_stored,
            shed=totals.shed,
            unfinished=totals.unfinished,
            errors=sum(totals.errors.values()),
        ),
        errors=dict(totals.errors),
        error_samples=dict(totals.error_samples),
        faults=dict(totals.faults),
        deliveries=dict(totals.deliveries),
        throughput=Throughput(
            target_per_s=round(fleet.devices * fleet.rate, 2),
            offered_per_s=round(sum(totals.deliveries.values()) / window, 2),
            acknowledged_per_s=round(totals.acknowledged / max(result.elapsed_s, 1e-9), 2),
        ),
        latency_ms=result.latency.summary(50, 95, 99),
        schedule_lag_ms=result.lag.summary(50, 99),
        timeline=Timeline(interval_s=result.timeline.interval_s, points=result.timeline.points()),
        device_records=records,
    )
