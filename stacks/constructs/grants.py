"""Least privilege in one shape: each statement named by its Sid, its actions, and the exact resources it needs
(tests/test_permissions.py checks every statement against the calls the code makes and AWS's rules)."""

from collections.abc import Mapping, Sequence

from aws_cdk import aws_iam as iam
from constructs import Construct

# Sid -> (actions, resources).
Grants = Mapping[str, tuple[Sequence[str], Sequence[str]]]


def policy_statements(grants: Grants) -> list[iam.PolicyStatement]:
    return [
        iam.PolicyStatement(sid=sid, actions=list(actions), resources=list(resources))
        for sid, (actions, resources) in grants.items()
    ]


def grant(role: iam.IRole, grants: Grants) -> None:
    for statement in policy_statements(grants):
        role.add_to_principal_policy(statement)


def service_role(scope: Construct, construct_id: str, *, service: str, description: str, grants: Grants) -> iam.Role:
    """A role that only `service` (e.g. lambda.amazonaws.com) may assume, with exactly `grants`."""
    role = iam.Role(scope, construct_id, assumed_by=iam.ServicePrincipal(service), description=description)
    grant(role, grants)
    return role
