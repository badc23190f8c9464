"""The API Gateway (REST API, Lambda proxy integration, payload 1.0) part of the local product.

``build_proxy_event`` turns an HTTP request into the event API Gateway would hand the Lambda function,
``LambdaContext`` mimics the Python runtime's context object, and ``proxy_response`` turns the
function's answer back into an HTTP status, headers and body, the way API Gateway does (a handler that
raises, or answers something API Gateway cannot use, becomes ``502 {"message": "Internal server error"}``).
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from mysfits.settings import API_STAGE_NAME
from mysfits.standins.endpoint import LOCAL_ACCOUNT_ID
from mysfits.standins.limits import FUNCTION_TIMEOUT_SECONDS

API_ID = "local"
FUNCTION_NAME = "mysfits-recommendations"
INTERNAL_ERROR = (502, {"Content-Type": "application/json"}, b'{"message": "Internal server error"}')

_TEXT_TYPES = (
    "application/json",
    "application/x-www-form-urlencoded",
    "application/xml",
    "application/javascript",
    "application/jsonlines",
)


def _is_text(content_type: str | None) -> bool:
    if not content_type:
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return media.startswith("text/") or media.endswith("+json") or media.endswith("+xml") or media in _TEXT_TYPES


def build_proxy_event(
    *,
    method: str,
    raw_path: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    source_ip: str,
    resource: str,
    host: str,
    port: int,
    request_id: str,
    region: str,
) -> dict[str, Any]:
    """The REST API proxy event (payload format 1.0) for one request."""
    path, _, query = raw_path.partition("?")
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in headers:
        single[name] = value
        multi.setdefault(name, []).append(value)
    forwarded = {"X-Forwarded-For": source_ip, "X-Forwarded-Port": str(port), "X-Forwarded-Proto": "http"}
    for name, value in forwarded.items():
        single.setdefault(name, value)
        multi.setdefault(name, [value])
    user_agent = next((v for k, v in single.items() if k.lower() == "user-agent"), None)
    content_type = next((v for k, v in single.items() if k.lower() == "content-type"), None)

    query_multi = parse_qs(query, keep_blank_values=True) if query else {}
    query_single = {k: v[-1] for k, v in query_multi.items()}

    if not body:
        event_body, is_base64 = None, False
    elif _is_text(content_type):
        # A text payload reaches the function as a UTF-8 string; bytes that are not UTF-8 become U+FFFD.
        event_body, is_base64 = body.decode("utf-8", errors="replace"), False
    else:
        event_body, is_base64 = base64.b64encode(body).decode("ascii"), True

    now = datetime.now(UTC)
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": single,
        "multiValueHeaders": multi,
        "queryStringParameters": query_single or None,
        "multiValueQueryStringParameters": query_multi or None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "local0",
            "resourcePath": resource,
            "httpMethod": method,
            "extendedRequestId": request_id[:16],
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "path": f"/{API_STAGE_NAME}{path}",
            "accountId": LOCAL_ACCOUNT_ID,
            "protocol": "HTTP/1.1",
            "stage": API_STAGE_NAME,
            "domainPrefix": host.split(".", 1)[0],
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "requestId": request_id,
            "identity": {
                "cognitoIdentityPoolId": None,
                "accountId": None,
                "cognitoIdentityId": None,
                "caller": None,
                "sourceIp": source_ip,
                "principalOrgId": None,
                "accessKey": None,
                "cognitoAuthenticationType": None,
                "cognitoAuthenticationProvider": None,
                "userArn": None,
                "userAgent": user_agent,
                "user": None,
            },
            "domainName": host,
            "apiId": API_ID,
        },
        "body": event_body,
        "isBase64Encoded": is_base64,
    }


class LambdaContext:
    """What the Lambda Python runtime passes as ``context``."""

    def __init__(self, region: str, timeout_s: float = FUNCTION_TIMEOUT_SECONDS) -> None:
        self.function_name = FUNCTION_NAME
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{LOCAL_ACCOUNT_ID}:function:{FUNCTION_NAME}"
        self.memory_limit_in_mb = "256"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{FUNCTION_NAME}"
        self.log_stream_name = f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]local"
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def proxy_response(result: Any) -> tuple[int, dict[str, str], bytes]:
    """A Lambda proxy result → (status, headers, body); anything API Gateway rejects → 502."""
    if not isinstance(result, dict):
        return INTERNAL_ERROR
    status = result.get("statusCode")
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        return INTERNAL_ERROR
    headers: dict[str, str] = {}
    for name, values in (result.get("multiValueHeaders") or {}).items():
        if isinstance(values, list) and values:
            headers[str(name)] = ", ".join(str(v) for v in values)
    for name, value in (result.get("headers") or {}).items():
        headers[str(name)] = str(value)
    body = result.get("body")
    if body is None:
        raw = b""
    elif isinstance(body, str):
        if result.get("isBase64Encoded"):
            try:
                raw = base64.b64decode(body, validate=True)
            except ValueError:
                return INTERNAL_ERROR
        else:
            raw = body.encode("utf-8")
    else:
        return INTERNAL_ERROR
    if not any(name.lower() == "content-type" for name in headers):
        headers["Content-Type"] = "application/json"
    return status, headers, raw
