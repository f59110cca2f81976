"""GIVEN every synthesized template WHEN cfn-lint checks it THEN no error, and only known warnings.

cfn-lint carries AWS's resource specifications and the IAM action list, so it catches what
the template's own assertions cannot (an action that does not exist, a property CloudFormation
would reject). Each warning left is listed with the reason it is accepted.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cfnlint.api import lint_file

from .conftest import Synthesized

pytestmark = pytest.mark.cdk

#: Rule id → why its findings are accepted.
ACCEPTED_WARNINGS = {
    "W3005": (
        "CDK makes each function depend on its role's default policy (DependsOn) as well as "
        "on the role (GetAtt), so the policy exists before the first invocation; the "
        "redundant role dependency is CDK's, harmless."
    ),
}


def _findings(template: Path) -> list[tuple[str, str, str]]:
    matches = lint_file(template)
    return [
        (m.rule.id, m.rule.severity, f"{m.message} ({template.name}:{m.linenumber})")
        for m in matches
    ]


@pytest.mark.parametrize("variant", ["dev", "qa"])
def test_templates_have_no_cfn_lint_error_and_only_accepted_warnings(
    variant: str, request: pytest.FixtureRequest
) -> None:
    synth: Synthesized = request.getfixturevalue(variant)
    templates = sorted(synth.outdir.glob("*.template.json"))  # the stack and any nested one
    assert templates
    findings = [finding for template in templates for finding in _findings(template)]
    unexpected = [f for f in findings if f[0] not in ACCEPTED_WARNINGS]
    assert unexpected == []
    assert all(severity == "warning" for _, severity, _ in findings)


def test_cfn_lint_catches_an_iam_action_that_does_not_exist(tmp_path: Path) -> None:
    # The check is live: the action the raw write path used to be granted is flagged.
    template = tmp_path / "bad.template.json"
    template.write_text(
        """{"Resources": {"P": {"Type": "AWS::IAM::ManagedPolicy", "Properties": {
        "PolicyDocument": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Action": "dynamodb:TransactWriteItems", "Resource": "*"}]}}}}}"""
    )
    assert "W3037" in {rule for rule, _, _ in _findings(template)}
