"""The handler's log line is also its metrics (CloudWatch Embedded Metric Format), checked against the EMF rules.

CloudWatch extracts metrics only from a log event whose top-level JSON object carries `_aws`; under Lambda's JSON
log format the event is what the runtime's own formatter (awslambdaric's JsonFormatter) makes of the log record,
so that formatter is used here rather than a copy of its behaviour.
"""

import json
import logging
import time

import jsonschema
import pytest
from awslambdaric.lambda_runtime_log_utils import JsonFormatter
from botocore.exceptions import ReadTimeoutError

from stacks.constructs.recommendation_function import METRICS_NAMESPACE
from tests.handler_support import CATALOG, api_event, expected_call, invoke_response, knn_reply, load_handler

SEED_BODY = '{"entry": [1,2,3,4,5]}'
# CloudWatch's MetricDatum units: the only values EMF accepts for Unit.
CLOUDWATCH_UNITS = {
    *("Seconds", "Microseconds", "Milliseconds", "Percent", "Count", "Count/Second", "None"),
    *("Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits"),
    *("Terabits", "Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second"),
    *("Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second"),
}
NAME = {"type": "string", "minLength": 1, "maxLength": 255}
# The EMF specification's structure and limits: <= 100 metrics per directive, <= 30 keys per dimension set.
EMF_SCHEMA = {
    "type": "object",
    "required": ["_aws"],
    "properties": {
        "_aws": {
            "type": "object",
            "required": ["Timestamp", "CloudWatchMetrics"],
            "properties": {
                "Timestamp": {"type": "integer", "minimum": 0},
                "CloudWatchMetrics": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["Namespace", "Dimensions", "Metrics"],
                        "additionalProperties": False,
                        "properties": {
                            "Namespace": {**NAME, "not": {"pattern": "^AWS/"}},
                            "Dimensions": {
                                "type": "array",
                                "minItems": 1,
                                "items": {"type": "array", "maxItems": 30, "items": NAME},
                            },
                            "Metrics": {
                                "type": "array",
                                "minItems": 1,
                                "maxItems": 100,
                                "items": {
                                    "type": "object",
                                    "required": ["Name"],
                                    "additionalProperties": False,
                                    "properties": {"Name": NAME, "Unit": {"enum": sorted(CLOUDWATCH_UNITS)}},
                                },
                            },
                        },
                    },
                },
            },
        }
    },
}


def assert_valid_emf(document: dict) -> dict[tuple[str, tuple[str, ...], str], float]:
    """Check one log event as CloudWatch would; return {(namespace, dimension values, metric name): value}."""
    jsonschema.validate(document, EMF_SCHEMA)
    assert abs(document["_aws"]["Timestamp"] - time.time() * 1000) < 60_000  # milliseconds, now
    extracted = {}
    for directive in document["_aws"]["CloudWatchMetrics"]:
        for dimension_set in directive["Dimensions"]:
            for key in dimension_set:  # a dimension is a top-level string member
                assert type(document.get(key)) is str, key
                assert 1 <= len(document[key]) <= 1024, key
            for metric in directive["Metrics"]:
                value = document.get(metric["Name"])  # a metric is a top-level number (never a bool)
                assert type(value) in (int, float), metric["Name"]
                values = tuple(f"{key}={document[key]}" for key in dimension_set)
                extracted[(directive["Namespace"], values, metric["Name"])] = value
    return extracted


def logged_record(module, caplog, body=SEED_BODY) -> logging.LogRecord:
    caplog.set_level(logging.INFO, logger="recommendations")
    module.handler(api_event(body), None)
    (record,) = [r for r in caplog.records if r.name == "recommendations"]
    return record


def time_out(module, monkeypatch):
    def invoke_endpoint(**_):
        raise ReadTimeoutError(endpoint_url="http://127.0.0.1:1")

    monkeypatch.setattr(module.runtime_client, "invoke_endpoint", invoke_endpoint)


def test_the_handler_writes_to_the_namespace_the_stack_sets():
    assert load_handler().METRICS_NAMESPACE == METRICS_NAMESPACE  # the fallback when run without the stack


