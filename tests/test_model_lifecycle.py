"""The model's life on AWS as code: the pipeline state machine, state by state, and the clean-up on delete."""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from mysfits.project_files import PROJECT_ROOT
from mysfits.settings import DEFAULT_K, SageMakerNames, knn_hyperparameters
from stacks.constructs.model_cleanup import HANDLER, RESOURCE_TYPE, stage_cleanup_code
from stacks.constructs.model_pipeline import MISSING_ENDPOINT, START_TIME_SEPARATORS
from tests.cdk_support import SynthesizedApp
from tests.iam_support import TemplateResolver, stack_id

STACK = "MysfitsNotebook"
REGION = "us-east-1"


def only(items: dict[str, Any]) -> tuple[str, Any]:
    assert len(items) == 1, sorted(items)
    return next(iter(items.items()))


@pytest.fixture(scope="module")
def resolver(synthesized: SynthesizedApp) -> TemplateResolver:
    return TemplateResolver(synthesized.templates)


def _pipeline(synthesized: SynthesizedApp) -> tuple[str, dict[str, Any]]:
    machines = synthesized.resources(STACK, "AWS::StepFunctions::StateMachine")
    return only({key: value for key, value in machines.items() if key.startswith("ModelPipeline")})


@pytest.fixture(scope="module")
def definition(synthesized: SynthesizedApp, resolver: TemplateResolver) -> dict[str, Any]:
    _, machine = _pipeline(synthesized)
    return json.loads(resolver.resolve(STACK, machine["Properties"]["DefinitionString"]))


@pytest.fixture(scope="module")
def names(synthesized: SynthesizedApp) -> SageMakerNames:
    return synthesized.config.sagemaker_names


def test_every_state_is_accounted_for(definition):
    assert definition["StartAt"] == "Prepare"
    assert sorted(definition["States"]) == sorted(
        [
            "Prepare",
            "Name the run",
            "Train",
            "Training failed",
            "Create model",
            "Create endpoint config",
            "Find endpoint",
            "Endpoint missing?",
            "Endpoint usable?",
            "Describe current config",
            "Same hosting kind?",
            "Update endpoint",
            "Delete old endpoint",
            "Wait for deletion",
            "Check deletion",
            "Deleted?",
            "Still deleting?",
            "Deletion failed",
            "Create endpoint",
            "Wait for endpoint",
            "Check endpoint",
            "Endpoint ready?",
            "Deployed",
            "Endpoint failed",
            "Update rolled back",
            "Deployment failed",
        ]
    )


def test_run_names_follow_the_shared_format(definition, names):
    """`<prefix>knn-YYYYmmdd-HHMMSS` from the start time, the format `SageMakerNames.run_name` writes."""
    prepare, name_run = definition["States"]["Prepare"], definition["States"]["Name the run"]
    assert prepare["Parameters"]["startParts.$"] == (
        f"States.StringSplit($$.Execution.StartTime, '{START_TIME_SEPARATORS}')"
    )
    assert prepare["Parameters"]["defaults"] == {"k": DEFAULT_K}
    expression = name_run["Parameters"]["names"]["run.$"]
    # Evaluate the intrinsic on a start time as Step Functions writes it, and compare with the Python rule.
    start = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    iso = start.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    parts = [part for part in _split(iso, START_TIME_SEPARATORS) if part]
    template = expression.split("'")[1]
    assert template.format(*parts[:6]) == names.run_name(start)
    assert expression.endswith(", ".join(f"$.startParts[{i}]" for i in range(6)) + ")")
    assert name_run["Parameters"]["names"]["endpoint"] == names.endpoint_name
    assert name_run["Parameters"]["args.$"] == "States.JsonMerge($.defaults, $.input, false)"


def _split(text: str, separators: str) -> list[str]:
    for separator in separators[1:]:
        text = text.replace(separator, separators[0])
    return text.split(separators[0])


