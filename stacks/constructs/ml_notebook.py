"""The SageMaker notebook: encrypted volume, idle auto-stop, the project cloned in, and its role (NotebookRole)."""

from pathlib import Path

from aws_cdk import Aws, CfnMapping, Fn, Stack
from aws_cdk import aws_codecommit as codecommit
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from mysfits.project_files import load_knn_image_registries
from mysfits.settings import knn_image_uri_for
from stacks.constructs.acknowledgments import acknowledge
from stacks.constructs.keys import RotatingKey
from stacks.constructs.notebook_role import NotebookRole

LIFECYCLE_DIR = Path(__file__).resolve().parent / "notebook_lifecycle"
PLATFORM_IDENTIFIER = "notebook-al2023-v1"
KNN_REPOSITORY = "knn"
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

        self.volume_key = RotatingKey(
            self, "VolumeKey", description="Encrypts the Mysfits notebook instance's storage volume"
        )
        registries = load_knn_image_registries()
        knn_registry = CfnMapping(
            self,
            "KnnImageRegistry",
            mapping={region: {"account": account} for region, account in sorted(registries.items())},
        )
        knn_account = knn_registry.find_in_map(Aws.REGION, "account")
        self.knn_image_uri = knn_image_uri_for(knn_account, Aws.REGION)
        self.role = NotebookRole(
            self,
            "Role",
            name_prefix=name_prefix,
            instance_name=instance_name,
            artifacts_bucket=artifacts_bucket,
            knn_repository_arn=stack.format_arn(
                service="ecr", account=knn_account, resource="repository", resource_name=KNN_REPOSITORY
            ),
            repository=repository,
        )

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

    def _acknowledge(self) -> None:
        no_vpc = (
            "The notebook runs without a VPC so it can reach the SageMaker, S3 and CodeCommit APIs without a NAT "
            "gateway or interface endpoints (about $30+/month idle); it holds only synthetic data, root access "
            "is disabled and the volume is KMS-encrypted."
        )
        acknowledge(self.instance, dict.fromkeys(("AwsSolutions-SM1", "AwsSolutions-SM3"), no_vpc))
