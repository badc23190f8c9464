"""The local product: website + API (API Gateway → the real handler) + the endpoint stand-in, and the CLI."""

from __future__ import annotations

import http.client
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mysfits.project_files import CATALOG_PATH, OPENAPI_PATH, PROJECT_ROOT
from mysfits.settings import CONTENT_SECURITY_POLICY
from mysfits.standins.apigw import build_proxy_event, proxy_response
from mysfits.standins.server import PortInUseError, start_local_product
from tests.local_support import (
    ENDPOINT,
    MYSFIT_IDS,
    SEED_ANSWERS,
    expected_mysfit,
    free_port,
    request,
    started_threads,
)

pytestmark = pytest.mark.slow  # whole local products, and `python -m mysfits serve` in subprocesses

JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def product(trained_model_dir):
    with start_local_product(port=0, model_dir=trained_model_dir) as running:
        yield running


def post(product, body, headers=None):
    status, headers, payload = request(product.url, "POST", "/recommendations", body, headers or JSON)
    return status, headers, json.loads(payload)


def test_a_running_product_leaves_the_environment_as_it_was(trained_model_dir, knn_model, monkeypatch):
    """Only its handler sees the local endpoint and keys: other code in the process keeps the real environment."""
    monkeypatch.setenv("AWS_SESSION_TOKEN", "the-callers-session")
    monkeypatch.delenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", raising=False)
    before = dict(os.environ)
    with start_local_product(port=0, model_dir=trained_model_dir) as running:
        assert dict(os.environ) == before
        status, _, body = post(running, json.dumps({"entry": SEED_ANSWERS}))
        assert (status, body["recommendedMysfit"]) == (200, expected_mysfit(knn_model, SEED_ANSWERS)["mysfitId"])
    assert dict(os.environ) == before


# --- the API -----------------------------------------------------------------------------------------
def test_the_seed_curl_body_gets_the_models_mysfit(product, knn_model):
    # curl -d '{"entry": [1,2,3,4,5]}' http://127.0.0.1:8080/recommendations -X POST (a form content type)
    status, headers, body = post(
        product, '{"entry": [1,2,3,4,5]}', {"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert body["recommendedMysfit"] in MYSFIT_IDS
    expected = expected_mysfit(knn_model, SEED_ANSWERS)
    assert body["recommendedMysfit"] == expected["mysfitId"]
    assert body["mysfit"]["name"] == expected["name"]


@pytest.mark.parametrize(
    "answers", [[1, 1, 1, 1, 1], [8, 8, 8, 8, 8], [2, 7, 3, 6, 4], [5, 1, 8, 2, 6], [3, 3, 5, 5, 7]]
)
def test_answers_map_to_the_models_prediction(product, knn_model, answers):
    status, _, body = post(product, json.dumps({"entry": answers}))
    assert status == 200
    assert body["recommendedMysfit"] == expected_mysfit(knn_model, answers)["mysfitId"]


@pytest.mark.parametrize(
    "body",
    [
        "",
        "not json",
        "[]",
        '{"entry": [1,2,3,4]}',
        '{"entry": [1,2,3,4,9]}',
        '{"entry": [1,2,3,4,"5"]}',
        '{"entry": [1,2,3,4,5.5]}',
        '{"answers": [1,2,3,4,5]}',
        '{"entry": [1,2,3,4,5], "x": 1}',
        '{"entry": [' + "1," * 600 + "1]}",
    ],
)
def test_bad_bodies_are_400_json(product, body):
    status, headers, payload = post(product, body)
    assert status == 400
    assert headers["content-type"] == "application/json"
    assert isinstance(payload["message"], str)
    assert payload["message"]


def test_the_body_cap_is_413_json(product):
    status, _, payload = post(product, "x" * (64 * 1024 + 1))
    assert status == 413
    assert "too large" in payload["message"]


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_other_methods_on_the_api_are_405_json(product, method):
    status, headers, body = request(product.url, method, "/recommendations")
    assert status == 405
    assert headers["allow"] == "POST"
    assert "message" in json.loads(body)


def test_keep_alive_serves_many_requests_on_one_connection(product):
    conn = http.client.HTTPConnection("127.0.0.1", product.port, timeout=10)
    try:
        for _ in range(20):
            conn.request("POST", "/recommendations", body=b'{"entry": [1,2,3,4,5]}', headers=JSON)
            response = conn.getresponse()
            assert response.status == 200
            response.read()
            conn.request("GET", "/styles.css")
            response = conn.getresponse()
            assert response.status == 200
            response.read()
    finally:
        conn.close()


def test_the_endpoint_down_is_503_naming_it_then_back_up(trained_model_dir, knn_model):
    with start_local_product(port=0, model_dir=trained_model_dir, endpoint_deployed=False) as down:
        assert not down.endpoint_deployed
        status, headers, body = post(down, '{"entry": [1,2,3,4,5]}')
        assert status == 503
        assert headers["content-type"] == "application/json"
        assert ENDPOINT in body["message"]
        down.deploy_endpoint()
        status, _, body = post(down, '{"entry": [1,2,3,4,5]}')
        assert status == 200
        assert body["recommendedMysfit"] == expected_mysfit(knn_model, SEED_ANSWERS)["mysfitId"]
        down.undeploy_endpoint()
        assert post(down, '{"entry": [1,2,3,4,5]}')[0] == 503


def test_a_custom_endpoint_name_reaches_the_handler(trained_model_dir):
    with start_local_product(port=0, model_dir=trained_model_dir, endpoint_name="my-other-endpoint") as other:
        assert post(other, '{"entry": [1,2,3,4,5]}')[0] == 200
        other.undeploy_endpoint()
        status, _, body = post(other, '{"entry": [1,2,3,4,5]}')
        assert status == 503
        assert "my-other-endpoint" in body["message"]


# --- the website -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/", "text/html; charset=utf-8"),
        ("/index.html", "text/html; charset=utf-8"),
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/styles.css", "text/css; charset=utf-8"),
        ("/questionnaire.json", "application/json"),
        ("/mysfits.json", "application/json"),
        ("/img/dragon.svg", "image/svg+xml"),
        ("/img/placeholder.svg", "image/svg+xml"),
        ("/img/favicon.svg", "image/svg+xml"),
        ("/docs", "text/html; charset=utf-8"),  # local only: the API document rendered by mysfits/standins/docs
        ("/docs/docs.js", "text/javascript; charset=utf-8"),
        ("/docs/docs.css", "text/css; charset=utf-8"),
        ("/openapi.json", "application/json"),
    ],
)
def test_static_files_with_content_types_and_csp(product, path, content_type):
    status, headers, body = request(product.url, "GET", path)
    assert status == 200
    assert headers["content-type"] == content_type
    assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert headers["x-content-type-options"] == "nosniff"
    assert body


