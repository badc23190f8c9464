"""`python -m mysfits aws deploy-model | delete-model`: the model's life on AWS from a terminal with credentials.

deploy-model generates the training data (or takes `--data FILE`), uploads it to the artifacts bucket named in
the MysfitsNotebook stack's outputs, starts the stack's model pipeline (Step Functions), shows its progress, and
ends with the endpoint's status and a test prediction. delete-model removes the endpoint and every model and
endpoint config under the prefix (`sagemaker_job.clean_up`, as the notebook's clean-up cell does).
Errors are one line on stderr; exit codes: 0 done, 1 AWS or the pipeline failed, 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from mysfits.ml import sagemaker_job
from mysfits.project_files import load_catalog
from mysfits.settings import DEFAULT_SEED, SageMakerNames

STACK_NAME = "MysfitsNotebook"
# The outputs deploy-model and delete-model read (stacks/notebook_stack.py).
OUTPUT_KEYS = ("ArtifactsBucketName", "ModelPipelineArn", "EndpointName", "SageMakerNamePrefix")
DEFAULT_ROWS = 100_000
POLL_SECONDS = 15.0
# One questionnaire (answers 1..8) for the test prediction at the end.
SAMPLE_ANSWERS = [3.0, 6.0, 2.0, 7.0, 4.0]
FAILED_STATUSES = ("FAILED", "TIMED_OUT", "ABORTED")


class CliError(Exception):
    """What went wrong, in one line, for stderr."""


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(message)


@dataclass(frozen=True)
class StackOutputs:
    bucket: str
    pipeline_arn: str
    names: SageMakerNames


def stack_outputs(cloudformation: Any, stack_name: str = STACK_NAME) -> StackOutputs:
    """The deployed stack's outputs; a missing stack or output is a clear error, not a KeyError."""
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        if "does not exist" in error.response.get("Error", {}).get("Message", ""):
            region = cloudformation.meta.region_name
            raise CliError(
                f"stack {stack_name} does not exist in {region}: deploy it first (npx cdk deploy --all)"
            ) from None
        raise
    outputs = {item["OutputKey"]: item["OutputValue"] for item in stacks[0].get("Outputs", [])}
    missing = [key for key in OUTPUT_KEYS if key not in outputs]
    if missing:
        raise CliError(f"stack {stack_name} has no output {', '.join(missing)}: deploy this version of the project")
    return StackOutputs(
        bucket=outputs["ArtifactsBucketName"],
        pipeline_arn=outputs["ModelPipelineArn"],
        names=SageMakerNames(endpoint_name=outputs["EndpointName"], name_prefix=outputs["SageMakerNamePrefix"]),
    )


def training_csv(data_file: Path | None, rows: int, seed: int) -> tuple[bytes, int]:
    """The label-first CSV to train on, and its row count (the job's sample_size)."""
    if data_file is None:
        from mysfits.ml import data  # numpy: only when generating

        answers, labels, _ = data.generate(rows, seed)
        return data.knn_csv_bytes(answers, labels), rows
    try:
        body = data_file.read_bytes()
    except OSError as error:
        raise CliError(f"--data: cannot read {data_file}: {error.strerror or error}") from None
    lines = [line for line in body.splitlines() if line.strip()]
    if not lines or any(len(line.split(b",")) != 6 for line in lines[:100]):
        raise CliError(f"--data: {data_file} must hold CSV rows `label,a1,a2,a3,a4,a5` (python -m mysfits generate)")
    return body, len(lines)


def execution_input(*, training_data: str, sample_size: int, k: int | None) -> dict[str, Any]:
    """What the pipeline takes: the data's S3 folder, its row count, and k unless the pipeline's default."""
    request: dict[str, Any] = {"trainingData": training_data, "sampleSize": sample_size}
    if k is not None:
        request["k"] = k
    return request


def _failure_reason(description: dict[str, Any]) -> str:
    """SageMaker's FailureReason when the cause is a SageMaker description, else Step Functions' cause."""
    cause = str(description.get("cause") or description.get("error") or "no reason given")
    try:
        detail = json.loads(cause)
    except ValueError:
        return cause
    return str(detail.get("FailureReason") or detail.get("message") or cause) if isinstance(detail, dict) else cause


def follow_execution(
    stepfunctions: Any,
    execution_arn: str,
    *,
    log: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
    poll_seconds: float = POLL_SECONDS,
) -> dict[str, Any]:
    """Print each state as the execution enters it; returns the final description or raises with the reason."""
    seen = 0
    while True:
        description = stepfunctions.describe_execution(executionArn=execution_arn)
        events = stepfunctions.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
        for event in events[seen:]:
            entered = event.get("stateEnteredEventDetails")
            if entered:
                log(f"  {event['timestamp']:%H:%M:%S}  {entered['name']}")
        seen = max(seen, len(events))
        status = description["status"]
        if status == "SUCCEEDED":
            return description
        if status in FAILED_STATUSES:
            raise CliError(f"the model pipeline {status.lower()}: {_failure_reason(description)}")
        sleep(poll_seconds)


