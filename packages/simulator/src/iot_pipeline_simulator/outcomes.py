"""What a load run produced: its counters, its per-device ledger, and the result bundling them.

:class:`RunTotals` counts every outcome of a run (slots, sends, acknowledgements, expected and
unexpected rejections, errors by kind, shed and unfinished readings); :class:`DeviceLedger`
keeps, per device, the seqs acknowledged and rejected that ``iot-sim verify`` later checks
against the pipeline; :class:`RunResult` hands both to the report together with the latency,
lag and timeline statistics. :class:`~iot_pipeline_simulator.runner.LoadRunner` fills them in as
responses arrive; they live apart from its scheduler so that what reads a run's outcome (the
report, the tests, the benchmarks) depends on these records, not on the scheduling machinery.
"""

from __future__ import annotations

from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from iot_pipeline_simulator.devices import Fleet
from iot_pipeline_simulator.stats import LatencyHistogram, Timeline

if TYPE_CHECKING:
    # Only an annotation of RunResult: the runner imports this module, so not at run time.
    from iot_pipeline_simulator.runner import RunOptions


@dataclass(slots=True)
class RunTotals:
    """Counters of a run; ``readings`` counts distinct readings, ``sent`` every send."""

    slots: int = 0
    dropouts: int = 0
    readings: int = 0
    requests: int = 0
    sent: int = 0
    #: ``200`` answers, duplicate sends included (the report counts distinct readings).
    acknowledged: int = 0
    #: First sends acknowledged with a value outside the default anomaly ranges.
    anomalies_expected: int = 0
    rejected_expected: int = 0
    rejected_unexpected: int = 0
    #: Invalid on purpose yet acknowledged: the pipeline's validation let it through.
    accepted_invalid: int = 0
    #: Of the expected rejections, those the client refused before sending (SDK validation).
    rejected_before_sending: int = 0
    #: Acknowledged with an older timestamp: stored before this run (same seed reused).
    previously_stored: int = 0
    shed: int = 0
    unfinished: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    error_samples: dict[str, str] = field(default_factory=dict)
    faults: Counter[str] = field(default_factory=Counter)
    deliveries: Counter[str] = field(default_factory=Counter)


class DeviceLedger:
    """Per device: acknowledged seqs, their acknowledged timestamps, rejected seqs."""

    def __init__(self, devices: int) -> None:
        self.acked: list[array[int] | None] = [None] * devices
        self.rejected: dict[int, list[int]] = {}
        self.first_ts: dict[int, int] = {}
        self.last_ts: dict[int, int] = {}

    def acknowledge(self, device: int, seq: int, timestamp: int) -> None:
        """Record that ``seq`` of ``device`` was acknowledged with ``timestamp``."""
        seqs = self.acked[device]
        if seqs is None:
            seqs = self.acked[device] = array("q")
        seqs.append(seq)
        if timestamp < self.first_ts.get(device, timestamp + 1):
            self.first_ts[device] = timestamp
        if timestamp > self.last_ts.get(device, -1):
            self.last_ts[device] = timestamp

    def reject(self, device: int, seq: int) -> None:
        """Record that ``seq`` of ``device`` was rejected (as expected)."""
        self.rejected.setdefault(device, []).append(seq)


@dataclass(slots=True)
class RunResult:
    """Everything a report needs about a finished run."""

    fleet: Fleet
    options: RunOptions
    totals: RunTotals
    latency: LatencyHistogram
    lag: LatencyHistogram
    timeline: Timeline
    ledger: DeviceLedger
    #: Wall-clock seconds from the first due slot to the last response.
    elapsed_s: float
    #: Seconds the schedule itself ran (the offered-load window).
    schedule_s: float
