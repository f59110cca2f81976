"""The open-loop load runner: readings go out when they are due, whatever the responses do.

One scheduler loop pops due events from a single heap (a device's next slot, or a delayed
send such as a duplicate or a late reading), groups readings into batches if asked, and hands
each request to its own task. Tasks wait for one of ``max_in_flight`` slots; the scheduler never
waits for a response, so a slow pipeline cannot slow the offered load down. What it can do is
make requests start late: every request records its *schedule lag* (when it started minus when
it was due to start), so the runner never hides its own or the pipeline's slowness. When more
than ``max_backlog`` readings wait for a slot, new ones are shed and counted, never silently
dropped.

The runner talks to a :class:`ReadingSink` (the SDK's ``AsyncClient`` is one); tests use fakes.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol

from iot_pipeline_common import limits

from iot_pipeline_simulator.devices import Fleet, Send
from iot_pipeline_simulator.errors import RunConfigError
from iot_pipeline_simulator.outcomes import DeviceLedger, RunResult, RunTotals
from iot_pipeline_simulator.profiles import outside_default_ranges
from iot_pipeline_simulator.stats import LatencyHistogram, Timeline

BatchBy = Literal["fleet", "device"]

#: HTTP statuses that mean "the pipeline refused this reading" rather than "it failed".
_REJECTION_STATUSES: Final = frozenset({400, 413, 422})


class IngestAck(Protocol):
    """What the pipeline answers for one stored reading."""

    @property
    def timestamp(self) -> int: ...

    @property
    def reading_id(self) -> str: ...


class BatchAck(Protocol):
    """What the pipeline answers for a stored batch: one item per reading, in order."""

    @property
    def items(self) -> Sequence[IngestAck]: ...


class ReadingSink(Protocol):
    """Where readings go: the SDK's ``AsyncClient`` or a test double."""

    async def ingest(
        self,
        device_id: str,
        sensor_data: dict[str, float],
        *,
        timestamp: int | None = None,
        reading_id: str | None = None,
        seq: int | None = None,
    ) -> IngestAck: ...

    async def ingest_batch(self, readings: list[dict[str, Any]]) -> BatchAck: ...

    async def ingest_invalid(self, body: dict[str, Any]) -> IngestAck:
        """Send one reading that is invalid on purpose, skipping any client-side check.

        The pipeline itself must refuse it (400): that is what an injected out-of-range
        fault tests, so a client that validates first must not stand in for the pipeline.
        """
        ...


