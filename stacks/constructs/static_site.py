"""The website: a private bucket behind CloudFront (OAC), with the API served on the same origin."""

from aws_cdk import Duration, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct

from mysfits.project_files import CATALOG_PATH, WEB_DIR
from mysfits.settings import CONTENT_SECURITY_POLICY, api_path
from stacks.constructs.acknowledgments import acknowledge, arn_of, managed_policy, wildcard_resource
from stacks.constructs.buckets import PrivateBucket
from stacks.constructs.log_groups import stack_log_group


class StaticSite(Construct):
    """`web/` plus the Mysfits catalog, served by CloudFront; `/recommendations` is routed to the REST API."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        api: apigw.RestApi,
        access_logs: s3.IBucket,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)

        self.bucket = PrivateBucket(self, "Bucket", access_logs=access_logs, access_logs_prefix="site-bucket/")
        self.security_headers = cloudfront.ResponseHeadersPolicy(
            self,
            "SecurityHeaders",
            comment="Mysfits site: CSP, HSTS, no framing, no sniffing",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                    content_security_policy=CONTENT_SECURITY_POLICY, override=True
                ),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                frame_options=cloudfront.ResponseHeadersFrameOptions(
                    frame_option=cloudfront.HeadersFrameOption.DENY, override=True
                ),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy.STRICT_ORIGIN_WHEN_CROSS_ORIGIN,
                    override=True,
                ),
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=Duration.days(365), include_subdomains=True, override=True
                ),
                xss_protection=cloudfront.ResponseHeadersXSSProtection(protection=True, mode_block=True, override=True),
            ),
        )
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment="Mythical Mysfits recommendations",
            default_root_object="index.html",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(self.bucket),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                response_headers_policy=self.security_headers,
                compress=True,
            ),
            additional_behaviors={
                # Same origin as the page: no CORS, no API URL baked into the site.
                api_path(): cloudfront.BehaviorOptions(
                    origin=origins.RestApiOrigin(api),
                    viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
                    allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
                    cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
                    origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
                    response_headers_policy=self.security_headers,
                ),
            },
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
            enable_logging=True,
            log_bucket=access_logs,
            log_file_prefix="cloudfront/",
        )

        self.deployment_log_group = stack_log_group(self, "DeploymentLogs", retention=log_retention)
        self.deployment = s3deploy.BucketDeployment(
            self,
            "Content",
            sources=[
                s3deploy.Source.asset(str(WEB_DIR)),
                # The catalog ships from the Lambda package so the site and the handler can never disagree.
                s3deploy.Source.asset(str(CATALOG_PATH.parent), exclude=["*", f"!{CATALOG_PATH.name}"]),
            ],
            destination_bucket=self.bucket,
            distribution=self.distribution,
            distribution_paths=["/*"],
            prune=True,
            memory_limit=256,
            log_group=self.deployment_log_group,
        )

        self._acknowledge_deployment_handler()
        acknowledge(
            self.distribution,
            {
                "AwsSolutions-CFR1": "The site is for a worldwide audience; there is no country it must be "
                "withheld from.",
                "AwsSolutions-CFR2": "No WAF web ACL: static files plus one throttled, validated API path; a web "
                "ACL bills about $5/month plus rules, which this demo does not need. Add one for production traffic.",
                "AwsSolutions-CFR4": "No custom domain, so the distribution uses the default *.cloudfront.net "
                "certificate, whose TLS policy CloudFront sets; with a custom domain set minimumProtocolVersion "
                "TLSv1.2_2021.",
            },
        )

    def _acknowledge_deployment_handler(self) -> None:
        """BucketDeployment's handler is a CDK-managed singleton: its role and runtime are aws-cdk-lib's."""
        stack = Stack.of(self)
        managed = "CDK-managed BucketDeployment handler (one per stack, defined by aws-cdk-lib, not this project): "
        acknowledge(
            self.deployment.handler_role,
            {
                managed_policy("service-role/AWSLambdaBasicExecutionRole"): managed
                + "it writes its logs with AWS's basic execution policy.",
                **dict.fromkeys(
                    (
                        f"AwsSolutions-IAM5[Action::{action}]"
                        for action in ("s3:GetBucket*", "s3:GetObject*", "s3:List*", "s3:Abort*", "s3:DeleteObject*")
                    ),
                    managed + "it copies the web assets from the CDK assets bucket into the site bucket and prunes "
                    "stale files; its grants are limited to those two buckets.",
                ),
                wildcard_resource("arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-<AWS::Region>/*"): (
                    managed + "it reads the zipped site from the CDK bootstrap assets bucket."
                ),
                wildcard_resource(f"{arn_of(self.bucket)}/*"): managed
                + "it writes and prunes every object of the site bucket it deploys.",
                wildcard_resource("*"): managed + "cloudfront:CreateInvalidation/GetInvalidation have no "
                "resource-level scoping in the handler's policy; it invalidates the site after each deployment.",
            },
        )
        handler = next(
            child for child in stack.node.children if child.node.id.startswith("Custom::CDKBucketDeployment")
        )
        acknowledge(
            handler,
            {"AwsSolutions-L1": managed + "its Python runtime is pinned by aws-cdk-lib and moves forward with it."},
        )
