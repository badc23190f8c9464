"""Every path of the POST /recommendations Lambda handler, with SageMaker stubbed (nothing leaves the process)."""

import base64
import importlib.util
import json
import logging
import os
import shutil
import threading
from http.server import ThreadingHTTPServer
from types import SimpleNamespace

import boto3
import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from mysfits.standins.lambda_handler import HANDLER_PATH, environment
from tests.handler_support import (
    API_REQUEST_ID,
    CATALOG,
    ENDPOINT,
    LAMBDA_CONTEXT,
    MYSFIT_IDS,
    PUBLIC_FIELDS,
    TEST_ENVIRONMENT,
    api_event,
    expected_call,
    invoke_response,
    json_body,
    knn_reply,
    load_handler,
)
from tests.http_peers import JsonPeer

SEED_BODY = '{"entry": [1,2,3,4,5]}'
ENTRY_RULE = "entry must be an array of 5 integers from 1 to 8"
TOO_LARGE = "the body must be at most 1024 bytes"
NOT_FOUND = "Endpoint mysfits-recommender of account 123456789012 not found."


@pytest.fixture
def no_endpoint_call(module, monkeypatch):
    """Fails the test if the handler calls SageMaker."""
    calls = []
    monkeypatch.setattr(module.runtime_client, "invoke_endpoint", lambda **kwargs: calls.append(kwargs))
    yield
    assert calls == []


def invoke(module, body, *, base64_encoded=False, context=LAMBDA_CONTEXT):
    return module.handler(api_event(body, base64_encoded=base64_encoded), context)


def raise_on_invoke(module, monkeypatch, error):
    def invoke_endpoint(**_):
        raise error

    monkeypatch.setattr(module.runtime_client, "invoke_endpoint", invoke_endpoint)


def assert_json_headers(response, *, retry_after=False):
    expected = {"Content-Type": "application/json", "Cache-Control": "no-store"}
    if retry_after:
        expected["Retry-After"] = "1"
    assert response["headers"] == expected  # and so no CORS headers: the site calls its own origin


def assert_error(response, status, message, *, retry_after=False):
    assert response["statusCode"] == status
    assert_json_headers(response, retry_after=retry_after)
    assert json_body(response) == {"message": message}


# --- the happy path ---------------------------------------------------------------------------------------


def test_seed_contract_recommends_one_of_the_twelve_mysfits(module, stubber):
    stubber.add_response("invoke_endpoint", invoke_response(knn_reply(3.0)), expected_call("1,2,3,4,5"))

    response = invoke(module, SEED_BODY)

    assert response["statusCode"] == 200
    assert_json_headers(response)
    body = json_body(response)
    assert set(body) == {"recommendedMysfit", "mysfit"}
    assert body["recommendedMysfit"] in MYSFIT_IDS
    assert body["recommendedMysfit"] == body["mysfit"]["mysfitId"] == CATALOG[3]["mysfitId"]
    assert set(body["mysfit"]) == PUBLIC_FIELDS


@pytest.mark.parametrize("label", range(12))
def test_every_label_maps_to_its_catalog_mysfit(module, stubber, label):
    stubber.add_response("invoke_endpoint", invoke_response(knn_reply(float(label))), expected_call())

    body = json_body(invoke(module, SEED_BODY))

    expected = CATALOG[label]
    assert body["recommendedMysfit"] == expected["mysfitId"]
    assert body["mysfit"] == {field: expected[field] for field in PUBLIC_FIELDS}


@pytest.mark.parametrize(
    ("entry", "csv"), [([8, 1, 8, 1, 8], "8,1,8,1,8"), ([2, 7, 5, 3, 6], "2,7,5,3,6"), ([1] * 5, "1,1,1,1,1")]
)
def test_answers_are_sent_as_one_csv_row_in_feature_order(module, stubber, entry, csv):
    stubber.add_response("invoke_endpoint", invoke_response(knn_reply(0.0)), expected_call(csv))

    assert invoke(module, json.dumps({"entry": entry}))["statusCode"] == 200


