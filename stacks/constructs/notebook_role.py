"""The notebook's role, which training jobs and endpoints also run as: exactly the calls of the notebook,
`mysfits/ml/sagemaker_job.py` and the auto-stop program, on this project's names (tests/test_permissions.py)."""

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_codecommit as codecommit
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.constructs.acknowledgments import ARN_HEAD, SAGEMAKER_ARN_HEAD, acknowledge, arn_of, wildcard_resource
from stacks.constructs.grants import grant

# Training data and model artifacts live under this folder of the artifacts bucket (mysfits/ml/sagemaker_job.py).
ARTIFACTS_FOLDER = "knn"
# Where SageMaker publishes the instance metrics of training jobs and endpoints with the execution role.
SAGEMAKER_METRIC_NAMESPACES = ["/aws/sagemaker/TrainingJobs", "/aws/sagemaker/Endpoints"]
LOGS_ARN_HEAD = f"{ARN_HEAD.format(service='logs')}:log-group:"


class NotebookRole(iam.Role):
    """Assumed by SageMaker for the notebook instance, its training jobs and its endpoints; `name_prefix`
    scopes every SageMaker resource it may touch."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name_prefix: str,
        instance_name: str,
        artifacts_bucket: s3.IBucket,
        knn_repository_arn: str,
        repository: codecommit.IRepository | None,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"Mysfits notebook, training jobs and endpoints: only {name_prefix}* SageMaker resources",
        )
        stack = Stack.of(self)
        self._grant_sagemaker(stack, name_prefix, instance_name)
        self._grant_artifacts(artifacts_bucket)
        self._grant_knn_image(knn_repository_arn)
        log_streams = self._grant_logs_and_metrics(stack, name_prefix, instance_name)
        if repository is not None:
            repository.grant_pull(self)
        self._acknowledge(name_prefix, artifacts_bucket, log_streams)

    def _grant_sagemaker(self, stack: Stack, prefix: str, instance_name: str) -> None:
        def arn(resource: str, name: str = f"{prefix}*") -> str:
            return stack.format_arn(service="sagemaker", resource=resource, resource_name=name)

        # Only what mysfits/ml/sagemaker_job.py, the notebook and autostop.py call (tests/test_permissions.py).
        statements = {
            "TrainingJobs": (["sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob"], [arn("training-job")]),
            "Models": (["sagemaker:CreateModel", "sagemaker:DeleteModel"], [arn("model")]),
            "EndpointConfigs": (
                [
                    "sagemaker:CreateEndpointConfig",
                    "sagemaker:DescribeEndpointConfig",
                    "sagemaker:DeleteEndpointConfig",
                ],
                [arn("endpoint-config")],
            ),
            "Endpoints": (
                ["sagemaker:DescribeEndpoint", "sagemaker:DeleteEndpoint", "sagemaker:InvokeEndpoint"],
                [arn("endpoint")],
            ),
            # The Service Authorization Reference requires both resources: the endpoint and the config it runs.
            "DeployEndpoints": (
                ["sagemaker:CreateEndpoint", "sagemaker:UpdateEndpoint"],
                [arn("endpoint"), arn("endpoint-config")],
            ),
            # Listing has no resource-level permissions; clean-up narrows it with NameContains=<prefix>knn-.
            "ListModelsAndEndpointConfigs": (["sagemaker:ListModels", "sagemaker:ListEndpointConfigs"], ["*"]),
            "StopOwnNotebookWhenIdle": (["sagemaker:StopNotebookInstance"], [arn("notebook-instance", instance_name)]),
        }
        grant(self, statements)
        # Training jobs and models run as this same role, so it may hand itself, and only itself, to SageMaker.
        self.add_to_policy(
            iam.PolicyStatement(
                sid="PassOwnRoleToSageMaker",
                actions=["iam:PassRole"],
                resources=[self.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            )
        )

    def _grant_artifacts(self, bucket: s3.IBucket) -> None:
        # Training jobs list their S3Prefix input channel; the notebook uploads the data, training writes the model.
        grant(
            self,
            {
                "ListArtifacts": (["s3:ListBucket"], [bucket.bucket_arn]),
                "ReadWriteArtifacts": (
                    ["s3:GetObject", "s3:PutObject"],
                    [bucket.arn_for_objects(f"{ARTIFACTS_FOLDER}/*")],
                ),
            },
        )

    def _grant_knn_image(self, knn_repository_arn: str) -> None:
        pull = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
        grant(self, {"PullKnnImage": (pull, [knn_repository_arn]), "EcrLogin": (["ecr:GetAuthorizationToken"], ["*"])})

    def _grant_logs_and_metrics(self, stack: Stack, prefix: str, instance_name: str) -> dict[str, str]:
        """Grants SageMaker's log groups and metrics; returns the log groups and the stream pattern in each."""

        def log_group(name: str) -> str:
            return stack.format_arn(
                service="logs", resource="log-group", resource_name=name, arn_format=ArnFormat.COLON_RESOURCE_NAME
            )

        # The log groups SageMaker writes with this role, and the streams of our jobs, endpoints and instance.
        streams = {
            "/aws/sagemaker/TrainingJobs": f"{prefix}*",  # <job name>/algo-1-<time>
            f"/aws/sagemaker/Endpoints/{prefix}*": "*",  # one group per endpoint: <variant>/<instance id>
            "/aws/sagemaker/NotebookInstances": f"{instance_name}/*",  # LifecycleConfigOnStart, jupyter.log
        }
        grant(
            self,
            {
                # CloudWatch Logs checks some group actions against `<group ARN>:*` rather than the bare ARN.
                "SageMakerLogGroups": (
                    ["logs:CreateLogGroup", "logs:DescribeLogStreams"],
                    [log_group(name) for group in streams for name in (group, f"{group}:*")],
                ),
                "SageMakerLogStreams": (
                    ["logs:CreateLogStream", "logs:PutLogEvents"],
                    [log_group(f"{group}:log-stream:{stream}") for group, stream in streams.items()],
                ),
            },
        )
        self.add_to_policy(
            iam.PolicyStatement(
                sid="SageMakerMetrics",
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": SAGEMAKER_METRIC_NAMESPACES}},
            )
        )
        return streams

    def _acknowledge(self, prefix: str, artifacts_bucket: s3.IBucket, log_streams: dict[str, str]) -> None:
        wildcard_logs = [f"{group}:log-stream:{stream}" for group, stream in log_streams.items()]
        wildcard_logs += [group for group in log_streams if "*" in group]
        wildcard_logs += [f"{group}:*" for group in log_streams]
        acknowledge(
            self,
            {
                **dict.fromkeys(
                    (
                        wildcard_resource(f"{SAGEMAKER_ARN_HEAD}:{kind}/{prefix}*")
                        for kind in ("training-job", "model", "endpoint-config", "endpoint")
                    ),
                    f"Each training run creates new names ({prefix}knn-<timestamp>), so the prefix is the narrowest "
                    "scope that allows a new run while excluding every other SageMaker resource in the account.",
                ),
                wildcard_resource(f"{arn_of(artifacts_bucket)}/{ARTIFACTS_FOLDER}/*"): "Training data, model "
                f"artifacts and job outputs are objects created at run time under {ARTIFACTS_FOLDER}/ in this stack's "
                "own artifacts bucket; no other bucket or folder is reachable.",
                wildcard_resource("*"): "The Service Authorization Reference lists no resource types for these "
                "actions: ecr:GetAuthorizationToken (image pulls themselves are scoped to the regional knn "
                "repository), sagemaker:ListModels and sagemaker:ListEndpointConfigs (clean-up lists names only, "
                f"filtered to {prefix}knn-), and cloudwatch:PutMetricData, which a condition limits to SageMaker's "
                "/aws/sagemaker/TrainingJobs and /aws/sagemaker/Endpoints namespaces.",
                **dict.fromkeys(
                    (wildcard_resource(f"{LOGS_ARN_HEAD}{name}") for name in wildcard_logs),
                    "SageMaker creates these log groups and streams itself, named after the run, endpoint or "
                    "instance (training streams <job name>/algo-1-<time>, one group "
                    "/aws/sagemaker/Endpoints/<endpoint> with streams <variant>/<instance id>, lifecycle streams "
                    "<notebook name>/LifecycleConfigOnStart); the pattern admits only our "
                    f"{prefix}* jobs and endpoints and this notebook instance.",
                ),
            },
        )
