"""SageMaker-mode calls, checked request by request with botocore's Stubber (nothing leaves the machine)."""

import io
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace

import boto3
import botocore.waiter
import pytest
from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from mysfits import settings
from mysfits.ml import sagemaker_job as job
from mysfits.project_files import load_knn_image_registries
from mysfits.settings import SageMakerNames

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/mysfits-notebook-role"
BUCKET = "mysfits-artifacts-bucket"
NAME = "mysfits-knn-20250101-120000"
ARN = "arn:aws:sagemaker:us-east-1:123456789012:endpoint/mysfits-recommender"
IMAGE = "382416733822.dkr.ecr.us-east-1.amazonaws.com/knn:1"
NAMES = SageMakerNames(endpoint_name="mysfits-recommender", name_prefix="mysfits-")
NOW = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def dummy_credentials(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SAGEMAKER", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def sagemaker():
    client = boto3.client("sagemaker", region_name=REGION)
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def test_registries_file_is_flat_region_to_account():
    registries = load_knn_image_registries()
    assert registries["us-east-1"] == "382416733822"
    assert registries["eu-west-1"] == "438346466558"
    assert all(isinstance(v, str) and len(v) == 12 and v.isdigit() for v in registries.values())
    assert not any(r.startswith(("cn-", "us-gov-", "us-iso")) for r in registries)


def test_image_uri_and_unknown_region():
    assert job.knn_image_uri(REGION) == IMAGE
    with pytest.raises(ValueError, match="not published in region 'mars-1'"):
        job.knn_image_uri("mars-1")


def test_names_come_from_the_shared_settings():
    assert NAMES.run_name(datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)) == NAME
    # The pipeline names runs from its UTC start time: a caller's time in another zone must name the same run.
    assert NAMES.run_name(datetime(2025, 1, 1, 13, 0, 0, tzinfo=timezone(timedelta(hours=1)))) == NAME
    assert settings.sagemaker_names(stack={}) == NAMES  # cdk.json's context
    with pytest.raises(ValueError, match="must start with 'mysfits-'"):
        job.create_model(
            object(), model_name="other", role_arn=ROLE, region=REGION, model_data_url="s3://b/k", names=NAMES
        )


def test_a_configured_prefix_reaches_every_name():
    names = settings.sagemaker_names(
        stack={}, context={"mysfits:sagemakerNamePrefix": "demo-", "mysfits:endpointName": "demo-endpoint"}
    )
    assert names.run_name(NOW).startswith("demo-knn-")
    assert names.endpoint_name == "demo-endpoint"
    with pytest.raises(ValueError, match="must start with 'demo-'"):
        job.training_job_request(
            job_name=NAME,
            role_arn=ROLE,
            region=REGION,
            train_s3_uri="s3://b/",
            output_s3_uri="s3://b/o/",
            k=1,
            sample_size=1,
            names=names,
        )
    on_instance = settings.sagemaker_names(
        stack={"endpointName": "team-recommender", "namePrefix": "team-"}, context={}
    )
    assert on_instance == SageMakerNames(endpoint_name="team-recommender", name_prefix="team-")
    with pytest.raises(settings.SettingsError, match="must start with"):
        SageMakerNames(endpoint_name="other-endpoint", name_prefix="mysfits-")


def test_upload_training_data():
    s3 = boto3.client("s3", region_name=REGION)
    with Stubber(s3) as stubber:
        stubber.add_response(
            "put_object",
            {},
            {"Bucket": BUCKET, "Key": "knn/train/knn-train.csv", "Body": b"3,1,2,3,4,5\n", "ContentType": "text/csv"},
        )
        assert job.upload_training_data(s3, BUCKET, b"3,1,2,3,4,5\n") == f"s3://{BUCKET}/knn/train/knn-train.csv"


def test_create_training_job_request(sagemaker):
    client, stubber = sagemaker
    expected = {
        "TrainingJobName": NAME,
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        "RoleArn": ROLE,
        "HyperParameters": {"k": "15", "feature_dim": "5", "predictor_type": "classifier", "sample_size": "900000"},
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": f"s3://{BUCKET}/knn/train/",
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
                "ContentType": "text/csv;label_size=1",
                "CompressionType": "None",
            }
        ],
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/knn/output/"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }
    stubber.add_response("create_training_job", {"TrainingJobArn": ARN}, expected)
    name = job.start_training_job(
        client,
        job_name=NAME,
        role_arn=ROLE,
        region=REGION,
        train_s3_uri=f"s3://{BUCKET}/knn/train/",
        output_s3_uri=f"s3://{BUCKET}/knn/output/",
        k=15,
        sample_size=900_000,
        names=NAMES,
    )
    assert name == NAME