@pytest.mark.parametrize(
    "reply",
    [
        b'{"predictions": [{"predicted_label": 7}]}',
        b'{"predictions":[{"predicted_label":7.0,"distance":0.5}]}',
        b' {"predictions": [{"predicted_label": 7e0}]} ',
    ],
)
def test_integral_labels_in_any_json_spelling_are_accepted(module, stubber, reply):
    stubber.add_response("invoke_endpoint", invoke_response(reply), expected_call())

    assert json_body(invoke(module, SEED_BODY))["recommendedMysfit"] == CATALOG[7]["mysfitId"]


@pytest.mark.parametrize(
    "body",
    [
        '{\n  "entry": [\n    1,\n    2,\n    3,\n    4,\n    5\n  ]\n}\n',
        '{"entry":[1,2,3,4,5]}' + " " * (1024 - 21),  # exactly at the cap
        b'{"entry": [1, 2, 3, 4, 5]}',  # bytes, as some local callers pass it
    ],
)
def test_well_formed_bodies_in_other_layouts_are_accepted(module, stubber, body):
    stubber.add_response("invoke_endpoint", invoke_response(knn_reply(1.0)), expected_call())

    assert invoke(module, body)["statusCode"] == 200


def test_base64_encoded_body_is_decoded(module, stubber):
    stubber.add_response("invoke_endpoint", invoke_response(knn_reply(5.0)), expected_call("3,3,3,3,3"))
    encoded = base64.b64encode(b'{"entry": [3, 3, 3, 3, 3]}').decode()

    response = invoke(module, encoded, base64_encoded=True)

    assert response["statusCode"] == 200
    assert json_body(response)["recommendedMysfit"] == CATALOG[5]["mysfitId"]


