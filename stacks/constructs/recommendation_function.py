"""The recommendation Lambda: the real handler, its own log group, and a role that can do one thing."""

from aws_cdk import Duration, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from mysfits.project_files import HANDLER_DIR
from mysfits.settings import InvokeBudget
from stacks.constructs.acknowledgments import acknowledge, wildcard_resource
from stacks.constructs.grants import service_role
from stacks.constructs.log_groups import stack_log_group

ASSET_EXCLUDES = ["__pycache__", "*.pyc", ".pytest_cache", ".DS_Store"]
# The handler writes its metrics (EMF) here; it falls back to the same name when run locally without the stack.
METRICS_NAMESPACE = "Mysfits/Recommendations"


class RecommendationFunction(Construct):
    """Python 3.14 on arm64 with JSON logs and X-Ray; may invoke exactly one SageMaker endpoint."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_name: str,
        invoke_budget: InvokeBudget,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)

        self.log_group = stack_log_group(self, "LogGroup", retention=log_retention)
        # SageMaker lower-cases endpoint ARNs, so a mixed-case name must be lower-cased to match.
        self.endpoint_arn = stack.format_arn(
            service="sagemaker", resource="endpoint", resource_name=endpoint_name.lower()
        )

        self.role = service_role(
            self,
            "Role",
            service="lambda.amazonaws.com",
            description="Recommendation Lambda: write its own logs and invoke the one recommender endpoint",
            grants={
                "InvokeRecommenderEndpoint": (["sagemaker:InvokeEndpoint"], [self.endpoint_arn]),
                "WriteOwnLogs": (["logs:CreateLogStream", "logs:PutLogEvents"], [self.log_group.log_group_arn]),
            },
        )

        self.function = lambda_.Function(
            self,
            "Function",
            description="Recommends a Mysfit from five questionnaire answers through the SageMaker k-NN endpoint",
            runtime=lambda_.Runtime.PYTHON_3_14,
            architecture=lambda_.Architecture.ARM_64,
            handler="handler.handler",
            code=lambda_.Code.from_asset(str(HANDLER_DIR), exclude=ASSET_EXCLUDES),
            memory_size=256,
            # API Gateway gives up after 29 s; the handler's botocore budget ends before this timeout.
            timeout=Duration.seconds(invoke_budget.function_timeout_seconds),
            role=self.role,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=lambda_.ApplicationLogLevel.INFO,
            system_log_level_v2=lambda_.SystemLogLevel.WARN,
            tracing=lambda_.Tracing.ACTIVE,
            environment={
                "ENDPOINT_NAME": endpoint_name,
                "METRICS_NAMESPACE": METRICS_NAMESPACE,
                **invoke_budget.environment(),
            },
        )
        acknowledge(
            self.role,
            {
                wildcard_resource("*"): "Added by Lambda active tracing: xray:PutTraceSegments and "
                "xray:PutTelemetryRecords have no resource-level permissions, so X-Ray requires Resource '*'."
            },
        )
