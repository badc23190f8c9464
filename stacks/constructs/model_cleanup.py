"""Clean-up on `cdk destroy`: a custom resource that deletes the SageMaker endpoint and every `<prefix>knn-` model
and endpoint config when its stack is deleted, and waits until the endpoint is gone (lambda/model_cleanup)."""

import atexit
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from aws_cdk import CustomResource, Duration, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import custom_resources as cr
from constructs import Construct, IConstruct

from mysfits.project_files import PROJECT_ROOT
from mysfits.settings import SageMakerNames
from stacks.constructs.acknowledgments import (
    SAGEMAKER_ARN_HEAD,
    acknowledge,
    arn_of,
    managed_policy,
    wildcard_resource,
)
from stacks.constructs.grants import service_role
from stacks.constructs.log_groups import stack_log_group
from stacks.constructs.sagemaker_arns import endpoint_arn, run_arn

HANDLER = PROJECT_ROOT / "lambda" / "model_cleanup" / "sagemaker_cleanup.py"
# The names logic and the clean-up itself ship with the function: one implementation for notebook and stack.
SHARED_MODULES = (
    "__init__.py",
    "project_files.py",
    "settings.py",
    "ml/__init__.py",
    "ml/sagemaker_job.py",
    "ml/knn_image_registries.json",
)
RESOURCE_TYPE = "Custom::SageMakerModelCleanup"
# Deleting an endpoint takes minutes; CloudFormation waits for a custom resource up to one hour.
TOTAL_TIMEOUT = Duration.minutes(45)
QUERY_INTERVAL = Duration.seconds(30)