# --- client errors: always 400 with a message naming the problem, and no endpoint call ----------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (None, 'a JSON body is required, e.g. {"entry": [1, 2, 3, 4, 5]}'),
        ("", 'a JSON body is required, e.g. {"entry": [1, 2, 3, 4, 5]}'),
        ({"entry": [1, 2, 3, 4, 5]}, 'a JSON body is required, e.g. {"entry": [1, 2, 3, 4, 5]}'),
        ("not json", "the body is not valid JSON"),
        ("{'entry': [1, 2, 3, 4, 5]}", "the body is not valid JSON"),
        ('{"entry": [1, 2, 3, 4, 5]', "the body is not valid JSON"),
        (" ", "the body is not valid JSON"),
        ("\ufeff" + SEED_BODY, "the body is not valid JSON"),
        (b"\xff\xfe{}", "the body must be UTF-8"),
        ("[1, 2, 3, 4, 5]", f'the body must be a JSON object with "entry": {ENTRY_RULE}'),
        ('"entry"', f'the body must be a JSON object with "entry": {ENTRY_RULE}'),
        ("null", f'the body must be a JSON object with "entry": {ENTRY_RULE}'),
        ("NaN", f'the body must be a JSON object with "entry": {ENTRY_RULE}'),
        ("{}", f'the body must be a JSON object with "entry": {ENTRY_RULE}'),
        ('{"Entry": [1, 2, 3, 4, 5]}', f'the body must be a JSON object with "entry": {ENTRY_RULE}'),
        ('{"entry": [1, 2, 3, 4, 5], "extra": 1}', 'unknown field "extra": only "entry" is allowed'),
        ('{"a": 1, "entry": [1, 2, 3, 4, 5]}', 'unknown field "a": only "entry" is allowed'),
        ('{"entry": [1, 2, 3, 4, 5], "' + "k" * 60 + '": 1}', f'unknown field "{"k" * 40}": only "entry" is allowed'),
        ('{"entry": "1,2,3,4,5"}', ENTRY_RULE),
        ('{"entry": null}', ENTRY_RULE),
        ('{"entry": 12345}', ENTRY_RULE),
        ('{"entry": {"0": 1, "1": 2, "2": 3, "3": 4, "4": 5}}', ENTRY_RULE),
        ('{"entry": []}', f"{ENTRY_RULE}, got 0"),
        ('{"entry": [1, 2, 3, 4]}', f"{ENTRY_RULE}, got 4"),
        ('{"entry": [1, 2, 3, 4, 5, 6]}', f"{ENTRY_RULE}, got 6"),
        ('{"entry": [1, 2, 0, 4, 5]}', "entry[2] must be an integer from 1 to 8"),
        ('{"entry": [9, 2, 3, 4, 5]}', "entry[0] must be an integer from 1 to 8"),
        ('{"entry": [1, 2, 3, 4, -1]}', "entry[4] must be an integer from 1 to 8"),
        ('{"entry": [1, 2, 3, 4, 1.5]}', "entry[4] must be an integer from 1 to 8"),
        ('{"entry": [1, 3.0, 3, 4, 5]}', "entry[1] must be an integer from 1 to 8"),
        ('{"entry": [1, 2, 3, 1e0, 5]}', "entry[3] must be an integer from 1 to 8"),
        ('{"entry": [true, 2, 3, 4, 5]}', "entry[0] must be an integer from 1 to 8"),
        ('{"entry": [1, "3", 3, 4, 5]}', "entry[1] must be an integer from 1 to 8"),
        ('{"entry": [1, 2, null, 4, 5]}', "entry[2] must be an integer from 1 to 8"),
        ('{"entry": [1, 2, 3, [4], 5]}', "entry[3] must be an integer from 1 to 8"),
        ('{"entry": [1, 2, 3, 4, {"a": 5}]}', "entry[4] must be an integer from 1 to 8"),
        ('{"entry": [1, 2, 3, 4, NaN]}', "entry[4] must be an integer from 1 to 8"),
        ('{"entry": [1, 2, 3, 4, Infinity]}', "entry[4] must be an integer from 1 to 8"),
        ('{"entry": [1, 2, 3, 4, 100000000000000000000000000000]}', "entry[4] must be an integer from 1 to 8"),
        ('{"entry":[1,2,3,4,5]}' + " " * (1025 - 21), TOO_LARGE),
        ('{"entry": [1, 2, 3, 4, 5], "' + "é" * 600 + '": 1}', TOO_LARGE),  # 600 characters, 1200 bytes
        ("x" * 100_000, TOO_LARGE),
        ("[" * 1000 + "]" * 1000, TOO_LARGE),
    ],
)
def test_client_errors_are_400_with_a_precise_message(module, no_endpoint_call, body, message):
    assert_error(invoke(module, body), 400, message)


@pytest.mark.parametrize(
    "body", ["[" * 512 + "]" * 512, "[" * 1024, '{"entry":' * 100 + "1" + "}" * 100, '{"entry": ' + "[" * 1000]
)
def test_deeply_nested_json_is_a_400_not_a_recursion_crash(module, no_endpoint_call, body):
    assert len(body.encode()) <= 1024
    response = invoke(module, body)

    assert response["statusCode"] == 400


@pytest.mark.parametrize(
    ("encoded", "message"),
    [
        ("not base64!", "the body must be UTF-8 in base64"),
        ("eyJlbnRyeSI", "the body must be UTF-8 in base64"),  # bad padding
        ("é", "the body must be UTF-8 in base64"),
        (base64.b64encode(b"\xff\xfe\xfd").decode(), "the body must be UTF-8 in base64"),
        (base64.b64encode(b"not json").decode(), "the body is not valid JSON"),
        (base64.b64encode(b'{"entry": [1, 2, 3]}').decode(), f"{ENTRY_RULE}, got 3"),
        (base64.b64encode(b'{"entry":[1,2,3,4,5]}' + b" " * 1100).decode(), TOO_LARGE),
    ],
)
def test_bad_base64_bodies_are_400(module, no_endpoint_call, encoded, message):
    assert_error(invoke(module, encoded, base64_encoded=True), 400, message)


