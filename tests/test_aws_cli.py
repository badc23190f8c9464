"""`python -m mysfits aws deploy-model | delete-model`, request by request with botocore's Stubber."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from mysfits import cli
from mysfits.cli import aws as aws_cli
from mysfits.settings import SageMakerNames

REGION = "us-east-1"
BUCKET = "mysfitsnotebook-artifacts"
PIPELINE = f"arn:aws:states:{REGION}:123456789012:stateMachine:ModelPipeline"
EXECUTION = f"arn:aws:states:{REGION}:123456789012:execution:ModelPipeline:run-1"
STARTED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
OUTPUTS = {
    "ArtifactsBucketName": BUCKET,
    "ModelPipelineArn": PIPELINE,
    "EndpointName": "mysfits-recommender",
    "SageMakerNamePrefix": "mysfits-",
}
SERVICES = ("cloudformation", "s3", "stepfunctions", "sagemaker", "sagemaker-runtime")


class StubbedSession:
    """A boto3 Session stand-in whose clients are real botocore clients with Stubbers attached."""

    def __init__(self) -> None:
        self.clients = {name: boto3.client(name, region_name=REGION) for name in SERVICES}
        self.stubbers = {name: Stubber(client) for name, client in self.clients.items()}
        for stubber in self.stubbers.values():
            stubber.activate()

    def __call__(self, **_: Any) -> StubbedSession:  # used as the session factory
        return self

    def client(self, name: str) -> Any:
        return self.clients[name]

    def assert_done(self) -> None:
        for stubber in self.stubbers.values():
            stubber.assert_no_pending_responses()


@pytest.fixture(autouse=True)
def dummy_credentials(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


@pytest.fixture
def session():
    stubbed = StubbedSession()
    yield stubbed
    stubbed.assert_done()


def _stack(session: StubbedSession, outputs: dict[str, str] = OUTPUTS) -> None:
    session.stubbers["cloudformation"].add_response(
        "describe_stacks",
        {
            "Stacks": [
                {
                    "StackName": "MysfitsNotebook",
                    "CreationTime": STARTED,
                    "StackStatus": "CREATE_COMPLETE",
                    "Outputs": [{"OutputKey": key, "OutputValue": value} for key, value in outputs.items()],
                }
            ]
        },
        {"StackName": "MysfitsNotebook"},
    )


def _history(*names: str) -> dict[str, Any]:
    return {
        "events": [
            {
                "timestamp": STARTED,
                "type": "TaskStateEntered",
                "id": index + 1,
                "stateEnteredEventDetails": {"name": name},
            }
            for index, name in enumerate(names)
        ]
    }


def _run(session: StubbedSession, *argv: str) -> tuple[int, list[str]]:
    lines: list[str] = []
    code = aws_cli.main(["aws", *argv], session_factory=session, log=lines.append, sleep=lambda _: None)
    return code, lines


def test_deploy_model_uploads_starts_the_pipeline_follows_it_and_predicts(session, tmp_path: Path):
    data = tmp_path / "knn-train.csv"
    data.write_text("3,1,2,3,4,5\n7,8,7,6,5,4\n", encoding="utf-8")
    _stack(session)
    session.stubbers["s3"].add_response(
        "put_object", {}, {"Bucket": BUCKET, "Key": ANY, "Body": data.read_bytes(), "ContentType": "text/csv"}
    )
    steps = session.stubbers["stepfunctions"]
    steps.add_response(
        "start_execution",
        {"executionArn": EXECUTION, "startDate": STARTED},
        {"stateMachineArn": PIPELINE, "input": ANY},
    )
    description = {"executionArn": EXECUTION, "stateMachineArn": PIPELINE, "startDate": STARTED}
    steps.add_response("describe_execution", {**description, "status": "RUNNING"}, {"executionArn": EXECUTION})
    steps.add_response(
        "get_execution_history", _history("Prepare", "Train"), {"executionArn": EXECUTION, "maxResults": 1000}
    )
    steps.add_response("describe_execution", {**description, "status": "SUCCEEDED"}, {"executionArn": EXECUTION})
    steps.add_response(
        "get_execution_history",
        _history("Prepare", "Train", "Create model", "Deployed"),
        {"executionArn": EXECUTION, "maxResults": 1000},
    )
    session.stubbers["sagemaker"].add_response(
        "describe_endpoint",
        {
            "EndpointName": "mysfits-recommender",
            "EndpointArn": f"arn:aws:sagemaker:{REGION}:123456789012:endpoint/mysfits-recommender",
            "EndpointConfigName": "mysfits-knn-20260102-030405",
            "EndpointStatus": "InService",
            "CreationTime": STARTED,
            "LastModifiedTime": STARTED,
        },
        {"EndpointName": "mysfits-recommender"},
    )
    reply = json.dumps({"predictions": [{"predicted_label": 3.0}]}).encode()
    session.stubbers["sagemaker-runtime"].add_response(
        "invoke_endpoint",
        {"Body": StreamingBody(io.BytesIO(reply), len(reply)), "ContentType": "application/json"},
        {
            "EndpointName": "mysfits-recommender",
            "ContentType": "text/csv",
            "Accept": "application/json",
            "Body": b"3.0,6.0,2.0,7.0,4.0",
        },
    )
    code, lines = _run(session, "deploy-model", "--data", str(data), "--k", "7")
    assert code == 0, lines
    assert any("uploaded 2 rows to s3://" in line for line in lines)
    assert any("run mysfits-knn-20260102-030405" in line for line in lines)
    assert [line.split()[-1] for line in lines if line.startswith("  ")][-1] == "Deployed"
    assert sum("Train" in line for line in lines if line.startswith("  ")) == 1  # each state printed once
    assert "endpoint mysfits-recommender: InService (mysfits-knn-20260102-030405)" in lines
    assert lines[-1].startswith("test prediction for answers [3, 6, 2, 7, 4]: ")


def test_the_execution_input_is_what_the_pipeline_reads():
    request = aws_cli.execution_input(training_data="s3://b/knn/x/train/", sample_size=10, k=None)
    assert request == {"trainingData": "s3://b/knn/x/train/", "sampleSize": 10}
    assert aws_cli.execution_input(training_data="s3://b/knn/x/train/", sample_size=10, k=3)["k"] == 3


def test_a_failed_pipeline_exits_1_with_sagemakers_reason(session, tmp_path, capsys):
    data = tmp_path / "knn-train.csv"
    data.write_text("3,1,2,3,4,5\n", encoding="utf-8")
    _stack(session)
    session.stubbers["s3"].add_response("put_object", {}, None)
    steps = session.stubbers["stepfunctions"]
    steps.add_response("start_execution", {"executionArn": EXECUTION, "startDate": STARTED}, None)
    cause = json.dumps({"TrainingJobStatus": "Failed", "FailureReason": "ClientError: Unable to read the data"})
    steps.add_response(
        "describe_execution",
        {
            "executionArn": EXECUTION,
            "stateMachineArn": PIPELINE,
            "startDate": STARTED,
            "status": "FAILED",
            "error": "TrainingJobFailed",
            "cause": cause,
        },
        None,
    )
    steps.add_response("get_execution_history", _history("Train", "Training failed"), None)
    code, _ = _run(session, "deploy-model", "--data", str(data))
    assert code == 1
    assert capsys.readouterr().err == "error: the model pipeline failed: ClientError: Unable to read the data\n"


def test_a_missing_stack_says_to_deploy_it(session, capsys):
    session.stubbers["cloudformation"].add_client_error(
        "describe_stacks",
        service_error_code="ValidationError",
        service_message="Stack with id MysfitsNotebook does not exist",
    )
    code, _ = _run(session, "delete-model")
    assert code == 1
    assert capsys.readouterr().err == (
        f"error: stack MysfitsNotebook does not exist in {REGION}: deploy it first (npx cdk deploy --all)\n"
    )


def test_an_old_stack_without_the_pipeline_is_named(session, capsys):
    _stack(session, {key: value for key, value in OUTPUTS.items() if key != "ModelPipelineArn"})
    assert _run(session, "delete-model")[0] == 1
    assert "has no output ModelPipelineArn" in capsys.readouterr().err


def test_delete_model_removes_the_endpoint_and_every_run(session):
    _stack(session)
    sagemaker = session.stubbers["sagemaker"]
    endpoint = {"EndpointName": "mysfits-recommender"}
    sagemaker.add_response("delete_endpoint", {}, endpoint)
    sagemaker.add_client_error(
        "describe_endpoint",
        service_error_code="ValidationException",
        service_message="Could not find endpoint mysfits-recommender.",
        expected_params=endpoint,
    )
    sagemaker.add_response("list_endpoint_configs", {"EndpointConfigs": []}, {"NameContains": "mysfits-knn-"})
    sagemaker.add_response("list_models", {"Models": []}, {"NameContains": "mysfits-knn-"})
    code, lines = _run(session, "delete-model")
    assert code == 0
    assert lines[-1] == "deleted: mysfits-recommender"


def test_no_credentials_is_one_line(monkeypatch, tmp_path, capsys):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    assert aws_cli.main(["aws", "delete-model"], log=lambda _: None) == 1
    assert capsys.readouterr().err == "error: no AWS credentials: run `aws configure` or set AWS_PROFILE\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "the following arguments are required: command"),
        (["deploy-model", "--rows", "0"], "--rows and --k must be positive"),
        (["deploy-model", "--k", "x"], "invalid int value"),
        (["train-model"], "invalid choice"),
    ],
)
def test_bad_usage_exits_2_with_one_line(argv, message, capsys):
    assert aws_cli.main(["aws", *argv], session_factory=StubbedSession()) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1


def test_bad_data_file_is_refused_before_anything_is_uploaded(session, tmp_path, capsys):
    data = tmp_path / "original.csv"
    data.write_text("1,2,3\n", encoding="utf-8")
    _stack(session)
    assert _run(session, "deploy-model", "--data", str(data))[0] == 1
    assert "must hold CSV rows `label,a1,a2,a3,a4,a5`" in capsys.readouterr().err


def test_the_cli_dispatches_aws_to_this_module():
    assert cli.COMMANDS["aws"][0] == "mysfits.cli.aws"


def test_run_names_printed_are_the_pipelines():
    assert SageMakerNames().run_name(STARTED) == "mysfits-knn-20260102-030405"


def test_generated_data_is_the_label_first_layout_the_pipeline_trains_on():
    body, rows = aws_cli.training_csv(None, 50, 7)
    lines = body.decode().splitlines()
    assert rows == len(lines) == 50
    assert all(len(line.split(",")) == 6 for line in lines)
    assert aws_cli.training_csv(None, 50, 7) == (body, rows)  # seeded: the same data every time
