"""Sessions for the whole workspace. ``python3 dev.py test`` runs the default ones.

Every session shares the uv-managed workspace environment ``.venv`` (built from
``uv.lock``), so nothing is installed twice; ``uv sync`` is a no-op when it is current.
"""

from __future__ import annotations

import os
import subprocess
import tomllib
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
PACKAGES = ["common", "backend", "sdk", "simulator"]
SRC_DIRS = [f"packages/{p}/src" for p in PACKAGES]

nox.options.default_venv_backend = "none"
nox.options.sessions = ["lint", "typecheck", "tests", "cdk"]
nox.options.error_on_missing_interpreters = True


def _sync(session: nox.Session) -> None:
    # One environment for every session, every group: syncing a subset would uninstall the
    # rest and the next session would reinstall them (uv sync is exact).
    session.run(
        "uv", "sync", "--all-packages", "--locked", "--group", "dev", "--group", "cdk",
        external=True,
    )  # fmt: skip
    _keep_cdk_lib_schema_module(session)


#: aws-cdk-lib and its dependency aws-cdk.cloud-assembly-schema both ship
#: ``aws_cdk/cloud_assembly_schema/__init__.py``. pip installs dependencies first, so
#: aws-cdk-lib's copy wins; uv installs in parallel, and when the dependency's copy wins,
#: jsii cannot map ``aws-cdk-lib.cloud_assembly_schema`` types (``cx_api.CloudAssembly``
#: fails). Reinstalling aws-cdk-lib restores its copy; the check makes this a no-op after.
_SCHEMA_CHECK = """
import base64, hashlib, importlib.metadata as md, pathlib, sys
dist = md.distribution("aws-cdk-lib")
entry = next(f for f in dist.files if str(f) == "aws_cdk/cloud_assembly_schema/__init__.py")
data = pathlib.Path(dist.locate_file(entry)).read_bytes()
digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
sys.exit(0 if entry.hash is not None and entry.hash.value == digest else 1)
"""


def _keep_cdk_lib_schema_module(session: nox.Session) -> None:
    check = subprocess.run(["uv", "run", "--no-sync", "python", "-c", _SCHEMA_CHECK], check=False)
    if check.returncode != 0:
        session.log("aws-cdk-lib's cloud_assembly_schema was overwritten; reinstalling aws-cdk-lib")
        session.run(
            "uv", "pip", "install", "--reinstall", "--no-deps", "--python", ".venv",
            f"aws-cdk-lib=={_locked_version('aws-cdk-lib')}",
            external=True,
        )  # fmt: skip


def _locked_version(name: str) -> str:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    return next(str(p["version"]) for p in lock["package"] if p["name"] == name)


def _run(session: nox.Session, *args: str, **kwargs: object) -> None:
    session.run("uv", "run", "--no-sync", *args, external=True, **kwargs)  # type: ignore[arg-type]


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check over the whole tree."""
    _sync(session)
    _run(session, "ruff", "check", ".")
    _run(session, "ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over every package's src."""
    _sync(session)
    _run(session, "mypy", *SRC_DIRS, "scripts")


@nox.session
def tests(session: nox.Session) -> None:
    """pytest over every package (CDK synth tests run in the ``cdk`` session)."""
    _sync(session)
    args = session.posargs or [
        *(f"packages/{p}/tests" for p in PACKAGES if (ROOT / "packages" / p / "tests").is_dir()),
        "tests",
    ]
    # Two workers (pytest-xdist) on CI's two cores: the suites are mostly servers, SQLite and
    # moto waiting on each other, so the wall time nearly halves.
    workers = ["-n", os.environ.get("IOT_PIPELINE_TEST_WORKERS", "2")]
    _run(session, "pytest", "-m", "not cdk", "-p", "no:cacheprovider", *workers, *args)


@nox.session
def cdk(session: nox.Session) -> None:
    """Synthesize the CDK app with cdk-nag, then the infrastructure assertion tests."""
    _sync(session)
    infra_tests = ROOT / "packages/backend/tests/infra"
    if not infra_tests.exists():
        session.skip("no CDK app yet")
    # The IAM policy evaluator the policy tests run (npm, pinned by its package-lock.json).
    policy = infra_tests / "policy"
    if not (policy / "node_modules").is_dir():
        session.run("npm", "ci", "--no-audit", "--no-fund", "--prefix", str(policy), external=True)
    _run(session, "pytest", "-m", "cdk", "-p", "no:cacheprovider", str(infra_tests))


@nox.session
def openapi(session: nox.Session) -> None:
    """Regenerate docs/openapi.json from the contract models."""
    _sync(session)
    _run(
        session,
        "python",
        "-c",
        "from pathlib import Path; from iot_pipeline_common.openapi import render_openapi; "
        "Path('docs/openapi.json').write_text(render_openapi())",
    )


#: What the demo needs: the four packages and their runtime dependencies, no dev or CDK group.
DEMO_SYNC = ["uv", "sync", "--all-packages", "--locked", "--no-dev", "--inexact"]


@nox.session
def demo(session: nox.Session) -> None:
    """The quick start: local pipeline, simulated devices, a query, a summary."""
    # A first-time user runs this before anything else: install only what running the
    # pipeline needs (~60 MB, not the ~500 MB of test and CDK tooling). --inexact leaves
    # packages other sessions installed in place, so neither side reinstalls the other's.
    session.run(*DEMO_SYNC, external=True)
    _run(session, "python", "scripts/demo.py", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks (bounded); writes bench/results.json and docs/benchmarks.md."""
    _sync(session)
    _run(
        session,
        "python",
        "bench/run.py",
        *session.posargs,
        env={"PYTHONHASHSEED": "0", **os.environ},
    )


@nox.session
def soak(session: nox.Session) -> None:
    """Steady simulator load on the local runtime (bounded at 10 min); writes its figures."""
    _sync(session)
    _run(session, "python", "bench/soak.py", *session.posargs)
