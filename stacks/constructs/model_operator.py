"""The policy a person needs for `python -m mysfits aws deploy-model | delete-model`, and nothing more: attach
it to the user or role that runs the CLI (the stack outputs its ARN)."""

from aws_cdk import Fn, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.constructs.acknowledgments import (
    ARN_HEAD,
    SAGEMAKER_ARN_HEAD,
    acknowledge,
    arn_of,
    logical_id,
    wildcard_resource,
)
from stacks.constructs.grants import policy_statements
from stacks.constructs.model_pipeline import ModelPipeline
from stacks.constructs.notebook_role import ARTIFACTS_FOLDER
from stacks.constructs.sagemaker_arns import endpoint_arn, run_arn


class ModelOperatorPolicy(Construct):
    """What `deploy-model` and `delete-model` call, for the `pipeline`'s bucket, state machine and names only."""

    def __init__(self, scope: Construct, construct_id: str, *, pipeline: ModelPipeline) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        names, artifacts_bucket, state_machine = pipeline.names, pipeline.artifacts_bucket, pipeline.state_machine

        def arn(service: str, resource: str, name: str, sep: str = "/") -> str:
            return f"arn:{stack.partition}:{service}:{stack.region}:{stack.account}:{resource}{sep}{name}"

        machine_name = Fn.select(6, Fn.split(":", state_machine.state_machine_arn))
        statements = {
            "ReadStackOutputs": (
                ["cloudformation:DescribeStacks"],
                [arn("cloudformation", "stack", f"{stack.stack_name}/*")],
            ),
            # The Service Authorization Reference lists ListStacks as a dependent action of DescribeStacks.
            "ListStacks": (["cloudformation:ListStacks"], ["*"]),
            "UploadTrainingData": (["s3:PutObject"], [artifacts_bucket.arn_for_objects(f"{ARTIFACTS_FOLDER}/*")]),
            "StartPipeline": (["states:StartExecution"], [state_machine.state_machine_arn]),
            # The reference requires both execution kinds for DescribeExecution; the pipeline is a standard one.
            "FollowPipeline": (
                ["states:DescribeExecution", "states:GetExecutionHistory"],
                [arn("states", "execution", Fn.join(":", [machine_name, "*"]), ":")],
            ),
            "FollowPipelineExpressForm": (
                ["states:DescribeExecution"],
                [arn("states", "express", Fn.join(":", [machine_name, "*"]), ":")],
            ),
            "UseAndDeleteTheEndpoint": (
                ["sagemaker:DescribeEndpoint", "sagemaker:InvokeEndpoint", "sagemaker:DeleteEndpoint"],
                [endpoint_arn(stack, names)],
            ),
            "DeleteRuns": (
                ["sagemaker:DeleteEndpointConfig", "sagemaker:DeleteModel"],
                [run_arn(stack, "endpoint-config", names), run_arn(stack, "model", names)],
            ),
            "ListRuns": (["sagemaker:ListEndpointConfigs", "sagemaker:ListModels"], ["*"]),
        }
        self.policy = iam.ManagedPolicy(
            self,
            "Policy",
            description="Run `python -m mysfits aws deploy-model` and `delete-model` for this project only",
            statements=policy_statements(statements),
        )
        machine_name = (
            f'{{"Fn::Select":[6,{{"Fn::Split":[":",{{"Ref":"{logical_id(state_machine)}"}}]}}]}}'  # as cdk-nag
        )
        acknowledge(
            self.policy,
            {
                wildcard_resource("*"): "cloudformation:ListStacks and sagemaker:ListModels / ListEndpointConfigs "
                f"have no resource types; delete-model deletes only names under {names.run_prefix}.",
                wildcard_resource(f"{ARN_HEAD.format(service='cloudformation')}:stack/{stack.stack_name}/*"): (
                    "A stack ARN ends in a generated id; the name pins the one stack whose outputs the CLI reads."
                ),
                wildcard_resource(f"{arn_of(artifacts_bucket)}/{ARTIFACTS_FOLDER}/*"): "deploy-model uploads each "
                f"run's training data to a new key under {ARTIFACTS_FOLDER}/ in this stack's artifacts bucket; no "
                "other bucket or folder.",
                **dict.fromkeys(
                    (
                        wildcard_resource(f"{ARN_HEAD.format(service='states')}:{kind}:{machine_name}:*")
                        for kind in ("execution", "express")
                    ),
                    "Each execution of the one model pipeline has a generated id; the state machine's own name "
                    "pins the executions to it.",
                ),
                **{
                    wildcard_resource(f"{SAGEMAKER_ARN_HEAD}:{kind}/{names.run_prefix}*"): "delete-model removes "
                    f"every run's {kind} ({names.run_prefix}<time>), whoever made it; nothing outside the prefix."
                    for kind in ("endpoint-config", "model")
                },
            },
        )