def deploy_model(
    session: Any, args: argparse.Namespace, *, log: Callable[[str], None], sleep: Callable[[float], None]
) -> None:
    outputs = stack_outputs(session.client("cloudformation"))
    body, rows = training_csv(args.data, args.rows, args.seed)
    key = sagemaker_job.training_data_key(outputs.names.run_name())
    uri = sagemaker_job.upload_training_data(session.client("s3"), outputs.bucket, body, key=key)
    log(f"uploaded {rows} rows to {uri}")
    stepfunctions = session.client("stepfunctions")
    request = execution_input(training_data=uri.rsplit("/", 1)[0] + "/", sample_size=rows, k=args.k)
    execution = stepfunctions.start_execution(stateMachineArn=outputs.pipeline_arn, input=json.dumps(request))
    log(f"started the model pipeline: {execution['executionArn']}")
    log(f"run {outputs.names.run_name(execution['startDate'])}: training, then hosting (about 10-15 minutes)")
    follow_execution(stepfunctions, execution["executionArn"], log=log, sleep=sleep)
    endpoint = session.client("sagemaker").describe_endpoint(EndpointName=outputs.names.endpoint_name)
    log(f"endpoint {endpoint['EndpointName']}: {endpoint['EndpointStatus']} ({endpoint['EndpointConfigName']})")
    (label,) = sagemaker_job.predict(session.client("sagemaker-runtime"), outputs.names.endpoint_name, [SAMPLE_ANSWERS])
    log(f"test prediction for answers {[int(a) for a in SAMPLE_ANSWERS]}: {_mysfit_name(label)} (label {label})")


def delete_model(
    session: Any, args: argparse.Namespace, *, log: Callable[[str], None], sleep: Callable[[float], None]
) -> None:
    outputs = stack_outputs(session.client("cloudformation"))
    log(f"deleting endpoint {outputs.names.endpoint_name} and {outputs.names.run_prefix}* models and configs…")
    deleted = sagemaker_job.clean_up(session.client("sagemaker"), names=outputs.names)
    log(f"deleted: {', '.join(deleted)}" if deleted else "nothing to delete: no endpoint, model or config was left")


def _mysfit_name(label: int) -> str:
    catalog = load_catalog()["mysfits"]
    return next((str(m["name"]) for m in catalog if m.get("label") == label), "an unknown Mysfit")


COMMANDS = {"deploy-model": deploy_model, "delete-model": delete_model}


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m mysfits aws", description="Train, deploy and delete the model on AWS.")
    parser.add_argument("--region", help="AWS region (default: your AWS configuration's)")
    parser.add_argument("--profile", help="AWS profile (default: your AWS configuration's)")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    deploy = commands.add_parser("deploy-model", help="generate or take data, train and deploy through the pipeline")
    deploy.add_argument("--data", type=Path, help="label-first CSV to train on (default: generate it)")
    deploy.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="rows to generate (default %(default)s)")
    deploy.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help="seed of the generated data (default %(default)s)"
    )
    deploy.add_argument("--k", type=int, help="neighbours (default: the pipeline's)")
    commands.add_parser("delete-model", help="delete the endpoint and every model and endpoint config of the runs")
    return parser


def main(
    argv: list[str],
    *,
    session_factory: Callable[..., Any] | None = None,
    log: Callable[[str], None] = print,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """`argv` starts with "aws" (from `python -m mysfits aws …`)."""
    parser = _parser()
    try:
        args = parser.parse_args(argv[1:])
        if getattr(args, "rows", 1) < 1 or (getattr(args, "k", None) is not None and args.k < 1):
            raise _UsageError("--rows and --k must be positive")
    except _UsageError as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2
    except SystemExit as exit_:  # --help
        return int(exit_.code or 0)
    if session_factory is None:
        import boto3

        session_factory = boto3.Session
    try:
        session = session_factory(region_name=args.region, profile_name=args.profile)
        COMMANDS[args.command](session, args, log=log, sleep=sleep)
    except CliError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except NoCredentialsError:
        print("error: no AWS credentials: run `aws configure` or set AWS_PROFILE", file=sys.stderr)
        return 1
    except NoRegionError:
        print("error: no AWS region: pass --region or set AWS_REGION", file=sys.stderr)
        return 1
    except (sagemaker_job.SageMakerJobError, ClientError, BotoCoreError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0
