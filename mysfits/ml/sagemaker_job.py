"""SageMaker mode for the notebook: train and host the built-in k-NN algorithm with plain boto3.

Every function takes the boto3 client it needs, so tests drive them with ``botocore.stub.Stubber``.
The SageMaker Python SDK is not used (v3 removed ``Estimator``, ``image_uris`` and ``sagemaker.amazon``).
This module runs on the notebook instance's ``conda_python3`` kernel, which is Python 3.10: keep to 3.10.

Names come from ``mysfits.settings``: the endpoint the Lambda calls, and a prefix that every training job,
model and endpoint config carries (``<prefix>knn-<UTC timestamp>``), the only names the notebook role may touch.

Hosting: a real-time endpoint on ``ml.m5.large`` by default, or a serverless variant (``ServerlessConfig``).
SageMaker cannot update an instance-backed endpoint to serverless or back, so such a switch deletes the endpoint
and creates it again.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError, WaiterError

from mysfits.project_files import load_knn_image_registries
from mysfits.settings import (
    DEFAULT_HOSTING_INSTANCE_TYPE,
    TRAIN_CONTENT_TYPE,
    TRAINING_INSTANCE_TYPE,
    Hosting,
    SageMakerNames,
    knn_hyperparameters,
    knn_image_uri_for,
    sagemaker_names,
)

HOSTING_INSTANCE_TYPE = DEFAULT_HOSTING_INSTANCE_TYPE
# CreateEndpoint reads the endpoint config with an eventually consistent read (API reference: CreateEndpoint),
# so a config created a moment ago may not be found yet: look again a few times before giving up.
CONFIG_VISIBILITY_ATTEMPTS = 5
CONFIG_VISIBILITY_DELAY_SECONDS = 2.0


class SageMakerJobError(RuntimeError):
    """A step on SageMaker failed; the message carries SageMaker's own reason."""


def knn_image_uri(region: str) -> str:
    """``<account>.dkr.ecr.<region>.amazonaws.com/knn:1`` for the built-in k-NN algorithm."""
    registries = load_knn_image_registries()
    if region not in registries:
        raise ValueError(
            f"the built-in k-NN image is not published in region {region!r}; "
            f"use one of: {', '.join(sorted(registries))}"
        )
    return knn_image_uri_for(registries[region], region)


