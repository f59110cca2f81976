"""Soak: steady simulator load on the local runtime for a bounded time; memory and errors.

    python bench/soak.py                    # 5 minutes, 20 devices × 1 reading/s
    python bench/soak.py --minutes 3 --devices 40 --rate 1
    nox -s soak -- --minutes 3              # the same through nox

The runtime runs as its own process (``python -m iot_pipeline_backend.local``), so its
resident memory, threads and open file descriptors are sampled from outside, every
``--sample-seconds``. ``iot-sim run`` drives it open loop for the whole window, then
``iot-sim verify`` checks every acknowledged reading came back once, raw and processed.
The figures replace the block between the soak markers in ``docs/reliability.md``
(``--no-write`` prints them only). Exits 1 when a reading was lost or duplicated or
anything failed; memory growth is reported, not judged.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]
from iot_pipeline_backend.local.testing import PipelineProcess, running_pipeline_process

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "reliability.md"
BEGIN = "<!-- soak:begin (written by bench/soak.py; do not edit by hand) -->"
END = "<!-- soak:end -->"
#: The issue bounds the whole session at 10 minutes: load plus drain and verify.
MAX_MINUTES = 8.0
#: Samples taken in the first half minute (imports, first connections) are warm-up.
WARM_UP_SECONDS = 30.0
DRAIN_SECONDS = 60.0
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Sample:
    """One look at the runtime process and its queue."""

    at_s: float
    rss_mb: float
    threads: int
    open_files: int
    queue_depth: int
    raw_rows: int


class Sampler:
    """Samples the runtime every ``interval`` seconds, from a thread, until stopped."""

    def __init__(self, *, process: psutil.Process, database: Path, interval: float) -> None:
        self.process = process
        self.database = database
        self.interval = interval
        self.started = time.monotonic()
        self.samples: list[Sample] = []
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._halt.set()
        self._thread.join(self.interval + 10)

    def _run(self) -> None:
        while True:
            self.samples.append(self.sample())
            if self._halt.wait(self.interval):
                return

    def sample(self) -> Sample:
        with self.process.oneshot():
            rss = self.process.memory_info().rss / 2**20
            threads = self.process.num_threads()
            files = self.process.num_fds() if hasattr(self.process, "num_fds") else 0
        depth, raw = _table_counts(self.database)
        return Sample(
            at_s=round(time.monotonic() - self.started, 1),
            rss_mb=round(rss, 1),
            threads=threads,
            open_files=files,
            queue_depth=depth,
            raw_rows=raw,
        )


def _table_counts(database: Path) -> tuple[int, int]:
    with sqlite3.connect(database, timeout=30) as conn:
        depth = int(conn.execute("SELECT COUNT(*) FROM queue").fetchone()[0])
        raw = int(conn.execute("SELECT COUNT(*) FROM raw").fetchone()[0])
    return depth, raw


def _slope_mb_per_min(samples: list[Sample]) -> float:
    """Least-squares slope of RSS over time, in MB per minute."""
    if len(samples) < 2:
        return 0.0
    xs = [s.at_s / 60 for s in samples]
    ys = [s.rss_mb for s in samples]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return 0.0 if var == 0 else sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var


def _sim_env(runtime: PipelineProcess) -> dict[str, str]:
    return {
        **os.environ,
        "AWS_SHARED_CREDENTIALS_FILE": str(runtime.credentials_file),
        "AWS_PROFILE": runtime.profile,
        "AWS_REGION": runtime.region,
        "AWS_DEFAULT_REGION": runtime.region,
    }


def _runtime_errors(log: Path) -> int:
    if not log.exists():
        return 0
    count = 0
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and str(record.get("level", "")).lower() in {
            "error",
            "critical",
        }:
            count += 1
    return count


def soak(
    *, minutes: float, devices: int, rate: float, sample_seconds: float, work: Path
) -> dict[str, Any]:
    """Run the soak; return its figures."""
    data_dir = work / "data"
    report = work / "run.json"
    duration = minutes * 60
    with running_pipeline_process(data_dir=data_dir) as runtime:
        sampler = Sampler(
            process=psutil.Process(runtime.process.pid),
            database=data_dir / "pipeline.db",
            interval=sample_seconds,
        )
        sampler.start()
        run = subprocess.run(
            [
                str(BIN / "iot-sim"),
                "run",
                "--endpoint",
                runtime.endpoint,
                "--devices",
                str(devices),
                "--rate",
                str(rate),
                "--duration",
                str(duration),
                "--profile",
                "clean",
                "--seed",
                "7",
                "--report-json",
                str(report),
                "--quiet",
            ],
            env=_sim_env(runtime),
            capture_output=True,
            text=True,
            timeout=duration + 120,
            check=False,
        )
        sampler.stop()
        verify = subprocess.run(
            [
                str(BIN / "iot-sim"),
                "verify",
                "--report-json",
                str(report),
                "--json",
                "--wait",
                str(DRAIN_SECONDS),
            ],
            env=_sim_env(runtime),
            capture_output=True,
            text=True,
            timeout=DRAIN_SECONDS + 120,
            check=False,
        )
        final = sampler.sample()
    if not report.exists():
        raise SystemExit(f"iot-sim run wrote no report:\n{run.stderr[-2000:]}")
    sim = json.loads(report.read_text())
    verdict = json.loads(verify.stdout) if verify.stdout.strip() else {"ok": False}
    samples = sampler.samples
    steady = [s for s in samples if s.at_s >= WARM_UP_SECONDS] or samples
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}",
        "minutes": minutes,
        "devices": devices,
        "rate": rate,
        "sim_exit": run.returncode,
        "totals": sim["totals"],
        "errors": sim["errors"],
        "latency_ms": sim["latency_ms"],
        "schedule_lag_ms": sim["schedule_lag_ms"],
        "throughput": sim["throughput"],
        "verify": verdict,
        "runtime_log_errors": _runtime_errors(data_dir / "runtime.log"),
        "rss_first_mb": samples[0].rss_mb,
        "rss_after_warm_up_mb": steady[0].rss_mb,
        "rss_end_mb": steady[-1].rss_mb,
        "rss_peak_mb": max(s.rss_mb for s in samples),
        "rss_slope_mb_per_min": round(_slope_mb_per_min(steady), 2),
        "threads": [min(s.threads for s in steady), max(s.threads for s in steady)],
        "open_files": [min(s.open_files for s in steady), max(s.open_files for s in steady)],
        "max_queue_depth": max(s.queue_depth for s in samples),
        "after_drain": {"queue_depth": final.queue_depth, "raw_rows": final.raw_rows},
        "timeline": [s.__dict__ for s in samples],
    }


def ok(figures: dict[str, Any]) -> bool:
    """No loss, no duplicate, no failure anywhere."""
    totals = figures["totals"]
    return bool(
        figures["verify"].get("ok")
        and figures["sim_exit"] == 0
        and not totals["errors"]
        and not totals["rejected_unexpected"]
        and not totals["shed"]
        and not totals["unfinished"]
        and figures["runtime_log_errors"] == 0
    )


def render(figures: dict[str, Any]) -> str:
    """The Markdown block that goes between the soak markers."""
    t, v = figures["totals"], figures["verify"].get("totals", {})
    lat, lag = figures["latency_ms"], figures["schedule_lag_ms"]
    growth = figures["rss_end_mb"] - figures["rss_after_warm_up_mb"]
    lines = [
        BEGIN,
        "",
        f"Run {figures['date']} on {figures['machine']}: "
        f"`python bench/soak.py --minutes {figures['minutes']:g} --devices {figures['devices']} "
        f"--rate {figures['rate']:g}` (clean profile, one reading per request).",
        "",
        "| figure | value |",
        "|---|---|",
        f"| verdict | {'**OK**' if ok(figures) else '**FAILED**'} |",
        f"| readings sent / acknowledged | {t['sent']:,} / {t['acknowledged']:,} |",
        f"| offered / acknowledged rate | {figures['throughput']['offered_per_s']:g} / "
        f"{figures['throughput']['acknowledged_per_s']:g} readings/s |",
        f"| lost (raw / processed) | {v.get('lost_raw', '?')} / {v.get('lost_processed', '?')} |",
        f"| duplicated (raw / processed) | {v.get('duplicated_raw', '?')} / "
        f"{v.get('duplicated_processed', '?')} |",
        f"| client errors, unexpected rejections, shed | {t['errors']} / "
        f"{t['rejected_unexpected']} / {t['shed']} |",
        f"| error lines in the runtime's log | {figures['runtime_log_errors']} |",
        f"| latency p50 / p99 / max | {lat['p50']:g} / {lat['p99']:g} / {lat['max']:g} ms |",
        f"| schedule lag p99 | {lag['p99']:g} ms |",
        f"| RSS at start / after {WARM_UP_SECONDS:g} s / end / peak | "
        f"{figures['rss_first_mb']:g} / {figures['rss_after_warm_up_mb']:g} / "
        f"{figures['rss_end_mb']:g} / {figures['rss_peak_mb']:g} MB |",
        f"| RSS growth after warm-up | {growth:+.1f} MB "
        f"(trend {figures['rss_slope_mb_per_min']:+g} MB/min) |",
        f"| threads / open files (min–max after warm-up) | "
        f"{figures['threads'][0]}–{figures['threads'][1]} / "
        f"{figures['open_files'][0]}–{figures['open_files'][1]} |",
        f"| deepest queue / queue after drain | {figures['max_queue_depth']} / "
        f"{figures['after_drain']['queue_depth']} |",
        "",
        "RSS over the run (MB, one sample per minute):",
        "",
        "| minute | " + " | ".join(_per_minute(figures, "at_s")) + " |",
        "|---|" + "---|" * len(_per_minute(figures, "at_s")),
        "| RSS | " + " | ".join(_per_minute(figures, "rss_mb")) + " |",
        "",
        END,
    ]
    return "\n".join(lines)


def _per_minute(figures: dict[str, Any], key: str) -> list[str]:
    picked: dict[int, dict[str, Any]] = {}
    for sample in figures["timeline"]:
        picked.setdefault(int(sample["at_s"] // 60), sample)
    if key == "at_s":
        return [str(minute) for minute in picked]
    return [f"{sample[key]:g}" for sample in picked.values()]


def write_doc(block: str, doc: Path = DOC) -> None:
    """Replace the block between the soak markers in ``doc``."""
    text = doc.read_text(encoding="utf-8")
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < 0:
        raise SystemExit(f"{doc} has no soak markers; add {BEGIN!r} … {END!r}")
    doc.write_text(text[:start] + block + text[end + len(END) :], encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="load duration (≤ 8)")
    parser.add_argument("--devices", type=int, default=20)
    parser.add_argument("--rate", type=float, default=1.0, help="readings/s per device")
    parser.add_argument("--sample-seconds", type=float, default=5.0)
    parser.add_argument("--no-write", action="store_true", help="print, do not touch docs/")
    args = parser.parse_args(argv)
    if not 0 < args.minutes <= MAX_MINUTES:
        parser.error(f"--minutes must be in (0, {MAX_MINUTES:g}]: the session is bounded")
    with tempfile.TemporaryDirectory(prefix="iot-pipeline-soak-") as work:
        print(
            f"soak: {args.devices} devices × {args.rate:g}/s for {args.minutes:g} min ...",
            flush=True,
        )
        figures = soak(
            minutes=args.minutes,
            devices=args.devices,
            rate=args.rate,
            sample_seconds=args.sample_seconds,
            work=Path(work),
        )
    block = render(figures)
    print(block)
    if not args.no_write:
        write_doc(block)
    return 0 if ok(figures) else 1


if __name__ == "__main__":
    sys.exit(main())
