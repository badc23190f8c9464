"""cdk-nag v3 acknowledgments in one shape: on the narrowest construct, each finding id with the reason it does
not apply. `app.py` fails synthesis on any finding that is not acknowledged (tests/test_nag_and_lint.py)."""

from collections.abc import Mapping

from aws_cdk import Acknowledgment, CfnResource, Stack, Validations
from constructs import IConstruct

# How cdk-nag writes the pseudo parameters of an ARN in a finding id.
ARN_HEAD = "arn:<AWS::Partition>:{service}:<AWS::Region>:<AWS::AccountId>"
SAGEMAKER_ARN_HEAD = ARN_HEAD.format(service="sagemaker")


def acknowledge(construct: IConstruct, findings: Mapping[str, str]) -> None:
    """Acknowledge each finding id in `findings` on `construct` (and its children), with its reason."""
    Validations.of(construct).acknowledge(
        *(Acknowledgment(id=finding, reason=reason) for finding, reason in findings.items())
    )


def wildcard_resource(resource: str) -> str:
    """The id of AwsSolutions-IAM5 for a statement whose resource is `resource` (a pattern with '*')."""
    return f"AwsSolutions-IAM5[Resource::{resource}]"


def managed_policy(name: str) -> str:
    """The id of AwsSolutions-IAM4 for AWS's managed policy `name` (e.g. service-role/AWSLambdaBasicExecutionRole)."""
    return f"AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/{name}]"


def logical_id(construct: IConstruct) -> str:
    """The logical ID of `construct`'s CloudFormation resource, which cdk-nag writes in place of its tokens."""
    resource = construct.node.default_child or construct
    if not isinstance(resource, CfnResource):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource")
    return Stack.of(construct).get_logical_id(resource)


def arn_of(construct: IConstruct) -> str:
    """How cdk-nag writes the ARN of `construct`'s CloudFormation resource: `<LogicalId.Arn>`."""
    return f"<{logical_id(construct)}.Arn>"