def classify_failure(exc: BaseException) -> tuple[bool, str]:
    """``(is_rejection, kind)`` of a failed send.

    A rejection is the pipeline refusing the reading (400/413); everything else (403, 429,
    5xx, timeouts, connection errors) is an error of its own kind, named by the error code
    the pipeline sent or by the exception class when nothing came back.
    """
    status = getattr(exc, "status_code", None)
    code = getattr(exc, "code", None)
    kind = str(code) if code else type(exc).__name__
    if isinstance(status, int) and status in _REJECTION_STATUSES:
        return True, kind
    if isinstance(status, int) and not code:
        kind = f"http_{status}"
    return False, kind


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How to drive the fleet; validated on construction."""

    duration_s: float
    batch_size: int = 1
    batch_by: BatchBy = "fleet"
    #: Fleet batching: the longest a reading waits for its batch to fill.
    batch_window_s: float = 0.1
    max_in_flight: int = 64
    max_backlog: int = 100_000
    #: After the schedule ends, how long to wait for requests still in flight.
    drain_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if not self.duration_s > 0:
            raise RunConfigError("--duration must be positive")
        if not limits.BATCH_MIN_READINGS <= self.batch_size <= limits.BATCH_MAX_READINGS:
            raise RunConfigError(
                f"--batch must be between {limits.BATCH_MIN_READINGS} and "
                f"{limits.BATCH_MAX_READINGS}"
            )
        if self.max_in_flight < 1:
            raise RunConfigError("--max-in-flight must be at least 1")
        if self.batch_window_s < 0 or self.drain_timeout_s < 0 or self.max_backlog < 1:
            raise RunConfigError("batch window, drain timeout and backlog must be positive")


class LoadRunner:
    """Drive ``fleet`` into ``sink`` for ``options.duration_s`` seconds, open loop."""

    def __init__(self, *, sink: ReadingSink, fleet: Fleet, options: RunOptions) -> None:
        self._sink = sink
        self._fleet = fleet
        self._options = options
        self.totals = RunTotals()
        self.latency = LatencyHistogram()
        self.lag = LatencyHistogram()
        self.timeline = Timeline(duration_s=options.duration_s)
        self.ledger = DeviceLedger(fleet.devices)
        self._slots = asyncio.Semaphore(options.max_in_flight)
        self._tasks: set[asyncio.Task[None]] = set()
        self._waiting = 0
        self._pending = 0
        self._fleet_buffer: list[Send] = []
        self._fleet_buffer_ids: set[str] = set()
        self._fleet_deadline = float("inf")
        self._device_buffers: dict[int, list[Send]] = {}
        self._t0 = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def in_flight(self) -> int:
        """Readings handed to a request that has not answered yet."""
        return self._pending

    def elapsed(self) -> float:
        """Seconds since the schedule started (0 before)."""
        return self._loop.time() - self._t0 if self._loop else 0.0

    async def run(self) -> RunResult:
        """Run the schedule, then wait (bounded) for the requests still in flight."""
        self._loop = asyncio.get_running_loop()
        self._t0 = self._loop.time()
        duration = self._options.duration_s
        fleet = self._fleet
        order = itertools.count(fleet.devices)
        heap: list[tuple[float, int, int, Send | None]] = [
            (fleet.next_due(i), i, i, None) for i in range(fleet.devices)
        ]
        heapq.heapify(heap)
        while True:
            now = self.elapsed()
            # Everything due inside the window is handled, even when the loop wakes late.
            while heap and heap[0][0] <= now and heap[0][0] < duration:
                due, _, device, send = heapq.heappop(heap)
                if send is not None:
                    self._offer(send, due)
                    continue
                self._slot(device, due, heap, order)
            if self._fleet_buffer and self._fleet_deadline <= now:
                self._dispatch(self._take_fleet_buffer(), self._fleet_deadline)
            if now >= duration:
                break
            wake = min(duration, self._fleet_deadline, heap[0][0] if heap else duration)
            await asyncio.sleep(max(0.0, wake - self.elapsed()))
        schedule_s = self.elapsed()
        # Readings held past the end (late, bursts, duplicates) go out now: the devices
        # reconnect as the run ends, so nothing generated is left unsent.
        for due, _, _, send in sorted(heap):
            if send is not None:
                self._offer(send, min(due, schedule_s))
        self._flush_all(schedule_s)
        await self._drain()
        return RunResult(
            fleet=fleet,
            options=self._options,
            totals=self.totals,
            latency=self.latency,
            lag=self.lag,
            timeline=self.timeline,
            ledger=self.ledger,
            elapsed_s=self.elapsed(),
            schedule_s=schedule_s,
        )

    # -- scheduling ------------------------------------------------------------------------

    def _slot(
        self,
        device: int,
        due: float,
        heap: list[tuple[float, int, int, Send | None]],
        order: itertools.count[int],
    ) -> None:
        fleet = self._fleet
        sends = fleet.advance(device)
        self.totals.slots += 1
        if not sends:
            self.totals.dropouts += 1
        else:
            self.totals.readings += 1
            self.totals.faults.update(sends[0].reading.faults)
        following = fleet.next_due(device)
        if following < self._options.duration_s:
            heapq.heappush(heap, (following, next(order), device, None))
        for send in sends:
            if send.due <= due:
                self._offer(send, due)
            else:
                heapq.heappush(heap, (send.due, next(order), device, send))

    def _offer(self, send: Send, due: float) -> None:
        self.totals.deliveries[send.kind] += 1
        options = self._options
        if options.batch_size == 1 or send.reading.expect_rejection:
            # An invalid reading goes alone: one bad reading fails its whole batch.
            self._dispatch([send], due)
            return
        if options.batch_by == "device":
            buffer = self._device_buffers.setdefault(send.reading.device, [])
            if any(held.reading.reading_id == send.reading.reading_id for held in buffer):
                self._dispatch(self._device_buffers.pop(send.reading.device), due)
                buffer = self._device_buffers.setdefault(send.reading.device, [])
            buffer.append(send)
            if len(buffer) >= options.batch_size:
                self._dispatch(self._device_buffers.pop(send.reading.device), due)
            return
        if send.reading.reading_id in self._fleet_buffer_ids:
            # The same reading twice in one batch would be one request deduplicating itself.
            self._dispatch(self._take_fleet_buffer(), due)
        if not self._fleet_buffer:
            self._fleet_deadline = due + options.batch_window_s
        self._fleet_buffer.append(send)
        self._fleet_buffer_ids.add(send.reading.reading_id)
        if len(self._fleet_buffer) >= options.batch_size:
            self._dispatch(self._take_fleet_buffer(), due)

    def _take_fleet_buffer(self) -> list[Send]:
        taken = self._fleet_buffer
        self._fleet_buffer = []
        self._fleet_buffer_ids = set()
        self._fleet_deadline = float("inf")
        return taken

    def _flush_all(self, now: float) -> None:
        if self._fleet_buffer:
            self._dispatch(self._take_fleet_buffer(), now)
        for device in list(self._device_buffers):
            self._dispatch(self._device_buffers.pop(device), now)

    def _dispatch(self, sends: list[Send], planned: float) -> None:
        if self._waiting + len(sends) > self._options.max_backlog:
            self.totals.shed += len(sends)
            return
        self._waiting += len(sends)
        self._pending += len(sends)
        task = asyncio.get_running_loop().create_task(self._deliver(sends, planned))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drain(self) -> None:
        if not self._tasks:
            return
        _, still_running = await asyncio.wait(
            set(self._tasks), timeout=self._options.drain_timeout_s
        )
        # Counted before cancelling: a cancelled request releases its readings on the way out.
        self.totals.unfinished = self._pending
        for task in still_running:
            task.cancel()
        if still_running:
            await asyncio.wait(still_running)

    # -- delivery --------------------------------------------------------------------------

    async def _deliver(self, sends: list[Send], planned: float) -> None:
        async with self._slots:
            self._waiting -= len(sends)
            started = self.elapsed()
            lag_ms = (started - planned) * 1000.0
            self.lag.record(lag_ms)
            self.totals.requests += 1
            self.totals.sent += len(sends)
            interval = self.timeline.at(started)
            interval.sent += len(sends)
            interval.lag.record(lag_ms)
            try:
                if len(sends) == 1 and sends[0].reading.expect_rejection:
                    acks: Sequence[IngestAck] = [
                        await self._sink.ingest_invalid(sends[0].reading.to_wire())
                    ]
                elif len(sends) == 1:
                    reading = sends[0].reading
                    acks = [
                        await self._sink.ingest(
                            reading.device_id,
                            reading.sensor_data,
                            timestamp=reading.timestamp,
                            reading_id=reading.reading_id,
                            seq=reading.seq,
                        )
                    ]
                else:
                    batch = await self._sink.ingest_batch([s.reading.to_wire() for s in sends])
                    acks = batch.items
            # Every failure of a send is an outcome to count and report, never a crash.
            except Exception as exc:
                finished = self.elapsed()
                self._failed(sends, exc, finished)
            else:
                finished = self.elapsed()
                self._acknowledged(sends, acks, finished)
            finally:
                self._pending -= len(sends)
            millis = (finished - started) * 1000.0
            self.latency.record(millis)
            self.timeline.at(finished).latency.record(millis)

    def _acknowledged(self, sends: list[Send], acks: Sequence[IngestAck], finished: float) -> None:
        totals = self.totals
        interval = self.timeline.at(finished)
        for send, ack in zip(sends, acks, strict=False):
            reading = send.reading
            totals.acknowledged += 1
            interval.acknowledged += 1
            if reading.expect_rejection:
                totals.accepted_invalid += 1
            elif ack.timestamp != reading.timestamp and send.kind != "duplicate":
                totals.previously_stored += 1
            if send.kind != "duplicate" and outside_default_ranges(reading.sensor_data):
                totals.anomalies_expected += 1
            self.ledger.acknowledge(reading.device, reading.seq, ack.timestamp)
        if len(acks) != len(sends):
            self._count_error("short_batch_reply", "fewer items than readings", len(sends))

    def _failed(self, sends: list[Send], exc: Exception, finished: float) -> None:
        rejection, kind = classify_failure(exc)
        interval = self.timeline.at(finished)
        if not rejection:
            interval.errors += len(sends)
            self._count_error(kind, str(exc), len(sends))
            return
        interval.rejected += len(sends)
        for send in sends:
            if send.reading.expect_rejection:
                self.totals.rejected_expected += 1
                if getattr(exc, "request_id", "") is None:
                    self.totals.rejected_before_sending += 1
                if send.kind != "duplicate":
                    self.ledger.reject(send.reading.device, send.reading.seq)
            else:
                self.totals.rejected_unexpected += 1
                self.totals.error_samples.setdefault(f"rejected:{kind}", str(exc)[:300])

    def _count_error(self, kind: str, message: str, count: int) -> None:
        self.totals.errors[kind] += count
        self.totals.error_samples.setdefault(kind, message[:300])
