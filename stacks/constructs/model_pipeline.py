"""Train and deploy as code: a Step Functions state machine that runs the k-NN training job, creates the model and
endpoint config, creates, updates or replaces the endpoint, and polls until it is InService or Failed.

Every SageMaker resource it creates is named `<prefix>knn-YYYYmmdd-HHMMSS` from the execution's start time (the
format of `SageMakerNames.run_name`), runs as the project's SageMaker role (the notebook role: no task roles of
CDK's own), and uses the hyperparameters, variant and hosting of `mysfits/settings.py`.
"""

from aws_cdk import Duration, Size, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from mysfits.settings import (
    DEFAULT_K,
    TRAIN_CONTENT_TYPE,
    TRAINING_INSTANCE_TYPE,
    VARIANT_NAME,
    Hosting,
    SageMakerNames,
    knn_hyperparameters,
)
from stacks.constructs.acknowledgments import SAGEMAKER_ARN_HEAD, acknowledge, wildcard_resource
from stacks.constructs.grants import Grants, service_role
from stacks.constructs.log_groups import stack_log_group
from stacks.constructs.notebook_role import ARTIFACTS_FOLDER
from stacks.constructs.sagemaker_arns import endpoint_arn as sagemaker_endpoint_arn
from stacks.constructs.sagemaker_arns import run_arn

ARTIFACTS_OUTPUT_FOLDER = f"{ARTIFACTS_FOLDER}/output/"
# The rule Step Functions creates for `.sync` training jobs (Step Functions developer guide, SageMaker policies).
SYNC_TRAINING_RULE_NAME = "StepFunctionsGetEventsForSageMakerTrainingJobsRule"
# What a state machine needs to log to CloudWatch Logs, and to send X-Ray traces (Step Functions developer guide).
LOG_DELIVERY_ACTIONS = (
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
)
TRACING_ACTIONS = (
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
)
POLL_INTERVAL = Duration.seconds(30)
# Training stops after an hour (as in the notebook); hosting takes minutes. The whole run is bounded too.
TRAINING_MAX_RUNTIME = Duration.hours(1)
EXECUTION_TIMEOUT = Duration.hours(3)
# DescribeEndpoint's answer when there is no such endpoint (a ValidationException).
MISSING_ENDPOINT = "*Could not find endpoint*"
# Where the polls keep DescribeEndpoint's answer: the endpoint being deployed, and the old one being deleted.
ENDPOINT_PATH = "$.endpoint"
DELETING_PATH = "$.deleting"
# `$$.Execution.StartTime` is ISO 8601 (2026-01-02T03:04:05.678Z); each of these characters splits it.
START_TIME_SEPARATORS = "-T:.Z"


def run_name_expression(names: SageMakerNames, parts_path: str) -> str:
    """`<prefix>knn-YYYYmmdd-HHMMSS` from the split start time: the format `SageMakerNames.run_name` writes."""
    fields = ", ".join(f"{parts_path}[{index}]" for index in range(6))
    return f"States.Format('{names.run_prefix}{{}}{{}}{{}}-{{}}{{}}{{}}', {fields})"


