"""The local product as a hostile or careless client sees it: raw bytes on a socket, every reply JSON.

Each case sends exactly the bytes that matter (an HTTP client library would fix them up) and reads one reply.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time

import pytest

from benchmarks.load import burst
from mysfits.project_files import load_openapi
from mysfits.standins import limits
from mysfits.standins.endpoint import LocalEndpoint
from mysfits.standins.server import start_local_product
from tests.local_support import ENDPOINT, request

pytestmark = pytest.mark.slow  # servers waiting out real deadlines and bursts

SEED = b'{"entry": [1, 2, 3, 4, 5]}'


@pytest.fixture(scope="module")
def product(trained_model_dir):
    with start_local_product(port=0, model_dir=trained_model_dir) as running:
        yield running


def read_reply(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One Content-Length framed reply: status, lower-cased headers, body."""
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed without a reply (got {received!r})"
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    length = int(headers["content-length"])
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed mid-body"
        body += chunk
    assert len(body) == length, "more bytes than the reply declared"
    return int(lines[0].split(" ")[1]), headers, body


def exchange(port: int, data: bytes, *, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes, bool]:
    """Send ``data``, read one reply; also say whether the server then closed the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        # The server may answer and close before it has read everything we send.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(data)
        status, headers, body = read_reply(sock)
        sock.settimeout(0.3)  # a server that keeps the connection sends nothing more
        try:
            closed = sock.recv(1) == b""
        except ConnectionResetError:
            closed = True
        except TimeoutError:
            closed = False
    return status, headers, body, closed


def post(path: str, body: bytes, *headers: str) -> bytes:
    head = "".join(f"{line}\r\n" for line in ("Host: 127.0.0.1", *headers))
    return f"POST {path} HTTP/1.1\r\n{head}\r\n".encode() + body


def assert_json_error(reply, status: int, *, closed: bool = True) -> str:
    got_status, headers, body, got_closed = reply
    assert got_status == status, body
    assert headers["content-type"] == "application/json"
    message = json.loads(body)["message"]
    assert isinstance(message, str)
    assert message
    if closed:
        assert got_closed, "the connection must be closed after a framing error"
    return message


# --- framing and the HTTP layer's own errors ------------------------------------------------------------
@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"GET /\r\n", 400),  # HTTP/0.9: answered at once, not left waiting for headers
        (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
        (b"GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n", 400),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),  # TLS to a plain port
        (post("/recommendations", SEED, "Content-Length: +26"), 400),
        (post("/recommendations", SEED, "Content-Length: 2_6"), 400),
        (post("/recommendations", SEED, "Content-Length: 26", "Content-Length: 27"), 400),
        (post("/recommendations", SEED, "Content-Length: 26, 27"), 400),
        (post("/recommendations", SEED, "Content-Length: -1"), 400),
        (post("/recommendations", b"0x1a\r\n" + SEED + b"\r\n0\r\n\r\n", "Transfer-Encoding: chunked"), 400),
        (post("/recommendations", b"-1\r\n" + SEED + b"\r\n0\r\n\r\n", "Transfer-Encoding: chunked"), 400),
        (post("/recommendations", b"1a\r\n" + SEED + b"\r\n0\r\n\r\n", "Transfer-Encoding: xchunked"), 501),
        (post("/recommendations", b"1a\r\n" + SEED + b"\r\n0\r\n\r\n", "Transfer-Encoding: gzip, chunked"), 501),
        (
            post(
                "/recommendations",
                b"1a\r\n" + SEED + b"\r\n0\r\n\r\n",
                "Transfer-Encoding: chunked",
                "Content-Length: 26",
            ),
            400,
        ),
        (b"GET / HTTP/1.1\r\n\r\n", 400),  # HTTP/1.1 without Host
        (b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n", 400),
    ],
)
def test_malformed_requests_get_a_json_error_and_a_closed_connection(product, data, status):
    assert_json_error(exchange(product.port, data), status)


def test_the_same_errors_from_the_endpoint_are_json(product):
    chunked_minus_one = post(
        f"/endpoints/{ENDPOINT}/invocations", b"-1\r\n1,2\r\n0\r\n\r\n", "Transfer-Encoding: chunked"
    )
    assert_json_error(exchange(product.endpoint.port, chunked_minus_one), 400)
    assert_json_error(exchange(product.endpoint.port, b"GET /\r\n"), 400)


@pytest.mark.parametrize("method", ["BREW", "PROPFIND", "get", "M-SEARCH"])
def test_unrecognized_methods_are_501_json(product, method):
    message = assert_json_error(exchange(product.port, f"{method} / HTTP/1.1\r\nHost: x\r\n\r\n".encode()), 501)
    assert "not implemented" in message


@pytest.mark.parametrize(("path", "allow"), [("/recommendations", "POST"), ("/index.html", "GET, HEAD")])
@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"])
def test_known_methods_on_the_wrong_path_are_405_with_allow(product, path, allow, method):
    status, headers, body, _ = exchange(product.port, f"{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert status == 405
    assert headers["allow"] == allow
    assert method in json.loads(body)["message"]


@pytest.mark.parametrize("length", [limits.MAX_URL_BYTES + 1, 4 * limits.MAX_HEADER_BYTES])
def test_a_long_url_is_414_json(product, length):
    data = f"GET /{'a' * length} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    assert_json_error(exchange(product.port, data), 414)


def test_long_headers_are_431_json(product):
    data = f"GET / HTTP/1.1\r\nHost: x\r\nX-Big: {'b' * 2 * limits.MAX_HEADER_BYTES}\r\n\r\n".encode()
    assert_json_error(exchange(product.port, data), 431)


# --- bodies: capped before they are read, chunked or not --------------------------------------------------
def test_a_declared_oversized_body_is_413_before_it_is_sent(product):
    started = time.perf_counter()
    reply = exchange(product.port, post("/recommendations", b"", "Content-Length: 100000000"))
    assert "too large" in assert_json_error(reply, 413)
    # Answered without waiting for 100 MB that never comes (the body deadline alone would take 10 s).
    assert time.perf_counter() - started < limits.BODY_DEADLINE_SECONDS / 2


@pytest.mark.parametrize("chunk_size", [b"10001", b"FFFFFFFFFFFFFFFF", b"fffffffffffffffffff"])
def test_an_oversized_chunk_is_413_after_at_most_the_cap(product, chunk_size):
    head = post("/recommendations", b"", "Transfer-Encoding: chunked")
    to_send = min(int(chunk_size, 16), 64 * 1024 * 1024)  # the chunk's data, never more (that would be malformed)
    with socket.create_connection(("127.0.0.1", product.port), timeout=5) as sock:
        sock.sendall(head + chunk_size + b"\r\n")
        sent = 0
        try:  # the server stops reading at the cap: our writes then stall or are refused
            sock.settimeout(0.5)
            while sent < to_send:
                sent += sock.send(b"x" * min(65536, to_send - sent))
        except (TimeoutError, BrokenPipeError, ConnectionResetError):
            pass
        sock.settimeout(5)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
    assert received.startswith(b"HTTP/1.1 413 "), received[:200]
    assert b'"message": "Request body too large' in received
    assert sent < 32 * 1024 * 1024, "the server kept reading far past the cap"


def test_many_small_chunks_over_the_cap_are_413(product):
    chunks = b"".join(b"400\r\n" + b"x" * 1024 + b"\r\n" for _ in range(80)) + b"0\r\n\r\n"
    reply = exchange(product.port, post("/recommendations", chunks, "Transfer-Encoding: chunked"))
    assert_json_error(reply, 413)


def test_a_chunked_body_in_bounds_is_served(product):
    body = b"1a\r\n" + SEED + b"\r\n0\r\n\r\n"
    status, _, payload, _ = exchange(product.port, post("/recommendations", body, "Transfer-Encoding: chunked"))
    assert status == 200
    assert "recommendedMysfit" in json.loads(payload)


def test_invalid_utf8_in_a_plain_body_is_told_so(product):
    body = b'{"entry": [1, 2, 3, 4, 5], "\xff": 1}'
    reply = exchange(
        product.port, post("/recommendations", body, f"Content-Length: {len(body)}", "Content-Type: application/json")
    )
    message = assert_json_error(reply, 400, closed=False)
    assert "UTF-8" in message
    assert "base64" not in message


# --- deadlines ------------------------------------------------------------------------------------------
@pytest.fixture
def short_deadlines(monkeypatch):
    monkeypatch.setattr(limits, "HEADER_DEADLINE_SECONDS", 0.5)
    monkeypatch.setattr(limits, "BODY_DEADLINE_SECONDS", 0.5)


def test_headers_sent_slowly_are_cut_off_with_408(product, short_deadlines):
    with socket.create_connection(("127.0.0.1", product.port), timeout=5) as sock:
        started = time.perf_counter()
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        received = b""
        try:
            for _ in range(20):  # one header byte every 0.1 s: each byte would restart an idle timer
                sock.sendall(b"X")
                time.sleep(0.1)
        except (BrokenPipeError, ConnectionResetError):
            pass
        while chunk := sock.recv(65536):
            received += chunk
    assert received.startswith(b"HTTP/1.1 408 ")
    assert b'"message"' in received
    assert time.perf_counter() - started < 4  # the socket itself would wait 5 s


def test_a_silent_connection_is_closed_at_the_header_deadline(product, short_deadlines):
    with socket.create_connection(("127.0.0.1", product.port), timeout=5) as sock:
        started = time.perf_counter()
        assert sock.recv(1) == b""
    assert time.perf_counter() - started < 4  # the socket itself would wait 5 s


def test_an_idle_keep_alive_connection_outlives_the_header_deadline(product, short_deadlines):
    with socket.create_connection(("127.0.0.1", product.port), timeout=5) as sock:
        for _ in range(2):
            sock.sendall(b"GET /styles.css HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_reply(sock)[0] == 200
            time.sleep(1.0)  # idle for twice the header deadline: only the keep-alive timeout applies


def test_a_body_sent_slowly_is_cut_off_with_408(product, short_deadlines):
    with socket.create_connection(("127.0.0.1", product.port), timeout=5) as sock:
        sock.sendall(post("/recommendations", b"{", "Content-Length: 26"))
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    assert received.startswith(b"HTTP/1.1 408 ")
    assert b'"message": "The request body did not arrive in time"' in received


# --- bounded work and the Lambda's behaviour --------------------------------------------------------------
def slow_handler(seconds: float):
    def handler(event, context):
        time.sleep(seconds)
        return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": "{}"}

    return handler


def test_over_the_in_flight_cap_is_503_json_with_retry_after_at_once(trained_model_dir, monkeypatch):
    monkeypatch.setattr(limits, "MAX_IN_FLIGHT_REQUESTS", 2)
    with start_local_product(port=0, model_dir=trained_model_dir) as small:
        monkeypatch.setattr(small.handler_module, "handler", slow_handler(3.0))
        busy = [threading.Thread(target=request, args=(small.url, "POST", "/recommendations", SEED)) for _ in range(2)]
        for thread in busy:
            thread.start()
        time.sleep(0.3)
        started = time.perf_counter()
        reply = exchange(small.port, post("/recommendations", SEED, "Content-Length: 26"))
        elapsed = time.perf_counter() - started
        # A body too large to skip is not read: that connection is closed after the 503.
        unread = exchange(small.port, post("/recommendations", b"", "Transfer-Encoding: chunked"))
        for thread in busy:
            thread.join()
        assert elapsed < 1.5  # not after the 3 s the requests in flight take
        message = assert_json_error(reply, 503, closed=False)  # a small body is skipped; the client may go on
        assert_json_error(unread, 503, closed=True)
        assert reply[1]["retry-after"] == str(limits.RETRY_AFTER_SECONDS)
        assert "retry" in message
        assert request(small.url, "GET", "/")[0] == 200  # and served again once the work is done


def test_a_function_past_its_timeout_is_502_internal_server_error(trained_model_dir, monkeypatch):
    with start_local_product(port=0, model_dir=trained_model_dir, function_timeout_s=0.3) as product:
        monkeypatch.setattr(product.handler_module, "handler", slow_handler(3.0))
        started = time.perf_counter()
        status, _, body = request(product.url, "POST", "/recommendations", SEED)
        assert time.perf_counter() - started < 2.5  # given up on at 0.3 s, not after the 3 s it takes
    assert (status, json.loads(body)) == (502, {"message": "Internal server error"})


def test_a_crashing_function_is_502_internal_server_error(product, monkeypatch, capsys):
    def crash(event, context):
        raise RuntimeError("boom")

    monkeypatch.setattr(product.handler_module, "handler", crash)
    status, headers, body = request(product.url, "POST", "/recommendations", SEED)
    assert (status, json.loads(body)) == (502, {"message": "Internal server error"})
    assert headers["x-amzn-requestid"]


def test_the_function_timeout_is_the_stacks(product, synthesized):
    """The local gateway gives up when Lambda would stop the function the default stacks deploy."""
    (function,) = synthesized.resources("MysfitsRecommendations", "AWS::Lambda::Function").values()
    assert product.function_timeout_s == function["Properties"]["Timeout"] == limits.FUNCTION_TIMEOUT_SECONDS


def test_a_refused_connection_to_the_endpoint_is_502_as_documented(trained_model_dir):
    document = load_openapi()
    documented = document["paths"]["/recommendations"]["post"]["responses"]["502"]["description"]
    assert "could not be reached" in documented
    with start_local_product(port=0, model_dir=trained_model_dir) as product:
        product.endpoint.stop()  # nothing listens on the endpoint's port any more
        status, _, body = request(product.url, "POST", "/recommendations", SEED)
    assert (status, json.loads(body)) == (502, {"message": "the recommendation model could not be reached"})


def test_the_endpoint_sheds_load_like_sagemaker(knn_model, monkeypatch):
    monkeypatch.setattr(limits, "MAX_IN_FLIGHT_REQUESTS", 0)
    with LocalEndpoint(port=0) as endpoint:
        endpoint.deploy(ENDPOINT, knn_model)
        status, headers, body = request(
            endpoint.url, "POST", f"/endpoints/{ENDPOINT}/invocations", "1,2,3,4,5", {"Content-Type": "text/csv"}
        )
    assert (status, headers["x-amzn-errortype"].split(":")[0]) == (503, "ServiceUnavailable")
    assert headers["retry-after"] == str(limits.RETRY_AFTER_SECONDS)
    assert json.loads(body)["message"]


def test_a_burst_of_1000_connections_is_answered_within_seconds(product):
    result = burst(product.port, connections=1000, within_s=15.0)
    outcomes = result["outcomes"]
    assert result["answered"] == 1000, outcomes
    assert set(outcomes) <= {"ok", "shed"}, outcomes  # 200, or 503 with Retry-After
    assert outcomes.get("ok", 0) > 0
