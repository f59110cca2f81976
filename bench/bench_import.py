"""Cold import of each Lambda handler module vs bare ``import boto3``, measured in one run.

A Lambda cold start pays for every module its handler imports. The reference is ``import
boto3``, the least any Python function that talks to AWS imports. Each measurement is a
fresh interpreter with ``-X importtime``; the cost of a module is the sum of the top-level
cumulative times minus that of an empty interpreter (``-c pass``), median of several runs.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import Figure

HANDLERS = ("ingestion", "processor", "query")
GOAL_RATIO = 1.4


def _top_level_import_us(code: str) -> int:
    """Microseconds spent in top-level imports while running ``code`` in a fresh interpreter."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        check=True,
    )
    total = 0
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _self_us, cumulative, name = line.removeprefix("import time:").split("|")
        if name[1:2] != " ":  # level-0 entries have exactly one space before the name
            total += int(cumulative)
    return total


def measure(modules: list[str | None], *, runs: int) -> dict[str | None, float]:
    """Median milliseconds to import each module (``None`` = empty interpreter).

    The modules are measured round-robin, so a burst of load on the machine hits every
    module alike instead of skewing whichever happened to run during it.
    """
    samples: dict[str | None, list[int]] = {m: [] for m in modules}
    for _ in range(runs):
        for module in modules:
            code = "pass" if module is None else f"import {module}"
            samples[module].append(_top_level_import_us(code))
    return {m: statistics.median(values) / 1000 for m, values in samples.items()}


def run(*, quick: bool) -> list[Figure]:
    runs = 3 if quick else 9
    modules = [f"iot_pipeline_backend.handlers.{h}" for h in HANDLERS]
    medians = measure([None, "boto3", *modules], runs=runs)
    baseline = medians[None]
    boto3_ms = medians["boto3"] - baseline
    figures = []
    for handler, module in zip(HANDLERS, modules, strict=True):
        value = medians[module] - baseline
        figures.append(
            Figure(
                figure=f"cold import: handlers.{handler}",
                value=value,
                unit="ms",
                reference="import boto3",
                reference_value=boto3_ms,
                goal=f"≤ {GOAL_RATIO}× import boto3",
                better="lower",
                goal_ratio=GOAL_RATIO,
                note=(
                    "python -X importtime in a fresh interpreter minus an empty one, median of "
                    f"{runs} runs. A handler module imports Powertools (event handler, Logger, "
                    "Metrics) and the pydantic contract models; boto3, the adapters and the "
                    "X-Ray SDK (Tracer) load on the first invocation instead."
                )
                if handler == HANDLERS[0]
                else "",
            )
        )
    return figures