def training_data_key(run_name: str) -> str:
    """Where a run's training data goes: its own folder under knn/, the folder the roles may read and write."""
    return f"knn/{run_name}/train/knn-train.csv"


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
    names: SageMakerNames | None = None,
    instance_type: str = TRAINING_INSTANCE_TYPE,
    max_runtime_seconds: int = 3600,
) -> dict[str, Any]:
    """The ``CreateTrainingJob`` request for built-in k-NN (hyperparameters are strings)."""
    return {
        "TrainingJobName": (names or sagemaker_names()).check(job_name),
        "AlgorithmSpecification": {"TrainingImage": knn_image_uri(region), "TrainingInputMode": "File"},
        "RoleArn": role_arn,
        "HyperParameters": knn_hyperparameters(k=k, sample_size=sample_size),
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
    """Block until the job ends; a failed or stopped job raises with SageMaker's ``FailureReason``.

    The waiter itself raises on ``Failed`` without the reason, so the job is described again either way.
    """
    waiter = sagemaker.get_waiter("training_job_completed_or_stopped")
    try:
        waiter.wait(TrainingJobName=job_name, WaiterConfig={"Delay": delay, "MaxAttempts": max_attempts})
    except WaiterError as error:
        if "Max attempts exceeded" in str(error):
            raise SageMakerJobError(
                f"training job {job_name} did not finish within {delay * max_attempts} s; "
                "see it in the SageMaker console"
            ) from None
    description = sagemaker.describe_training_job(TrainingJobName=job_name)
    status = description["TrainingJobStatus"]
    if status != "Completed":
        reason = description.get("FailureReason") or "no reason given"
        raise SageMakerJobError(f"training job {job_name} {status}: {reason}")
    return description


def create_model(
    sagemaker: Any,
    *,
    model_name: str,
    role_arn: str,
    region: str,
    model_data_url: str,
    names: SageMakerNames | None = None,
) -> str:
    (names or sagemaker_names()).check(model_name)
    sagemaker.create_model(
        ModelName=model_name,
        PrimaryContainer={"Image": knn_image_uri(region), "ModelDataUrl": model_data_url},
        ExecutionRoleArn=role_arn,
    )
    return model_name


def production_variant(
    *,
    model_name: str,
    instance_type: str = HOSTING_INSTANCE_TYPE,
    serverless: bool = False,
    memory_size_mb: int = 2048,
    max_concurrency: int = 5,
) -> dict[str, Any]:
    """One ``AllTraffic`` variant: ``instance_type`` x1, or serverless (1024..6144 MB in 1 GB steps, 1..200)."""
    hosting = Hosting(
        kind="serverless" if serverless else "instance",
        instance_type=instance_type,
        memory_size_mb=memory_size_mb,
        max_concurrency=max_concurrency,
    )
    return hosting.variant(model_name)


def create_endpoint_config(
    sagemaker: Any, *, config_name: str, variant: dict[str, Any], names: SageMakerNames | None = None
) -> str:
    (names or sagemaker_names()).check(config_name)
    sagemaker.create_endpoint_config(EndpointConfigName=config_name, ProductionVariants=[variant])
    return config_name


def _error(exc: ClientError) -> tuple[str, str]:
    details = exc.response.get("Error", {})
    return details.get("Code", ""), details.get("Message", "")


def _is_missing(exc: ClientError) -> bool:
    code, message = _error(exc)
    return code == "ValidationException" and "Could not find" in message


def _unless_missing(describe: Callable[..., dict[str, Any]], **request: str) -> dict[str, Any] | None:
    try:
        return describe(**request)
    except ClientError as exc:
        if _is_missing(exc):
            return None
        raise


def describe_endpoint(sagemaker: Any, endpoint_name: str) -> dict[str, Any] | None:
    """The endpoint's description, or None when it does not exist."""
    return _unless_missing(sagemaker.describe_endpoint, EndpointName=endpoint_name)


def _serves_serverless(config: dict[str, Any]) -> bool:
    return any("ServerlessConfig" in variant for variant in config["ProductionVariants"])


def _describe_config(sagemaker: Any, config_name: str) -> dict[str, Any] | None:
    """The endpoint config's description, or None when it is gone (e.g. deleted by a clean-up)."""
    return _unless_missing(sagemaker.describe_endpoint_config, EndpointConfigName=config_name)


def _visible_config(sagemaker: Any, config_name: str, *, sleep: Callable[[float], None]) -> dict[str, Any]:
    """CreateEndpoint reads configs eventually consistently; its API reference recommends DescribeEndpointConfig
    first, so a config created a moment ago is looked up until it shows, a few times, before it is used."""
    for attempt in range(1, CONFIG_VISIBILITY_ATTEMPTS + 1):
        config = _describe_config(sagemaker, config_name)
        if config is not None:
            return config
        if attempt < CONFIG_VISIBILITY_ATTEMPTS:
            sleep(CONFIG_VISIBILITY_DELAY_SECONDS * attempt)
    raise SageMakerJobError(f"endpoint config {config_name} does not exist (looked {CONFIG_VISIBILITY_ATTEMPTS} times)")


def _with_visible_config(call: Callable[[], Any], config_name: str, *, sleep: Callable[[float], None]) -> Any:
    """Retry a create or update that SageMaker refuses because it does not see the config yet."""
    for attempt in range(1, CONFIG_VISIBILITY_ATTEMPTS + 1):
        try:
            return call()
        except ClientError as exc:
            code, message = _error(exc)
            if code != "ValidationException" or config_name not in message or attempt == CONFIG_VISIBILITY_ATTEMPTS:
                raise
            sleep(CONFIG_VISIBILITY_DELAY_SECONDS * attempt)
    raise AssertionError("unreachable")


def delete_endpoint_and_wait(sagemaker: Any, endpoint_name: str, *, delay: int = 15, max_attempts: int = 80) -> bool:
    """Delete the endpoint (the one thing that bills by the hour) and wait until it is gone."""
    try:
        sagemaker.delete_endpoint(EndpointName=endpoint_name)
    except ClientError as exc:
        if _is_missing(exc):
            return False
        raise
    _wait_until_deleted(sagemaker, endpoint_name, delay=delay, max_attempts=max_attempts)
    return True


def _wait_until_deleted(sagemaker: Any, endpoint_name: str, *, delay: int = 15, max_attempts: int = 80) -> None:
    sagemaker.get_waiter("endpoint_deleted").wait(
        EndpointName=endpoint_name, WaiterConfig={"Delay": delay, "MaxAttempts": max_attempts}
    )


# Statuses an endpoint leaves by itself; UpdateEndpoint and DeleteEndpoint are refused until it has.
SETTLING_STATUSES = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack", "UpdateRollbackFailed"})


def _settled_endpoint(sagemaker: Any, endpoint_name: str, log: Callable[[str], None]) -> dict[str, Any] | None:
    """The endpoint once it is InService or Failed, or None once it is gone."""
    existing = describe_endpoint(sagemaker, endpoint_name)
    if existing is not None and existing["EndpointStatus"] == "Deleting":
        log(f"endpoint {endpoint_name} is being deleted; waiting until it is gone")
        _wait_until_deleted(sagemaker, endpoint_name)
        return None
    if existing is not None and existing["EndpointStatus"] in SETTLING_STATUSES:
        log(f"endpoint {endpoint_name} is {existing['EndpointStatus']}; waiting until it settles")
        with contextlib.suppress(WaiterError):  # Failed: the caller recreates it
            sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=endpoint_name)
        existing = describe_endpoint(sagemaker, endpoint_name)
    return existing


