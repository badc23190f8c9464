"""The SageMaker notebook: encrypted volume, idle auto-stop, the project cloned in, and a least-privilege role."""

from pathlib import Path
from typing import cast

from aws_cdk import (
    Acknowledgment,
    ArnFormat,
    Aws,
    CfnMapping,
    Fn,
    Stack,
    Validations,
)
from aws_cdk import aws_codecommit as codecommit
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from mysfits.project_files import load_knn_image_registries as knn_registries
from mysfits.settings import knn_image_uri_for
from stacks.constructs.keys import RotatingKey

LIFECYCLE_DIR = Path(__file__).resolve().parent / "notebook_lifecycle"
PLATFORM_IDENTIFIER = "notebook-al2023-v1"
KNN_REPOSITORY = "knn"
# Training data and model artifacts live under this folder of the artifacts bucket (mysfits/ml/sagemaker_job.py).
ARTIFACTS_FOLDER = "knn"
# Where SageMaker publishes the instance metrics of training jobs and endpoints with the execution role.
SAGEMAKER_METRIC_NAMESPACES = ["/aws/sagemaker/TrainingJobs", "/aws/sagemaker/Endpoints"]
# SageMaker refuses lifecycle scripts whose base64 form exceeds this many characters.
LIFECYCLE_CONTENT_LIMIT = 16384


def render_on_start_script(values: dict[str, str]) -> str:
    """The on-start script with the autostop program and the stack's values filled in (values may be tokens)."""
    script = (LIFECYCLE_DIR / "on_start.sh").read_text(encoding="utf-8")
    script = script.replace("@@AUTOSTOP_PY@@", (LIFECYCLE_DIR / "autostop.py").read_text(encoding="utf-8").rstrip())
    for name, value in values.items():
        script = script.replace(f"@@{name}@@", value)
    return script


