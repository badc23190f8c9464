"""S3 buckets with the defaults AWS Solutions Constructs apply: private, encrypted, TLS-only, logged."""

from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.constructs.acknowledgments import acknowledge

ACCESS_LOG_EXPIRY = Duration.days(90)
# Every bucket here: no public access, encrypted, TLS only, and gone with `cdk destroy` (contents included).
PRIVATE_BUCKET_DEFAULTS: dict[str, Any] = {
    "block_public_access": s3.BlockPublicAccess.BLOCK_ALL,
    "encryption": s3.BucketEncryption.S3_MANAGED,
    "enforce_ssl": True,
    "removal_policy": RemovalPolicy.DESTROY,
    "auto_delete_objects": True,
}


class AccessLogsBucket(s3.Bucket):
    """Receives S3 server access logs (and CloudFront standard logs, which still need ACLs)."""

    def __init__(self, scope: Construct, construct_id: str, *, allow_cloudfront_logs: bool = False) -> None:
        super().__init__(
            scope,
            construct_id,
            **PRIVATE_BUCKET_DEFAULTS,
            object_ownership=(
                s3.ObjectOwnership.BUCKET_OWNER_PREFERRED
                if allow_cloudfront_logs
                else s3.ObjectOwnership.BUCKET_OWNER_ENFORCED
            ),
            lifecycle_rules=[s3.LifecycleRule(id="ExpireAccessLogs", expiration=ACCESS_LOG_EXPIRY)],
        )
        acknowledge(
            self,
            {
                "AwsSolutions-S1": "This is the access-log bucket itself; logging it into itself would loop and "
                "logging it elsewhere needs yet another bucket. Its objects expire after 90 days."
            },
        )


class PrivateBucket(s3.Bucket):
    """A private data bucket whose server access logs go to `access_logs` under `access_logs_prefix`.

    Its contents are rebuilt by a deploy or the notebook, so `cdk destroy` may delete them.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        access_logs: s3.IBucket,
        access_logs_prefix: str,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            **PRIVATE_BUCKET_DEFAULTS,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix=access_logs_prefix,
        )
