"""The local SageMaker endpoint stand-in, seen through a real boto3 client and through the real handler."""

from __future__ import annotations

import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from mysfits.standins.endpoint import LOCAL_ACCOUNT_ID, LocalEndpoint
from mysfits.standins.server import _load_handler
from tests.handler_support import api_event
from tests.local_support import (
    ENDPOINT,
    MYSFIT_IDS,
    expected_mysfit,
    request,
    started_threads,
)


@pytest.fixture(scope="module")
def runtime(knn_model):
    with LocalEndpoint(port=0) as endpoint:
        endpoint.deploy(ENDPOINT, knn_model)
        yield endpoint


@pytest.fixture(scope="module")
def client(runtime):
    return boto3.client(
        "sagemaker-runtime",
        endpoint_url=runtime.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=5),
    )


def invoke(client, body, content_type="text/csv", accept="application/json", name=ENDPOINT):
    kwargs = {"EndpointName": name, "ContentType": content_type, "Body": body}
    if accept is not None:
        kwargs["Accept"] = accept
    reply = client.invoke_endpoint(**kwargs)
    return reply, reply["Body"].read()


def predictions(payload: bytes) -> list:
    return [p["predicted_label"] for p in json.loads(payload)["predictions"]]


# --- the happy paths ---------------------------------------------------------------------------------
def test_csv_one_row_gives_a_float_label_like_knn(client, knn_model):
    reply, payload = invoke(client, "1,2,3,4,5")
    assert reply["ContentType"] == "application/json"
    assert reply["InvokedProductionVariant"] == "AllTraffic"
    assert reply["ResponseMetadata"]["HTTPStatusCode"] == 200
    (label,) = predictions(payload)
    assert type(label) is float
    assert label == float(knn_model.predict([[1, 2, 3, 4, 5]])[0])
    assert b'"predicted_label": ' in payload


def test_csv_many_rows_one_prediction_each_and_params_ignored(client, knn_model):
    rows = [[1, 1, 1, 1, 1], [8, 8, 8, 8, 8], [3, 6, 2, 7, 4], [5, 5, 5, 5, 5]]
    body = "\n".join(",".join(map(str, r)) for r in rows) + "\n"
    _, payload = invoke(client, body, content_type="text/csv; label_size=0")
    assert predictions(payload) == [float(v) for v in knn_model.predict(rows)]


def test_json_instances(client, knn_model):
    rows = [[2, 3, 4, 5, 6], [7, 1, 7, 1, 7]]
    body = json.dumps({"instances": [{"features": r} for r in rows]})
    _, payload = invoke(client, body, content_type="application/json")
    assert predictions(payload) == [float(v) for v in knn_model.predict(rows)]


def test_json_dense_data_form(client, knn_model):
    body = json.dumps({"instances": [{"data": {"features": {"values": [4, 4, 4, 4, 4]}}}]})
    _, payload = invoke(client, body, content_type="application/json")
    assert predictions(payload) == [float(knn_model.predict([[4, 4, 4, 4, 4]])[0])]


def test_jsonlines_in_and_out(client, knn_model):
    rows = [[1, 8, 1, 8, 1], [6, 6, 2, 2, 3]]
    body = "\n".join(json.dumps({"features": r}) for r in rows)
    reply, payload = invoke(client, body, content_type="application/jsonlines", accept="application/jsonlines")
    assert reply["ContentType"] == "application/jsonlines"
    labels = [json.loads(line)["predicted_label"] for line in payload.decode().splitlines()]
    assert labels == [float(v) for v in knn_model.predict(rows)]


def test_default_accept_is_json(client):
    _, payload = invoke(client, "1,2,3,4,5", accept=None)
    assert len(predictions(payload)) == 1


# --- errors as botocore parses them ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("1,2,x,4,5", "text/csv"),
        ("1,2,3,4", "text/csv"),
        ("1,2,3,4,5,6", "text/csv"),
        ("0,2,3,4,9", "text/csv"),
        ("1.5,2,3,4,5", "text/csv"),
        ("nan,2,3,4,5", "text/csv"),
        ("", "text/csv"),
        ("{not json", "application/json"),
        ('{"features": [1,2,3,4,5]}', "application/json"),
        ('{"instances": [{"features": ["a",2,3,4,5]}]}', "application/json"),
        ('{"instances": []}', "application/json"),
        ("[1,2,3,4,5]", "application/jsonlines"),
        (b"\xff\xfe", "text/csv"),
    ],
)
def test_malformed_input_is_a_model_error_424_with_original_400(client, body, content_type):
    with pytest.raises(ClientError) as caught:
        invoke(client, body, content_type=content_type)
    error = caught.value.response
    assert error["Error"]["Code"] == "ModelError"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert error["OriginalStatusCode"] == 400
    assert error["Error"]["Message"].startswith("Received client error (400) from primary with message")
    assert f"in account {LOCAL_ACCOUNT_ID}" in error["Error"]["Message"]
    assert error["LogStreamArn"].endswith(f"/aws/sagemaker/Endpoints/{ENDPOINT}")


@pytest.mark.parametrize("content_type", ["application/xml", "application/x-recordio-protobuf", "text/plain"])
def test_unsupported_content_type_is_the_containers_415_wrapped_in_a_model_error(client, content_type):
    with pytest.raises(ClientError) as caught:
        invoke(client, "1,2,3,4,5", content_type=content_type)
    error = caught.value.response
    assert error["Error"]["Code"] == "ModelError"
    assert error["OriginalStatusCode"] == 415
    assert content_type in error["OriginalMessage"]