def test_the_catalog_is_served_from_the_single_source(product):
    assert request(product.url, "GET", "/mysfits.json")[2] == CATALOG_PATH.read_bytes()


def test_the_api_document_is_served_from_the_single_source(product):
    assert request(product.url, "GET", "/openapi.json")[2] == OPENAPI_PATH.read_bytes()


def test_head_has_headers_and_no_body(product):
    status, headers, body = request(product.url, "HEAD", "/index.html")
    assert status == 200
    assert int(headers["content-length"]) > 0
    assert body == b""


@pytest.mark.parametrize(
    "path",
    [
        "/../pyproject.toml",
        "/%2e%2e/pyproject.toml",
        "/img/../../pyproject.toml",
        "/img/%2e%2e/%2e%2e/pyproject.toml",
        "/..%2fpyproject.toml",
        "/%2e%2e%2fmysfits%2f__init__.py",
        "/..\\pyproject.toml",
        "/%5c..%5cpyproject.toml",
        "//etc/passwd",
        "/%2fetc%2fpasswd",
        "/.gitignore",
        "/../.git/config",
        "/index.html%00.png",
        "/img/",
        "/img",
        "/web/index.html",
        "/nope.html",
    ],
)
def test_traversal_and_unknown_paths_are_404(product, path):
    status, _, body = request(product.url, "GET", path)
    assert status == 404
    assert b"pyproject" not in body
    assert b"root:" not in body


def test_other_methods_on_files_are_405(product):
    status, headers, _ = request(product.url, "DELETE", "/index.html")
    assert status == 405
    assert headers["allow"] == "GET, HEAD"
    assert request(product.url, "POST", "/nothing-here")[0] == 404


# --- the API Gateway adapter -------------------------------------------------------------------------
def test_event_is_payload_1_0_with_base64_only_for_non_text():
    common = {
        "method": "POST",
        "raw_path": "/recommendations?a=1&a=2&b=",
        "source_ip": "127.0.0.1",
        "resource": "/recommendations",
        "host": "127.0.0.1",
        "port": 8080,
        "request_id": "req-1",
        "region": "us-east-1",
    }
    text = build_proxy_event(headers=[("Content-Type", "application/json")], body=b'{"entry": []}', **common)
    assert text["body"] == '{"entry": []}'
    assert text["isBase64Encoded"] is False
    assert text["path"] == "/recommendations"
    assert text["queryStringParameters"] == {"a": "2", "b": ""}
    assert text["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": [""]}
    assert text["requestContext"]["requestId"] == "req-1"
    assert text["requestContext"]["identity"]["sourceIp"] == "127.0.0.1"
    assert text["requestContext"]["path"] == "/prod/recommendations"
    binary = build_proxy_event(headers=[("Content-Type", "application/octet-stream")], body=b"\x00\xff", **common)
    assert binary["isBase64Encoded"] is True
    assert binary["body"] == "AP8="
    empty = build_proxy_event(headers=[], body=b"", **common)
    assert empty["body"] is None


def test_unusable_handler_results_become_502():
    assert proxy_response(None)[0] == 502
    assert proxy_response({"statusCode": "200"})[0] == 502
    assert proxy_response({"statusCode": 200, "body": {"not": "a string"}})[0] == 502
    assert proxy_response({"statusCode": 201, "body": "aGk=", "isBase64Encoded": True}) == (
        201,
        {"Content-Type": "application/json"},
        b"hi",
    )


