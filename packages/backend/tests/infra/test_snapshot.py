"""GIVEN the default deployment WHEN synthesized THEN the template equals the committed snapshot.

Asset hashes are masked (they change with every code edit). After an intended change,
regenerate with ``UPDATE_CDK_SNAPSHOT=1 pytest -m cdk packages/backend/tests/infra`` and
review the diff like code.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

pytest.importorskip("aws_cdk")

from .conftest import Synthesized, masked_template

pytestmark = pytest.mark.cdk

SNAPSHOT = Path(__file__).parent / "snapshots" / "iot-pipeline-dev.template.json"


def test_template_matches_the_snapshot(dev: Synthesized) -> None:
    actual = masked_template(dev)
    if os.environ.get("UPDATE_CDK_SNAPSHOT") == "1":
        SNAPSHOT.write_text(actual)
    expected = SNAPSHOT.read_text()
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                "snapshot",
                "synthesized",
                n=2,
            )
        )
        pytest.fail(
            f"template differs from {SNAPSHOT.name} (UPDATE_CDK_SNAPSHOT=1):\n{diff[:6000]}"
        )


def test_snapshot_masks_asset_hashes(dev: Synthesized) -> None:
    text = masked_template(dev)
    assert "<asset-hash>.zip" in text