@pytest.mark.parametrize("event", [None, [], "body", {}, {"body": 5}, {"body": [1, 2]}, {"requestContext": 7}])
def test_malformed_events_are_400_not_500(module, no_endpoint_call, event):
    response = module.handler(event, None)

    assert response["statusCode"] == 400
    assert "message" in json_body(response)


def test_client_errors_are_checked_before_configuration(module, no_endpoint_call, monkeypatch):
    monkeypatch.setattr(module, "ENDPOINT_NAME", "")

    assert invoke(module, '{"entry": [0]}')["statusCode"] == 400


# --- endpoint faults --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("ValidationError", NOT_FOUND),
        ("ValidationException", NOT_FOUND),
        ("ValidationError", "Endpoint mysfits-recommender is not in service."),
    ],
)
def test_missing_endpoint_is_503_naming_it(module, stubber, code, message):
    stubber.add_client_error("invoke_endpoint", code, message, 400, expected_params=expected_call())

    response = invoke(module, SEED_BODY)

    expected = "the recommendation model is not deployed: SageMaker endpoint 'mysfits-recommender' is missing"
    assert_error(response, 503, expected + " or not in service")
    assert ENDPOINT in json_body(response)["message"]


@pytest.mark.parametrize(
    ("code", "http_status"),
    [
        ("ThrottlingException", 400),
        ("Throttling", 400),
        ("TooManyRequestsException", 429),
        ("SomethingNew", 429),  # an unmodelled code with the throttling status
    ],
)
def test_throttling_is_503_with_retry_after(module, stubber, code, http_status):
    stubber.add_client_error("invoke_endpoint", code, "Rate exceeded", http_status)

    response = invoke(module, SEED_BODY)

    assert_error(response, 503, "the recommendation model is busy; retry shortly", retry_after=True)


@pytest.mark.parametrize(
    ("code", "http_status", "status", "message", "retry_after"),
    [
        ("ModelNotReadyException", 429, 503, "the recommendation model is loading; retry shortly", True),
        ("ModelNotReadyException", 400, 503, "the recommendation model is loading; retry shortly", True),
        ("ServiceUnavailable", 503, 503, "SageMaker is unavailable; retry shortly", True),
        ("ModelError", 424, 502, "the recommendation model failed", False),
        ("InternalFailure", 500, 502, "the recommendation model request failed", False),
        ("InternalDependencyException", 530, 502, "the recommendation model request failed", False),
        ("AccessDeniedException", 400, 502, "the recommendation model request failed", False),
        ("ValidationError", 400, 502, "the recommendation model request failed", False),  # not about the endpoint
    ],
)
def test_other_sagemaker_errors(module, stubber, code, http_status, status, message, retry_after):
    stubber.add_client_error("invoke_endpoint", code, "Received server error (500) from model", http_status)

    assert_error(invoke(module, SEED_BODY), status, message, retry_after=retry_after)


@pytest.mark.parametrize(
    "reply",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b"3",
        b"[]",
        b"null",
        b"{}",
        b'{"predictions": []}',
        b'{"predictions": null}',
        b'{"predictions": {"predicted_label": 3.0}}',
        b'{"predictions": [{"predicted_label": 3.0}, {"predicted_label": 4.0}]}',
        b'{"predictions": [[3.0]]}',
        b'{"predictions": [{"label": 3.0}]}',
        b'{"predictions": [{"predicted_label": 3.5}]}',
        b'{"predictions": [{"predicted_label": "3"}]}',
        b'{"predictions": [{"predicted_label": true}]}',
        b'{"predictions": [{"predicted_label": null}]}',
        b'{"predictions": [{"predicted_label": NaN}]}',
        b'{"predictions": [{"predicted_label": Infinity}]}',
        b'{"predictions": [{"predicted_label": -1.0}]}',
        b'{"predictions": [{"predicted_label": 12.0}]}',
        b'{"predictions": [{"predicted_label": 1e300}]}',
        b"[" * 5000,
    ],
)
def test_invalid_model_replies_are_502(module, stubber, reply):
    stubber.add_response("invoke_endpoint", invoke_response(reply), expected_call())

    assert_error(invoke(module, SEED_BODY), 502, "the recommendation model gave an invalid answer")


