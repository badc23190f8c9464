"""api/openapi.json is a sound OpenAPI 3 document, and the handler accepts exactly what its request schema does."""

import json

import pytest
from botocore.exceptions import ClientError
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft4Validator

from mysfits.project_files import load_openapi
from tests.handler_support import (
    ENDPOINT,
    LAMBDA_CONTEXT,
    api_event,
    invoke_response,
    json_body,
    knn_reply,
    load_handler,
)

DOCUMENT = load_openapi()
SCHEMAS = DOCUMENT["components"]["schemas"]
OPERATION = DOCUMENT["paths"]["/recommendations"]["post"]
# The draft-4 keywords the API stack can turn into an API Gateway request model.
MODEL_KEYWORDS = {
    "type",
    "required",
    "properties",
    "additionalProperties",
    "items",
    "minItems",
    "maxItems",
    "minimum",
    "maximum",
    "description",
    "title",
}
EXPECTED_REQUEST_SCHEMA = {
    "type": "object",
    "required": ["entry"],
    "additionalProperties": False,
    "properties": {
        "entry": {
            "type": "array",
            "minItems": 5,
            "maxItems": 5,
            "items": {"type": "integer", "minimum": 1, "maximum": 8},
        }
    },
}
REQUEST_VALIDATOR = Draft4Validator(SCHEMAS["RecommendationRequest"])


def schema_validator(name):
    """Validate against a component schema, resolving its $refs inside this document."""
    return Draft4Validator({"$ref": f"#/components/schemas/{name}", "components": DOCUMENT["components"]})


def resolve(ref):
    assert ref.startswith("#/"), ref
    node = DOCUMENT
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def without_annotations(schema):
    if isinstance(schema, dict):
        return {k: without_annotations(v) for k, v in schema.items() if k not in {"title", "description"}}
    return schema


def keywords(schema):
    """Every keyword used in a schema (property names under `properties` are not keywords)."""
    for key, value in schema.items():
        yield key
        if key == "properties":
            for sub in value.values():
                yield from keywords(sub)
        elif isinstance(value, dict):
            yield from keywords(value)


# --- the document itself -------------------------------------------------------------------------------------


def test_is_an_openapi_3_document():
    assert DOCUMENT["openapi"].startswith("3.0.")
    assert DOCUMENT["info"]["title"]
    assert DOCUMENT["info"]["version"]
    assert list(DOCUMENT["paths"]) == ["/recommendations"]
    assert list(DOCUMENT["paths"]["/recommendations"]) == ["post"]


def test_every_ref_resolves():
    found = list(refs(DOCUMENT))

    assert found
    for ref in found:
        assert isinstance(resolve(ref), dict), ref


def test_request_body_is_the_recommendation_request():
    content = OPERATION["requestBody"]["content"]

    assert OPERATION["requestBody"]["required"] is True
    assert list(content) == ["application/json"]
    assert content["application/json"]["schema"] == {"$ref": "#/components/schemas/RecommendationRequest"}
    assert REQUEST_VALIDATOR.is_valid(content["application/json"]["example"])


def test_request_schema_is_exactly_the_api_gateway_model():
    schema = SCHEMAS["RecommendationRequest"]

    assert set(keywords(schema)) <= MODEL_KEYWORDS
    assert "$ref" not in json.dumps(schema)
    assert without_annotations(schema) == EXPECTED_REQUEST_SCHEMA
    Draft4Validator.check_schema(schema)


@pytest.mark.parametrize("status", ["200", "400", "429", "500", "502", "503", "504"])
def test_every_response_is_documented_as_json(status):
    response = OPERATION["responses"][status]
    expected = "Recommendation" if status == "200" else "Error"

    assert response["description"]
    assert response["content"]["application/json"]["schema"] == {"$ref": f"#/components/schemas/{expected}"}
    assert "Cache-Control" in response["headers"]


def test_retryable_responses_document_retry_after():
    assert "Retry-After" in OPERATION["responses"]["503"]["headers"]
    assert "Retry-After" in OPERATION["responses"]["429"]["headers"]


def test_error_schema_is_a_required_message():
    error = SCHEMAS["Error"]

    assert error["type"] == "object"
    assert error["required"] == ["message"]
    assert error["properties"]["message"]["type"] == "string"


def test_every_status_the_handler_can_return_is_documented():
    module = load_handler()
    statuses = {400, 500, 502, 503, 504, 200} | {status for _, status, _, _ in module.ENDPOINT_ERRORS.values()}

    assert {str(status) for status in statuses} <= set(OPERATION["responses"])


# --- the handler agrees with the schema ----------------------------------------------------------------------


