"""The policy a person needs for `python -m mysfits aws deploy-model | delete-model`, and nothing more: attach
it to the user or role that runs the CLI (the stack outputs its ARN)."""

from aws_cdk import Acknowledgment, Fn, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from mysfits.settings import SageMakerNames
from stacks.constructs.sagemaker_arns import endpoint_arn, run_arn

ARTIFACTS_FOLDER = "knn"


class ModelOperatorPolicy(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        names: SageMakerNames,
        artifacts_bucket: s3.IBucket,
        state_machine: sfn.IStateMachine,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)

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
            statements=[
                iam.PolicyStatement(sid=sid, actions=actions, resources=resources)
                for sid, (actions, resources) in statements.items()
            ],
        )
        Validations.of(self.policy).acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason="cloudformation:ListStacks and sagemaker:ListModels / ListEndpointConfigs have no resource "
                f"types; delete-model deletes only names under {names.run_prefix}.",
            ),
            Acknowledgment(
                id=f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:cloudformation:<AWS::Region>:<AWS::AccountId>:stack/{stack.stack_name}/*]",
                reason="A stack ARN ends in a generated id; the name pins the one stack whose outputs the CLI reads.",
            ),
        )
        bucket_id = stack.get_logical_id(artifacts_bucket.node.default_child)  # type: ignore[arg-type]
        machine_id = stack.get_logical_id(state_machine.node.default_child)  # type: ignore[arg-type]
        name_token = f'{{"Fn::Select":[6,{{"Fn::Split":[":",{{"Ref":"{machine_id}"}}]}}]}}'
        head = "arn:<AWS::Partition>:{service}:<AWS::Region>:<AWS::AccountId>:"
        Validations.of(self.policy).acknowledge(
            Acknowledgment(
                id=f"AwsSolutions-IAM5[Resource::<{bucket_id}.Arn>/{ARTIFACTS_FOLDER}/*]",
                reason=f"deploy-model uploads each run's training data to a new key under {ARTIFACTS_FOLDER}/ in "
                "this stack's artifacts bucket; no other bucket or folder.",
            ),
            *(
                Acknowledgment(
                    id=f"AwsSolutions-IAM5[Resource::{head.format(service='states')}{kind}:{name_token}:*]",
                    reason="Each execution of the one model pipeline has a generated id; the state machine's own "
                    "name pins the executions to it.",
                )
                for kind in ("execution", "express")
            ),
            *(
                Acknowledgment(
                    id=f"AwsSolutions-IAM5[Resource::{head.format(service='sagemaker')}{kind}/{names.run_prefix}*]",
                    reason=f"delete-model removes every run's {kind} ({names.run_prefix}<time>), whoever made it; "
                    "nothing outside the prefix.",
                )
                for kind in ("endpoint-config", "model")
            ),
        )
