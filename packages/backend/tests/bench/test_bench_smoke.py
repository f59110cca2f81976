"""The benchmark code cannot rot: run the local-runtime and query benchmarks on tiny workloads.

Nothing here asserts a speed (that is what ``nox -s bench`` reports); it asserts that the
suite runs end to end against the real local pipeline and produces well-formed figures.
"""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[4]
RUNNER = ROOT / "bench" / "run.py"


def _runner() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_runner_under_test", RUNNER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_given_quick_workloads_when_the_local_query_and_timeseries_benchmarks_run_then_ratios(
    tmp_path: Path,
) -> None:
    command = [sys.executable, str(RUNNER), "--quick", "--out", str(tmp_path)]
    completed = subprocess.run(
        [*command, "-k", "bench_local,bench_query,bench_timeseries"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )

    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["failed"] == []
    figures = results["figures"]
    assert sorted({f["figure"].split(".")[0] for f in figures}, key=int) == [
        "1",
        "2",
        "7",
        "8",
        "10",
    ]
    for figure in figures:
        assert figure["value"] > 0, figure
        assert figure["reference_value"] > 0, figure
        assert math.isfinite(figure["ratio"]), figure
    page = (tmp_path / "benchmarks.md").read_text()
    for figure in figures:
        assert f"| {figure['figure']} |" in page


def test_given_a_failed_module_when_the_table_is_rendered_then_it_shows_the_failure() -> None:
    run = _runner()
    figure = run.Figure(
        figure="query page",
        value=3.0,
        unit="ms",
        reference="at 10k rows",
        reference_value=2.0,
        goal="≤ 1.5×",
        better="lower",
        goal_ratio=1.5,
    )

    page = run.render(
        [figure], when="2024-01-15", failures=[run.Failure("bench_broken", "RuntimeError: boom")]
    )

    assert "| query page | 3.00 ms | at 10k rows: 2.00 ms | 1.50× | ≤ 1.5× | yes |" in page
    assert "| bench_broken | **failed** | – | – | – | **no** | RuntimeError: boom |" in page


def test_given_every_benchmark_module_when_imported_then_it_loads() -> None:
    # The benchmarks not run above (import, MQTT, scale, SDK, simulator) still must not rot:
    # each module loads in a fresh interpreter with bench/ on the path, as run.py loads them.
    modules = sorted(p.stem for p in (ROOT / "bench").glob("bench_*.py"))
    assert "bench_mqtt" in modules
    probe = (
        "import importlib, sys; sys.path.insert(0, 'bench'); "
        "[importlib.import_module(m) for m in sys.argv[1:]]"
    )
    completed = subprocess.run(
        [sys.executable, "-c", probe, *modules],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