def test_a_recommendation_counts_by_outcome_and_by_mysfit_with_the_model_latency(module, stubber, caplog):
    stubber.add_response("invoke_endpoint", invoke_response(knn_reply(4.0)), expected_call())

    line = json.loads(logged_record(module, caplog).getMessage())

    name = CATALOG[4]["name"]
    assert assert_valid_emf(line) == {
        (METRICS_NAMESPACE, ("outcome=recommended",), "Requests"): 1,
        (METRICS_NAMESPACE, (f"mysfit={name}",), "Requests"): 1,
        (METRICS_NAMESPACE, (), "ModelLatency"): line["modelMs"],
    }
    units = {m["Name"]: m["Unit"] for d in line["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
    assert units == {"Requests": "Count", "ModelLatency": "Milliseconds"}


@pytest.mark.parametrize(
    ("code", "message", "http_status", "outcome"),
    [
        ("ValidationError", "Endpoint mysfits-recommender of account 1 not found.", 400, "not_deployed"),
        ("ThrottlingException", "Rate exceeded", 400, "throttled"),
        ("ModelError", "model said no", 424, "model_error"),
    ],
)
def test_each_endpoint_failure_counts_under_its_outcome(module, stubber, caplog, code, message, http_status, outcome):
    stubber.add_client_error("invoke_endpoint", code, message, http_status)

    line = json.loads(logged_record(module, caplog).getMessage())

    assert line["outcome"] == outcome
    assert assert_valid_emf(line) == {
        (METRICS_NAMESPACE, (f"outcome={outcome}",), "Requests"): 1,
        (METRICS_NAMESPACE, (), "ModelLatency"): line["modelMs"],
    }


def test_a_timeout_counts_as_timeout(module, monkeypatch, caplog):
    time_out(module, monkeypatch)

    line = json.loads(logged_record(module, caplog).getMessage())

    assert (METRICS_NAMESPACE, ("outcome=timeout",), "Requests") in assert_valid_emf(line)


def test_a_bad_request_counts_without_a_model_latency(module, caplog):
    line = json.loads(logged_record(module, caplog, body='{"entry": [9]}').getMessage())

    assert assert_valid_emf(line) == {(METRICS_NAMESPACE, ("outcome=bad_request",), "Requests"): 1}
    assert "mysfit" not in line


def test_a_bug_counts_as_internal_error(module, monkeypatch, caplog):
    monkeypatch.setattr(module, "_answers", lambda event: 1 / 0)

    line = json.loads(logged_record(module, caplog).getMessage())

    assert assert_valid_emf(line) == {(METRICS_NAMESPACE, ("outcome=internal_error",), "Requests"): 1}


@pytest.mark.parametrize("throttled", [False, True])
def test_under_lambdas_json_log_format_the_emf_is_the_top_level_object(module, stubber, caplog, monkeypatch, throttled):
    """What CloudWatch Logs receives from the Lambda runtime must itself be the EMF document, on one line."""
    monkeypatch.setattr(module, "LAMBDA_JSON_LOGS", True)
    if throttled:
        stubber.add_client_error("invoke_endpoint", "ThrottlingException", "Rate exceeded", 400)
    else:
        stubber.add_response("invoke_endpoint", invoke_response(knn_reply(2.0)), expected_call())

    event = JsonFormatter().format(logged_record(module, caplog))

    assert event.endswith("\n")
    assert event.count("\n") == 1
    document = json.loads(event)
    assert document["message"] == "recommendation"
    outcome = "throttled" if throttled else "recommended"
    assert (METRICS_NAMESPACE, (f"outcome={outcome}",), "Requests") in assert_valid_emf(document)
    assert document["level"] == ("WARNING" if throttled else "INFO")


def test_the_schema_refuses_what_cloudwatch_refuses():
    """The checks above can fail: each broken document is one CloudWatch would not turn into metrics."""
    good = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {"Namespace": "N", "Dimensions": [["outcome"]], "Metrics": [{"Name": "Requests", "Unit": "Count"}]}
            ],
        },
        "outcome": "recommended",
        "Requests": 1,
    }
    assert_valid_emf(good)
    broken = [
        {**good, "Requests": True},
        {**good, "Requests": "1"},
        {**good, "outcome": 3},
        {key: value for key, value in good.items() if key != "outcome"},
        {**good, "_aws": {**good["_aws"], "Timestamp": time.time()}},
        {
            **good,
            "_aws": {
                "Timestamp": 0,
                "CloudWatchMetrics": [
                    {"Namespace": "AWS/Lambda", "Dimensions": [[]], "Metrics": [{"Name": "Requests"}]}
                ],
            },
        },
        {
            **good,
            "_aws": {
                **good["_aws"],
                "CloudWatchMetrics": [
                    {"Namespace": "N", "Dimensions": [["outcome"]], "Metrics": [{"Name": "Requests", "Unit": "Counts"}]}
                ],
            },
        },
        {
            **good,
            "_aws": {
                **good["_aws"],
                "CloudWatchMetrics": [
                    {"Namespace": "N", "Dimensions": [["outcome"]], "Metrics": [{"Name": f"M{i}"} for i in range(101)]}
                ],
            },
        },
    ]
    for document in broken:
        with pytest.raises((AssertionError, jsonschema.ValidationError)):
            assert_valid_emf(document)