def _described_job(status, **extra):
    now = datetime(2025, 1, 1, tzinfo=UTC)
    return {
        "TrainingJobName": NAME,
        "TrainingJobArn": ARN,
        "ModelArtifacts": {"S3ModelArtifacts": f"s3://{BUCKET}/knn/output/{NAME}/output/model.tar.gz"},
        "TrainingJobStatus": status,
        "SecondaryStatus": status,
        "AlgorithmSpecification": {"TrainingInputMode": "File", "TrainingImage": IMAGE},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "CreationTime": now,
        **extra,
    }


def test_wait_for_training_job_uses_the_waiter(sagemaker):
    client, stubber = sagemaker
    stubber.add_response("describe_training_job", _described_job("InProgress"), {"TrainingJobName": NAME})
    stubber.add_response("describe_training_job", _described_job("Completed"), {"TrainingJobName": NAME})
    stubber.add_response("describe_training_job", _described_job("Completed"), {"TrainingJobName": NAME})
    description = job.wait_for_training_job(client, NAME, delay=0)
    assert description["ModelArtifacts"]["S3ModelArtifacts"].endswith("model.tar.gz")


def test_failed_training_job_raises_with_sagemakers_reason(sagemaker):
    client, stubber = sagemaker
    failed = _described_job("Failed", FailureReason="ClientError: bad csv")
    stubber.add_response("describe_training_job", _described_job("InProgress"), {"TrainingJobName": NAME})
    stubber.add_response("describe_training_job", failed, {"TrainingJobName": NAME})  # the waiter gives up here
    stubber.add_response("describe_training_job", failed, {"TrainingJobName": NAME})
    with pytest.raises(
        job.SageMakerJobError, match=r"^training job mysfits-knn-20250101-120000 Failed: ClientError: bad csv$"
    ):
        job.wait_for_training_job(client, NAME, delay=0, max_attempts=5)


def test_training_job_that_outlasts_the_wait_says_so(sagemaker):
    client, stubber = sagemaker
    stubber.add_response("describe_training_job", _described_job("InProgress"), {"TrainingJobName": NAME})
    with pytest.raises(job.SageMakerJobError, match="did not finish within 0 s"):
        job.wait_for_training_job(client, NAME, delay=0, max_attempts=1)


def test_create_model_and_configs(sagemaker):
    client, stubber = sagemaker
    artifact = f"s3://{BUCKET}/knn/output/model.tar.gz"
    stubber.add_response(
        "create_model",
        {"ModelArn": ARN},
        {
            "ModelName": NAME,
            "PrimaryContainer": {"Image": IMAGE, "ModelDataUrl": artifact},
            "ExecutionRoleArn": ROLE,
        },
    )
    stubber.add_response(
        "create_endpoint_config",
        {"EndpointConfigArn": ARN},
        {
            "EndpointConfigName": NAME,
            "ProductionVariants": [
                {
                    "VariantName": "AllTraffic",
                    "ModelName": NAME,
                    "InstanceType": "ml.m5.large",
                    "InitialInstanceCount": 1,
                }
            ],
        },
    )
    stubber.add_response(
        "create_endpoint_config",
        {"EndpointConfigArn": ARN},
        {
            "EndpointConfigName": NAME + "-sls",
            "ProductionVariants": [
                {
                    "VariantName": "AllTraffic",
                    "ModelName": NAME,
                    "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5},
                }
            ],
        },
    )
    job.create_model(client, model_name=NAME, role_arn=ROLE, region=REGION, model_data_url=artifact, names=NAMES)
    job.create_endpoint_config(client, config_name=NAME, variant=job.production_variant(model_name=NAME), names=NAMES)
    job.create_endpoint_config(
        client,
        config_name=NAME + "-sls",
        variant=job.production_variant(model_name=NAME, serverless=True),
        names=NAMES,
    )


