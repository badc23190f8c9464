"""POST /recommendations: five answers in, the k-NN endpoint's Mysfit out. Set up once per container."""

import base64
import json
import logging
import os
import time
from typing import Any, NamedTuple

import boto3
from botocore import exceptions as boto_errors
from botocore.config import Config

ENDPOINT_NAME = os.environ.get("ENDPOINT_NAME", "")
# Sized for the endpoint's hosting by the stack (mysfits/settings.py invoke_budget): attempts x (connect + read)
# plus standard retry's <=1 s backoff ends before the function's timeout, so it can still answer 504.
CONNECT_TIMEOUT_SECONDS = int(os.environ.get("INVOKE_CONNECT_TIMEOUT_SECONDS", "1"))
READ_TIMEOUT_SECONDS = int(os.environ.get("INVOKE_READ_TIMEOUT_SECONDS", "2"))
MAX_ATTEMPTS = int(os.environ.get("INVOKE_MAX_ATTEMPTS", "2"))
MAX_BODY_BYTES = 1024  # a valid body is ~25 bytes; 1 KB allows pretty JSON and bounds the work junk costs
FIELDS = ("mysfitId", "name", "species", "description", "age", "goodEvil", "lawChaos")
RULE = "entry must be an array of 5 integers from 1 to 8"
TOO_LARGE = f"the body must be at most {MAX_BODY_BYTES} bytes"
MODEL = "the recommendation model"
Event = dict[str, Any]
Log = dict[str, Any]  # the request's log line, which is also its EMF metrics document
Response = dict[str, Any]


class Failure(NamedTuple):
    """A request that gets no Mysfit: its `outcome` metric dimension, HTTP status and message for the caller."""

    outcome: str
    status: int
    message: str
    retry_after: bool = False  # transient: tell the caller when to try again


BUSY = Failure("throttled", 503, f"{MODEL} is busy; retry shortly", retry_after=True)
# SageMaker error code -> what the caller gets; ModelNotReady is transient: 503.
ENDPOINT_ERRORS = dict.fromkeys(("Throttling", "ThrottlingException", "TooManyRequestsException"), BUSY) | {
    "ModelNotReadyException": Failure("model_not_ready", 503, f"{MODEL} is loading; retry shortly", True),
    "ServiceUnavailable": Failure("sagemaker_unavailable", 503, "SageMaker is unavailable; retry shortly", True),
    "ModelError": Failure("model_error", 502, f"{MODEL} failed"),
}
UPSTREAM_FAILED = Failure("upstream_error", 502, f"{MODEL} request failed")
UNREACHABLE = Failure("unreachable", 502, f"{MODEL} could not be reached")
TIMED_OUT = Failure("timeout", 504, f"{MODEL} did not answer in time")
INVALID_REPLY = Failure("invalid_reply", 502, f"{MODEL} gave an invalid answer")
NOT_CONFIGURED = Failure("not_configured", 500, "the recommendation service is not configured")
INTERNAL_ERROR = Failure("internal_error", 500, "internal error")
# ConnectTimeoutError is also an EndpointConnectionError: timeouts are told apart first.
TIMEOUTS = (boto_errors.ReadTimeoutError, boto_errors.ConnectTimeoutError)
NOT_UTF8 = "the body must be valid UTF-8 (it holds U+FFFD, which stands in for invalid bytes)"
# Lambda's JSON log format lifts `extra` to top-level fields; elsewhere the message itself is the JSON.
LAMBDA_JSON_LOGS = os.environ.get("AWS_LAMBDA_LOG_FORMAT", "").upper() == "JSON"
# The log line doubles as CloudWatch Embedded Metric Format: `_aws` must sit at the top level of the log event,
# which is where Lambda's JSON log format puts `extra`. Requests counts by outcome (and by Mysfit); no API call.
METRICS_NAMESPACE = os.environ.get("METRICS_NAMESPACE") or "Mysfits/Recommendations"
REQUESTS = [{"Name": "Requests", "Unit": "Count"}]
BY_OUTCOME = {"Namespace": METRICS_NAMESPACE, "Dimensions": [["outcome"]], "Metrics": REQUESTS}
BY_OUTCOME_AND_MYSFIT = {"Namespace": METRICS_NAMESPACE, "Dimensions": [["outcome"], ["mysfit"]], "Metrics": REQUESTS}
MODEL_LATENCY_MS = [{"Name": "ModelLatency", "Unit": "Milliseconds"}]
MODEL_LATENCY = {"Namespace": METRICS_NAMESPACE, "Dimensions": [[]], "Metrics": MODEL_LATENCY_MS}
logger = logging.getLogger("recommendations")


