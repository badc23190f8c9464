"""Notebook stack: the SageMaker notebook instance, its role, and the bucket for training data and models."""

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_codecommit as codecommit
from constructs import Construct

from stacks.config import MysfitsConfig
from stacks.constructs.buckets import AccessLogsBucket, PrivateBucket
from stacks.constructs.log_groups import stack_log_group
from stacks.constructs.ml_notebook import MlNotebook
from stacks.constructs.model_cleanup import ModelCleanup
from stacks.constructs.model_operator import ModelOperatorPolicy
from stacks.constructs.model_pipeline import ModelPipeline
from stacks.constructs.provider_logs import AutoDeleteProviderLogs
from stacks.constructs.supported_regions import SupportedRegions, knn_regions


class NotebookStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: MysfitsConfig,
        repository: codecommit.IRepository | None,
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        SupportedRegions(self, "Regions", regions=knn_regions(), why="AWS publishes the built-in k-NN image")
        access_logs = AccessLogsBucket(self, "AccessLogs")
        self.artifacts_bucket = PrivateBucket(
            self, "Artifacts", access_logs=access_logs, access_logs_prefix="artifacts/"
        )
        self.notebook = MlNotebook(
            self,
            "Notebook",
            instance_name=config.notebook_instance_name,
            instance_type=config.notebook_instance_type,
            idle_minutes=config.notebook_idle_minutes,
            name_prefix=config.sagemaker_name_prefix,
            endpoint_name=config.endpoint_name,
            repository=repository,
            artifacts_bucket=self.artifacts_bucket,
        )
        AutoDeleteProviderLogs(self, "AutoDeleteLogs", log_retention=config.log_retention)
        # SageMaker names the endpoint's log group itself and gives it no retention; created here first, it has
        # one. (Its training-job and notebook log groups are shared by the whole account: left to SageMaker.)
        self.endpoint_log_group = stack_log_group(
            self,
            "EndpointLogs",
            retention=config.log_retention,
            name=f"/aws/sagemaker/Endpoints/{config.endpoint_name}",
        )
        self.pipeline = ModelPipeline(
            self,
            "ModelPipeline",
            names=config.sagemaker_names,
            hosting=config.hosting,
            sagemaker_role=self.notebook.role,
            artifacts_bucket=self.artifacts_bucket,
            knn_image_uri=self.notebook.knn_image_uri,
            log_retention=config.log_retention,
        )
        self.operator_policy = ModelOperatorPolicy(self, "ModelOperator", pipeline=self.pipeline)
        # Deleted first on `cdk destroy`: the endpoint goes while the role it runs as and its log group still exist.
        self.model_cleanup = ModelCleanup(
            self,
            "ModelCleanup",
            names=config.sagemaker_names,
            log_retention=config.log_retention,
            keep_until_done=[self.notebook.role, self.artifacts_bucket, self.endpoint_log_group],
        )
        # Deleted before the clean-up runs: deleting a state machine terminates its running executions at their next
        # state, so a pipeline run cannot create the endpoint again after the clean-up has deleted it.
        self.pipeline.state_machine.node.add_dependency(self.model_cleanup.resource)

        CfnOutput(self, "NotebookName", value=self.notebook.instance.attr_notebook_instance_name)
        CfnOutput(
            self,
            "NotebookUrl",
            value=f"https://{self.region}.console.aws.amazon.com/sagemaker/home?region={self.region}"
            f"#/notebook-instances/openNotebook/{config.notebook_instance_name}?view=lab",
            description="Opens JupyterLab on the notebook instance (through the console sign-in)",
        )
        CfnOutput(self, "ArtifactsBucketName", value=self.artifacts_bucket.bucket_name)
        CfnOutput(self, "NotebookRoleArn", value=self.notebook.role.role_arn)
        CfnOutput(self, "EndpointName", value=config.endpoint_name, description="The endpoint the notebook deploys")
        CfnOutput(
            self,
            "SageMakerNamePrefix",
            value=config.sagemaker_name_prefix,
            description="Every training job, model and endpoint config is named <prefix>knn-<time>",
        )
        CfnOutput(
            self,
            "ModelPipelineArn",
            value=self.pipeline.state_machine.state_machine_arn,
            description="Trains and deploys the model: `python -m mysfits aws deploy-model` starts it",
        )
        CfnOutput(
            self,
            "ModelOperatorPolicyArn",
            value=self.operator_policy.policy.managed_policy_arn,
            description="Attach to whoever runs `python -m mysfits aws deploy-model` / `delete-model`",
        )
