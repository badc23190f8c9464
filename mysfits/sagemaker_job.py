"""SageMaker mode for the notebook: train and host the built-in k-NN algorithm with plain boto3.

Every function takes the boto3 client it needs, so tests drive them with ``botocore.stub.Stubber``.
The SageMaker Python SDK is not used (v3 removed ``Estimator``, ``image_uris`` and ``sagemaker.amazon``).

Names: training job, model and endpoint config are ``mysfits-knn-<UTC timestamp>``; the endpoint is
named from the CDK context ``mysfits:endpointName`` (``mysfits-recommender``), the name the Lambda
calls. The notebook role may only touch SageMaker resources named ``mysfits-*``.

Hosting: a real-time endpoint on ``ml.m5.large`` by default. ``serverless=True`` creates a serverless
variant (``ServerlessConfig``) instead; SageMaker's serverless exclusions (GPUs, Marketplace and private
registry images, multi-model, VPC, data capture, Model Monitor, inference pipelines) do not exclude
the built-in algorithms, whose images come from AWS's own ECR registries, but the k-NN container on
serverless is not something this project has run; the instance-backed endpoint is the proven path.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from mysfits import PROJECT_ROOT

REGISTRIES_PATH = Path(__file__).with_name("knn_image_registries.json")
NAME_PREFIX = "mysfits-"
DEFAULT_ENDPOINT_NAME = "mysfits-recommender"
TRAINING_INSTANCE_TYPE = "ml.m5.large"
HOSTING_INSTANCE_TYPE = "ml.m5.large"
TRAIN_CONTENT_TYPE = "text/csv;label_size=1"
VARIANT_NAME = "AllTraffic"
FEATURE_DIM = 5


def endpoint_name_from_context(cdk_json: Path = PROJECT_ROOT / "cdk.json") -> str:
    """The endpoint name the Lambda calls (cdk.json context ``mysfits:endpointName``)."""
    try:
        context = json.loads(Path(cdk_json).read_text(encoding="utf-8")).get("context", {})
    except (OSError, ValueError):
        return DEFAULT_ENDPOINT_NAME
    return str(context.get("mysfits:endpointName", DEFAULT_ENDPOINT_NAME))


STACK_SETTINGS_PATH = Path.home() / "SageMaker" / ".mysfits-stack.json"


def stack_settings(path: Path = STACK_SETTINGS_PATH) -> dict[str, str]:
    """What the Notebook stack's on-start script wrote on the instance: region, artifactsBucket, roleArn,
    endpointName, namePrefix. Empty off the instance, so local mode and tests never depend on it."""
    try:
        settings = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError:
        return {}
    except ValueError as error:
        raise ValueError(f"{path} is not valid JSON ({error}); restart the notebook instance to rewrite it") from None
    if not isinstance(settings, dict):
        raise ValueError(f"{path} must hold a JSON object")
    return {key: str(value) for key, value in settings.items()}


def resource_name(now: datetime | None = None) -> str:
    """``mysfits-knn-YYYYmmdd-HHMMSS`` (UTC), shared by the training job, model and endpoint config."""
    now = now or datetime.now(timezone.utc)
    return f"{NAME_PREFIX}knn-{now.strftime('%Y%m%d-%H%M%S')}"


def _check_name(name: str) -> str:
    if not name.startswith(NAME_PREFIX):
        raise ValueError(
            f"SageMaker resource names must start with {NAME_PREFIX!r} (the notebook role's scope): {name!r}"
        )
    return name


def knn_registries() -> dict[str, str]:
    return json.loads(REGISTRIES_PATH.read_text(encoding="utf-8"))


def knn_image_uri(region: str) -> str:
    """``<account>.dkr.ecr.<region>.amazonaws.com/knn:1`` for the built-in k-NN algorithm."""
    registries = knn_registries()
    if region not in registries:
        raise ValueError(
            f"the built-in k-NN image is not published in region {region!r}; "
            f"use one of: {', '.join(sorted(registries))}"
        )
    return f"{registries[region]}.dkr.ecr.{region}.amazonaws.com/knn:1"


def upload_training_data(s3: Any, bucket: str, body: bytes | Path, key: str = "knn/train/knn-train.csv") -> str:
    """Upload the label-first CSV; returns its ``s3://`` URI (the training channel's prefix is its folder)."""
    payload = Path(body).read_bytes() if isinstance(body, Path) else body
    s3.put_object(Bucket=bucket, Key=key, Body=payload, ContentType="text/csv")
    return f"s3://{bucket}/{key}"