@pytest.mark.parametrize(
    "error",
    [
        ReadTimeoutError(endpoint_url="http://127.0.0.1:1/endpoints/mysfits-recommender/invocations"),
        ConnectTimeoutError(endpoint_url="http://127.0.0.1:1/endpoints/mysfits-recommender/invocations"),
    ],
)
def test_timeouts_are_504(module, monkeypatch, error):
    raise_on_invoke(module, monkeypatch, error)

    assert_error(invoke(module, SEED_BODY), 504, "the recommendation model did not answer in time")


def test_a_refused_connection_is_502_could_not_be_reached(module, monkeypatch):
    """As api/openapi.json documents: SageMaker could not be reached is a 502, not a timeout."""
    error = EndpointConnectionError(endpoint_url="http://127.0.0.1:1/endpoints/mysfits-recommender/invocations")
    raise_on_invoke(module, monkeypatch, error)

    assert_error(invoke(module, SEED_BODY), 502, "the recommendation model could not be reached")


@pytest.mark.parametrize("body", ['{"entry": [1, 2, 3, 4, 5]}\ufffd', '{"entry": [1, 2, 3, 4, 5], "\ufffd": 1}'])
def test_a_text_body_with_invalid_utf8_is_told_so_without_base64(module, no_endpoint_call, body):
    assert_error(invoke(module, body), 400, module.NOT_UTF8)


def test_a_timeout_while_reading_the_reply_is_504(module, monkeypatch):
    class SlowBody:
        def read(self):
            raise ReadTimeoutError(endpoint_url="http://127.0.0.1:1")

    monkeypatch.setattr(module.runtime_client, "invoke_endpoint", lambda **_: {"Body": SlowBody()})

    assert_error(invoke(module, SEED_BODY), 504, "the recommendation model did not answer in time")


@pytest.mark.parametrize("error", [NoCredentialsError(), ConnectionClosedError(endpoint_url="http://127.0.0.1:1")])
def test_other_botocore_errors_are_a_generic_502(module, monkeypatch, error):
    raise_on_invoke(module, monkeypatch, error)

    assert_error(invoke(module, SEED_BODY), 502, "the recommendation model request failed")


def test_missing_endpoint_name_is_a_500_not_configured(module, no_endpoint_call, monkeypatch):
    monkeypatch.setattr(module, "ENDPOINT_NAME", "")

    assert_error(invoke(module, SEED_BODY), 500, "the recommendation service is not configured")


def test_an_unexpected_bug_is_a_json_500_without_details(module, monkeypatch, caplog):
    raise_on_invoke(module, monkeypatch, RuntimeError("secret internals"))
    caplog.set_level(logging.INFO, logger="recommendations")

    response = invoke(module, SEED_BODY)

    assert_error(response, 500, "internal error")
    (record,) = caplog.records
    assert record.levelno == logging.ERROR
    assert json.loads(record.getMessage())["error"] == "RuntimeError"
    assert "secret" not in record.getMessage()


# --- the one structured log line --------------------------------------------------------------------------


def log_lines(caplog):
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "recommendations"]


