"""The quick start: the local pipeline, simulated devices, a loss check and a query.

``python3 dev.py demo`` runs this. It does what a new user would do by hand:

1. ``iot-pipeline local --port 0`` in the background (fresh keys in a temporary data dir);
2. ``iot-sim run`` drives it with simulated devices (faults and duplicates included);
3. ``iot-sim verify`` proves every acknowledged reading is stored once, raw and processed;
4. the SDK queries one device's processed readings back;
5. the pipeline is stopped cleanly (SIGTERM); with ``--keep-running`` it stays up (open the
   dashboard URL printed at the start) until Ctrl-C.

Exit status 0 only when nothing acknowledged was lost.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from iot_pipeline_backend.local.testing import PipelineProcess, running_pipeline_process
from iot_pipeline_sdk import Client


def _step(text: str) -> None:
    print(f"\n\033[1m==> {text}\033[0m" if sys.stdout.isatty() else f"\n==> {text}", flush=True)


def _until_interrupted(pipeline: PipelineProcess) -> int:
    """Wait for Ctrl-C, then for the pipeline's graceful stop; its exit code."""
    try:
        return pipeline.process.wait()
    except KeyboardInterrupt:
        _step("Stopping the pipeline (in-flight work finishes)")
    try:
        # Ctrl-C reached the pipeline too (same process group): let it finish its stop.
        return pipeline.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        return pipeline.terminate()


#: How to keep the data dir and reports: ``dev.py`` passes what follows ``--`` to this script.
KEEP_DATA_HINT = "python3 dev.py demo -- --data-dir DIR"


def build_parser() -> argparse.ArgumentParser:
    """The demo's options (``python3 dev.py demo -- --devices 50 --data-dir DIR``)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--devices", type=int, default=200, help="simulated devices (default 200)")
    parser.add_argument(
        "--rate", type=float, default=0.5, help="readings/s per device (default 0.5)"
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load (default 10)")
    parser.add_argument("--batch", type=int, default=25, help="readings per request (default 25)")
    parser.add_argument(
        "--profile", default="greenhouse", help="device profile (default greenhouse)"
    )
    parser.add_argument("--seed", type=int, default=42, help="simulation seed (default 42)")
    parser.add_argument(
        "--data-dir",
        type=Path,
        help=f"keep the pipeline's data and the reports here (default: temp); {KEEP_DATA_HINT}",
    )
    parser.add_argument(
        "--keep-running",
        action="store_true",
        help="keep the pipeline and its dashboard up after the checks, until Ctrl-C",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="iot-pipeline-demo-") as tmp:
        data_dir = args.data_dir or Path(tmp) / "data"
        report = Path(tmp if args.data_dir is None else data_dir) / "run.json"
        html = report.with_suffix(".html")
        _step(f"Starting the local pipeline (data dir {data_dir})")
        with running_pipeline_process(
            data_dir=data_dir, log_file=Path(tmp) / "pipeline.log"
        ) as pipeline:
            print(f"endpoint {pipeline.endpoint}  region {pipeline.region}")
            print(f"profile  {pipeline.profile} in {pipeline.credentials_file}")
            print(f"dashboard {pipeline.dashboard_url}  (open it to watch the devices)")
            env = {
                **os.environ,
                "AWS_SHARED_CREDENTIALS_FILE": str(pipeline.credentials_file),
                "AWS_PROFILE": pipeline.profile,
                "AWS_REGION": pipeline.region,
            }
            # The console script installed beside this interpreter (the workspace venv).
            sim = [str(Path(sys.executable).with_name("iot-sim"))]
            _step(
                f"iot-sim run: {args.devices} devices × {args.rate}/s for {args.duration:g}s "
                f"(profile {args.profile}, batches of {args.batch})"
            )
            run = subprocess.run(
                [
                    *sim, "run",
                    "--endpoint", pipeline.endpoint,
                    "--devices", str(args.devices),
                    "--rate", str(args.rate),
                    "--duration", str(args.duration),
                    "--batch", str(args.batch),
                    "--profile", args.profile,
                    "--seed", str(args.seed),
                    "--report-json", str(report),
                    "--report-html", str(html),
                ],
                env=env,
                check=False,
            )  # fmt: skip
            if not report.exists():
                print("iot-sim run wrote no report; see its error above.")
                return 1
            _step("iot-sim verify: every acknowledged reading stored once, raw and processed?")
            verify = subprocess.run(
                [*sim, "verify", "--report-json", str(report), "--wait", "60"], env=env, check=False
            )
            _step("Query one device's processed readings with the SDK")
            device = next(iter(json.loads(report.read_text())["device_records"]))
            with Client(
                endpoint=pipeline.endpoint,
                region=pipeline.region,
                profile=pipeline.profile,
                credentials_file=pipeline.credentials_file,
            ) as client:
                page = client.query(device, limit=3, order="desc")
                raw = client.query(device, table="raw", limit=1000)
                print(f"{device}: {raw.count} raw readings; latest processed:")
                for item in page.items:
                    print("  " + item.model_dump_json(exclude_none=True))
            if args.keep_running:
                _step(f"The pipeline keeps running: {pipeline.dashboard_url}  (Ctrl-C stops it)")
                code = _until_interrupted(pipeline)
            else:
                _step("Stopping the pipeline (SIGTERM, in-flight work finishes)")
                code = pipeline.terminate()
            print(f"pipeline exited with {code}")
        print(
            f"\nHTML report: {html}"
            if args.data_dir
            else f"\nHTML report: (temporary; to keep it: {KEEP_DATA_HINT})"
        )
        ok = verify.returncode == 0
        print(
            "\nDEMO " + ("PASSED: nothing acknowledged was lost." if ok else "FAILED: see above.")
        )
        if run.returncode != 0 and ok:
            print("(iot-sim run exited non-zero: see its summary for unexpected rejections.)")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
