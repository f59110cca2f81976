"""Build the Lambda code folder and the dependencies layer at synth time, without Docker.

* code: the ``iot_pipeline_backend`` and ``iot_pipeline_common`` sources, without the parts
  that never run in Lambda (``infra/``, ``local/``, ``dashboard/``, tests, caches);
* layer: the third-party runtime dependencies, installed as aarch64 wheels for the Lambda
  Python version (``pip``/``uv pip`` with ``--platform ... --only-binary=:all:``), pinned to
  the versions of the environment that synthesizes, so the layer runs what the tests ran.
  ``boto3``/``botocore`` are left out: the runtime has them, and a second copy in the layer
  would shadow the runtime's matching pair.

Both land in ``.build/<kind>-<hash>/``, where the hash covers every input, so an unchanged
input costs nothing on the next synth and a changed one never reuses a stale folder.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import iot_pipeline_common

import iot_pipeline_backend

#: Lambda's Python as ``pip --python-version`` spells it; must match the function runtime.
LAMBDA_PYTHON_VERSION: Final = "3.14"
LAMBDA_PLATFORM: Final = "manylinux2014_aarch64"
#: The same platform as ``uv pip --python-platform`` spells it.
UV_PLATFORM: Final = "aarch64-manylinux2014"

#: Distributions the handlers import that the Lambda runtime lacks, with their own
#: dependencies spelled out (installed ``--no-deps`` so nothing unpinned sneaks in).
LAYER_DISTRIBUTIONS: Final = (
    "aws-lambda-powertools",
    "aws-xray-sdk",
    "wrapt",
    "jmespath",
    "pydantic",
    "pydantic-core",
    "annotated-types",
    "typing-extensions",
    "typing-inspection",
)

#: Sub-packages of ``iot_pipeline_backend`` that never run in Lambda.
_EXCLUDED_PACKAGES: Final = frozenset({"infra", "local", "dashboard"})
_EXCLUDED_PARTS: Final = frozenset({"__pycache__", "tests"})

#: ``<package root>/.build`` for a source checkout (``packages/backend/.build``).
DEFAULT_BUILD_DIR: Final = Path(iot_pipeline_backend.__file__).resolve().parents[2] / ".build"


class BundlingError(RuntimeError):
    """The layer could not be built (no installer, or the installer failed)."""


@dataclass(frozen=True, kw_only=True)
class Bundle:
    """Folders ready for ``Code.from_asset``, with the content hashes that name them."""

    code_dir: Path
    code_hash: str
    layer_dir: Path
    layer_hash: str


def _source_files(package_dir: Path, *, excluded: frozenset[str]) -> Iterator[Path]:
    for path in sorted(package_dir.rglob("*")):
        relative = path.relative_to(package_dir)
        if not path.is_file() or path.suffix in {".pyc", ".pyo"}:
            continue
        if relative.parts[0] in excluded or _EXCLUDED_PARTS.intersection(relative.parts):
            continue
        yield path


def _code_sources() -> list[tuple[Path, Path]]:
    """(source file, path inside the bundle) for every file of the function code."""
    pairs: list[tuple[Path, Path]] = []
    for module, excluded in (
        (iot_pipeline_backend, _EXCLUDED_PACKAGES),
        (iot_pipeline_common, frozenset[str]()),
    ):
        package_dir = Path(module.__file__ or "").resolve().parent
        pairs += [
            (path, Path(package_dir.name) / path.relative_to(package_dir))
            for path in _source_files(package_dir, excluded=excluded)
        ]
    return pairs


def layer_requirements() -> list[str]:
    """``name==version`` of every layer distribution, as installed where we synthesize."""
    return [f"{name}=={importlib.metadata.version(name)}" for name in LAYER_DISTRIBUTIONS]


def _digest(parts: Sequence[bytes]) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(len(part).to_bytes(8, "big"))
        hasher.update(part)
    return hasher.hexdigest()


def _publish(tmp: Path, target: Path, *, kind: str) -> None:
    # Build elsewhere and rename: a concurrent or interrupted synth never sees half a folder.
    try:
        tmp.rename(target)
    except OSError:
        if not target.is_dir():
            raise
        shutil.rmtree(tmp, ignore_errors=True)
    # Older builds of the same kind are stale (their inputs changed); keep the folder small.
    for old in target.parent.glob(f"{kind}-*"):
        if old != target and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)


def build_code(build_dir: Path) -> tuple[Path, str]:
    """Copy the function sources into ``build_dir/code-<hash>``; return (folder, hash)."""
    sources = _code_sources()
    digest = _digest(
        [part for src, dst in sources for part in (dst.as_posix().encode(), src.read_bytes())]
    )
    target = build_dir / f"code-{digest[:16]}"
    if not target.is_dir():
        build_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix="tmp-code-", dir=build_dir))
        for src, dst in sources:
            (tmp / dst).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, tmp / dst)
        _publish(tmp, target, kind="code")
    return target, digest


def _installer() -> list[str]:
    # uv sets $UV for the commands it runs; fall back to uv on PATH, then pip.
    uv = os.environ.get("UV") or shutil.which("uv")
    if uv:
        return [
            uv,
            "pip",
            "install",
            "--quiet",
            "--python-platform",
            UV_PLATFORM,
            "--python-version",
            LAMBDA_PYTHON_VERSION,
        ]
    probe = subprocess.run(
        [sys.executable, "-m", "pip", "--version"], capture_output=True, check=False
    )
    if probe.returncode != 0:
        raise BundlingError("building the Lambda layer needs uv or pip; install either one")
    return [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--platform",
        LAMBDA_PLATFORM,
        "--implementation",
        "cp",
        "--python-version",
        LAMBDA_PYTHON_VERSION,
    ]


def build_layer(build_dir: Path) -> tuple[Path, str]:
    """Install the layer's wheels into ``build_dir/layer-<hash>/python``; return (folder, hash)."""
    requirements = layer_requirements()
    digest = _digest(
        [LAMBDA_PLATFORM.encode(), LAMBDA_PYTHON_VERSION.encode(), *map(str.encode, requirements)]
    )
    target = build_dir / f"layer-{digest[:16]}"
    if not target.is_dir():
        build_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix="tmp-layer-", dir=build_dir))
        command = [
            *_installer(),
            "--only-binary=:all:",
            "--no-deps",
            "--target",
            str(tmp / "python"),
            *requirements,
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            raise BundlingError(f"installing the layer failed: {result.stderr.strip()[-2000:]}")
        _publish(tmp, target, kind="layer")
    return target, digest


def build_bundle(*, build_dir: Path = DEFAULT_BUILD_DIR) -> Bundle:
    """Build (or reuse) the code folder and the layer folder."""
    code_dir, code_hash = build_code(build_dir)
    layer_dir, layer_hash = build_layer(build_dir)
    return Bundle(
        code_dir=code_dir, code_hash=code_hash, layer_dir=layer_dir, layer_hash=layer_hash
    )


def stub_bundle(*, build_dir: Path = DEFAULT_BUILD_DIR) -> Bundle:
    """Placeholder folders for template-only tests (never deployed)."""
    folders: list[Path] = []
    for kind in ("code", "layer"):
        folder = build_dir / f"stub-{kind}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "README.txt").write_text(
            f"placeholder {kind} asset; synthesize with bundle=real\n"
        )
        folders.append(folder)
    return Bundle(
        code_dir=folders[0], code_hash="stub-code", layer_dir=folders[1], layer_hash="stub-layer"
    )
