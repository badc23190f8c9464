"""Whatever a client sends, with a healthy endpoint the handler answers 200 or 400 in JSON and never raises."""

import base64
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.handler_support import (
    CATALOG,
    ENDPOINT,
    LAMBDA_CONTEXT,
    api_event,
    is_valid_request,
    knn_reply,
    load_handler,
    streaming,
)

pytestmark = pytest.mark.slow  # hypothesis: hundreds of examples per property

HEALTHY_LABEL = 6
RUNS = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=10,
)
answers = st.integers(-1, 10) | st.sampled_from([1.0, 3.0, 1.5, True, False, "3", None, [4], {"a": 5}])
near_valid_requests = st.fixed_dictionaries(
    {"entry": st.lists(answers, min_size=3, max_size=7)},
    optional={"extra": json_scalars, "Entry": json_scalars},
)


@pytest.fixture(scope="module")
def endpoint_calls():
    """A fast healthy endpoint for the whole module (Stubber queues are per call); records each CSV row."""
    module = load_handler()
    calls = []

    def invoke_endpoint(**kwargs):
        calls.append(kwargs)
        return {"Body": streaming(knn_reply(float(HEALTHY_LABEL))), "ContentType": "application/json"}

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(module, "ENDPOINT_NAME", ENDPOINT)
        patch.setattr(module.runtime_client, "invoke_endpoint", invoke_endpoint)
        yield calls


def answer(event):
    """Call the handler and check the invariant every reply must keep; return (status, parsed body)."""
    response = load_handler().handler(event, LAMBDA_CONTEXT)
    assert response["statusCode"] in (200, 400)
    assert response["headers"]["Content-Type"] == "application/json"
    body = json.loads(response["body"])
    if response["statusCode"] == 200:
        assert body["recommendedMysfit"] == CATALOG[HEALTHY_LABEL]["mysfitId"]
    else:
        assert set(body) == {"message"}
        assert isinstance(body["message"], str)
        assert body["message"]
    return response["statusCode"], body


def assert_matches_the_contract(value, text, endpoint_calls):
    endpoint_calls.clear()
    status, _ = answer(api_event(text))
    valid = is_valid_request(value, len(text.encode("utf-8", "surrogatepass")))
    assert status == (200 if valid else 400)
    expected_calls = [",".join(map(str, value["entry"]))] if valid else []
    assert [call["Body"] for call in endpoint_calls] == expected_calls


@settings(RUNS, max_examples=500)
@given(value=json_values)
def test_any_json_value_is_200_exactly_when_it_is_a_valid_request(endpoint_calls, value):
    assert_matches_the_contract(value, json.dumps(value), endpoint_calls)


@settings(RUNS, max_examples=800)
@given(value=near_valid_requests, compact=st.booleans())
def test_near_valid_requests_are_200_exactly_when_valid(endpoint_calls, value, compact):
    text = json.dumps(value, separators=(",", ":") if compact else None)
    assert_matches_the_contract(value, text, endpoint_calls)


@settings(RUNS, max_examples=800)
@given(text=st.text(max_size=1200), encoded=st.booleans())
def test_any_text_body_gets_200_or_400(endpoint_calls, text, encoded):
    answer(api_event(text, base64_encoded=encoded))


@settings(RUNS, max_examples=800)
@given(data=st.binary(max_size=1200), as_base64=st.booleans())
def test_any_bytes_body_gets_200_or_400(endpoint_calls, data, as_base64):
    body = base64.b64encode(data).decode() if as_base64 else data
    answer(api_event(body, base64_encoded=as_base64))


@settings(RUNS, max_examples=500)
@given(value=json_values | near_valid_requests)
def test_base64_encoding_never_changes_the_answer(endpoint_calls, value):
    text = json.dumps(value)

    assert answer(api_event(base64.b64encode(text.encode()).decode(), base64_encoded=True)) == answer(api_event(text))


@settings(RUNS, max_examples=300)
@given(event=json_values | st.dictionaries(st.sampled_from(["body", "isBase64Encoded", "requestContext"]), json_values))
def test_any_event_shape_gets_200_or_400(endpoint_calls, event):
    answer(event)
