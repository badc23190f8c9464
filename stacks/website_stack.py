"""Website stack: the site on CloudFront, with `/recommendations` forwarded to the API on the same origin."""

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_apigateway as apigw
from constructs import Construct

from stacks.config import MysfitsConfig
from stacks.constructs.buckets import AccessLogsBucket
from stacks.constructs.provider_logs import AutoDeleteProviderLogs
from stacks.constructs.static_site import StaticSite
from stacks.constructs.supported_regions import CLOUDFRONT_LOG_REGIONS, SupportedRegions


class WebsiteStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: MysfitsConfig, api: apigw.RestApi, **kwargs
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        SupportedRegions(
            self, "Regions", regions=CLOUDFRONT_LOG_REGIONS, why="CloudFront delivers access logs to this region"
        )
        access_logs = AccessLogsBucket(self, "AccessLogs", allow_cloudfront_logs=True)
        self.site = StaticSite(self, "Site", api=api, access_logs=access_logs, log_retention=config.log_retention)
        AutoDeleteProviderLogs(self, "AutoDeleteLogs", log_retention=config.log_retention)

        CfnOutput(self, "SiteUrl", value=f"https://{self.site.distribution.distribution_domain_name}")
        CfnOutput(self, "DistributionId", value=self.site.distribution.distribution_id)
        CfnOutput(self, "SiteBucketName", value=self.site.bucket.bucket_name)
