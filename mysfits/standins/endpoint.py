"""A local stand-in for a SageMaker real-time endpoint hosting the built-in k-NN algorithm.

It speaks the SageMaker runtime wire protocol (``InvokeEndpoint``, rest-json) so an unmodified boto3
``sagemaker-runtime`` client, pointed at it with ``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME``, behaves as it
does against AWS:

* ``POST /endpoints/{EndpointName}/invocations`` with ``Content-Type``
  ``text/csv`` (one row of features per line; ``;label_size=N`` drops N leading columns, 0 by default),
  ``application/json`` (``{"instances": [{"features": [...]}, ...]}``) or
  ``application/jsonlines`` (``{"features": [...]}`` per line); ``Accept`` ``application/json``
  (the default) → ``{"predictions": [{"predicted_label": 3.0}, ...]}`` with float labels like k-NN,
  or ``application/jsonlines`` → one ``{"predicted_label": 3.0}`` per line.
* Errors carry SageMaker's status, ``x-amzn-ErrorType`` header and JSON body, so botocore raises the same
  ``ClientError`` codes: an endpoint that is not deployed → 400 ``ValidationError``
  ("Endpoint NAME of account ACCOUNT not found."); a payload the model rejects (malformed CSV/JSON, wrong
  number of features, values outside 1..8) → 424 ``ModelError`` with ``OriginalStatusCode`` 400; an
  unsupported content type → 424 ``ModelError`` with ``OriginalStatusCode`` 415 (SageMaker wraps the
  container's 415); an unsupported Accept → ``OriginalStatusCode`` 406; a model crash → 424 with 500.

It is served by uvicorn like the website (``mysfits.standins.asgi``): requests over the in-flight cap get
SageMaker's 503 ``ServiceUnavailable`` with ``Retry-After`` at once, and bodies over the 6 MB payload limit
are refused before they are read.

Endpoints are deployed by name (``deploy``/``undeploy``), so "the endpoint is down" can be simulated
exactly as AWS reports a deleted endpoint.
"""

from __future__ import annotations

import json
import math
import re
import threading
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TextIO
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import Response

from mysfits.standins import limits
from mysfits.standins.asgi import BodyRefused, Guard, LocalServer, ServedBy, bind, read_body

LOCAL_ACCOUNT_ID = "000000000000"
DEFAULT_REGION = "us-east-1"
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # InvokeEndpoint's documented payload limit
ENDPOINT_NAME_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")
PATH_RE = re.compile(r"^/endpoints/([^/]+)/invocations$")
SUPPORTED_CONTENT_TYPES = ("text/csv", "application/json", "application/jsonlines")
VARIANT_NAME = "AllTraffic"
_ERROR_NS = "http://internal.amazon.com/coral/com.amazon.sagemaker.runtime/"


class Predictor(Protocol):
    def predict(self, rows: list[list[float]]) -> list[int]: ...