@pytest.mark.parametrize(
    ("memory", "concurrency", "message"),
    [(1000, 5, "1024..6144 MB"), (7168, 5, "1024..6144 MB"), (2048, 0, "1..200"), (2048, 201, "1..200")],
)
def test_serverless_limits_are_checked_before_sagemaker_sees_them(memory, concurrency, message):
    with pytest.raises(ValueError, match=message):
        job.production_variant(model_name=NAME, serverless=True, memory_size_mb=memory, max_concurrency=concurrency)


def _described_endpoint(config_name, status="InService", **extra):
    return {
        "EndpointName": "mysfits-recommender",
        "EndpointArn": ARN,
        "EndpointConfigName": config_name,
        "EndpointStatus": status,
        "CreationTime": NOW,
        "LastModifiedTime": NOW,
        **extra,
    }


def _described_config(config_name, *, serverless):
    variant = job.production_variant(model_name=config_name, serverless=serverless)
    return {
        "EndpointConfigName": config_name,
        "EndpointConfigArn": ARN,
        "ProductionVariants": [variant],
        "CreationTime": NOW,
    }


MISSING_ENDPOINT = 'Could not find endpoint "mysfits-recommender".'
ENDPOINT = {"EndpointName": "mysfits-recommender"}


def _config_is_visible(stubber, name=NAME, *, serverless=False):
    stubber.add_response(
        "describe_endpoint_config", _described_config(name, serverless=serverless), {"EndpointConfigName": name}
    )


def _old_endpoint_is_replaced(stubber, *, still_deleting_once):
    """DeleteEndpoint, the endpoint_deleted waiter's polls until "Could not find", then CreateEndpoint."""
    stubber.add_response("delete_endpoint", {}, ENDPOINT)
    if still_deleting_once:
        stubber.add_response("describe_endpoint", _described_endpoint("mysfits-knn-old", "Deleting"), ENDPOINT)
    stubber.add_client_error("describe_endpoint", "ValidationException", MISSING_ENDPOINT)
    stubber.add_response("create_endpoint", {"EndpointArn": ARN}, {**ENDPOINT, "EndpointConfigName": NAME})


def _old_endpoint_reports(stubber, *statuses, **extra):
    """DescribeEndpoint answers for the running endpoint (config mysfits-knn-old), one per status, in order."""
    for status in statuses:
        stubber.add_response("describe_endpoint", _described_endpoint("mysfits-knn-old", status, **extra), ENDPOINT)


def _deploy_logged(client):
    logged = []
    return _deploy(client, log=logged.append), logged


def _deploy(client, **kwargs):
    return job.deploy_endpoint(
        client, endpoint_name="mysfits-recommender", config_name=NAME, names=NAMES, sleep=lambda _: None, **kwargs
    )


def test_deploy_creates_a_missing_endpoint(sagemaker):
    client, stubber = sagemaker
    _config_is_visible(stubber)
    stubber.add_client_error("describe_endpoint", "ValidationException", MISSING_ENDPOINT, expected_params=ENDPOINT)
    stubber.add_response("create_endpoint", {"EndpointArn": ARN}, {**ENDPOINT, "EndpointConfigName": NAME})
    assert _deploy(client) == "created"


def test_deploy_waits_until_a_new_config_is_visible(sagemaker):
    """CreateEndpoint's API reference: describe the config first; it may not be visible at once."""
    client, stubber = sagemaker
    for _ in range(2):
        stubber.add_client_error(
            "describe_endpoint_config", "ValidationException", f"Could not find endpoint configuration {NAME}."
        )
    _config_is_visible(stubber)
    stubber.add_client_error("describe_endpoint", "ValidationException", MISSING_ENDPOINT)
    stubber.add_client_error(
        "create_endpoint", "ValidationException", f"Could not find endpoint configuration {NAME}."
    )  # still not visible to CreateEndpoint's own read
    stubber.add_response("create_endpoint", {"EndpointArn": ARN}, {**ENDPOINT, "EndpointConfigName": NAME})
    slept = []
    action = job.deploy_endpoint(
        client, endpoint_name="mysfits-recommender", config_name=NAME, names=NAMES, sleep=slept.append
    )
    assert action == "created"
    delay = job.CONFIG_VISIBILITY_DELAY_SECONDS
    assert slept == [delay, 2 * delay, delay]


