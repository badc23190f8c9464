"""KMS keys with one set of defaults: rotated yearly, and gone a week after `cdk destroy`."""

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from constructs import Construct


class RotatingKey(kms.Key):
    """A customer-managed key for one purpose; its 7-day pending window is the shortest KMS allows."""

    def __init__(self, scope: Construct, construct_id: str, *, description: str) -> None:
        super().__init__(
            scope,
            construct_id,
            description=description,
            enable_key_rotation=True,
            pending_window=Duration.days(7),
            removal_policy=RemovalPolicy.DESTROY,
        )