def test_a_recommendation_logs_one_json_line(module, stubber, caplog):
    caplog.set_level(logging.INFO, logger="recommendations")
    stubber.add_response("invoke_endpoint", invoke_response(knn_reply(4.0)), expected_call("2,2,2,2,2"))

    invoke(module, '{"entry": [2, 2, 2, 2, 2]}')

    (line,) = log_lines(caplog)
    assert line["requestId"] == LAMBDA_CONTEXT.aws_request_id
    assert line["answers"] == [2, 2, 2, 2, 2]
    assert line["label"] == 4
    assert line["status"] == 200
    assert line["outcome"] == "recommended"
    assert 0 <= line["modelMs"] <= line["latencyMs"]
    assert "\n" not in caplog.records[0].getMessage()


def test_without_a_lambda_context_the_api_request_id_is_logged(module, no_endpoint_call, caplog):
    caplog.set_level(logging.INFO, logger="recommendations")

    invoke(module, '{"entry": [1]}', context=None)

    (line,) = log_lines(caplog)
    assert line["requestId"] == API_REQUEST_ID
    assert line["status"] == 400
    assert line["outcome"] == "bad_request"
    assert line["reason"] == f"{ENTRY_RULE}, got 1"
    assert "answers" not in line
    assert "label" not in line
    assert caplog.records[0].levelno == logging.INFO


@pytest.mark.parametrize(
    ("code", "message", "http_status", "status", "outcome", "level"),
    [
        ("ModelError", "model said: secret stack", 424, 502, "model_error", logging.WARNING),
        ("ThrottlingException", "Rate exceeded: secret quota", 400, 503, "throttled", logging.WARNING),
    ],
)
def test_endpoint_errors_log_the_code_not_the_body(
    module, stubber, caplog, code, message, http_status, status, outcome, level
):
    caplog.set_level(logging.INFO, logger="recommendations")
    stubber.add_client_error("invoke_endpoint", code, message, http_status)

    invoke(module, SEED_BODY)

    (line,) = log_lines(caplog)
    assert (line["status"], line["outcome"], line["error"]) == (status, outcome, code)
    assert line["answers"] == [1, 2, 3, 4, 5]
    assert "secret" not in caplog.text
    assert caplog.records[0].levelno == level


def test_under_lambda_json_logging_the_fields_are_top_level(module, stubber, caplog, monkeypatch):
    """With LoggingFormat=JSON the runtime lifts `extra` into the JSON line, so the message stays short."""
    monkeypatch.setattr(module, "LAMBDA_JSON_LOGS", True)
    caplog.set_level(logging.INFO, logger="recommendations")
    stubber.add_response("invoke_endpoint", invoke_response(knn_reply(9.0)), expected_call())

    invoke(module, SEED_BODY)

    (record,) = caplog.records
    assert record.getMessage() == "recommendation"
    assert (record.requestId, record.label, record.status) == ("lambda-request-1", 9, 200)
    assert record.answers == [1, 2, 3, 4, 5]


# --- configuration, built once at import -------------------------------------------------------------------


def test_client_is_built_once_with_bounded_timeouts(module):
    config = module.runtime_client.meta.config

    assert module.runtime_client.meta.service_model.service_name == "sagemaker-runtime"
    assert config.connect_timeout == module.CONNECT_TIMEOUT_SECONDS
    assert config.read_timeout == module.READ_TIMEOUT_SECONDS
    # botocore's "max_attempts" counts retries; "total_max_attempts" counts the first call too.
    assert config.retries == {"total_max_attempts": module.MAX_ATTEMPTS, "mode": "standard"}
    # Worst case, plus standard mode's up-to-1 s backoff between the attempts, well inside Lambda's 10 s.
    worst_case = module.MAX_ATTEMPTS * (module.CONNECT_TIMEOUT_SECONDS + module.READ_TIMEOUT_SECONDS)
    assert worst_case + (module.MAX_ATTEMPTS - 1) <= 7


def test_catalog_is_loaded_once_from_mysfits_json(module):
    assert sorted(module.MYSFITS_BY_LABEL) == list(range(12))
    assert {label: m["mysfitId"] for label, m in module.MYSFITS_BY_LABEL.items()} == {
        label: m["mysfitId"] for label, m in CATALOG.items()
    }


