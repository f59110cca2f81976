"""``iot-sim verify``: compare what the pipeline acknowledged with what it stored.

Per device of a run report: every acknowledged reading must be in the raw table and, once
processed, in the processed table, exactly once; readings rejected on purpose must be absent.
Arrival order is checked too: a reading stored (``ingested_at``) after a higher ``seq`` of
the same device counts as reordered. Injected late and out-of-order deliveries reorder on
purpose, so reordering is reported, not failed.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

from iot_pipeline_simulator.report import DeviceRecord, RunReport, acked_count, seq_ranges

Table = Literal["raw", "processed"]


@dataclass(frozen=True, slots=True)
class StoredReading:
    """The fields of a stored item that verification reads."""

    reading_id: str
    seq: int | None
    timestamp: int
    ingested_at: str | None = None


class StoredReadings(Protocol):
    """Every stored item of a device in ``[start, end]`` (epoch ms) of one table."""

    def __call__(
        self, device_id: str, *, table: Table, start: int, end: int
    ) -> Awaitable[Sequence[StoredReading]]: ...


@dataclass(slots=True)
class DeviceVerdict:
    """What verification found for one device (seq lists are the missing/unexpected ones)."""

    device_id: str
    acknowledged: int
    lost_raw: list[int] = field(default_factory=list)
    lost_processed: list[int] = field(default_factory=list)
    duplicated_raw: int = 0
    duplicated_processed: int = 0
    rejected_stored: list[int] = field(default_factory=list)
    reordered: int = 0
    stored_unacknowledged: int = 0

    def to_json(self) -> dict[str, Any]:
        """The verdict with seq lists as inclusive ranges (``[[first, last], ...]``)."""
        out = asdict(self)
        for name in ("lost_raw", "lost_processed", "rejected_stored"):
            out[name] = seq_ranges(out[name])
        return out

    def describe(self) -> str:
        """One line naming what is wrong (seq ranges, at most a few shown)."""
        parts: list[str] = []
        for name in ("lost_raw", "lost_processed", "rejected_stored"):
            seqs: list[int] = getattr(self, name)
            if seqs:
                ranges = seq_ranges(seqs)
                shown = ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in ranges[:5])
                more = ", ..." if len(ranges) > 5 else ""
                parts.append(f"{name.replace('_', ' ')} {len(seqs)} (seq {shown}{more})")
        for name in ("duplicated_raw", "duplicated_processed"):
            if getattr(self, name):
                parts.append(f"{name.replace('_', ' ')} {getattr(self, name)}")
        return f"{self.device_id}: " + "; ".join(parts)

    @property
    def ok(self) -> bool:
        """No loss, no duplicate, nothing stored that was rejected."""
        return not (
            self.lost_raw
            or self.lost_processed
            or self.duplicated_raw
            or self.duplicated_processed
            or self.rejected_stored
        )


@dataclass(slots=True)
class VerifyResult:
    """The verdict of a whole run."""

    endpoint: str
    devices: list[DeviceVerdict]
    rejected_expected: int
    waited_s: float

    @property
    def ok(self) -> bool:
        """True when something was acknowledged and every device is ok.

        A run that got nothing acknowledged proves nothing, so it does not pass.
        """
        return any(d.acknowledged for d in self.devices) and all(d.ok for d in self.devices)

    def totals(self) -> dict[str, int]:
        """Sums over devices."""
        return {
            "devices": len(self.devices),
            "acknowledged": sum(d.acknowledged for d in self.devices),
            "lost_raw": sum(len(d.lost_raw) for d in self.devices),
            "lost_processed": sum(len(d.lost_processed) for d in self.devices),
            "duplicated_raw": sum(d.duplicated_raw for d in self.devices),
            "duplicated_processed": sum(d.duplicated_processed for d in self.devices),
            "rejected_expected": self.rejected_expected,
            "rejected_stored": sum(len(d.rejected_stored) for d in self.devices),
            "reordered": sum(d.reordered for d in self.devices),
            "stored_unacknowledged": sum(d.stored_unacknowledged for d in self.devices),
        }

    def to_json(self) -> dict[str, Any]:
        """Totals plus the devices that are not ok (a clean run lists none)."""
        return {
            "ok": self.ok,
            "endpoint": self.endpoint,
            "waited_s": round(self.waited_s, 2),
            "totals": self.totals(),
            "problems": [d.to_json() for d in self.devices if not d.ok],
        }


async def verify_run(
    report: RunReport,
    stored: StoredReadings,
    *,
    wait_s: float = 30.0,
    poll_s: float = 1.0,
    concurrency: int = 16,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> VerifyResult:
    """Check every device of ``report`` against the pipeline behind ``stored``.

    Processing is asynchronous, so devices with acknowledged readings missing from the
    processed table are queried again every ``poll_s`` for up to ``wait_s`` seconds.
    """
    gate = asyncio.Semaphore(concurrency)
    started = time.monotonic()

    async def check(device_id: str, record: DeviceRecord, tables: tuple[Table, ...]) -> None:
        async with gate:
            for table in tables:
                items = await stored(device_id, table=table, **_window(report, record))
                _judge(report, verdicts[device_id], record, table, items)

    verdicts = {
        device_id: DeviceVerdict(device_id=device_id, acknowledged=acked_count(record))
        for device_id, record in report.device_records.items()
    }
    await asyncio.gather(
        *(check(d, r, ("raw", "processed")) for d, r in report.device_records.items())
    )
    while time.monotonic() - started < wait_s:
        pending = [d for d, v in verdicts.items() if v.lost_processed]
        if not pending:
            break
        await sleep(poll_s)
        await asyncio.gather(*(check(d, report.device_records[d], ("processed",)) for d in pending))
    return VerifyResult(
        endpoint=report.endpoint,
        devices=list(verdicts.values()),
        rejected_expected=report.totals.rejected_expected,
        waited_s=time.monotonic() - started,
    )


def _window(report: RunReport, record: DeviceRecord) -> dict[str, int]:
    # The run's own time span, widened to what was acknowledged: a reading stored by an
    # earlier run with the same seed keeps that run's timestamp.
    run_end = report.start_ms + round(report.duration_s * 1000)
    first = record.first_timestamp if record.first_timestamp is not None else report.start_ms
    last = record.last_timestamp if record.last_timestamp is not None else run_end
    return {"start": min(first, report.start_ms), "end": max(last, run_end)}


def _judge(
    report: RunReport,
    verdict: DeviceVerdict,
    record: DeviceRecord,
    table: Table,
    items: Sequence[StoredReading],
) -> None:
    prefix = report.reading_id(verdict.device_id, 0)[:-1]
    ours = [item for item in items if item.reading_id.startswith(prefix)]
    copies = Counter(item.reading_id for item in ours)
    acked = {report.reading_id(verdict.device_id, seq): seq for seq in record.acked_seqs()}
    lost = sorted(seq for reading_id, seq in acked.items() if reading_id not in copies)
    duplicated = sum(count - 1 for count in copies.values())
    if table == "processed":
        verdict.lost_processed = lost
        verdict.duplicated_processed = duplicated
        return
    verdict.lost_raw = lost
    verdict.duplicated_raw = duplicated
    verdict.rejected_stored = [
        seq for seq in record.rejected if report.reading_id(verdict.device_id, seq) in copies
    ]
    verdict.stored_unacknowledged = sum(1 for reading_id in copies if reading_id not in acked)
    verdict.reordered = _reordered(ours)


def _reordered(items: Sequence[StoredReading]) -> int:
    """Readings that arrived after a reading with a higher seq of the same device."""
    arrived = sorted(
        (item for item in items if item.seq is not None and item.ingested_at is not None),
        key=lambda item: (item.ingested_at or "", item.seq or 0),
    )
    highest = -1
    late = 0
    for item in arrived:
        seq = item.seq if item.seq is not None else -1
        if seq < highest:
            late += 1
        highest = max(highest, seq)
    return late