def test_training_uses_the_shared_request_and_the_sagemaker_role(definition, synthesized, resolver):
    train = definition["States"]["Train"]
    assert train["Resource"] == "arn:aws:states:::sagemaker:createTrainingJob.sync"
    parameters = train["Parameters"]
    notebook_role = only(
        {k: v for k, v in synthesized.resources(STACK, "AWS::IAM::Role").items() if k.startswith("NotebookRole")}
    )[0]
    role_arn = resolver.resolve(STACK, {"Fn::GetAtt": [notebook_role, "Arn"]})
    assert parameters["RoleArn"] == role_arn
    assert parameters["TrainingJobName.$"] == "$.names.run"
    static = knn_hyperparameters(k=1, sample_size=1)
    assert parameters["HyperParameters"] == {
        "k.$": "States.Format('{}', $.args.k)",
        "sample_size.$": "States.Format('{}', $.args.sampleSize)",
        **{key: value for key, value in static.items() if key not in ("k", "sample_size")},
    }
    (channel,) = parameters["InputDataConfig"]
    assert channel["DataSource"]["S3DataSource"]["S3Uri.$"] == "$.args.trainingData"
    assert channel["ContentType"] == "text/csv;label_size=1"
    assert parameters["AlgorithmSpecification"]["TrainingImage"] == "382416733822.dkr.ecr.us-east-1.amazonaws.com/knn:1"
    assert parameters["ResourceConfig"] == {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 5}
    assert definition["States"]["Name the run"]["Parameters"]["outputUri"].endswith("/knn/output/")
    assert train["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "Training failed"}]
    assert "Retry" not in train  # a failed job is reported, not run again
    assert definition["States"]["Training failed"] == {
        "Type": "Fail",
        "Error": "TrainingJobFailed",
        "CausePath": "$.failure.Cause",
    }
    model = definition["States"]["Create model"]
    assert model["Parameters"]["ExecutionRoleArn"] == role_arn
    assert model["Parameters"]["PrimaryContainer"]["ModelDataUrl.$"] == "$.training.modelData"


def test_endpoint_config_is_the_configured_hosting(definition, synthesized):
    config = definition["States"]["Create endpoint config"]
    (variant,) = config["Parameters"]["ProductionVariants"]
    hosting = synthesized.config.hosting
    assert {key.removesuffix(".$"): value for key, value in variant.items()} == hosting.variant("$.names.run")


def test_create_update_or_replace(definition):
    states = definition["States"]
    assert states["Find endpoint"]["Catch"] == [
        {"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.failure", "Next": "Endpoint missing?"},
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "Deployment failed"},
    ]
    for choice in ("Endpoint missing?", "Deleted?"):
        assert states[choice]["Choices"] == [
            {"Variable": "$.failure.Cause", "StringMatches": MISSING_ENDPOINT, "Next": "Create endpoint"}
        ]
        assert states[choice]["Default"] == "Deployment failed"
    assert states["Endpoint usable?"]["Choices"] == [
        {"Variable": "$.existing.EndpointStatus", "StringEquals": "Failed", "Next": "Delete old endpoint"}
    ]
    assert states["Endpoint usable?"]["Default"] == "Describe current config"
    # An instance endpoint cannot be updated to serverless (or back): a different kind is replaced.
    assert states["Same hosting kind?"]["Choices"] == [
        {"Not": {"Variable": "$.current.variants[0].ServerlessConfig", "IsPresent": True}, "Next": "Update endpoint"}
    ]
    assert states["Same hosting kind?"]["Default"] == "Delete old endpoint"
    assert states["Describe current config"]["Catch"][0]["Next"] == "Delete old endpoint"
    assert states["Delete old endpoint"]["Next"] == "Wait for deletion"
    assert states["Wait for deletion"] == {"Type": "Wait", "Seconds": 30, "Next": "Check deletion"}
    # Polls while SageMaker says Deleting; any other status (a failed delete) ends the run instead of polling for
    # the execution's three hours.
    assert states["Check deletion"]["Next"] == "Still deleting?"
    assert states["Still deleting?"]["Choices"] == [
        {"Variable": "$.deleting.EndpointStatus", "StringEquals": "Deleting", "Next": "Wait for deletion"}
    ]
    assert states["Still deleting?"]["Default"] == "Deletion failed"
    assert states["Deletion failed"] == {
        "Type": "Fail",
        "Error": "EndpointDeletionFailed",
        "CausePath": "States.JsonToString($.deleting)",
    }


