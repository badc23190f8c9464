"""Where every alarm goes: an SNS topic under its own KMS key, TLS-only, optionally with one email subscriber."""

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from stacks.constructs.keys import RotatingKey

CLOUDWATCH = "cloudwatch.amazonaws.com"


class AlarmTopic(Construct):
    """CloudWatch may publish (and use the key) only for this account's alarms named `<alarm_name_prefix>-*`.

    AWS-managed SNS keys cannot be shared with CloudWatch, so the topic needs a customer-managed key whose policy
    lets CloudWatch encrypt the alarm notification; without it alarms fire and nothing is delivered.
    """

    def __init__(self, scope: Construct, construct_id: str, *, alarm_name_prefix: str, email: str) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)

        self.key = RotatingKey(
            self, "Key", description="Encrypts the Mysfits alarm topic; CloudWatch alarms may use it to publish"
        )
        self.topic = sns.Topic(self, "Topic", display_name="Mysfits alarms", master_key=self.key, enforce_ssl=True)

        own_alarms = stack.format_arn(
            service="cloudwatch",
            resource="alarm",
            resource_name=f"{alarm_name_prefix}-*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        # Confused-deputy guard: CloudWatch acts only on behalf of this account's own alarms.
        only_own_alarms = {
            "StringEquals": {"aws:SourceAccount": stack.account},
            "ArnLike": {"aws:SourceArn": own_alarms},
        }
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublish",
                principals=[iam.ServicePrincipal(CLOUDWATCH)],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions=only_own_alarms,
            )
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsEncrypt",
                principals=[iam.ServicePrincipal(CLOUDWATCH)],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy, "*" is this key
                conditions=only_own_alarms,
            )
        )
        if email:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))