def _load_catalog() -> dict[int, dict[str, Any]]:
    """Label -> Mysfit; a broken mysfits.json must fail the deployment, not a request."""
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "mysfits.json"), "rb") as file:
        mysfits = json.load(file)["mysfits"]
    by_label = {m.get("label"): m for m in mysfits if m.keys() >= {*FIELDS}}
    labels_ok = all(type(label) is int for label in by_label) and sorted(by_label) == list(range(12))
    labels_ok = labels_ok and all(type(m["name"]) is str and m["name"] for m in by_label.values())  # a dimension
    if not labels_ok or len(mysfits) != 12 or len({m["mysfitId"] for m in mysfits}) != 12:
        raise ValueError("mysfits.json must hold 12 complete Mysfits with distinct ids, labels 0..11 and names")
    return by_label


MYSFITS_BY_LABEL = _load_catalog()
RECOMMENDATIONS = [  # the 200 bodies, rendered once
    json.dumps({"recommendedMysfit": m["mysfitId"], "mysfit": {f: m[f] for f in FIELDS}})
    for _, m in sorted(MYSFITS_BY_LABEL.items())
]
runtime_client = boto3.client(
    "sagemaker-runtime",
    config=Config(
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        retries={"total_max_attempts": MAX_ATTEMPTS, "mode": "standard"},  # "max_attempts" counts retries
    ),
)


class BadRequest(Exception):
    """A client mistake; its text is the 400 message."""


def _answers(event: Event) -> list[int]:
    """The five answers, checked exactly like the API's RecommendationRequest model."""
    body, encoded = event.get("body"), event.get("isBase64Encoded")
    if not body or not isinstance(body, str | bytes):
        raise BadRequest('a JSON body is required, e.g. {"entry": [1, 2, 3, 4, 5]}')
    if len(body) > 2 * MAX_BODY_BYTES:  # cheap bound before decoding; the exact one follows
        raise BadRequest(TOO_LARGE)
    try:
        text = base64.b64decode(body, validate=True) if encoded else body
        text = text.decode() if isinstance(text, bytes) else text
    except ValueError:
        raise BadRequest("the body must be UTF-8" + (" in base64" if encoded else "")) from None
    if len(text.encode(errors="surrogatepass")) > MAX_BODY_BYTES:
        raise BadRequest(TOO_LARGE)
    if "\ufffd" in text:  # API Gateway passes a text body as UTF-8, replacing the bytes that are not
        raise BadRequest(NOT_UTF8)
    try:
        request = json.loads(text)
    except (ValueError, RecursionError):
        raise BadRequest("the body is not valid JSON") from None
    if type(request) is not dict or "entry" not in request:
        raise BadRequest(f'the body must be a JSON object with "entry": {RULE}')
    for key in request:
        if key != "entry":
            raise BadRequest(f'unknown field {json.dumps(key[:40])}: only "entry" is allowed')
    entry = request["entry"]
    if type(entry) is not list or len(entry) != 5:
        raise BadRequest(RULE + (f", got {len(entry)}" if type(entry) is list else ""))
    for index, answer in enumerate(entry):
        if type(answer) is not int or not 1 <= answer <= 8:  # strict like draft 4: no 3.0, no true
            raise BadRequest(f"entry[{index}] must be an integer from 1 to 8")
    return entry


def _label(payload: bytes) -> int | None:
    """The catalog label in a reply like {"predictions": [{"predicted_label": 3.0}]}, else None."""
    try:
        (prediction,) = json.loads(payload)["predictions"]
        label = prediction["predicted_label"]
    except (ValueError, TypeError, KeyError, RecursionError):
        return None
    if type(label) is float and label.is_integer():
        label = int(label)
    return label if type(label) is int and label in MYSFITS_BY_LABEL else None