def test_deploy_gives_up_when_the_config_never_appears(sagemaker):
    client, stubber = sagemaker
    for _ in range(job.CONFIG_VISIBILITY_ATTEMPTS):
        stubber.add_client_error(
            "describe_endpoint_config", "ValidationException", f"Could not find endpoint configuration {NAME}."
        )
    with pytest.raises(job.SageMakerJobError, match=f"endpoint config {NAME} does not exist"):
        _deploy(client)


def test_switching_instance_hosting_to_serverless_recreates_the_endpoint(sagemaker, monkeypatch):
    client, stubber = sagemaker
    waited: list[float] = []  # botocore's endpoint_deleted waiter sleeps its delay between polls; recorded instead
    monkeypatch.setattr(botocore.waiter, "time", SimpleNamespace(sleep=waited.append))
    _config_is_visible(stubber, serverless=True)
    stubber.add_response("describe_endpoint", _described_endpoint("mysfits-knn-old"), ENDPOINT)
    _config_is_visible(stubber, "mysfits-knn-old", serverless=False)
    _old_endpoint_is_replaced(stubber, still_deleting_once=True)
    logged = []
    assert _deploy(client, log=logged.append) == "replaced"
    assert "cannot update" in logged[0]
    assert waited == [15]  # one poll saw Deleting, the next saw it gone


@pytest.mark.parametrize(
    ("statuses", "extra", "outcome", "said"),
    [
        # EndpointStatus: DeleteEndpoint is the only operation a Failed endpoint accepts.
        (("Failed",), {"FailureReason": "quota exceeded"}, "replaced", "Failed (quota exceeded)"),
        # Updating: the waiter, then a fresh look, then the update.
        (("Updating", "InService", "InService"), {}, "updated", "is Updating; waiting"),
    ],
)
def test_a_failed_endpoint_is_recreated_and_an_updating_one_waited_for(sagemaker, statuses, extra, outcome, said):
    client, stubber = sagemaker
    _config_is_visible(stubber)
    _old_endpoint_reports(stubber, *statuses, **extra)
    _config_is_visible(stubber, "mysfits-knn-old")
    if outcome == "replaced":
        _old_endpoint_is_replaced(stubber, still_deleting_once=False)
    else:
        stubber.add_response("update_endpoint", {"EndpointArn": ARN}, {**ENDPOINT, "EndpointConfigName": NAME})
    deployed, logged = _deploy_logged(client)
    assert deployed == outcome
    assert said in logged[0]


def test_deploy_updates_an_existing_endpoint(sagemaker):
    client, stubber = sagemaker
    _config_is_visible(stubber)
    stubber.add_response("describe_endpoint", _described_endpoint("mysfits-knn-old"), ENDPOINT)
    _config_is_visible(stubber, "mysfits-knn-old")
    stubber.add_response("update_endpoint", {"EndpointArn": ARN}, {**ENDPOINT, "EndpointConfigName": NAME})
    assert _deploy(client) == "updated"


def test_deploy_propagates_other_errors(sagemaker):
    client, stubber = sagemaker
    _config_is_visible(stubber)
    stubber.add_client_error("describe_endpoint", "AccessDeniedException", "not allowed")
    with pytest.raises(ClientError, match="not allowed"):
        _deploy(client)


def test_an_update_that_rolled_back_is_not_reported_as_deployed(sagemaker):
    """A failed update leaves the endpoint InService on its old config, with a FailureReason."""
    client, stubber = sagemaker
    rolled_back = _described_endpoint("mysfits-knn-old", FailureReason="model failed the ping health check")
    stubber.add_response("describe_endpoint", rolled_back, ENDPOINT)  # the waiter: InService
    stubber.add_response("describe_endpoint", rolled_back, ENDPOINT)
    with pytest.raises(job.SageMakerJobError, match="rolled back to mysfits-knn-old: model failed the ping"):
        job.wait_for_endpoint(client, "mysfits-recommender", config_name=NAME, delay=0)


def test_failed_endpoint_raises_with_sagemakers_reason(sagemaker):
    client, stubber = sagemaker
    failed = _described_endpoint(
        NAME, "Failed", FailureReason="The primary container did not pass the ping health check."
    )
    stubber.add_response("describe_endpoint", failed, {"EndpointName": "mysfits-recommender"})
    stubber.add_response("describe_endpoint", failed, {"EndpointName": "mysfits-recommender"})
    with pytest.raises(job.SageMakerJobError, match="is Failed: The primary container did not pass"):
        job.wait_for_endpoint(client, "mysfits-recommender", delay=0, max_attempts=3)