class ModelPipeline(Construct):
    """Input: `{"trainingData": "s3://<artifacts>/knn/.../", "sampleSize": <rows>, "k": <optional>}`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        names: SageMakerNames,
        hosting: Hosting,
        sagemaker_role: iam.IRole,
        artifacts_bucket: s3.IBucket,
        knn_image_uri: str,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.names = names
        self.artifacts_bucket = artifacts_bucket

        # The tasks pass this role to SageMaker; a mutable role would receive CDK's own grants for them (S3 read and
        # write on '*' for the JSON-path locations). The role's policy is its owner's: it already reads knn/.
        task_role = iam.Role.from_role_arn(self, "SageMakerRole", sagemaker_role.role_arn, mutable=False)
        endpoint_arn = sagemaker_endpoint_arn(stack, names)
        run_config_arn = run_arn(stack, "endpoint-config", names)
        run = sfn.JsonPath.string_at("$.names.run")
        failure = "$.failure"

        prepare = sfn.Pass(
            self,
            "Prepare",
            comment="Defaults for optional input, and the execution's start time split into its fields",
            parameters={
                "defaults": {"k": DEFAULT_K},
                "input.$": "$",
                "startParts.$": f"States.StringSplit($$.Execution.StartTime, '{START_TIME_SEPARATORS}')",
            },
        )
        name_run = sfn.Pass(
            self,
            "Name the run",
            parameters={
                "args.$": "States.JsonMerge($.defaults, $.input, false)",
                "names": {"run.$": run_name_expression(names, "$.startParts"), "endpoint": names.endpoint_name},
                "outputUri": f"s3://{artifacts_bucket.bucket_name}/{ARTIFACTS_OUTPUT_FOLDER}",
            },
        )
        hyperparameters: dict[str, object] = {
            **knn_hyperparameters(k=DEFAULT_K, sample_size=1),
            "k": sfn.JsonPath.format("{}", sfn.JsonPath.string_at("$.args.k")),
            "sample_size": sfn.JsonPath.format("{}", sfn.JsonPath.string_at("$.args.sampleSize")),
        }
        train = tasks.SageMakerCreateTrainingJob(
            self,
            "Train",
            comment="Built-in k-NN on the uploaded CSV; waits for the job (.sync)",
            integration_pattern=sfn.IntegrationPattern.RUN_JOB,
            training_job_name=run,
            role=task_role,
            algorithm_specification=tasks.AlgorithmSpecification(
                training_image=tasks.DockerImage.from_registry(knn_image_uri),
                training_input_mode=tasks.InputMode.FILE,
            ),
            hyperparameters=hyperparameters,
            input_data_config=[
                tasks.Channel(
                    channel_name="train",
                    content_type=TRAIN_CONTENT_TYPE,
                    compression_type=tasks.CompressionType.NONE,
                    data_source=tasks.DataSource(
                        s3_data_source=tasks.S3DataSource(
                            s3_location=tasks.S3Location.from_json_expression("$.args.trainingData"),
                            s3_data_type=tasks.S3DataType.S3_PREFIX,
                            s3_data_distribution_type=tasks.S3DataDistributionType.FULLY_REPLICATED,
                        )
                    ),
                )
            ],
            output_data_config=tasks.OutputDataConfig(
                s3_output_location=tasks.S3Location.from_json_expression("$.outputUri")
            ),
            resource_config=tasks.ResourceConfig(
                instance_count=1,
                instance_type=ec2.InstanceType(TRAINING_INSTANCE_TYPE.removeprefix("ml.")),
                volume_size=Size.gibibytes(5),
            ),
            stopping_condition=tasks.StoppingCondition(max_runtime=TRAINING_MAX_RUNTIME),
            result_selector={"modelData.$": "$.ModelArtifacts.S3ModelArtifacts"},
            result_path="$.training",
        )
        training_failed = sfn.Fail(
            self,
            "Training failed",
            error="TrainingJobFailed",
            cause_path=f"{failure}.Cause",  # DescribeTrainingJob as SageMaker left it, FailureReason included
        )
        deployment_failed = sfn.Fail(
            self, "Deployment failed", error="SageMakerRequestFailed", cause_path=f"{failure}.Cause"
        )
        create_model = tasks.SageMakerCreateModel(
            self,
            "Create model",
            model_name=run,
            role=task_role,
            primary_container=tasks.ContainerDefinition(
                image=tasks.DockerImage.from_registry(knn_image_uri),
                model_s3_location=tasks.S3Location.from_json_expression("$.training.modelData"),
            ),
            result_path=sfn.JsonPath.DISCARD,
        )
        create_config = self._endpoint_config(hosting, run, run_config_arn)
        find_endpoint = self._describe_endpoint("Find endpoint", endpoint_arn, "$.existing")
        describe_current_config = tasks.CallAwsService(
            self,
            "Describe current config",
            service="sagemaker",
            action="describeEndpointConfig",
            parameters={"EndpointConfigName": sfn.JsonPath.string_at("$.existing.EndpointConfigName")},
            # The running endpoint's config: ours (<prefix>knn-*) or one the notebook made, under the same prefix.
            iam_resources=[run_config_arn],
            result_selector={"variants.$": "$.ProductionVariants"},
            result_path="$.current",
        )
        # Both point the one endpoint at this run's config; SageMaker then reports progress through DescribeEndpoint.
        create_endpoint, update_endpoint = (
            task(
                self,
                state,
                endpoint_name=names.endpoint_name,
                endpoint_config_name=run,
                result_path=sfn.JsonPath.DISCARD,
            )
            for task, state in (
                (tasks.SageMakerCreateEndpoint, "Create endpoint"),
                (tasks.SageMakerUpdateEndpoint, "Update endpoint"),
            )
        )
        delete_endpoint = tasks.CallAwsService(
            self,
            "Delete old endpoint",
            comment="SageMaker cannot update an endpoint between instance and serverless hosting, nor a failed one",
            service="sagemaker",
            action="deleteEndpoint",
            parameters={"EndpointName": names.endpoint_name},
            iam_resources=[endpoint_arn],
            result_path=sfn.JsonPath.DISCARD,
        )
        wait_for_deletion = sfn.Wait(self, "Wait for deletion", time=sfn.WaitTime.duration(POLL_INTERVAL))
        check_deletion = self._describe_endpoint("Check deletion", endpoint_arn, DELETING_PATH)
        wait_for_endpoint = sfn.Wait(self, "Wait for endpoint", time=sfn.WaitTime.duration(POLL_INTERVAL))
        check_endpoint = self._describe_endpoint("Check endpoint", endpoint_arn, ENDPOINT_PATH)
        deployed = sfn.Succeed(self, "Deployed")
        # The whole DescribeEndpoint answer: FailureReason is optional, and a CausePath that selects nothing fails
        # the Fail state itself (States.Runtime) instead of showing why.
        endpoint_failed = sfn.Fail(
            self, "Endpoint failed", error="EndpointFailed", cause_path=f"States.JsonToString({ENDPOINT_PATH})"
        )
        update_rolled_back = sfn.Fail(
            self,
            "Update rolled back",
            error="EndpointUpdateFailed",  # SageMaker keeps the old config in service and says why
            cause_path=f"States.JsonToString({ENDPOINT_PATH})",
        )
        deletion_failed = sfn.Fail(
            self,
            "Deletion failed",
            error="EndpointDeletionFailed",  # the old endpoint is neither Deleting nor gone: do not wait for hours
            cause_path=f"States.JsonToString({DELETING_PATH})",
        )

        # Transient refusals: CreateEndpoint reads the new config eventually consistently (API reference: retry).
        for deploy in (create_endpoint, update_endpoint):
            deploy.add_retry(
                errors=[sfn.Errors.TASKS_FAILED], interval=Duration.seconds(5), max_attempts=3, backoff_rate=2
            )
        for task in (create_model, create_config, create_endpoint, update_endpoint, delete_endpoint):
            task.add_catch(deployment_failed, errors=[sfn.Errors.ALL], result_path=failure)
        train.add_catch(training_failed, errors=[sfn.Errors.ALL], result_path=failure)
        # DescribeEndpoint fails when there is no endpoint: then create it; any other failure ends the run.
        for describe, choice in ((find_endpoint, "Endpoint missing?"), (check_deletion, "Deleted?")):
            missing = sfn.Condition.string_matches(f"{failure}.Cause", MISSING_ENDPOINT)
            absent = sfn.Choice(self, choice).when(missing, create_endpoint).otherwise(deployment_failed)
            describe.add_catch(absent, errors=[sfn.Errors.TASKS_FAILED], result_path=failure)
        for describe in (find_endpoint, check_deletion, check_endpoint):
            describe.add_catch(deployment_failed, errors=[sfn.Errors.ALL], result_path=failure)
        # A config that is gone (a clean-up) leaves the hosting kind unknown: replacing is the safe way on.
        describe_current_config.add_catch(delete_endpoint, errors=[sfn.Errors.ALL], result_path=failure)

        current_is_serverless = sfn.Condition.is_present("$.current.variants[0].ServerlessConfig")
        same_kind = current_is_serverless if hosting.serverless else sfn.Condition.not_(current_is_serverless)
        definition = (
            prepare.next(name_run)
            .next(train)
            .next(create_model)
            .next(create_config)
            .next(find_endpoint)
            .next(
                sfn.Choice(self, "Endpoint usable?")
                .when(sfn.Condition.string_equals("$.existing.EndpointStatus", "Failed"), delete_endpoint)
                .otherwise(describe_current_config)
            )
        )
        describe_current_config.next(
            sfn.Choice(self, "Same hosting kind?").when(same_kind, update_endpoint).otherwise(delete_endpoint)
        )
        delete_endpoint.next(wait_for_deletion).next(check_deletion).next(
            sfn.Choice(self, "Still deleting?")
            .when(sfn.Condition.string_equals(f"{DELETING_PATH}.EndpointStatus", "Deleting"), wait_for_deletion)
            .otherwise(deletion_failed)
        )
        create_endpoint.next(wait_for_endpoint)
        update_endpoint.next(wait_for_endpoint)
        wait_for_endpoint.next(check_endpoint).next(
            sfn.Choice(self, "Endpoint ready?")
            .when(
                sfn.Condition.and_(
                    sfn.Condition.string_equals("$.endpoint.EndpointStatus", "InService"),
                    sfn.Condition.string_equals_json_path("$.endpoint.EndpointConfigName", "$.names.run"),
                ),
                deployed,
            )
            .when(sfn.Condition.string_equals("$.endpoint.EndpointStatus", "InService"), update_rolled_back)
            .when(sfn.Condition.string_equals("$.endpoint.EndpointStatus", "Failed"), endpoint_failed)
            .otherwise(wait_for_endpoint)
        )

        self.log_group = stack_log_group(self, "LogGroup", retention=log_retention)
        self.role = service_role(
            self,
            "Role",
            service="states.amazonaws.com",
            description=f"Model pipeline: train and deploy {names.run_prefix}* runs to endpoint {names.endpoint_name}",
            grants=self._grants(stack, names, endpoint_arn, run_config_arn),
        )
        self._acknowledge(names)
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="PassSageMakerRole",
                actions=["iam:PassRole"],
                resources=[sagemaker_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            )
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            comment=f"Train built-in k-NN and deploy it to endpoint {names.endpoint_name} ({hosting.kind} hosting)",
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            timeout=EXECUTION_TIMEOUT,
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
            # CDK's task grants use wildcards (training-job/*, model/*) and miss CreateEndpoint's endpoint-config
            # resource: its policy additions are dropped and `_grants` states exactly what the states call.
            role=self.role.without_policy_updates(),
        )
        self.state_machine.node.add_dependency(self.role)  # its policy must exist before the first execution

    @staticmethod
    def _grants(stack: Stack, names: SageMakerNames, endpoint_arn: str, run_config_arn: str) -> Grants:
        """Exactly what the states call (CDK's own task grants use wildcards and miss CreateEndpoint's config)."""
        return {
            # .sync describes the job until it ends and stops it when the execution is stopped.
            "RunTrainingJobs": (
                [
                    "sagemaker:CreateTrainingJob",
                    "sagemaker:DescribeTrainingJob",
                    "sagemaker:StopTrainingJob",
                    "sagemaker:ListTags",
                ],
                [run_arn(stack, "training-job", names)],
            ),
            # .sync learns that a job ended from an EventBridge rule that Step Functions manages itself.
            "TrainingJobEvents": (
                ["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                [stack.format_arn(service="events", resource="rule", resource_name=SYNC_TRAINING_RULE_NAME)],
            ),
            "CreateRunModels": (["sagemaker:CreateModel"], [run_arn(stack, "model", names)]),
            "CreateRunConfigs": (
                ["sagemaker:CreateEndpointConfig", "sagemaker:DescribeEndpointConfig"],
                [run_config_arn],
            ),
            # The Service Authorization Reference requires both resources: the endpoint and the config it runs.
            "DeployTheEndpoint": (
                ["sagemaker:CreateEndpoint", "sagemaker:UpdateEndpoint"],
                [endpoint_arn, run_config_arn],
            ),
            "WatchOrReplaceTheEndpoint": (["sagemaker:DescribeEndpoint", "sagemaker:DeleteEndpoint"], [endpoint_arn]),
            # Step Functions' log delivery and X-Ray: none of these actions has a resource type.
            "DeliverLogs": (LOG_DELIVERY_ACTIONS, ["*"]),
            "Tracing": (TRACING_ACTIONS, ["*"]),
        }

    def _acknowledge(self, names: SageMakerNames) -> None:
        acknowledge(
            self.role,
            {
                **dict.fromkeys(
                    (
                        wildcard_resource(f"{SAGEMAKER_ARN_HEAD}:{kind}/{names.run_prefix}*")
                        for kind in ("training-job", "model", "endpoint-config")
                    ),
                    f"Each execution names its training job, model and endpoint config {names.run_prefix}<start "
                    "time>, so the prefix is the narrowest scope that admits a new run and no other resource.",
                ),
                wildcard_resource("*"): "Step Functions' log delivery actions (logs:CreateLogDelivery and the rest) "
                "and X-Ray's PutTraceSegments, PutTelemetryRecords and GetSampling* have no resource types, so they "
                "need '*'.",
            },
        )

    def _describe_endpoint(self, state_name: str, endpoint_arn: str, result_path: str) -> tasks.CallAwsService:
        return tasks.CallAwsService(
            self,
            state_name,
            service="sagemaker",
            action="describeEndpoint",
            parameters={"EndpointName": self.names.endpoint_name},
            iam_resources=[endpoint_arn],
            result_path=result_path,
        )

    def _endpoint_config(self, hosting: Hosting, run: str, run_config_arn: str) -> sfn.TaskStateBase:
        """CDK's SageMakerCreateEndpointConfig knows instance variants only; serverless goes through the SDK
        integration with the very variant the notebook sends (`Hosting.variant`)."""
        if not hosting.serverless:
            return tasks.SageMakerCreateEndpointConfig(
                self,
                "Create endpoint config",
                endpoint_config_name=run,
                production_variants=[
                    tasks.ProductionVariant(
                        model_name=run,
                        variant_name=VARIANT_NAME,
                        instance_type=ec2.InstanceType(hosting.instance_type.removeprefix("ml.")),
                        initial_instance_count=1,
                    )
                ],
                result_path=sfn.JsonPath.DISCARD,
            )
        variant = {key: value for key, value in hosting.variant("").items() if key != "ModelName"}
        return tasks.CallAwsService(
            self,
            "Create endpoint config",
            service="sagemaker",
            action="createEndpointConfig",
            parameters={"EndpointConfigName": run, "ProductionVariants": [{**variant, "ModelName": run}]},
            iam_resources=[run_config_arn],
            result_path=sfn.JsonPath.DISCARD,
        )