def training_job_request(
    *,
    job_name: str,
    role_arn: str,
    region: str,
    train_s3_uri: str,
    output_s3_uri: str,
    k: int,
    sample_size: int,
    instance_type: str = TRAINING_INSTANCE_TYPE,
    max_runtime_seconds: int = 3600,
) -> dict[str, Any]:
    """The ``CreateTrainingJob`` request for built-in k-NN (hyperparameters are strings)."""
    return {
        "TrainingJobName": _check_name(job_name),
        "AlgorithmSpecification": {"TrainingImage": knn_image_uri(region), "TrainingInputMode": "File"},
        "RoleArn": role_arn,
        "HyperParameters": {
            "k": str(int(k)),
            "feature_dim": str(FEATURE_DIM),
            "predictor_type": "classifier",
            "sample_size": str(int(sample_size)),
        },
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": train_s3_uri,
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
                "ContentType": TRAIN_CONTENT_TYPE,
                "CompressionType": "None",
            }
        ],
        "OutputDataConfig": {"S3OutputPath": output_s3_uri},
        "ResourceConfig": {"InstanceType": instance_type, "InstanceCount": 1, "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": int(max_runtime_seconds)},
    }


def start_training_job(sagemaker: Any, **request_args: Any) -> str:
    """Create the training job (see ``training_job_request`` for the arguments); returns its name."""
    request = training_job_request(**request_args)
    sagemaker.create_training_job(**request)
    return request["TrainingJobName"]


def wait_for_training_job(sagemaker: Any, job_name: str, *, delay: int = 30, max_attempts: int = 120) -> dict:
    """Block until the job completes (boto3 waiter); raise RuntimeError with the reason if it failed."""
    waiter = sagemaker.get_waiter("training_job_completed_or_stopped")
    waiter.wait(TrainingJobName=job_name, WaiterConfig={"Delay": delay, "MaxAttempts": max_attempts})
    description = sagemaker.describe_training_job(TrainingJobName=job_name)
    if description["TrainingJobStatus"] != "Completed":
        raise RuntimeError(
            f"training job {job_name} {description['TrainingJobStatus']}: {description.get('FailureReason', '')}"
        )
    return description


def create_model(sagemaker: Any, *, model_name: str, role_arn: str, region: str, model_data_url: str) -> str:
    _check_name(model_name)
    sagemaker.create_model(
        ModelName=model_name,
        PrimaryContainer={"Image": knn_image_uri(region), "ModelDataUrl": model_data_url},
        ExecutionRoleArn=role_arn,
    )
    return model_name


def create_endpoint_config(
    sagemaker: Any,
    *,
    config_name: str,
    model_name: str,
    instance_type: str = HOSTING_INSTANCE_TYPE,
    serverless: bool = False,
    memory_size_mb: int = 2048,
    max_concurrency: int = 5,
) -> str:
    """One ``AllTraffic`` variant: ``instance_type`` x1, or serverless (memory 1024..6144 MB in 1 GB steps)."""
    _check_name(config_name)
    variant: dict[str, Any] = {"VariantName": VARIANT_NAME, "ModelName": model_name}
    if serverless:
        variant["ServerlessConfig"] = {"MemorySizeInMB": int(memory_size_mb), "MaxConcurrency": int(max_concurrency)}
    else:
        variant.update({"InstanceType": instance_type, "InitialInstanceCount": 1})
    sagemaker.create_endpoint_config(EndpointConfigName=config_name, ProductionVariants=[variant])
    return config_name


