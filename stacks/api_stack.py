"""API stack: the REST API in front of the recommendation Lambda."""

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from stacks.config import MysfitsConfig
from stacks.constructs.recommendations_api import RecommendationsApi


class ApiStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: MysfitsConfig,
        function: lambda_.IFunction,
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        recommendations = RecommendationsApi(
            self,
            "Recommendations",
            function=function,
            throttle_rate_limit=config.api_throttle_rate_limit,
            throttle_burst_limit=config.api_throttle_burst_limit,
            log_retention=config.log_retention,
            create_account_role=config.api_gateway_account_role == "create",
        )
        self.api = recommendations.rest_api

        CfnOutput(self, "ApiUrl", value=self.api.url, description="The REST API's prod stage")
        CfnOutput(
            self,
            "RecommendationsUrl",
            value=recommendations.recommendations_url,
            description="curl -X POST -d '{\"entry\": [1,2,3,4,5]}' <this URL>",
        )