def stage_cleanup_code(destination: Path) -> Path:
    """The handler at the top of the bundle and the `mysfits` modules it imports (nothing else of the package)."""
    destination.mkdir(parents=True, exist_ok=True)
    shutil.copy2(HANDLER, destination / HANDLER.name)
    for name in SHARED_MODULES:
        (destination / "mysfits" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(PROJECT_ROOT / "mysfits" / name, destination / "mysfits" / name)
    return destination


class ModelCleanup(Construct):
    """Deletes exactly `names.endpoint_name` and the models and configs under `names.run_prefix`, on delete only.

    `keep_until_done` are the constructs the deletion needs (the SageMaker role the endpoint runs as, its log
    group, the artifacts bucket): the custom resource depends on them, so CloudFormation deletes it first."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        names: SageMakerNames,
        log_retention: logs.RetentionDays,
        keep_until_done: Sequence[IConstruct],
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.names = names

        self.log_group = stack_log_group(self, "LogGroup", retention=log_retention)
        statements = {
            "WriteOwnLogs": (["logs:CreateLogStream", "logs:PutLogEvents"], [self.log_group.log_group_arn]),
            # A Delete acts only while this stack itself is being deleted (not on an update's clean-up or rollback).
            "ReadOwnStackStatus": (["cloudformation:DescribeStacks"], [stack.stack_id]),
            # The Service Authorization Reference lists ListStacks as a dependent action of DescribeStacks.
            "ListStacks": (["cloudformation:ListStacks"], ["*"]),
            "DeleteTheEndpoint": (
                ["sagemaker:DescribeEndpoint", "sagemaker:DeleteEndpoint"],
                [endpoint_arn(stack, names)],
            ),
            "DeleteRunConfigs": (
                ["sagemaker:DeleteEndpointConfig"],
                [run_arn(stack, "endpoint-config", names)],
            ),
            "DeleteRunModels": (["sagemaker:DeleteModel"], [run_arn(stack, "model", names)]),
            # Listing has no resource-level permissions; the code keeps only names that start with the prefix.
            "ListRuns": (["sagemaker:ListEndpointConfigs", "sagemaker:ListModels"], ["*"]),
        }
        self.role = service_role(
            self,
            "Role",
            service="lambda.amazonaws.com",
            description=f"Model clean-up on stack delete: endpoint {names.endpoint_name}, {names.run_prefix}* only",
            grants=statements,
        )

        staging = Path(tempfile.mkdtemp(prefix="mysfits-model-cleanup-"))
        atexit.register(shutil.rmtree, staging, ignore_errors=True)  # CDK copies it into cdk.out at synth
        code = lambda_.Code.from_asset(str(stage_cleanup_code(staging / "code")))

        def function(handler: str, description: str) -> lambda_.Function:
            return lambda_.Function(
                self,
                handler.replace("_", " ").title().replace(" ", ""),
                description=description,
                runtime=lambda_.Runtime.PYTHON_3_14,
                architecture=lambda_.Architecture.ARM_64,
                handler=f"{HANDLER.stem}.{handler}",
                code=code,
                memory_size=256,
                timeout=Duration.minutes(2),
                role=self.role,
                log_group=self.log_group,
                logging_format=lambda_.LoggingFormat.JSON,
                # settings.py resolves the notebook's settings file under HOME, which Lambda does not set.
                environment={"HOME": "/tmp"},  # noqa: S108 - a path never written, only joined
            )

        on_event = function("on_event", f"On stack delete: start deleting SageMaker endpoint {names.endpoint_name}")
        is_complete = function(
            "is_complete", f"On stack delete: wait for the endpoint, then delete {names.run_prefix}* models/configs"
        )
        self.provider_log_group = stack_log_group(self, "ProviderLogGroup", retention=log_retention)
        self.provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=on_event,
            is_complete_handler=is_complete,
            log_group=self.provider_log_group,
            query_interval=QUERY_INTERVAL,
            total_timeout=TOTAL_TIMEOUT,
            # The framework's waiter state machine logs to the same group, with retention.
            disable_waiter_state_machine_logging=False,
            waiter_state_machine_log_options=cr.LogOptions(destination=self.provider_log_group, level=sfn.LogLevel.ALL),
        )
        self.resource = CustomResource(
            self,
            "Resource",
            service_token=self.provider.service_token,
            resource_type=RESOURCE_TYPE,
            properties={"EndpointName": names.endpoint_name, "NamePrefix": names.name_prefix},
        )
        for construct in keep_until_done:
            self.resource.node.add_dependency(construct)
        self._acknowledge([on_event, is_complete])

    def _acknowledge(self, handlers: list[lambda_.Function]) -> None:
        names = self.names
        acknowledge(
            self.role,
            {
                **{
                    wildcard_resource(f"{SAGEMAKER_ARN_HEAD}:{kind}/{names.run_prefix}*"): "Every training run "
                    f"creates its own {names.run_prefix}<timestamp> {kind}, whoever ran it (notebook or pipeline); on "
                    "stack delete all of them go, and only names under that prefix."
                    for kind in ("model", "endpoint-config")
                },
                wildcard_resource("*"): "sagemaker:ListModels, sagemaker:ListEndpointConfigs and "
                "cloudformation:ListStacks (which the Service Authorization Reference makes a dependent action of "
                f"DescribeStacks) have no resource types; the handler deletes only names starting with "
                f"{names.run_prefix}.",
            },
        )
        framework_reason = (
            "CDK's custom resource provider framework: its functions invoke the clean-up handlers (and any version "
            "of them, hence ':*'); the framework's own role layout cannot be changed from this construct."
        )
        for child in ("framework-onEvent", "framework-isComplete", "framework-onTimeout"):
            acknowledge(
                self.provider.node.find_child(child).node.find_child("ServiceRole"),
                {
                    managed_policy("service-role/AWSLambdaBasicExecutionRole"): "The provider framework's functions "
                    "get AWSLambdaBasicExecutionRole from CDK; they log to this construct's provider log group, which "
                    "has retention and is deleted with the stack.",
                    **dict.fromkeys((wildcard_resource(f"{arn_of(fn)}:*") for fn in handlers), framework_reason),
                },
            )
        waiter = self.provider.node.find_child("waiter-state-machine")
        waiter_functions = [
            self.provider.node.find_child(child) for child in ("framework-isComplete", "framework-onTimeout")
        ]
        acknowledge(
            waiter.node.find_child("Role"),
            {
                **dict.fromkeys((wildcard_resource(f"{arn_of(fn)}:*") for fn in waiter_functions), framework_reason),
                wildcard_resource("*"): "The provider's waiter state machine logs to CloudWatch Logs; Step Functions' "
                "log delivery actions (logs:CreateLogDelivery and the rest) have no resource types, so they need '*'.",
            },
        )
        acknowledge(
            waiter.node.find_child("Resource"),
            {
                "AwsSolutions-SF2": "CDK's provider framework offers no X-Ray option for its waiter state machine; it "
                "only polls the is_complete handler during a stack delete, and it logs ALL events to the provider "
                "log group."
            },
        )