def test_unsupported_accept_is_a_406_model_error(client):
    with pytest.raises(ClientError) as caught:
        invoke(client, "1,2,3,4,5", accept="text/html")
    assert caught.value.response["Error"]["Code"] == "ModelError"
    assert caught.value.response["OriginalStatusCode"] == 406


def test_unknown_endpoint_is_a_validation_error_like_aws(client):
    with pytest.raises(ClientError) as caught:
        invoke(client, "1,2,3,4,5", name="no-such-endpoint")
    error = caught.value.response
    assert error["Error"]["Code"] == "ValidationError"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["Error"]["Message"] == f"Endpoint no-such-endpoint of account {LOCAL_ACCOUNT_ID} not found."


def test_invalid_endpoint_name_is_a_validation_error(client):
    with pytest.raises(ClientError) as caught:
        invoke(client, "1,2,3,4,5", name="bad_name")
    assert caught.value.response["Error"]["Code"] == "ValidationError"
    assert "regular expression" in caught.value.response["Error"]["Message"]


def test_error_wire_shape(runtime):
    path = f"/endpoints/{ENDPOINT}/invocations"
    status, headers, body = request(runtime.url, "POST", path, "1,2", {"Content-Type": "text/csv"})
    assert status == 424
    assert headers["x-amzn-errortype"].split(":", 1)[0] == "ModelError"
    assert headers["content-type"] == "application/json"
    assert headers["x-amzn-requestid"]
    document = json.loads(body)
    assert document["ErrorCode"] == "CLIENT_ERROR_FROM_MODEL"
    assert {"Message", "OriginalMessage", "OriginalStatusCode", "LogStreamArn"} <= set(document)
    status, headers, body = request(runtime.url, "POST", "/endpoints/x/invocations", "1", {"Content-Type": "text/csv"})
    assert (status, headers["x-amzn-errortype"].split(":")[0]) == (400, "ValidationError")
    assert json.loads(body)["message"].endswith("not found.")
    status, _, _ = request(runtime.url, "GET", "/ping")
    assert status == 404


def test_a_crashing_model_is_a_server_model_error(knn_model):
    def broken(rows):
        raise RuntimeError("boom")

    with LocalEndpoint(port=0) as endpoint:
        endpoint.deploy(ENDPOINT, broken)
        status, _, body = request(
            endpoint.url, "POST", f"/endpoints/{ENDPOINT}/invocations", "1,2,3,4,5", {"Content-Type": "text/csv"}
        )
    assert status == 424
    assert json.loads(body)["OriginalStatusCode"] == 500


def test_concurrent_invocations(client, knn_model):
    rows = [[(i + j) % 8 + 1 for j in range(5)] for i in range(40)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda r: predictions(invoke(client, ",".join(map(str, r)))[1])[0], rows))
    assert results == [float(v) for v in knn_model.predict(rows)]


def test_stop_leaves_no_threads_behind(knn_model):
    endpoint = LocalEndpoint(port=0).start()
    endpoint.deploy(ENDPOINT, knn_model)
    keep_alive = boto3.client(
        "sagemaker-runtime",
        endpoint_url=endpoint.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    invoke(keep_alive, "1,2,3,4,5")  # leaves an idle keep-alive connection open
    endpoint.stop()
    # Every thread this server started (accept loop, one per connection) has ended.
    assert not [t for t in threading.enumerate() if t in started_threads(endpoint)]


# --- through the real Lambda handler -----------------------------------------------------------------
@pytest.fixture
def handler_for(runtime):
    def load():
        return _load_handler(
            {
                "ENDPOINT_NAME": ENDPOINT,
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": runtime.url,
            }
        )

    return load


def test_loading_the_handler_leaves_the_environment_as_it_was(runtime, handler_for, monkeypatch):
    """Its endpoint URL outlived the endpoint before: later tests' boto3 clients called a stopped port."""
    monkeypatch.setenv("AWS_SESSION_TOKEN", "the-callers-session")
    monkeypatch.delenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", raising=False)
    before = dict(os.environ)
    handler = handler_for()
    assert dict(os.environ) == before
    assert handler.runtime_client.meta.endpoint_url == runtime.url  # the import itself saw the environment
    assert handler.ENDPOINT_NAME == ENDPOINT


def test_handler_gets_the_models_mysfit(runtime, handler_for, knn_model):
    reply = handler_for().handler(api_event('{"entry": [1, 2, 3, 4, 5]}'), None)
    assert reply["statusCode"] == 200
    body = json.loads(reply["body"])
    assert body["recommendedMysfit"] in MYSFIT_IDS
    assert body["recommendedMysfit"] == expected_mysfit(knn_model, [1, 2, 3, 4, 5])["mysfitId"]


def test_handler_turns_the_missing_endpoint_into_its_503(runtime, handler_for, knn_model):
    handler = handler_for()
    runtime.undeploy(ENDPOINT)
    try:
        reply = handler.handler(api_event('{"entry": [1, 2, 3, 4, 5]}'), None)
    finally:
        runtime.deploy(ENDPOINT, knn_model)
    assert reply["statusCode"] == 503
    assert ENDPOINT in json.loads(reply["body"])["message"]


def test_handler_turns_a_model_error_into_its_502(runtime, handler_for, knn_model):
    handler = handler_for()

    def rejects(rows):
        raise ValueError("nope")

    runtime.deploy(ENDPOINT, rejects)
    try:
        reply = handler.handler(api_event('{"entry": [1, 2, 3, 4, 5]}'), None)
    finally:
        runtime.deploy(ENDPOINT, knn_model)
    assert reply["statusCode"] == 502
    assert "message" in json.loads(reply["body"])