def load_copy_with_catalog(tmp_path, catalog):
    """Import a copy of handler.py next to a different mysfits.json (under a throwaway module name)."""
    shutil.copy(HANDLER_PATH, tmp_path / "handler.py")
    (tmp_path / "mysfits.json").write_text(json.dumps({"mysfits": catalog}), encoding="utf-8")
    spec = importlib.util.spec_from_file_location("recommendations_handler_copy", tmp_path / "handler.py")
    with environment(TEST_ENVIRONMENT):
        spec.loader.exec_module(importlib.util.module_from_spec(spec))


def test_the_real_catalog_loads_in_a_fresh_import(tmp_path):
    load_copy_with_catalog(tmp_path, list(CATALOG.values()))


@pytest.mark.parametrize(
    "break_catalog",
    [
        lambda mysfits: mysfits[:11],
        lambda mysfits: [*mysfits, mysfits[0]],
        lambda mysfits: [{**mysfits[0], "label": 1}, *mysfits[1:]],
        lambda mysfits: [{**mysfits[0], "label": "0"}, *mysfits[1:]],
        lambda mysfits: [{**mysfits[0], "label": 12}, *mysfits[1:]],
        lambda mysfits: [{**mysfits[0], "mysfitId": mysfits[1]["mysfitId"]}, *mysfits[1:]],
        lambda mysfits: [{k: v for k, v in mysfits[0].items() if k != "species"}, *mysfits[1:]],
        lambda mysfits: [{**mysfits[0], "name": ""}, *mysfits[1:]],  # names are metric dimension values
        lambda mysfits: [{**mysfits[0], "name": 7}, *mysfits[1:]],
    ],
    ids=[
        *("eleven", "thirteen", "duplicate-label", "string-label", "label-12", "duplicate-id", "missing-field"),
        *("empty-name", "number-name"),
    ],
)
def test_a_broken_catalog_fails_the_import(tmp_path, break_catalog):
    mysfits = [CATALOG[label] for label in range(12)]

    with pytest.raises(ValueError, match=r"mysfits\.json must hold 12 complete Mysfits"):
        load_copy_with_catalog(tmp_path, break_catalog(mysfits))


def test_handler_never_shares_mutable_headers_between_replies(module, no_endpoint_call):
    first = invoke(module, "")
    first["headers"]["X-Injected"] = "1"

    assert "X-Injected" not in invoke(module, "")["headers"]


def test_context_without_request_id_falls_back(module, no_endpoint_call, caplog):
    caplog.set_level(logging.INFO, logger="recommendations")

    invoke(module, "", context=SimpleNamespace())

    assert log_lines(caplog)[0]["requestId"] == API_REQUEST_ID


def test_the_client_config_makes_exactly_max_attempts_calls(module):
    """botocore's own retry loop, against a local server that always fails: MAX_ATTEMPTS calls, no more."""
    calls = []

    class AlwaysFailing(JsonPeer):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            calls.append(self.path)
            self.send_json(500, b'{"message": "internal failure"}', {"x-amzn-ErrorType": "InternalFailure"})

    server = ThreadingHTTPServer(("127.0.0.1", 0), AlwaysFailing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = boto3.client(
            "sagemaker-runtime",
            config=module.runtime_client.meta.config,
            endpoint_url=f"http://127.0.0.1:{server.server_port}",
        )
        with pytest.raises(ClientError, match="InternalFailure"):
            client.invoke_endpoint(EndpointName=ENDPOINT, ContentType="text/csv", Body="1,2,3,4,5")
    finally:
        server.shutdown()
        server.server_close()

    assert calls == ["/endpoints/mysfits-recommender/invocations"] * module.MAX_ATTEMPTS


def test_loading_the_handler_leaves_the_environment_as_it_was():
    """The test credentials and ENDPOINT_NAME are for the handler's import only: later tests must not inherit them."""
    before = dict(os.environ)
    load_handler()
    assert dict(os.environ) == before
