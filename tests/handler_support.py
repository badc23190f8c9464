"""Shared by the recommendation handler tests: load the handler once, build API Gateway events, fake k-NN replies."""

import io
import json
from types import SimpleNamespace

import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from mysfits.project_files import load_catalog
from mysfits.standins.lambda_handler import environment, load_recommendations_handler

ENDPOINT = "mysfits-recommender"
TEST_ENVIRONMENT = {
    "ENDPOINT_NAME": ENDPOINT,
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_EC2_METADATA_DISABLED": "true",  # inert credentials above; never ask instance metadata
}
# Read independently of the handler, so a wrong label -> Mysfit mapping in it cannot agree with itself.
CATALOG = {m["label"]: m for m in load_catalog()["mysfits"]}
MYSFIT_IDS = {m["mysfitId"] for m in CATALOG.values()}
PUBLIC_FIELDS = {"mysfitId", "name", "species", "description", "age", "goodEvil", "lawChaos"}
LAMBDA_CONTEXT = SimpleNamespace(aws_request_id="lambda-request-1")
API_REQUEST_ID = "api-request-1"


def load_handler():
    """The handler module, loaded once per process; other test files may have loaded it already. The handler reads
    its environment and builds its client at import, so the test environment is set for the import only."""
    with environment(TEST_ENVIRONMENT):
        return load_recommendations_handler()


def api_event(body, *, base64_encoded=False):
    """A REST API (payload format 1.0) proxy event for POST /recommendations."""
    return {
        "resource": "/recommendations",
        "path": "/recommendations",
        "httpMethod": "POST",
        "headers": {"Content-Type": "application/json"},
        "body": body,
        "isBase64Encoded": base64_encoded,
        "requestContext": {"requestId": API_REQUEST_ID, "stage": "prod", "httpMethod": "POST"},
    }


def streaming(data: bytes) -> StreamingBody:
    return StreamingBody(io.BytesIO(data), len(data))


def knn_reply(label=3.0) -> bytes:
    """What the built-in k-NN algorithm answers for one CSV row (labels are floats)."""
    return json.dumps({"predictions": [{"predicted_label": label}]}).encode()


def invoke_response(data: bytes) -> dict:
    return {"Body": streaming(data), "ContentType": "application/json"}


def expected_call(body="1,2,3,4,5") -> dict:
    return {"EndpointName": ENDPOINT, "ContentType": "text/csv", "Accept": "application/json", "Body": body}


def json_body(response: dict) -> dict:
    return json.loads(response["body"])


def is_valid_request(value, body_bytes: int) -> bool:
    """The contract, written independently of the handler: what must get a 200."""
    return (
        body_bytes <= 1024
        and isinstance(value, dict)
        and set(value) == {"entry"}
        and type(value["entry"]) is list
        and len(value["entry"]) == 5
        and all(type(answer) is int and 1 <= answer <= 8 for answer in value["entry"])
    )


@pytest.fixture
def module(monkeypatch):
    """The handler, pointed at the test endpoint name and logging plain JSON messages, whoever loaded it."""
    loaded = load_handler()
    monkeypatch.setattr(loaded, "ENDPOINT_NAME", ENDPOINT)
    monkeypatch.setattr(loaded, "LAMBDA_JSON_LOGS", False)
    return loaded


@pytest.fixture
def stubber(module):
    """SageMaker Runtime stubbed: every response a test queues must be consumed."""
    with Stubber(module.runtime_client) as stub:
        yield stub
        stub.assert_no_pending_responses()
