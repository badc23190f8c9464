"""cdk-nag (AWS Solutions) and cfn-lint over the synthesized app: zero unacknowledged findings, zero errors."""

import json

import pytest
from cdk_nag import AwsSolutionsChecks

from stacks.application import STACK_NAMES
from stacks.constructs.acknowledgments import arn_of, wildcard_resource


def test_aws_solutions_checks_pass(synthesized):
    report = AwsSolutionsChecks().validate_scope(synthesized.app)
    findings = [
        f"{violation.rule_name} at {resource.construct_path}: {violation.description}"
        for violation in report.violations
        for resource in violation.violating_resources
    ]
    assert report.success, "unacknowledged cdk-nag findings:\n" + "\n".join(findings)


def test_every_acknowledgment_has_a_specific_reason(synthesized):
    reasons = []
    for construct in synthesized.app.node.find_all():
        for entry in construct.node.metadata:
            if "acknowledge" in entry.type:
                reasons.append((construct.node.path, entry.data))
    assert reasons, "no acknowledgments recorded; did the metadata key change?"
    for path, data in reasons:
        for rule, reason in data.items():
            assert "AwsSolutions-" in rule, (path, rule)
            assert len(reason) >= 60, (path, rule, reason)
    stack_level = [path for path, _ in reasons if "/" not in path]
    assert stack_level == [], f"acknowledgments must sit on the narrowest construct: {stack_level}"


@pytest.mark.parametrize("stack_name", STACK_NAMES)
def test_cfn_lint_reports_no_errors(synthesized, stack_name):
    from cfnlint.api import ManualArgs, lint

    template = json.dumps(synthesized.templates[stack_name])
    matches = lint(template, config=ManualArgs(regions=["us-east-1", "eu-west-1"]))
    errors = [f"{m.rule.id} {m.message} ({'/'.join(map(str, m.path))})" for m in matches if m.rule.id.startswith("E")]
    assert errors == []


def test_acknowledgment_ids_name_resources_the_way_cdk_nag_does(synthesized):
    """`arn_of` must write what cdk-nag writes for a GetAtt ARN, or every acknowledgment built with it misses."""
    notebook = synthesized.app.node.find_child("MysfitsNotebook")
    bucket = notebook.artifacts_bucket
    logical_id = notebook.get_logical_id(bucket.node.default_child)
    assert arn_of(bucket) == f"<{logical_id}.Arn>"
    assert wildcard_resource(f"{arn_of(bucket)}/knn/*") == f"AwsSolutions-IAM5[Resource::<{logical_id}.Arn>/knn/*]"
    with pytest.raises(TypeError, match="has no CloudFormation resource"):
        arn_of(notebook.node.find_child("Notebook"))