class ModelFailure(Exception):
    """What the model container answered instead of predictions (wrapped by SageMaker as a ModelError)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# --- payload formats (what the k-NN container accepts and returns) ------------------------------------
def parse_media_type(value: str | None) -> tuple[str, dict[str, str]]:
    """``"text/csv; label_size=0"`` → ``("text/csv", {"label_size": "0"})``."""
    if not value:
        return "", {}
    media, *params = value.split(";")
    parsed = {}
    for param in params:
        key, _, val = param.partition("=")
        if key.strip():
            parsed[key.strip().lower()] = val.strip().strip('"')
    return media.strip().lower(), parsed


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ModelFailure(400, f"{where}: feature values must be numbers, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ModelFailure(400, f"{where}: feature values must be finite numbers")
    return number


def _features_of(record: Any, where: str) -> list[float]:
    if not isinstance(record, dict):
        raise ModelFailure(400, f"{where}: expected an object with 'features'")
    features = record.get("features")
    if features is None and isinstance(record.get("data"), dict):  # {"data": {"features": {"values": []}}}
        dense = record["data"].get("features")
        features = dense.get("values") if isinstance(dense, dict) else None
    if not isinstance(features, list):
        raise ModelFailure(400, f"{where}: expected 'features' to be a list of numbers")
    return [_number(v, where) for v in features]


def parse_payload(body: bytes, content_type: str | None) -> list[list[float]]:
    """Decode an inference request into rows of features, as the k-NN container does."""
    media, params = parse_media_type(content_type)
    if media not in SUPPORTED_CONTENT_TYPES:
        shown = content_type or "(none)"
        raise ModelFailure(
            415,
            f"Content type {shown} is not supported by this algorithm; use one of {', '.join(SUPPORTED_CONTENT_TYPES)}",
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ModelFailure(400, "Unable to decode the payload as UTF-8") from None
    rows: list[list[float]] = []
    if media == "text/csv":
        try:
            label_size = int(params.get("label_size", "0"))
        except ValueError:
            raise ModelFailure(400, f"Invalid label_size parameter {params['label_size']!r}") from None
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                values = [float(cell) for cell in line.split(",")]
            except ValueError:
                raise ModelFailure(400, f"Unable to parse CSV line {number}: {line[:80]!r}") from None
            if not all(math.isfinite(v) for v in values):
                raise ModelFailure(400, f"CSV line {number}: feature values must be finite numbers")
            rows.append(values[label_size:])
    elif media == "application/json":
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise ModelFailure(400, f"Unable to parse JSON payload: {exc}") from None
        instances = document.get("instances") if isinstance(document, dict) else None
        if not isinstance(instances, list):
            raise ModelFailure(400, "JSON payload must be an object with an 'instances' list")
        rows = [_features_of(inst, f"instance {i}") for i, inst in enumerate(instances)]
    else:  # application/jsonlines
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise ModelFailure(400, f"Unable to parse JSON line {number}: {exc}") from None
            rows.append(_features_of(record, f"line {number}"))
    if not rows:
        raise ModelFailure(400, "The payload holds no records to predict")
    return rows


def render_predictions(labels: Sequence[int], accept: str | None) -> tuple[bytes, str]:
    """k-NN's reply: float ``predicted_label`` s, JSON (default) or JSON Lines."""
    media, _ = parse_media_type(accept)
    records = [{"predicted_label": float(label)} for label in labels]
    if media in ("", "*/*", "application/*", "application/json"):
        return json.dumps({"predictions": records}).encode(), "application/json"
    if media == "application/jsonlines":
        return "\n".join(json.dumps(r) for r in records).encode(), "application/jsonlines"
    raise ModelFailure(406, f"Accept type {accept} is not supported; use application/json or application/jsonlines")


# --- the HTTP side --------------------------------------------------------------------------------------
def sagemaker_error(status: int, error_type: str, body: dict[str, Any], *, close: bool = False) -> Response:
    """An error as SageMaker's runtime sends it: status, ``x-amzn-ErrorType`` and a JSON body."""
    headers = {"x-amzn-RequestId": str(uuid.uuid4()), "x-amzn-ErrorType": f"{error_type}:{_ERROR_NS}"}
    if close:
        headers["Connection"] = "close"
    return Response(json.dumps(body).encode(), status_code=status, headers=headers, media_type="application/json")


def _overloaded() -> Response:
    reply = sagemaker_error(503, "ServiceUnavailable", {"message": "The service is unavailable; retry shortly"})
    reply.headers["Retry-After"] = str(limits.RETRY_AFTER_SECONDS)
    reply.headers["Connection"] = "close"
    return reply


def _validation_error(message: str, *, close: bool = False) -> Response:
    return sagemaker_error(400, "ValidationError", {"message": message}, close=close)


def _unknown_operation(request: Request) -> Response:
    # A body we will not read must not be taken for the next request.
    unread = request.headers.get("content-length") not in (None, "0") or "transfer-encoding" in request.headers
    return sagemaker_error(404, "UnknownOperationException", {"message": "Unknown operation"}, close=unread)


