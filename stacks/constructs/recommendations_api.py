"""The REST API: `POST /recommendations`, validated at the edge against the OpenAPI request schema."""

from aws_cdk import Fn, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from mysfits.settings import API_STAGE_NAME, api_path
from stacks.api_contract import REQUEST_SCHEMA_NAME, component_schema, to_api_gateway_schema
from stacks.constructs.acknowledgments import acknowledge, managed_policy
from stacks.constructs.log_groups import stack_log_group

RESOURCE_PATH = api_path().removeprefix("/")
BAD_BODY_MESSAGE = (
    '{"message": "Invalid request body: expected {\\"entry\\": [five integers from 1 to 8]} with no other fields"}'
)
JSON_ERROR_TEMPLATE = '{"message": $context.error.messageString}'
# CDK prefixes the keys with `gatewayresponse.header.` itself.
NO_STORE = {"Cache-Control": "'no-store'"}


class RecommendationsApi(Construct):
    """Throttled, logged and traced; API Gateway rejects malformed bodies before they cost a Lambda call."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.IFunction,
        throttle_rate_limit: float,
        throttle_burst_limit: int,
        log_retention: logs.RetentionDays,
        create_account_role: bool,
    ) -> None:
        """`create_account_role`: set API Gateway's account-wide CloudWatch role (see `_account_role_note`)."""
        super().__init__(scope, construct_id)

        self.access_log_group = stack_log_group(self, "AccessLogs", retention=log_retention)
        self.rest_api = apigw.RestApi(
            self,
            "RestApi",
            rest_api_name="mysfits-recommendations",
            description="Mythical Mysfits: recommend a Mysfit from five questionnaire answers",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # Execution and access logging need the account's CloudWatch role (AWS::ApiGateway::Account, one per
            # account and region). Every REST API in the region depends on it, so both stay after `cdk destroy`.
            cloud_watch_role=create_account_role,
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN if create_account_role else None,
            deploy_options=apigw.StageOptions(
                stage_name=API_STAGE_NAME,
                throttling_rate_limit=throttle_rate_limit,
                throttling_burst_limit=throttle_burst_limit,
                access_log_destination=apigw.LogGroupLogDestination(self.access_log_group),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=False,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=False,
                ),
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,
                metrics_enabled=True,
                tracing_enabled=True,
            ),
        )

        self.request_model = self.rest_api.add_model(
            "RecommendationRequest",
            content_type="application/json",
            model_name=REQUEST_SCHEMA_NAME,
            description="Five questionnaire answers, each an integer from 1 to 8 (api/openapi.json)",
            schema=to_api_gateway_schema(component_schema(REQUEST_SCHEMA_NAME)),
        )
        self.validator = self.rest_api.add_request_validator(
            "BodyAndParameters",
            request_validator_name="body-and-parameters",
            validate_request_body=True,
            validate_request_parameters=True,
        )
        recommendations = self.rest_api.root.add_resource(RESOURCE_PATH)
        self.method = recommendations.add_method(
            "POST",
            # No test-invoke permission: only the deployed prod stage may call the function.
            apigw.LambdaIntegration(function, proxy=True, allow_test_invoke=False),
            request_validator=self.validator,
            request_models={"application/json": self.request_model},
            operation_name="RecommendMysfit",
        )

        self.rest_api.add_gateway_response(
            "BadRequestBody",
            type=apigw.ResponseType.BAD_REQUEST_BODY,
            templates={"application/json": BAD_BODY_MESSAGE},
            response_headers=NO_STORE,
        )
        for response_id, response_type in (
            ("Default4xx", apigw.ResponseType.DEFAULT_4_XX),
            ("Default5xx", apigw.ResponseType.DEFAULT_5_XX),
        ):
            self.rest_api.add_gateway_response(
                response_id,
                type=response_type,
                templates={"application/json": JSON_ERROR_TEMPLATE},
                response_headers=NO_STORE,
            )

        self.recommendations_url = self.rest_api.url_for_path(f"/{RESOURCE_PATH}")
        # API Gateway names the execution log group itself and creates it without retention; created here first,
        # it has one and goes with the stack (the stage is deleted first, so nothing writes to it afterwards).
        self.execution_log_group = stack_log_group(
            self,
            "ExecutionLogs",
            retention=log_retention,
            name=Fn.join("", ["API-Gateway-Execution-Logs_", self.rest_api.rest_api_id, f"/{API_STAGE_NAME}"]),
        )
        self.rest_api.deployment_stage.node.add_dependency(self.execution_log_group)
        self._acknowledge_public_endpoint(create_account_role)

    def _acknowledge_public_endpoint(self, create_account_role: bool) -> None:
        reason = (
            "The recommendation API is public by design, like the original Mythical Mysfits site: anonymous "
            "visitors submit five questionnaire answers and no user data is stored or returned. Abuse is "
            "bounded by stage throttling and edge validation."
        )
        acknowledge(self.method, dict.fromkeys(("AwsSolutions-APIG4", "AwsSolutions-COG4"), reason))
        acknowledge(
            self.rest_api.deployment_stage,
            {
                "AwsSolutions-APIG3": "No WAF web ACL: it bills about $5/month plus rules for a demo API that is "
                "already throttled per stage and reached mostly through CloudFront; add one for production traffic."
            },
        )
        if not create_account_role:
            return
        acknowledge(
            self.rest_api,
            {
                managed_policy("service-role/AmazonAPIGatewayPushToCloudWatchLogs"): "API Gateway's account-level "
                "CloudWatch role, which execution logging requires; AWS's managed policy is the documented minimum "
                "for it and the role trusts only API Gateway."
            },
        )