def test_sagemaker_calls_retry_only_where_sagemaker_asks_and_fail_with_its_reason(definition):
    states = definition["States"]
    for name in ("Create endpoint", "Update endpoint"):
        assert states[name]["Retry"] == [
            {"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 5, "MaxAttempts": 3, "BackoffRate": 2}
        ]
    retried = {name for name, state in states.items() if "Retry" in state}
    assert retried == {"Create endpoint", "Update endpoint"}
    for name in ("Create model", "Create endpoint config", "Create endpoint", "Update endpoint", "Delete old endpoint"):
        assert states[name]["Catch"] == [
            {"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "Deployment failed"}
        ]
    assert states["Deployment failed"]["CausePath"] == "$.failure.Cause"
    for name in ("Check endpoint", "Check deletion", "Find endpoint"):
        assert states[name]["Catch"][-1] == {
            "ErrorEquals": ["States.ALL"],
            "ResultPath": "$.failure",
            "Next": "Deployment failed",
        }


def test_poll_until_in_service_with_the_new_config_or_failed(definition):
    states = definition["States"]
    assert states["Create endpoint"]["Next"] == states["Update endpoint"]["Next"] == "Wait for endpoint"
    assert states["Wait for endpoint"] == {"Type": "Wait", "Seconds": 30, "Next": "Check endpoint"}
    assert states["Check endpoint"]["Next"] == "Endpoint ready?"
    ready = states["Endpoint ready?"]
    assert ready["Choices"] == [
        {
            "And": [
                {"Variable": "$.endpoint.EndpointStatus", "StringEquals": "InService"},
                {"Variable": "$.endpoint.EndpointConfigName", "StringEqualsPath": "$.names.run"},
            ],
            "Next": "Deployed",
        },
        {"Variable": "$.endpoint.EndpointStatus", "StringEquals": "InService", "Next": "Update rolled back"},
        {"Variable": "$.endpoint.EndpointStatus", "StringEquals": "Failed", "Next": "Endpoint failed"},
    ]
    assert ready["Default"] == "Wait for endpoint"
    # The whole answer, not $.endpoint.FailureReason: a path to a field SageMaker may omit fails the Fail state.
    for name, error in (("Endpoint failed", "EndpointFailed"), ("Update rolled back", "EndpointUpdateFailed")):
        assert states[name] == {"Type": "Fail", "Error": error, "CausePath": "States.JsonToString($.endpoint)"}
    for name in ("Find endpoint", "Check deletion", "Check endpoint", "Delete old endpoint"):
        assert states[name]["Parameters"]["EndpointName"] == "mysfits-recommender"


def test_state_machine_logs_traces_and_times_out(synthesized, resolver):
    _, machine = _pipeline(synthesized)
    properties = machine["Properties"]
    assert properties["TracingConfiguration"] == {"Enabled": True}
    assert properties["LoggingConfiguration"]["Level"] == "ALL"
    group_id = properties["LoggingConfiguration"]["Destinations"][0]["CloudWatchLogsLogGroup"]["LogGroupArn"]
    group = synthesized.templates[STACK]["Resources"][group_id["Fn::GetAtt"][0]]
    assert group["Properties"]["RetentionInDays"] == synthesized.config.log_retention_days
    assert group["DeletionPolicy"] == "Delete"
    assert json.loads(resolver.resolve(STACK, properties["DefinitionString"]))["TimeoutSeconds"] == 3 * 3600


def test_no_task_role_of_cdk_and_no_wildcard_sagemaker_grants(synthesized, resolver):
    """The tasks pass the notebook role; CDK's own task roles (with AmazonSageMakerFullAccess-like wildcards)
    and its `training-job/*` grants must not exist."""
    roles = synthesized.resources(STACK, "AWS::IAM::Role")
    assert not [key for key in roles if "SagemakerRole" in key or "SageMakerRole" in key]
    for role in roles.values():
        assert "AmazonSageMakerFullAccess" not in json.dumps(role)
    policy = json.dumps(
        [resolver.resolve(STACK, p["Properties"]) for p in synthesized.resources(STACK, "AWS::IAM::Policy").values()]
    )
    for kind in ("training-job", "model", "endpoint-config", "endpoint"):
        assert f":{kind}/*" not in policy, kind


# --- Clean-up on delete ---------------------------------------------------------------------------------------


def test_cleanup_targets_exactly_the_configured_endpoint_and_prefix(synthesized, resolver, names):
    _, resource = only(synthesized.resources(STACK, RESOURCE_TYPE))
    properties = resource["Properties"]
    assert {key: value for key, value in properties.items() if key != "ServiceToken"} == {
        "EndpointName": names.endpoint_name,
        "NamePrefix": names.name_prefix,
    }
    template = synthesized.templates[STACK]["Resources"]
    role_id = only(
        {k: v for k, v in synthesized.resources(STACK, "AWS::IAM::Role").items() if k.startswith("ModelCleanupRole")}
    )[0]
    (policy,) = [
        resolver.resolve(STACK, r["Properties"]["PolicyDocument"])
        for r in template.values()
        if r["Type"] == "AWS::IAM::Policy" and {"Ref": role_id} in r["Properties"]["Roles"]
    ]
    arn = f"arn:aws:sagemaker:{REGION}:123456789012"
    grants = {statement["Sid"]: (statement["Action"], statement["Resource"]) for statement in policy["Statement"]}
    assert grants.pop("WriteOwnLogs")[0] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert grants == {
        "DeleteTheEndpoint": (
            ["sagemaker:DeleteEndpoint", "sagemaker:DescribeEndpoint"],
            f"{arn}:endpoint/{names.endpoint_name}",
        ),
        "DeleteRunConfigs": ("sagemaker:DeleteEndpointConfig", f"{arn}:endpoint-config/{names.run_prefix}*"),
        "DeleteRunModels": ("sagemaker:DeleteModel", f"{arn}:model/{names.run_prefix}*"),
        "ListRuns": (["sagemaker:ListEndpointConfigs", "sagemaker:ListModels"], "*"),
        "ReadOwnStackStatus": ("cloudformation:DescribeStacks", STACK_ID),  # its own stack's ID, nothing else
        "ListStacks": ("cloudformation:ListStacks", "*"),
    }


def test_cleanup_runs_before_what_the_endpoint_needs_is_deleted(synthesized):
    """CloudFormation deletes a resource before those it depends on: the role the endpoint runs as (and its
    policy), the endpoint's log group and the artifacts bucket outlive the clean-up."""
    _, resource = only(synthesized.resources(STACK, RESOURCE_TYPE))
    depends = resource["DependsOn"]
    for prefix in ("NotebookRole", "NotebookRoleDefaultPolicy", "EndpointLogs", "Artifacts"):
        assert any(dependency.startswith(prefix) for dependency in depends), prefix
    assert resource["DeletionPolicy"] == "Delete"


def test_the_pipeline_is_deleted_before_the_cleanup_runs(synthesized):
    """DeleteStateMachine terminates running executions at their next state transition (Step Functions API
    reference): with the pipeline gone first, no execution can recreate the endpoint after the clean-up."""
    cleanup_id, _ = only(synthesized.resources(STACK, RESOURCE_TYPE))
    machine_id, machine = _pipeline(synthesized)
    assert cleanup_id in machine["DependsOn"], machine_id


def test_cleanup_provider_waits_long_enough_and_logs_with_retention(synthesized, resolver):
    _waiter_id, waiter = only(
        {k: v for k, v in synthesized.resources(STACK, "AWS::StepFunctions::StateMachine").items() if "waiter" in k}
    )
    definition = json.loads(resolver.resolve(STACK, waiter["Properties"]["DefinitionString"]))
    (retry,) = definition["States"]["framework-isComplete-task"]["Retry"]
    assert retry["IntervalSeconds"] * retry["MaxAttempts"] == 45 * 60  # the provider's total timeout
    assert waiter["Properties"]["LoggingConfiguration"]["Level"] == "ALL"


def test_cleanup_bundle_is_the_handler_and_the_shared_modules(tmp_path):
    staged = stage_cleanup_code(tmp_path / "code")
    files = sorted(str(path.relative_to(staged)) for path in staged.rglob("*") if path.is_file())
    assert files == [
        "mysfits/__init__.py",
        "mysfits/ml/__init__.py",
        "mysfits/ml/knn_image_registries.json",
        "mysfits/ml/sagemaker_job.py",
        "mysfits/project_files.py",
        "mysfits/settings.py",
        "sagemaker_cleanup.py",
    ]


def test_cleanup_bundle_imports_on_its_own(tmp_path):
    """What Lambda runs: the staged folder alone on the path (no project checkout), HOME=/tmp as the stack sets."""
    staged = stage_cleanup_code(tmp_path / "code")
    probe = (
        "import sys; sys.path[:0] = [sys.argv[1]]; import sagemaker_cleanup, mysfits; "
        "assert mysfits.__file__.startswith(sys.argv[1]), mysfits.__file__; print(sagemaker_cleanup.PHYSICAL_ID)"
    )
    environment = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "AWS_DEFAULT_REGION": REGION}
    result = subprocess.run(
        [sys.executable, "-P", "-c", probe, str(staged)],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "sagemaker-model-cleanup"


# --- The clean-up handler, with botocore's Stubber --------------------------------------------------------------


@pytest.fixture
def cleanup(monkeypatch) -> tuple[ModuleType, Stubber]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    spec = importlib.util.spec_from_file_location("model_cleanup_handler", HANDLER)
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    monkeypatch.syspath_prepend(str(PROJECT_ROOT))
    spec.loader.exec_module(module)
    client = boto3.client("sagemaker", region_name=REGION)
    module.sagemaker = client
    module.cloudformation = boto3.client("cloudformation", region_name=REGION)
    with Stubber(client) as stubber, Stubber(module.cloudformation) as stacks:
        yield module, StackStatuses(stacks), stubber
        stubber.assert_no_pending_responses()
        stacks.assert_no_pending_responses()


STACK_ID = stack_id(STACK)


class StackStatuses:
    """Queues what DescribeStacks answers for the clean-up's own stack, one answer per handler call."""

    def __init__(self, stubber: Stubber) -> None:
        self.stubber = stubber

    def will_be(self, *statuses: str) -> None:
        for status in statuses:
            stack = {
                "StackId": STACK_ID,
                "StackName": "MysfitsNotebook",
                "StackStatus": status,
                "CreationTime": datetime(2026, 1, 1, tzinfo=UTC),
            }
            self.stubber.add_response("describe_stacks", {"Stacks": [stack]}, {"StackName": STACK_ID})


def _event(request_type: str) -> dict[str, Any]:
    return {
        "RequestType": request_type,
        "StackId": STACK_ID,
        "PhysicalResourceId": "sagemaker-model-cleanup",
        "ResourceProperties": {"ServiceToken": "arn", "EndpointName": "mysfits-recommender", "NamePrefix": "mysfits-"},
    }


def _endpoint(status: str) -> dict[str, Any]:
    return {
        "EndpointName": "mysfits-recommender",
        "EndpointArn": f"arn:aws:sagemaker:{REGION}:123456789012:endpoint/mysfits-recommender",
        "EndpointConfigName": "mysfits-knn-20260101-000000",
        "EndpointStatus": status,
        "CreationTime": datetime(2026, 1, 1, tzinfo=UTC),
        "LastModifiedTime": datetime(2026, 1, 1, tzinfo=UTC),
    }


MISSING = {
    "service_error_code": "ValidationException",
    "service_message": "Could not find endpoint mysfits-recommender.",
}


@pytest.mark.parametrize("request_type", ["Create", "Update"])
def test_create_and_update_never_touch_sagemaker(cleanup, request_type):
    handler, _, _ = cleanup  # any call would find no queued response and raise
    assert handler.on_event(_event(request_type), None) == {"PhysicalResourceId": "sagemaker-model-cleanup"}
    assert handler.is_complete(_event(request_type), None) == {"IsComplete": True}


# CloudFormation sends Delete for more than `cdk destroy`: when an update removes or replaces the resource (in the
# update's clean-up), and when a failed update or create rolls back. None of these may delete a running endpoint.
@pytest.mark.parametrize(
    "stack_status",
    [
        "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
        "UPDATE_ROLLBACK_IN_PROGRESS",
        "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
        "ROLLBACK_IN_PROGRESS",
        "IMPORT_ROLLBACK_IN_PROGRESS",
    ],
)
def test_a_delete_outside_a_stack_delete_leaves_the_endpoint(cleanup, stack_status):
    handler, stack, _ = cleanup  # a SageMaker call would find no queued response and raise
    stack.will_be(stack_status, stack_status)
    assert handler.on_event(_event("Delete"), None) == {"PhysicalResourceId": "sagemaker-model-cleanup"}
    assert handler.is_complete(_event("Delete"), None) == {"IsComplete": True}


def test_delete_removes_the_endpoint_then_every_run_under_the_prefix(cleanup):
    handler, stack, stubber = cleanup
    stack.will_be("DELETE_IN_PROGRESS", "DELETE_IN_PROGRESS", "DELETE_IN_PROGRESS")
    endpoint = {"EndpointName": "mysfits-recommender"}
    stubber.add_response("describe_endpoint", _endpoint("InService"), endpoint)
    stubber.add_response("delete_endpoint", {}, endpoint)
    assert handler.on_event(_event("Delete"), None)["PhysicalResourceId"] == "sagemaker-model-cleanup"
    stubber.add_response("describe_endpoint", _endpoint("Deleting"), endpoint)
    assert handler.is_complete(_event("Delete"), None) == {"IsComplete": False}
    stubber.add_client_error("describe_endpoint", expected_params=endpoint, **MISSING)
    stubber.add_client_error("delete_endpoint", expected_params=endpoint, **MISSING)  # clean_up asks again
    created = datetime(2026, 1, 1, tzinfo=UTC)
    stubber.add_response(
        "list_endpoint_configs",
        {
            "EndpointConfigs": [
                {
                    "EndpointConfigName": name,
                    "EndpointConfigArn": f"arn:aws:sagemaker:::endpoint-config/{name}",
                    "CreationTime": created,
                }
                for name in ("mysfits-knn-20260101-000000", "other-mysfits-knn-1")
            ]
        },
        {"NameContains": "mysfits-knn-"},
    )
    stubber.add_response("delete_endpoint_config", {}, {"EndpointConfigName": "mysfits-knn-20260101-000000"})
    stubber.add_response(
        "list_models",
        {
            "Models": [
                {
                    "ModelName": "mysfits-knn-20260101-000000",
                    "ModelArn": "arn:aws:sagemaker:::model/x",
                    "CreationTime": created,
                }
            ]
        },
        {"NameContains": "mysfits-knn-"},
    )
    stubber.add_response("delete_model", {}, {"ModelName": "mysfits-knn-20260101-000000"})
    assert handler.is_complete(_event("Delete"), None) == {"IsComplete": True}


def _refused_delete(stubber: Stubber, status: str, code: str, message: str) -> None:
    endpoint = {"EndpointName": "mysfits-recommender"}
    stubber.add_response("describe_endpoint", _endpoint(status), endpoint)
    stubber.add_client_error(
        "delete_endpoint", service_error_code=code, service_message=message, expected_params=endpoint
    )


def test_an_endpoint_being_created_is_asked_again_on_the_next_poll(cleanup):
    handler, stack, stubber = cleanup
    stack.will_be("DELETE_IN_PROGRESS")
    _refused_delete(stubber, "Creating", "ValidationException", "Cannot delete endpoint in status Creating")
    assert handler.is_complete(_event("Delete"), None) == {"IsComplete": False}


def test_a_refused_delete_fails_the_stack_delete_loudly(cleanup):
    handler, stack, stubber = cleanup
    stack.will_be("DELETE_IN_PROGRESS")
    _refused_delete(
        stubber, "InService", "AccessDeniedException", "not authorized to perform: sagemaker:DeleteEndpoint"
    )
    with pytest.raises(ClientError, match="AccessDeniedException"):
        handler.on_event(_event("Delete"), None)


def test_the_handler_imports_no_second_copy_of_the_names(cleanup):
    handler, _, _ = cleanup
    tree = ast.parse(HANDLER.read_text(encoding="utf-8"))
    docstring = ast.get_docstring(tree, clean=False)
    strings = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    assert not [text for text in strings if "knn-" in text and text != docstring]  # from SageMakerNames only
    assert handler.SageMakerNames is sys.modules["mysfits.settings"].SageMakerNames


def test_the_readme_diagram_shows_every_step_of_the_pipeline(definition):
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    (diagram,) = [block.split("```", 1)[0] for block in readme.split("```mermaid")[1:] if "Prepare" in block]
    steps = [name for name, state in definition["States"].items() if state["Type"] not in ("Choice",)]
    missing = [name for name in steps if name.replace(" ", "").lower() not in diagram.lower() and name not in readme]
    assert not missing, f"README's pipeline diagram lacks {missing}"