def _reply(log: Log, outcome: str, status: int, body: str, retry_after: bool = False) -> Response:
    log["outcome"], log["status"] = outcome, status
    headers = {"Content-Type": "application/json", "Cache-Control": "no-store"}
    if retry_after:
        headers["Retry-After"] = "1"
    return {"statusCode": status, "headers": headers, "body": body}


def _fail(log: Log, failure: Failure) -> Response:
    log["reason"] = failure.message
    return _reply(log, failure.outcome, failure.status, json.dumps({"message": failure.message}), failure.retry_after)


def _endpoint_error(log: Log, error: boto_errors.ClientError) -> Response:
    """Map a SageMaker error to what the caller can act on; log its code, never its body."""
    code = log["error"] = error.response.get("Error", {}).get("Code", "")
    text = str(error.response.get("Error", {}).get("Message", "")).lower()
    if code.startswith("Validation") and ("not found" in text or "service" in text):
        missing = f"{MODEL} is not deployed: SageMaker endpoint {ENDPOINT_NAME!r} is missing or not in service"
        return _fail(log, Failure("not_deployed", 503, missing))
    if error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 429:
        return _fail(log, ENDPOINT_ERRORS.get(code, BUSY))
    return _fail(log, ENDPOINT_ERRORS.get(code, UPSTREAM_FAILED))


def _recommend(event: Event, log: Log) -> Response:
    try:
        answers = log["answers"] = _answers(event)
    except BadRequest as problem:
        return _fail(log, Failure("bad_request", 400, str(problem)))
    if not ENDPOINT_NAME:
        return _fail(log, NOT_CONFIGURED)
    started = time.perf_counter()
    try:
        reply = runtime_client.invoke_endpoint(
            EndpointName=ENDPOINT_NAME,
            ContentType="text/csv",
            Accept="application/json",
            Body=",".join(map(str, answers)),
        )
        label = log["label"] = _label(reply["Body"].read())
    except boto_errors.ClientError as error:
        return _endpoint_error(log, error)
    except boto_errors.BotoCoreError as error:
        log["error"] = type(error).__name__
        if isinstance(error, TIMEOUTS):
            return _fail(log, TIMED_OUT)
        if isinstance(error, boto_errors.EndpointConnectionError):
            return _fail(log, UNREACHABLE)
        return _fail(log, UPSTREAM_FAILED)
    finally:
        log["modelMs"] = round((time.perf_counter() - started) * 1000, 3)
    if label is None:
        return _fail(log, INVALID_REPLY)
    log["mysfit"] = MYSFITS_BY_LABEL[label]["name"]
    return _reply(log, "recommended", 200, RECOMMENDATIONS[label])


def _add_metrics(log: Log) -> None:
    """Make the log line an EMF document: Requests=1 by outcome (and Mysfit), ModelLatency when it was called."""
    directives = [BY_OUTCOME_AND_MYSFIT if "mysfit" in log else BY_OUTCOME]
    log["Requests"] = 1
    if "modelMs" in log:
        log["ModelLatency"] = log["modelMs"]
        directives.append(MODEL_LATENCY)
    log["_aws"] = {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": directives}


def handler(event: Event, context: object) -> Response:
    """Lambda entry point (API Gateway REST proxy, payload 1.0): always a JSON reply, never a raise."""
    started = time.perf_counter()
    event = event if type(event) is dict else {}
    api_context: dict[str, Any] = event["requestContext"] if type(event.get("requestContext")) is dict else {}
    log: Log = {"requestId": getattr(context, "aws_request_id", None) or api_context.get("requestId")}
    try:
        response = _recommend(event, log)
    except Exception as error:  # a bug still answers JSON, without a stack trace
        log["error"] = type(error).__name__
        response = _fail(log, INTERNAL_ERROR)
    log["latencyMs"] = round((time.perf_counter() - started) * 1000, 3)
    level = logging.INFO if log["status"] < 500 else logging.WARNING if log["status"] > 500 else logging.ERROR
    if logger.isEnabledFor(level):
        _add_metrics(log)
        logger.log(level, "recommendation" if LAMBDA_JSON_LOGS else json.dumps(log), extra=log)
    return response