class MlNotebook(Construct):
    """Everything the k-NN notebook needs to train and deploy `endpoint_name`, and nothing else."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        instance_name: str,
        instance_type: str,
        idle_minutes: int,
        name_prefix: str,
        endpoint_name: str,
        repository: codecommit.IRepository | None,
        artifacts_bucket: s3.IBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self._name_prefix = name_prefix
        self._artifacts_bucket = artifacts_bucket

        self.volume_key = RotatingKey(
            self, "VolumeKey", description="Encrypts the Mysfits notebook instance's storage volume"
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"Mysfits notebook, training jobs and endpoints: only {name_prefix}* SageMaker resources",
        )
        self._grant_sagemaker(stack, name_prefix, instance_name)
        self._grant_artifacts(artifacts_bucket)
        self._grant_knn_image(stack)
        self._grant_logs_and_metrics(stack, name_prefix, instance_name)
        if repository is not None:
            repository.grant_pull(self.role)

        on_start = render_on_start_script(
            {
                "IDLE_MINUTES": str(idle_minutes),
                "NOTEBOOK_NAME": instance_name,
                "REGION": Aws.REGION,
                "ARTIFACTS_BUCKET": artifacts_bucket.bucket_name,
                "ROLE_ARN": self.role.role_arn,
                "ENDPOINT_NAME": endpoint_name,
                "NAME_PREFIX": name_prefix,
            }
        )
        self.lifecycle = sagemaker.CfnNotebookInstanceLifecycleConfig(
            self,
            "Lifecycle",
            notebook_instance_lifecycle_config_name=f"{instance_name}-autostop",
            on_start=[
                sagemaker.CfnNotebookInstanceLifecycleConfig.NotebookInstanceLifecycleHookProperty(
                    content=Fn.base64(on_start)
                )
            ],
        )
        self.instance = sagemaker.CfnNotebookInstance(
            self,
            "Instance",
            notebook_instance_name=instance_name,
            instance_type=instance_type,
            platform_identifier=PLATFORM_IDENTIFIER,
            role_arn=self.role.role_arn,
            root_access="Disabled",
            kms_key_id=self.volume_key.key_id,
            volume_size_in_gb=10,
            # IMDSv2 only: a token-bound session instead of plain GETs that a forwarded request could make.
            instance_metadata_service_configuration=sagemaker.CfnNotebookInstance.InstanceMetadataServiceConfigurationProperty(
                minimum_instance_metadata_service_version="2"
            ),
            direct_internet_access="Enabled",
            lifecycle_config_name=self.lifecycle.attr_notebook_instance_lifecycle_config_name,
            default_code_repository=repository.repository_clone_url_http if repository else None,
        )
        # The instance clones the repository with the role at creation, so the policy must exist first.
        self.instance.node.add_dependency(self.role)
        self._acknowledge()

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
        for sid, (actions, resources) in statements.items():
            self.role.add_to_policy(iam.PolicyStatement(sid=sid, actions=actions, resources=resources))
        # Training jobs and models run as this same role, so it may hand itself, and only itself, to SageMaker.
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="PassOwnRoleToSageMaker",
                actions=["iam:PassRole"],
                resources=[self.role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            )
        )

    def _grant_artifacts(self, bucket: s3.IBucket) -> None:
        # Training jobs list their S3Prefix input channel; the notebook uploads the data, training writes the model.
        self.role.add_to_policy(
            iam.PolicyStatement(sid="ListArtifacts", actions=["s3:ListBucket"], resources=[bucket.bucket_arn])
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadWriteArtifacts",
                actions=["s3:GetObject", "s3:PutObject"],
                resources=[bucket.arn_for_objects(f"{ARTIFACTS_FOLDER}/*")],
            )
        )

    def _grant_knn_image(self, stack: Stack) -> None:
        registries = knn_registries()
        mapping = CfnMapping(
            self,
            "KnnImageRegistry",
            mapping={region: {"account": account} for region, account in sorted(registries.items())},
        )
        self.knn_image_uri = knn_image_uri_for(mapping.find_in_map(Aws.REGION, "account"), Aws.REGION)
        knn_repository_arn = stack.format_arn(
            service="ecr",
            account=mapping.find_in_map(Aws.REGION, "account"),
            resource="repository",
            resource_name=KNN_REPOSITORY,
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="PullKnnImage",
                actions=[
                    "ecr:BatchGetImage",
                    "ecr:GetDownloadUrlForLayer",
                    "ecr:BatchCheckLayerAvailability",
                ],
                resources=[knn_repository_arn],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(sid="EcrLogin", actions=["ecr:GetAuthorizationToken"], resources=["*"])
        )

    def _grant_logs_and_metrics(self, stack: Stack, prefix: str, instance_name: str) -> None:
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
        self._log_streams = streams  # for the acknowledgments of the wildcard log ARNs
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="SageMakerLogGroups",
                actions=["logs:CreateLogGroup", "logs:DescribeLogStreams"],
                # CloudWatch Logs checks some group actions against `<group ARN>:*` rather than the bare ARN.
                resources=[log_group(name) for group in streams for name in (group, f"{group}:*")],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="SageMakerLogStreams",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[log_group(f"{group}:log-stream:{stream}") for group, stream in streams.items()],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="SageMakerMetrics",
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": SAGEMAKER_METRIC_NAMESPACES}},
            )
        )

    def _acknowledge(self) -> None:
        no_vpc = (
            "The notebook runs without a VPC so it can reach the SageMaker, S3 and CodeCommit APIs without a NAT "
            "gateway or interface endpoints (about $30+/month idle); it holds only synthetic data, root access "
            "is disabled and the volume is KMS-encrypted."
        )
        Validations.of(self.instance).acknowledge(
            Acknowledgment(id="AwsSolutions-SM1", reason=no_vpc),
            Acknowledgment(id="AwsSolutions-SM3", reason=no_vpc),
        )
        prefix = self._name_prefix
        prefix_reason = (
            f"Each training run creates new names ({prefix}knn-<timestamp>), so the prefix is the narrowest scope "
            "that allows a new run while excluding every other SageMaker resource in the account."
        )
        arn_head = "arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>"
        logs_head = "arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:"
        bucket_id = Stack.of(self).get_logical_id(cast(s3.CfnBucket, self._artifacts_bucket.node.default_child))
        log_reason = (
            "SageMaker creates these log groups and streams itself, named after the run, endpoint or instance "
            "(training streams <job name>/algo-1-<time>, one group /aws/sagemaker/Endpoints/<endpoint> with streams "
            "<variant>/<instance id>, lifecycle streams <notebook name>/LifecycleConfigOnStart); the pattern "
            f"admits only our {prefix}* jobs and endpoints and this notebook instance."
        )
        wildcard_logs = [f"{group}:log-stream:{stream}" for group, stream in self._log_streams.items()]
        wildcard_logs += [group for group in self._log_streams if "*" in group]
        wildcard_logs += [f"{group}:*" for group in self._log_streams]
        Validations.of(self.role).acknowledge(
            *(
                Acknowledgment(id=f"AwsSolutions-IAM5[Resource::{arn_head}:{kind}/{prefix}*]", reason=prefix_reason)
                for kind in ("training-job", "model", "endpoint-config", "endpoint")
            ),
            Acknowledgment(
                id=f"AwsSolutions-IAM5[Resource::<{bucket_id}.Arn>/{ARTIFACTS_FOLDER}/*]",
                reason=f"Training data, model artifacts and job outputs are objects created at run time under "
                f"{ARTIFACTS_FOLDER}/ in this stack's own artifacts bucket; no other bucket or folder is reachable.",
            ),
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason="The Service Authorization Reference lists no resource types for these actions: "
                "ecr:GetAuthorizationToken (image pulls themselves are scoped to the regional knn repository), "
                "sagemaker:ListModels and sagemaker:ListEndpointConfigs (clean-up lists names only, filtered to "
                f"{prefix}knn-), and cloudwatch:PutMetricData, which a condition limits to SageMaker's "
                "/aws/sagemaker/TrainingJobs and /aws/sagemaker/Endpoints namespaces.",
            ),
            *(
                Acknowledgment(id=f"AwsSolutions-IAM5[Resource::{logs_head}{name}]", reason=log_reason)
                for name in wildcard_logs
            ),
        )
