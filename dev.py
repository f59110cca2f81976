#!/usr/bin/env python3
"""One entry point for people and CI; needs only Python 3.11+ (and Node 20+ for the CDK app).

    python3 dev.py demo        run the local pipeline with simulated devices and query it back
    python3 dev.py test        lint, type-check and run every test suite (what CI runs)
    python3 dev.py nox ARGS    any nox session, e.g. ``python3 dev.py nox -s bench``

The first run creates ``.tools/`` (a virtualenv holding pinned uv and nox); nox then lets
uv build the workspace environment ``.venv/`` from ``uv.lock``. Both are reused afterwards.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
TOOLS = ROOT / ".tools"
PINNED = ["uv==0.13.9", "nox==2026.10.20"]
STAMP = TOOLS / "pinned.txt"


def _bin(name: str) -> Path:
    return TOOLS / ("Scripts" if os.name == "nt" else "bin") / name


def ensure_tools() -> None:
    """Create or update the tools virtualenv when the pins changed."""
    if STAMP.exists() and STAMP.read_text() == "\n".join(PINNED) and _bin("nox").exists():
        return
    print(f"dev.py: installing {', '.join(PINNED)} into {TOOLS.name}/ ...", flush=True)
    venv.EnvBuilder(with_pip=True, clear=False).create(TOOLS)
    subprocess.run([str(_bin("python")), "-m", "pip", "install", "--quiet", *PINNED], check=True)
    STAMP.write_text("\n".join(PINNED))


def main(argv: list[str]) -> int:
    if sys.version_info < (3, 11):
        print("dev.py: Python 3.11 or newer is required", file=sys.stderr)
        return 2
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(__doc__)
        return 0
    command, rest = argv[0], argv[1:]
    sessions = {"test": [], "demo": ["-s", "demo"]}
    if command == "nox":
        nox_args = rest
    elif command in sessions:
        nox_args = sessions[command] + rest
    else:
        print(f"dev.py: unknown command {command!r}; try 'python3 dev.py --help'", file=sys.stderr)
        return 2
    ensure_tools()
    env = dict(os.environ)
    env["PATH"] = f"{_bin('python').parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("UV_PYTHON_DOWNLOADS", "never")
    env.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
    completed = subprocess.run(
        [str(_bin("nox")), "-f", str(ROOT / "noxfile.py"), *nox_args], env=env
    )
    return completed.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
