"""A log group with retention for CDK's S3 auto-delete provider, which otherwise gets one from Lambda without
retention that survives `cdk destroy` (the provider writes its last lines while the stack is being deleted)."""

from aws_cdk import CfnResource, Stack
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.constructs.log_groups import stack_log_group

# The stack-wide singleton that `s3.Bucket(auto_delete_objects=True)` adds, and its Lambda function.
AUTO_DELETE_PROVIDER_ID = "Custom::S3AutoDeleteObjectsCustomResourceProvider"
PROVIDER_HANDLER_ID = "Handler"


class AutoDeleteProviderLogs(Construct):
    """Call after the stack's buckets exist. Deletion order then is: the auto-delete custom resources (they
    invoke the function), the function (it references the group), the group: nothing writes after it is gone."""

    def __init__(self, scope: Construct, construct_id: str, *, log_retention: logs.RetentionDays) -> None:
        super().__init__(scope, construct_id)
        provider = Stack.of(self).node.try_find_child(AUTO_DELETE_PROVIDER_ID)
        if provider is None:
            raise ValueError(f"{Stack.of(self).stack_name} has no auto-delete bucket, so no provider to log for")
        handler = provider.node.find_child(PROVIDER_HANDLER_ID)
        assert isinstance(handler, CfnResource)
        self.log_group = stack_log_group(self, "LogGroup", retention=log_retention)
        handler.add_property_override("LoggingConfig", {"LogGroup": self.log_group.log_group_name})
