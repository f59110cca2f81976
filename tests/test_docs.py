"""The repository documents itself: nothing points outside it, links resolve, a LICENSE."""

from __future__ import annotations

import ast
import re
import subprocess
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Documents that lived outside the repository once; nothing may send a reader there.
OUTSIDE = re.compile(r"shared/|DESIGN\.md|STYLE\.md")
_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def tracked_files() -> list[Path]:
    try:
        listed = subprocess.run(
            ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [ROOT / name for name in listed.splitlines() if (ROOT / name).is_file()]


def test_given_every_tracked_text_file_then_none_points_outside_the_repository() -> None:
    this_file = Path(__file__).resolve()
    offenders = []
    for path in tracked_files():
        if path == this_file or path.suffix not in {".py", ".md", ".toml", ".json", ".txt", ""}:
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if OUTSIDE.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


def test_given_the_docs_then_every_relative_link_resolves() -> None:
    broken = []
    for doc in [
        ROOT / "README.md",
        *sorted((ROOT / "docs").glob("*.md")),
        *ROOT.glob("packages/*/README.md"),
    ]:
        for target in _LINK.findall(doc.read_text(encoding="utf-8")):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (doc.parent / target).exists():
                broken.append(f"{doc.relative_to(ROOT)} → {target}")
    assert broken == []


def test_given_the_pyprojects_say_apache_then_license_is_the_full_apache_2_text() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License\n                           Version 2.0, January 2004" in text
    for section in range(1, 10):
        assert re.search(rf"^\s+{section}\. [A-Z]", text, flags=re.MULTILINE), section
    assert "END OF TERMS AND CONDITIONS" in text
    for pyproject in ROOT.glob("packages/*/pyproject.toml"):
        assert 'license = "Apache-2.0"' in pyproject.read_text()


def test_given_the_docs_then_every_python_example_is_valid_python() -> None:
    # The examples that need AWS cannot run here; they must at least be code a reader can run
    # (top-level await: the async snippets are meant for a coroutine or an asyncio REPL).
    for doc in [
        ROOT / "README.md",
        *sorted((ROOT / "docs").glob("*.md")),
        *ROOT.glob("packages/*/README.md"),
    ]:
        text = doc.read_text(encoding="utf-8")
        for block in re.findall(r"^```python\n(.*?)^```$", text, flags=re.DOTALL | re.MULTILINE):
            try:
                compile(
                    textwrap.dedent(block), str(doc), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
                )
            except SyntaxError as exc:
                pytest.fail(f"{doc.relative_to(ROOT)}: {exc}\n{block}")