def _endpoint_exists(sagemaker: Any, endpoint_name: str) -> bool:
    try:
        sagemaker.describe_endpoint(EndpointName=endpoint_name)
    except ClientError as exc:
        message = exc.response.get("Error", {}).get("Message", "")
        if exc.response.get("Error", {}).get("Code") == "ValidationException" and "Could not find" in message:
            return False
        raise
    return True


def deploy_endpoint(sagemaker: Any, *, endpoint_name: str, config_name: str) -> str:
    """Create the endpoint, or point an existing one at the new config; returns "created"/"updated"."""
    _check_name(endpoint_name)
    if _endpoint_exists(sagemaker, endpoint_name):
        sagemaker.update_endpoint(EndpointName=endpoint_name, EndpointConfigName=config_name)
        return "updated"
    sagemaker.create_endpoint(EndpointName=endpoint_name, EndpointConfigName=config_name)
    return "created"


def wait_for_endpoint(sagemaker: Any, endpoint_name: str, *, delay: int = 30, max_attempts: int = 60) -> None:
    sagemaker.get_waiter("endpoint_in_service").wait(
        EndpointName=endpoint_name, WaiterConfig={"Delay": delay, "MaxAttempts": max_attempts}
    )


def predict(runtime: Any, endpoint_name: str, rows: list[list[float]]) -> list[int]:
    """Invoke the endpoint with CSV rows of five answers; returns the predicted labels as ints."""
    body = "\n".join(",".join(str(float(v)) for v in row) for row in rows)
    response = runtime.invoke_endpoint(
        EndpointName=endpoint_name, ContentType="text/csv", Accept="application/json", Body=body.encode()
    )
    reply = json.loads(response["Body"].read())
    return [int(p["predicted_label"]) for p in reply["predictions"]]


def clean_up(sagemaker: Any, *, endpoint_name: str, config_name: str, model_name: str) -> list[str]:
    """Delete endpoint, endpoint config and model (what costs money is the endpoint); returns what went."""
    deleted = []
    for call, kwargs in (
        (sagemaker.delete_endpoint, {"EndpointName": endpoint_name}),
        (sagemaker.delete_endpoint_config, {"EndpointConfigName": config_name}),
        (sagemaker.delete_model, {"ModelName": model_name}),
    ):
        try:
            call(**kwargs)
            deleted.append(next(iter(kwargs.values())))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ValidationException":
                raise
    return deleted


def run(
    *,
    sagemaker: Any,
    s3: Any,
    region: str,
    bucket: str,
    role_arn: str,
    train_csv: bytes | Path,
    k: int,
    sample_size: int,
    endpoint_name: str | None = None,
    serverless: bool = False,
    log: Any = print,
) -> dict[str, str]:
    """Upload, train, wait, create model + config, create/update the endpoint, wait; names of what exists."""
    name = resource_name()
    endpoint_name = endpoint_name or endpoint_name_from_context()
    train_uri = upload_training_data(s3, bucket, train_csv, key=f"knn/{name}/train/knn-train.csv")
    log(f"uploaded training data to {train_uri}")
    job = start_training_job(
        sagemaker,
        job_name=name,
        role_arn=role_arn,
        region=region,
        train_s3_uri=train_uri.rsplit("/", 1)[0] + "/",
        output_s3_uri=f"s3://{bucket}/knn/output/",
        k=k,
        sample_size=sample_size,
    )
    log(f"training job {job} started; waiting (a few minutes)…")
    started = time.monotonic()
    description = wait_for_training_job(sagemaker, job)
    log(f"training job completed in {time.monotonic() - started:.0f} s")
    model = create_model(
        sagemaker,
        model_name=name,
        role_arn=role_arn,
        region=region,
        model_data_url=description["ModelArtifacts"]["S3ModelArtifacts"],
    )
    config = create_endpoint_config(sagemaker, config_name=name, model_name=model, serverless=serverless)
    action = deploy_endpoint(sagemaker, endpoint_name=endpoint_name, config_name=config)
    log(f"endpoint {endpoint_name} {action} with config {config}; waiting until InService…")
    wait_for_endpoint(sagemaker, endpoint_name)
    return {"training_job": job, "model": model, "endpoint_config": config, "endpoint": endpoint_name}
