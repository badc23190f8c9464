"""Monitoring stack: the dashboard, the alarms and the topic they page through, for the whole request path."""

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from stacks.config import MysfitsConfig
from stacks.constructs.alarm_topic import AlarmTopic
from stacks.constructs.recommendation_function import METRICS_NAMESPACE
from stacks.constructs.service_monitoring import ALARM_NAME_PREFIX, ServiceMonitoring


class MonitoringStack(Stack):
    """Watches resources owned by three other stacks, in a request's order (CloudFront, the API, the Lambda); it
    depends on them, they never depend on it."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: MysfitsConfig,
        distribution: cloudfront.IDistribution,
        api: apigw.RestApi,
        function: lambda_.IFunction,
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        alarms = AlarmTopic(self, "Alarms", alarm_name_prefix=ALARM_NAME_PREFIX, email=config.alarm_email)
        monitoring = ServiceMonitoring(
            self,
            "Service",
            distribution=distribution,
            api=api,
            function=function,
            endpoint_name=config.endpoint_name,
            metrics_namespace=METRICS_NAMESPACE,
            alarm_topic=alarms.topic,
        )
        self.alarm_topic = alarms.topic
        self.dashboard = monitoring.dashboard

        CfnOutput(self, "DashboardUrl", value=monitoring.dashboard_url)
        CfnOutput(self, "AlarmTopicArn", value=alarms.topic.topic_arn, description="Subscribe more people here")