@pytest.fixture
def healthy_endpoint(monkeypatch):
    module = load_handler()
    monkeypatch.setattr(module, "ENDPOINT_NAME", ENDPOINT)
    monkeypatch.setattr(module.runtime_client, "invoke_endpoint", lambda **_: invoke_response(knn_reply(0.0)))
    return module


def handler_status(module, request):
    return module.handler(api_event(json.dumps(request)), LAMBDA_CONTEXT)["statusCode"]


CASES = {
    "valid": {"entry": [1, 2, 3, 4, 5]},
    "all-ones": {"entry": [1, 1, 1, 1, 1]},
    "all-eights": {"entry": [8, 8, 8, 8, 8]},
    "four-answers": {"entry": [1, 2, 3, 4]},
    "six-answers": {"entry": [1, 2, 3, 4, 5, 6]},
    "empty": {"entry": []},
    "zero": {"entry": [0, 2, 3, 4, 5]},
    "nine": {"entry": [1, 2, 3, 4, 9]},
    "negative": {"entry": [1, 2, -3, 4, 5]},
    "one-and-a-half": {"entry": [1.5, 2, 3, 4, 5]},
    "three-point-zero": {"entry": [1, 2, 3.0, 4, 5]},
    "true": {"entry": [True, 2, 3, 4, 5]},
    "string": {"entry": ["3", 2, 3, 4, 5]},
    "null-answer": {"entry": [None, 2, 3, 4, 5]},
    "nested": {"entry": [[1], 2, 3, 4, 5]},
    "object-answer": {"entry": [{"a": 1}, 2, 3, 4, 5]},
    "entry-string": {"entry": "1,2,3,4,5"},
    "entry-null": {"entry": None},
    "entry-object": {"entry": {"0": 1}},
    "extra-key": {"entry": [1, 2, 3, 4, 5], "extra": 1},
    "only-extra": {"extra": [1, 2, 3, 4, 5]},
    "empty-object": {},
    "array": [1, 2, 3, 4, 5],
    "string-body": "entry",
    "null": None,
    "number": 3,
}


@pytest.mark.parametrize("request_body", list(CASES.values()), ids=list(CASES))
def test_handler_status_matches_the_request_schema(healthy_endpoint, request_body):
    expected = 200 if REQUEST_VALIDATOR.is_valid(request_body) else 400

    assert handler_status(healthy_endpoint, request_body) == expected


def test_the_cases_cover_both_verdicts():
    verdicts = [REQUEST_VALIDATOR.is_valid(case) for case in CASES.values()]

    assert verdicts.count(True) == 3
    assert verdicts.count(False) == len(CASES) - 3


answers = st.integers(-1, 10) | st.sampled_from([1.0, 8.0, 2.5, True, False, "3", None, [], {}])


@settings(max_examples=500, derandomize=True, database=None, deadline=None)
@given(
    request_body=st.fixed_dictionaries(
        {"entry": st.lists(answers, min_size=4, max_size=6)}, optional={"extra": st.integers()}
    )
)
def test_handler_and_schema_agree_on_near_valid_requests(request_body):
    module = load_handler()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(module, "ENDPOINT_NAME", ENDPOINT)
        patch.setattr(module.runtime_client, "invoke_endpoint", lambda **_: invoke_response(knn_reply(0.0)))
        expected = 200 if REQUEST_VALIDATOR.is_valid(request_body) else 400

        assert handler_status(module, request_body) == expected


def test_a_200_body_matches_the_recommendation_schema(healthy_endpoint):
    response = healthy_endpoint.handler(api_event(json.dumps(CASES["valid"])), LAMBDA_CONTEXT)

    schema_validator("Recommendation").validate(json_body(response))


@pytest.mark.parametrize(
    "fault",
    [None, "ThrottlingException", "ModelError", "ValidationError"],
    ids=["bad-request", "throttled", "model-error", "not-deployed"],
)
def test_error_bodies_match_the_error_schema(healthy_endpoint, monkeypatch, fault):
    def failing(**_):
        raise ClientError({"Error": {"Code": fault, "Message": "Endpoint x not found"}}, "InvokeEndpoint")

    if fault:
        monkeypatch.setattr(healthy_endpoint.runtime_client, "invoke_endpoint", failing)
    body = CASES["nine"] if fault is None else CASES["valid"]

    response = healthy_endpoint.handler(api_event(json.dumps(body)), LAMBDA_CONTEXT)

    assert response["statusCode"] >= 400
    assert str(response["statusCode"]) in OPERATION["responses"]
    schema_validator("Error").validate(json_body(response))


def test_the_catalog_mysfits_all_match_the_mysfit_schema():
    module = load_handler()
    validator = schema_validator("Recommendation")

    for body in module.RECOMMENDATIONS:
        validator.validate(json.loads(body))
