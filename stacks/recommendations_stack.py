"""Recommendations stack: the Lambda that turns five answers into a Mysfit through the SageMaker endpoint."""

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from stacks.config import MysfitsConfig
from stacks.constructs.recommendation_function import RecommendationFunction


class RecommendationsStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: MysfitsConfig, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        recommender = RecommendationFunction(
            self,
            "Recommender",
            endpoint_name=config.endpoint_name,
            invoke_budget=config.invoke_budget,
            log_retention=config.log_retention,
        )
        self.function = recommender.function

        CfnOutput(self, "FunctionName", value=self.function.function_name)
        CfnOutput(self, "LogGroupName", value=recommender.log_group.log_group_name)
        CfnOutput(self, "EndpointArn", value=recommender.endpoint_arn, description="The only ARN it may invoke")