def test_predict_through_sagemaker_runtime():
    runtime = boto3.client("sagemaker-runtime", region_name=REGION)
    reply = b'{"predictions":[{"predicted_label": 3.0}, {"predicted_label": 11.0}]}'
    with Stubber(runtime) as stubber:
        stubber.add_response(
            "invoke_endpoint",
            {"Body": StreamingBody(io.BytesIO(reply), len(reply)), "ContentType": "application/json"},
            {
                "EndpointName": "mysfits-recommender",
                "ContentType": "text/csv",
                "Accept": "application/json",
                "Body": b"1.0,2.0,3.0,4.0,5.0\n8.0,8.0,8.0,8.0,8.0",
            },
        )
        assert job.predict(runtime, "mysfits-recommender", [[1, 2, 3, 4, 5], [8, 8, 8, 8, 8]]) == [3, 11]


def _listed(kind, *names, next_token=None):
    key, name_key = {"configs": ("EndpointConfigs", "EndpointConfigName"), "models": ("Models", "ModelName")}[kind]
    arn_key = name_key.replace("Name", "Arn")
    page = {key: [{name_key: name, arn_key: ARN, "CreationTime": NOW} for name in names]}
    return {**page, "NextToken": next_token} if next_token else page


def test_clean_up_finds_every_run_under_the_prefix_by_listing(sagemaker):
    """No names remembered: it works after a kernel restart and for runs made elsewhere."""
    client, stubber = sagemaker
    old, new = "mysfits-knn-20240101-000000", NAME
    stubber.add_response("delete_endpoint", {}, {"EndpointName": "mysfits-recommender"})
    stubber.add_client_error(
        "describe_endpoint", "ValidationException", 'Could not find endpoint "mysfits-recommender".'
    )
    stubber.add_response(
        "list_endpoint_configs",
        _listed("configs", old, "other-mysfits-knn-1", next_token="t"),
        {"NameContains": "mysfits-knn-"},
    )
    stubber.add_response(
        "list_endpoint_configs", _listed("configs", new), {"NameContains": "mysfits-knn-", "NextToken": "t"}
    )
    stubber.add_response("delete_endpoint_config", {}, {"EndpointConfigName": old})
    stubber.add_response("delete_endpoint_config", {}, {"EndpointConfigName": new})
    stubber.add_response("list_models", _listed("models", old, new), {"NameContains": "mysfits-knn-"})
    stubber.add_response("delete_model", {}, {"ModelName": old})
    stubber.add_client_error(
        "delete_model", "ValidationException", "Could not find model", expected_params={"ModelName": new}
    )
    deleted = job.clean_up(client, names=NAMES)
    assert deleted == ["mysfits-recommender", old, new, old]


def test_clean_up_can_keep_the_live_endpoint_and_what_it_serves(sagemaker):
    client, stubber = sagemaker
    old = "mysfits-knn-20240101-000000"
    stubber.add_response("describe_endpoint", _described_endpoint(NAME), {"EndpointName": "mysfits-recommender"})
    stubber.add_response(
        "describe_endpoint_config", _described_config(NAME, serverless=False), {"EndpointConfigName": NAME}
    )
    stubber.add_response("list_endpoint_configs", _listed("configs", old, NAME), {"NameContains": "mysfits-knn-"})
    stubber.add_response("delete_endpoint_config", {}, {"EndpointConfigName": old})
    stubber.add_response("list_models", _listed("models", old, NAME), {"NameContains": "mysfits-knn-"})
    stubber.add_response("delete_model", {}, {"ModelName": old})
    assert job.clean_up(client, names=NAMES, keep_endpoint=True) == [old, old]


def test_clean_up_keeps_configs_while_the_endpoint_is_updating(sagemaker):
    """SageMaker: an endpoint config must not be deleted while CreateEndpoint or UpdateEndpoint runs."""
    client, stubber = sagemaker
    stubber.add_response("describe_endpoint", _described_endpoint(NAME, "Updating"), ENDPOINT)
    with pytest.raises(job.SageMakerJobError, match="is Updating; clean up once it is InService"):
        job.clean_up(client, names=NAMES, keep_endpoint=True)