def test_a_busy_port_raises_port_in_use(trained_model_dir):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(PortInUseError, match="already in use"):
            start_local_product(port=busy.getsockname()[1], model_dir=trained_model_dir)


def test_stop_leaves_no_threads(trained_model_dir):
    running = start_local_product(port=0, model_dir=trained_model_dir)
    conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=5)
    conn.request("POST", "/recommendations", body=b'{"entry": [1,2,3,4,5]}', headers=JSON)
    assert conn.getresponse().read()  # the keep-alive connection stays open while we stop
    running.stop()
    conn.close()
    # Every thread this server started (accept loop, one per connection) has ended.
    assert not [t for t in threading.enumerate() if t in started_threads(running)]


# --- python -m mysfits serve -------------------------------------------------------------------------
class Serve:
    """`python -m mysfits serve` as a subprocess, its output read by a thread (bounded waits)."""

    def __init__(self, *args: str, env: dict[str, str] | None = None, inherit_ignored_sigint: bool = False) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mysfits", "serve", *args],
            cwd=PROJECT_ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            # As a shell's background job (`make demo &`) does: SIGINT starts out ignored.
            preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if inherit_ignored_sigint else None,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None and self.lines.empty():
                    break
                continue
            self.output.append(line)
            if text in line:
                return line
        raise AssertionError(f"{text!r} not printed; output so far:\n{''.join(self.output)}")

    def finish(self, timeout: float = 60) -> tuple[int, str]:
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=5)
        while not self.lines.empty():
            self.output.append(self.lines.get())
        return code, "".join(self.output)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_serve_starts_answers_and_stops_cleanly(trained_model_dir, knn_model, stop_signal):
    port = free_port()
    serve = Serve("--model-dir", str(trained_model_dir), env={"PORT": str(port)})  # PORT sets the default
    try:
        line = serve.wait_for("Mysfits running at")
        assert f"http://127.0.0.1:{port}/" in line
        url = f"http://127.0.0.1:{port}"
        status, _, body = request(url, "POST", "/recommendations", '{"entry": [1,2,3,4,5]}')
        assert status == 200
        assert json.loads(body)["recommendedMysfit"] == expected_mysfit(knn_model, SEED_ANSWERS)["mysfitId"]
        assert request(url, "GET", "/")[0] == 200
        handler_line = json.loads(serve.wait_for('"_aws"', timeout=10))  # the line CloudWatch would get, EMF too
        assert (handler_line["outcome"], handler_line["status"], handler_line["Requests"]) == ("recommended", 200, 1)
        serve.wait_for("POST /recommendations 200", timeout=10)
        serve.proc.send_signal(stop_signal)
        code, output = serve.finish()
    finally:
        serve.kill()
    assert code == 0, output
    assert "Traceback" not in output
    assert "Stopping" in output


def test_ctrl_c_stops_serve_even_when_started_with_sigint_ignored(trained_model_dir):
    serve = Serve("--port", "0", "--model-dir", str(trained_model_dir), inherit_ignored_sigint=True)
    try:
        serve.wait_for("Mysfits running at")
        serve.proc.send_signal(signal.SIGINT)
        code, output = serve.finish()
    finally:
        serve.kill()
    assert code == 0, output
    assert "Stopping" in output


def test_serve_on_a_busy_port_exits_2_with_one_line(trained_model_dir):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        serve = Serve("--port", str(port), "--model-dir", str(trained_model_dir))
        try:
            code, output = serve.finish(timeout=30)
        finally:
            serve.kill()
    assert code == 2
    assert f"port {port} on 127.0.0.1 is already in use" in output
    assert "Traceback" not in output
    assert len(output.strip().splitlines()) == 1


def test_serve_trains_a_model_when_there_is_none(tmp_path: Path):
    serve = Serve("--port", "0", "--model-dir", str(tmp_path / "model"))
    try:
        serve.wait_for("training one now", timeout=30)
        line = serve.wait_for("Mysfits running at", timeout=120)
        url = line.split("Mysfits running at ", 1)[1].strip().rstrip("/")
        assert request(url, "POST", "/recommendations", '{"entry": [1,2,3,4,5]}')[0] == 200
        serve.proc.send_signal(signal.SIGINT)
        code, output = serve.finish()
    finally:
        serve.kill()
    assert code == 0, output
    assert (tmp_path / "model" / "model.json").is_file()


def test_serve_with_a_model_dir_that_is_a_file_exits_2_with_one_line(tmp_path: Path):
    not_a_dir = tmp_path / "model.txt"
    not_a_dir.write_text("not a directory")
    serve = Serve("--port", "0", "--model-dir", str(not_a_dir))
    try:
        code, output = serve.finish(timeout=30)
    finally:
        serve.kill()
    assert code == 2
    assert output.strip() == f"error: --model-dir {not_a_dir} is not a directory (a model directory holds model.json)"