class EndpointApp:
    """The ASGI app of the SageMaker runtime stand-in: ``POST /endpoints/{name}/invocations``."""

    def __init__(self, registry: EndpointRegistry) -> None:
        self.registry = registry

    async def __call__(self, scope, receive, send) -> None:
        request = Request(scope, receive)
        response = await self.invoke(request)
        await response(scope, receive, send)

    async def invoke(self, request: Request) -> Response:
        match = PATH_RE.match(request.scope["raw_path"].decode("latin-1"))
        if request.method != "POST" or match is None:
            return _unknown_operation(request)
        too_large = f"Request payload exceeds the maximum allowed size of {MAX_PAYLOAD_BYTES} bytes"
        try:
            body = await read_body(request, MAX_PAYLOAD_BYTES, too_large)
        except BodyRefused as refused:
            if refused.reply.status_code == 413:
                return _validation_error(too_large, close=True)
            return refused.reply
        name = unquote(match.group(1))
        if not ENDPOINT_NAME_RE.match(name) or len(name) > 63:
            return _validation_error(
                f"1 validation error detected: Value '{name}' at 'endpointName' failed to satisfy "
                "constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9])*"
            )
        predictor = self.registry.get(name)
        if predictor is None:
            return _validation_error(f"Endpoint {name} of account {self.registry.account_id} not found.")
        try:
            rows = parse_payload(body, request.headers.get("content-type"))
            try:
                labels = predictor.predict(rows)
            except ValueError as exc:
                raise ModelFailure(400, str(exc)) from None
            except Exception as exc:
                raise ModelFailure(500, f"Internal error while predicting: {type(exc).__name__}") from None
            reply, reply_type = render_predictions(labels, request.headers.get("accept"))
        except ModelFailure as failure:
            return self._model_error(name, failure)
        headers = {"x-amzn-RequestId": str(uuid.uuid4()), "x-Amzn-Invoked-Production-Variant": VARIANT_NAME}
        return Response(reply, headers=headers, media_type=reply_type)

    def _model_error(self, name: str, failure: ModelFailure) -> Response:
        region, account = self.registry.region, self.registry.account_id
        kind = "client" if failure.status < 500 else "server"
        log_group = f"/aws/sagemaker/Endpoints/{name}"
        message = (
            f'Received {kind} error ({failure.status}) from primary with message "{failure.message}". '
            f"See https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
            f"#logEventViewer:group={log_group} in account {account} for more information."
        )
        body = {
            "ErrorCode": f"{kind.upper()}_ERROR_FROM_MODEL",
            "LogStreamArn": f"arn:aws:logs:{region}:{account}:log-group:{log_group}",
            "Message": message,
            "OriginalMessage": failure.message,
            "OriginalStatusCode": failure.status,
        }
        return sagemaker_error(424, "ModelError", body)


class EndpointRegistry:
    """Which endpoint names are "InService", and the predictor behind each."""

    def __init__(self, account_id: str, region: str) -> None:
        self.account_id = account_id
        self.region = region
        self._predictors: dict[str, Predictor] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> Predictor | None:
        return self._predictors.get(name)

    def deploy(self, name: str, predictor: Predictor) -> None:
        with self._lock:
            self._predictors = {**self._predictors, name: predictor}

    def undeploy(self, name: str) -> None:
        with self._lock:
            self._predictors = {k: v for k, v in self._predictors.items() if k != name}


class LocalEndpoint(ServedBy):
    """The local SageMaker runtime: an HTTP server on 127.0.0.1 hosting named k-NN endpoints.

    >>> with LocalEndpoint(port=0) as runtime:
    ...     runtime.deploy("mysfits-recommender", KnnModel.load(path))
    ...     boto3.client("sagemaker-runtime", endpoint_url=runtime.url, ...)
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        account_id: str = LOCAL_ACCOUNT_ID,
        region: str = DEFAULT_REGION,
        log_stream: TextIO | None = None,
    ) -> None:
        self.registry = EndpointRegistry(account_id, region)
        app = Guard(EndpointApp(self.registry), log_stream=log_stream, log_prefix="[endpoint]", overloaded=_overloaded)
        self._server = LocalServer(app, bind(host, port))  # binds now: a busy port fails here
        self._started = False

    def deploy(self, name: str, predictor: Predictor | Callable[[list[list[float]]], list[int]]) -> None:
        if not hasattr(predictor, "predict"):
            predictor = _FunctionPredictor(predictor)
        self.registry.deploy(name, predictor)

    def undeploy(self, name: str) -> None:
        self.registry.undeploy(name)

    def start(self) -> LocalEndpoint:
        if not self._started:
            self._server.start("mysfits-endpoint")
            self._started = True
        return self

    def stop(self) -> None:
        self._server.stop()
        self._started = False

    @property
    def started_threads(self) -> list[threading.Thread]:
        return self._server.started_threads

    def __enter__(self) -> LocalEndpoint:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class _FunctionPredictor:
    def __init__(self, fn: Callable[[list[list[float]]], list[int]]) -> None:
        self.predict = fn