def deploy_endpoint(
    sagemaker: Any,
    *,
    endpoint_name: str,
    config_name: str,
    names: SageMakerNames | None = None,
    sleep: Callable[[float], None] = time.sleep,
    log: Callable[[str], None] = print,
) -> str:
    """Create the endpoint, or point the existing one at the new config; returns what happened.

    "created", "updated", or "replaced": SageMaker cannot update an instance-backed endpoint to serverless or back,
    and DeleteEndpoint is the only call a Failed endpoint accepts, so in those cases the old endpoint is deleted
    first (a short outage, said in the log). An endpoint still creating or updating is waited for.
    """
    (names or sagemaker_names()).check(endpoint_name)
    serverless = _serves_serverless(_visible_config(sagemaker, config_name, sleep=sleep))
    existing = _settled_endpoint(sagemaker, endpoint_name, log)
    action = "created"
    if existing is not None:
        current = _describe_config(sagemaker, existing["EndpointConfigName"])
        if existing["EndpointStatus"] == "Failed":
            reason = existing.get("FailureReason", "no reason given")
            log(f"endpoint {endpoint_name} is Failed ({reason}); DeleteEndpoint is all it accepts, so it is recreated")
        elif current is None or _serves_serverless(current) == serverless:
            _with_visible_config(
                lambda: sagemaker.update_endpoint(EndpointName=endpoint_name, EndpointConfigName=config_name),
                config_name,
                sleep=sleep,
            )
            return "updated"
        else:
            log(f"endpoint {endpoint_name} changes hosting kind; SageMaker cannot update that, so it is recreated")
        delete_endpoint_and_wait(sagemaker, endpoint_name)
        action = "replaced"
    _with_visible_config(
        lambda: sagemaker.create_endpoint(EndpointName=endpoint_name, EndpointConfigName=config_name),
        config_name,
        sleep=sleep,
    )
    return action


def wait_for_endpoint(
    sagemaker: Any, endpoint_name: str, *, config_name: str | None = None, delay: int = 30, max_attempts: int = 60
) -> None:
    """Block until InService on ``config_name``; raise with SageMaker's ``FailureReason`` otherwise.

    A failed update rolls back: the endpoint is InService again, on the old config, so the config is checked too.
    """
    try:
        sagemaker.get_waiter("endpoint_in_service").wait(
            EndpointName=endpoint_name, WaiterConfig={"Delay": delay, "MaxAttempts": max_attempts}
        )
    except WaiterError:
        description = describe_endpoint(sagemaker, endpoint_name) or {}
        status = description.get("EndpointStatus", "missing")
        reason = description.get("FailureReason") or "no reason given"
        raise SageMakerJobError(f"endpoint {endpoint_name} is {status}: {reason}") from None
    if config_name is None:
        return
    description = describe_endpoint(sagemaker, endpoint_name) or {}
    if description.get("EndpointConfigName") != config_name:
        reason = description.get("FailureReason") or "no reason given"
        raise SageMakerJobError(
            f"endpoint {endpoint_name} rolled back to {description.get('EndpointConfigName')}: {reason}"
        )


