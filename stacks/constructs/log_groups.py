"""Every log group the app creates has the configured retention and goes with its stack, so nothing it logged
outlives `cdk destroy` (tests/test_real_aws.py checks that every function and service logs to one of these)."""

from aws_cdk import RemovalPolicy
from aws_cdk import aws_logs as logs
from constructs import Construct


def stack_log_group(
    scope: Construct, construct_id: str, *, retention: logs.RetentionDays, name: str | None = None
) -> logs.LogGroup:
    """A log group owned by `scope`'s stack; `name` only where a service writes to a name it chooses itself."""
    return logs.LogGroup(
        scope, construct_id, log_group_name=name, retention=retention, removal_policy=RemovalPolicy.DESTROY
    )