def test_clean_up_fails_loudly_when_sagemaker_refuses(sagemaker):
    client, stubber = sagemaker
    stubber.add_client_error(
        "delete_endpoint", "AccessDeniedException", "not authorized to perform sagemaker:DeleteEndpoint"
    )
    with pytest.raises(ClientError, match="not authorized"):
        job.clean_up(client, names=NAMES)


def test_run_wires_everything_together(sagemaker, monkeypatch):
    client, stubber = sagemaker
    monkeypatch.setattr(SageMakerNames, "run_name", lambda self, now=None: NAME)
    monkeypatch.setattr(job, "wait_for_training_job", lambda sm, name: _described_job("Completed"))
    monkeypatch.setattr(job, "wait_for_endpoint", lambda sm, name, config_name: None)
    s3 = boto3.client("s3", region_name=REGION)
    with Stubber(s3) as s3_stub:
        s3_stub.add_response(
            "put_object",
            {},
            {"Bucket": BUCKET, "Key": f"knn/{NAME}/train/knn-train.csv", "Body": ANY, "ContentType": "text/csv"},
        )
        stubber.add_response("create_training_job", {"TrainingJobArn": ARN}, ANY_TRAINING_JOB())
        stubber.add_response(
            "create_model",
            {"ModelArn": ARN},
            {
                "ModelName": NAME,
                "ExecutionRoleArn": ROLE,
                "PrimaryContainer": {
                    "Image": IMAGE,
                    "ModelDataUrl": _described_job("x")["ModelArtifacts"]["S3ModelArtifacts"],
                },
            },
        )
        stubber.add_response(
            "create_endpoint_config",
            {"EndpointConfigArn": ARN},
            {"EndpointConfigName": NAME, "ProductionVariants": ANY},
        )
        _config_is_visible(stubber)
        stubber.add_client_error("describe_endpoint", "ValidationException", "Could not find endpoint")
        stubber.add_response(
            "create_endpoint", {"EndpointArn": ARN}, {"EndpointName": "mysfits-recommender", "EndpointConfigName": NAME}
        )
        result = job.run(
            sagemaker=client,
            s3=s3,
            region=REGION,
            bucket=BUCKET,
            role_arn=ROLE,
            train_csv=b"1,1,1,1,1,1\n",
            k=15,
            sample_size=1,
            names=NAMES,
            log=lambda *_: None,
        )
    assert result == {"training_job": NAME, "model": NAME, "endpoint_config": NAME, "endpoint": "mysfits-recommender"}


TRAINING_JOB_KEYS = (
    "TrainingJobName",
    "AlgorithmSpecification",
    "RoleArn",
    "HyperParameters",
    "InputDataConfig",
    "OutputDataConfig",
    "ResourceConfig",
    "StoppingCondition",
)


def ANY_TRAINING_JOB():
    return dict.fromkeys(TRAINING_JOB_KEYS, ANY)


def test_stack_settings_come_from_the_file_the_on_start_script_writes(tmp_path):
    from stacks.constructs.ml_notebook import render_on_start_script

    script = render_on_start_script(
        {
            "IDLE_MINUTES": "60",
            "NOTEBOOK_NAME": "mysfits-notebook",
            "REGION": "eu-west-1",
            "ARTIFACTS_BUCKET": "mysfits-artifacts",
            "ROLE_ARN": "arn:aws:iam::123456789012:role/notebook",
            "ENDPOINT_NAME": "mysfits-recommender",
            "NAME_PREFIX": "mysfits-",
        }
    )
    written = script.split("<<'JSON'\n", 1)[1].split("\nJSON", 1)[0]
    path = tmp_path / ".mysfits-stack.json"
    path.write_text(written)
    assert settings.stack_settings(path) == {
        "region": "eu-west-1",
        "artifactsBucket": "mysfits-artifacts",
        "roleArn": "arn:aws:iam::123456789012:role/notebook",
        "endpointName": "mysfits-recommender",
        "namePrefix": "mysfits-",
    }


def test_stack_settings_are_empty_off_the_instance_and_clear_when_broken(tmp_path):
    assert settings.stack_settings(tmp_path / "missing.json") == {}
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(settings.SettingsError, match="unreadable"):
        settings.stack_settings(broken)
    not_an_object = tmp_path / "list.json"
    not_an_object.write_text("[]")
    with pytest.raises(settings.SettingsError, match="must hold a JSON object"):
        settings.stack_settings(not_an_object)