def predict(runtime: Any, endpoint_name: str, rows: list[list[float]]) -> list[int]:
    """Invoke the endpoint with CSV rows of five answers; returns the predicted labels as ints."""
    body = "\n".join(",".join(str(float(v)) for v in row) for row in rows)
    response = runtime.invoke_endpoint(
        EndpointName=endpoint_name, ContentType="text/csv", Accept="application/json", Body=body.encode()
    )
    reply = json.loads(response["Body"].read())
    return [int(p["predicted_label"]) for p in reply["predictions"]]


def _names_under(sagemaker: Any, operation: str, key: str, name_key: str, prefix: str) -> Iterator[str]:
    """Every resource name under the prefix; NameContains narrows the listing, startswith makes it exact."""
    for page in sagemaker.get_paginator(operation).paginate(NameContains=prefix):
        for item in page[key]:
            if item[name_key].startswith(prefix):
                yield item[name_key]


def _delete_quietly(call: Callable[..., Any], **kwargs: str) -> bool:
    try:
        call(**kwargs)
    except ClientError as exc:
        if _is_missing(exc):
            return False
        raise
    return True


def clean_up(sagemaker: Any, *, names: SageMakerNames, keep_endpoint: bool = False) -> list[str]:
    """Delete the endpoint and every model and endpoint config under ``<prefix>knn-``; returns what went.

    Found by listing, not remembered, so it works after a kernel restart and for runs made elsewhere.
    With ``keep_endpoint`` the endpoint and the config and model it serves stay; older runs go.
    """
    deleted: list[str] = []
    in_use: set[str] = set()
    if keep_endpoint:
        endpoint = describe_endpoint(sagemaker, names.endpoint_name)
        if endpoint is not None and endpoint["EndpointStatus"] != "InService":
            # SageMaker: no config may be deleted while CreateEndpoint or UpdateEndpoint runs.
            raise SageMakerJobError(
                f"endpoint {names.endpoint_name} is {endpoint['EndpointStatus']}; clean up once it is InService"
            )
        if endpoint is not None:
            config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
            in_use = {config["EndpointConfigName"]} | {v["ModelName"] for v in config["ProductionVariants"]}
    elif delete_endpoint_and_wait(sagemaker, names.endpoint_name):
        deleted.append(names.endpoint_name)
    for config_name in list(
        _names_under(sagemaker, "list_endpoint_configs", "EndpointConfigs", "EndpointConfigName", names.run_prefix)
    ):
        if config_name not in in_use and _delete_quietly(
            sagemaker.delete_endpoint_config, EndpointConfigName=config_name
        ):
            deleted.append(config_name)
    for model_name in list(_names_under(sagemaker, "list_models", "Models", "ModelName", names.run_prefix)):
        if model_name not in in_use and _delete_quietly(sagemaker.delete_model, ModelName=model_name):
            deleted.append(model_name)
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
    names: SageMakerNames | None = None,
    serverless: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, str]:
    """Upload, train, wait, create model + config, create/update the endpoint, wait; names of what exists."""
    names = names or sagemaker_names()
    name = names.run_name()
    train_uri = upload_training_data(s3, bucket, train_csv, key=training_data_key(name))
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
        names=names,
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
        names=names,
    )
    variant = production_variant(model_name=model, serverless=serverless)
    config = create_endpoint_config(sagemaker, config_name=name, variant=variant, names=names)
    action = deploy_endpoint(sagemaker, endpoint_name=names.endpoint_name, config_name=config, names=names, log=log)
    log(f"endpoint {names.endpoint_name} {action} with config {config}; waiting until InService…")
    wait_for_endpoint(sagemaker, names.endpoint_name, config_name=config)
    return {"training_job": job, "model": model, "endpoint_config": config, "endpoint": names.endpoint_name}
