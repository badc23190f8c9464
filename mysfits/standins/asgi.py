"""What the two local servers share: uvicorn (h11) in a thread, JSON for every error, and bounded work.

uvicorn parses HTTP/1.1 strictly with h11 and gives a real listen backlog and an idle keep-alive timeout.
Three things it does not do are added here:

* ``JsonH11Protocol``: the errors uvicorn writes itself (malformed requests, headers over h11's size limit,
  unsupported transfer codings) are JSON ``{"message": ...}`` with h11's status (400, 414, 431, 501); a request
  line that is not ``METHOD target HTTP/1.x`` (HTTP/0.9's ``GET /`` included) is answered as soon as it ends
  (400, or 505 for other versions); and a request's line and headers must arrive within a deadline from the
  connection or from the request's first byte (uvicorn's keep-alive timer stops at the first byte, so a client
  sending one header byte a second would otherwise hold its connection forever);
* ``Guard``: the ASGI middleware in front of each app: 501 for methods it does not know, 414 for long URLs,
  400 for Transfer-Encoding with Content-Length, a cap on requests in flight answered at once with 503 JSON and
  ``Retry-After``, JSON instead of uvicorn's plain-text 500, and one log line per request;
* ``read_body``: a body cap checked against Content-Length before reading and while reading chunks, and a
  deadline for the whole body.
"""

from __future__ import annotations

import asyncio
import http
import json
import logging
import re
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

import h11
import uvicorn
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from mysfits.standins import limits

SKIPPABLE_BODY_BYTES = 64 * 1024
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"})
JSON_TYPE = "application/json"

# uvicorn logs through these; the product prints its own request lines, and errors become JSON replies.
for _name in ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi"):
    logging.getLogger(_name).addHandler(logging.NullHandler())
    logging.getLogger(_name).propagate = False


def json_body(message: str) -> bytes:
    return json.dumps({"message": message}).encode()


def json_error(status: int, message: str, headers: dict[str, str] | None = None, *, close: bool = False) -> Response:
    """A JSON error reply; ``close`` when the request's unread body must not be taken for the next request."""
    extra = {**(headers or {}), **({"Connection": "close"} if close else {})}
    return Response(json_body(message), status_code=status, headers=extra, media_type=JSON_TYPE)


class BodyRefused(Exception):
    """The body was not accepted; ``reply`` says why (the connection is closed after it)."""

    def __init__(self, reply: Response) -> None:
        super().__init__(reply.status_code)
        self.reply = reply


async def read_body(request: Request, cap: int, too_large: str) -> bytes:
    """The whole body, or ``BodyRefused``: 413 before reading when Content-Length is over ``cap``, 413 as soon as
    chunks add up to more, 408 when it takes longer than the body deadline."""
    declared = request.headers.get("content-length")  # h11 has checked it is one plain decimal number
    if declared is not None and int(declared) > cap:
        raise BodyRefused(json_error(413, too_large, close=True))
    parts: list[bytes] = []
    total = 0
    try:
        async with asyncio.timeout(limits.BODY_DEADLINE_SECONDS):
            async for chunk in request.stream():
                total += len(chunk)
                if total > cap:
                    raise BodyRefused(json_error(413, too_large, close=True))
                parts.append(chunk)
    except TimeoutError:
        raise BodyRefused(json_error(408, "The request body did not arrive in time", close=True)) from None
    return b"".join(parts)


def _raw_reply(status: int, message: str) -> bytes:
    """A complete HTTP/1.1 JSON reply that closes the connection, for answers h11 cannot frame."""
    body = json_body(message)
    phrase = http.HTTPStatus(status).phrase
    head = (
        f"HTTP/1.1 {status} {phrase}\r\nContent-Type: {JSON_TYPE}\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


PROTOCOL_ERRORS = {
    400: "Malformed HTTP/1.1 request",
    414: f"The request line is too long (limit {limits.MAX_URL_BYTES} bytes for the URL)",
    431: f"Request header fields too large (limit {limits.MAX_HEADER_BYTES} bytes)",
    501: "Transfer-Encoding not implemented: only a single 'chunked' is supported",
    505: "HTTP version not supported: use HTTP/1.1 (or HTTP/1.0)",
}
_REQUEST_LINE = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+ [^\x00-\x20\x7f]+ HTTP/(\d\.\d)\r?")


def _request_line_refusal(line: bytes) -> int | None:
    """400 for a line that is not ``METHOD target HTTP/x.y`` (HTTP/0.9's ``GET /`` included), 505 for versions
    other than 1.0 and 1.1; checked as soon as the line ends, so such clients are answered at once."""
    match = _REQUEST_LINE.fullmatch(line)
    if match is None:
        return 400
    return None if match.group(1) in (b"1.0", b"1.1") else 505


class _CoalescingTransport:
    """One ``send`` per reply: uvicorn writes a reply's head and body separately, and with TCP_NODELAY each write
    is a segment and a system call of its own (on loopback, most of a small request's cost). Writes made in one
    turn of the event loop are joined and written at its end; ``close`` writes what is pending first."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not data:
            return
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(data)

    def _flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class JsonH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with JSON protocol errors and a deadline for each request's head."""

    _head_deadline: asyncio.TimerHandle | None = None
    _awaiting_request_line = True
    _line_start = b""
    _head_bytes = 0
    _in_head = True  # between requests: waiting for (the rest of) a request line and headers

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]
        self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._awaiting_request_line:
            # Empty lines before a request line are ignored (RFC 9112, 2.2).
            self._line_start = (self._line_start + data).lstrip(b"\r\n")[: limits.MAX_HEADER_BYTES]
            line, newline, _ = self._line_start.partition(b"\n")
            if newline:
                self._awaiting_request_line = False
                self._line_start = b""
                refusal = _request_line_refusal(line)
                if refusal is not None:
                    self._refuse(refusal)
                    return
        self._head_bytes += len(data)
        if self._in_head and self._head_deadline is None:
            self._arm_head_deadline()  # the first byte of a request on a kept-alive connection
        cycle = self.cycle
        super().data_received(data)
        if self.cycle is not cycle:  # a request's head was parsed: its deadline is met
            self._in_head = False
            self._disarm_head_deadline()

    def on_response_complete(self) -> None:
        cycle = self.cycle
        super().on_response_complete()
        if not self.transport.is_closing() and self.cycle is cycle:  # no pipelined request started
            # Idle from here: uvicorn's keep-alive timer closes the connection; a next request's first
            # byte starts its head deadline.
            self._in_head = True
            self._awaiting_request_line = True
            self._head_bytes = 0

    def send_400_response(self, msg: str) -> None:
        # Called from uvicorn's `except h11.RemoteProtocolError`; the exception carries h11's status hint.
        error = sys.exc_info()[1]
        status = getattr(error, "error_status_hint", 400) if isinstance(error, h11.RemoteProtocolError) else 400
        if status == 431 and self._awaiting_request_line:
            status = 414  # the buffer overflowed before the request line ended: the URL is what is too long
        self._refuse(status if status in PROTOCOL_ERRORS else 400)

    def _refuse(self, status: int) -> None:
        self._disarm_head_deadline()
        if not self.transport.is_closing():
            self.transport.write(_raw_reply(status, PROTOCOL_ERRORS[status]))
            self.transport.close()

    def _arm_head_deadline(self) -> None:
        self._disarm_head_deadline()
        self._head_deadline = self.loop.call_later(limits.HEADER_DEADLINE_SECONDS, self._head_too_slow)

    def _disarm_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if self.transport.is_closing():
            return
        if self._head_bytes:  # a request was started and not finished in time
            self.transport.write(_raw_reply(408, "The request headers did not arrive in time"))
        self.transport.close()


def _small_body(scope: Scope) -> bool:
    """Whether the request declares a body small enough to skip instead of closing the connection."""
    headers = dict(scope["headers"])
    if b"transfer-encoding" in headers:
        return False
    return int(headers.get(b"content-length", b"0")) <= SKIPPABLE_BODY_BYTES


def _overloaded() -> Response:
    retry = {"Retry-After": str(limits.RETRY_AFTER_SECONDS)}
    return json_error(503, "The server is at its concurrency limit; retry shortly", retry, close=True)


class Guard:
    """ASGI middleware in front of a local app: refuse what it must not serve, bound the work, log each request."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        log_stream: TextIO | None,
        log_prefix: str = "",
        max_in_flight: int | None = None,
        overloaded: Callable[[], Response] | None = None,
    ) -> None:
        self.app = app
        self.overloaded = overloaded or _overloaded
        self.log_stream = log_stream
        self.log_prefix = f"{log_prefix} " if log_prefix else ""
        self.max_in_flight = limits.MAX_IN_FLIGHT_REQUESTS if max_in_flight is None else max_in_flight
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        status_seen: list[int] = []

        async def send_and_note(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_seen.append(message["status"])
            await send(message)

        refusal = self._refusal(scope)
        if refusal is not None:
            await refusal(scope, receive, send_and_note)
        else:
            self.in_flight += 1
            try:
                await self.app(scope, receive, send_and_note)
            except Exception:
                if status_seen:
                    raise  # the reply has begun: uvicorn closes the connection
                await json_error(500, "Internal server error", close=True)(scope, receive, send_and_note)
            finally:
                self.in_flight -= 1
        self._log(scope, status_seen[0] if status_seen else 0, started)

    def _refusal(self, scope: Scope) -> Response | None:
        method = scope["method"]
        if method not in KNOWN_METHODS:
            return json_error(501, f"Method {method[:40]} is not implemented", close=True)
        if len(scope["raw_path"]) + len(scope["query_string"]) > limits.MAX_URL_BYTES:
            return json_error(414, PROTOCOL_ERRORS[414], close=True)
        if sum(len(name) + len(value) + 4 for name, value in scope["headers"]) > limits.MAX_HEADER_BYTES:
            return json_error(431, PROTOCOL_ERRORS[431], close=True)  # a head that came in one piece
        names = {name for name, _ in scope["headers"]}
        if b"transfer-encoding" in names and b"content-length" in names:
            return json_error(400, "Transfer-Encoding and Content-Length must not be sent together", close=True)
        if self.in_flight >= self.max_in_flight:
            reply = self.overloaded()
            if _small_body(scope):  # uvicorn skips a small unread body; the client keeps its connection
                del reply.headers["connection"]
            return reply
        return None

    def _log(self, scope: Scope, status: int, started: float) -> None:
        stream = self.log_stream
        if stream is None:
            return
        path = scope["raw_path"].decode("latin-1")[:200]
        elapsed_ms = (time.perf_counter() - started) * 1000
        try:
            stream.write(f"{self.log_prefix}{scope['method'][:20]} {path} {status} {elapsed_ms:.1f}ms\n")
            stream.flush()
        except (OSError, ValueError):
            pass


def bind(host: str, port: int) -> socket.socket:
    """A listening socket with the real backlog; ``OSError`` (EADDRINUSE...) from here, before serving."""
    # proto=IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP, and without it
    # a reply written in two parts waits for the client's delayed ACK (40 ms a request).
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(limits.LISTEN_BACKLOG)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _one_line_loop_errors(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """What the event loop cannot handle, as one line: at the open-file limit asyncio stops accepting for a
    second and retries (no busy loop), and says so here instead of with a traceback every second."""
    error = context.get("exception")
    detail = f": {error}" if error is not None else ""
    print(f"mysfits-local: {context.get('message', 'event loop error')}{detail}", file=sys.stderr, flush=True)


class LocalServer:
    """One uvicorn server on an already bound socket, served by its own thread and event loop."""

    def __init__(self, app: ASGIApp, sock: socket.socket) -> None:
        self._sock = sock
        self.host: str
        self.port: int
        self.host, self.port = sock.getsockname()[:2]
        self.url = f"http://{self.host}:{self.port}"  # without a trailing slash
        config = uvicorn.Config(
            app,
            http=JsonH11Protocol,
            ws="none",
            lifespan="off",
            log_config=None,
            access_log=False,
            proxy_headers=False,
            server_header=False,
            backlog=limits.LISTEN_BACKLOG,
            timeout_keep_alive=limits.IDLE_KEEP_ALIVE_SECONDS,
            timeout_graceful_shutdown=3,
            h11_max_incomplete_event_size=limits.MAX_HEADER_BYTES,
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None
        self.started_threads: list[threading.Thread] = []

    def start(self, name: str) -> None:
        """Serve in a thread; return once the server accepts connections."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            async def main() -> None:
                asyncio.get_running_loop().set_exception_handler(_one_line_loop_errors)
                task = asyncio.ensure_future(self._server.serve(sockets=[self._sock]))
                while not (self._server.started or task.done()):
                    await asyncio.sleep(0.005)
                ready.set()
                await task

            try:
                asyncio.run(main())
            except BaseException as error:
                failure.append(error)
            finally:
                ready.set()

        self._thread = threading.Thread(target=serve, name=name, daemon=True)
        self.started_threads.append(self._thread)
        self._thread.start()
        ready.wait(timeout=30)
        if failure:
            raise failure[0]

    def stop(self) -> None:
        """Stop accepting, finish replies in flight (up to the graceful timeout), close every connection."""
        if self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
            self._thread = None
        self._sock.close()


class ServedBy:
    """``host``, ``port`` and ``url`` (no trailing slash) of what ``_server`` serves: one definition for each."""

    _server: LocalServer

    @property
    def host(self) -> str:
        return self._server.host

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def url(self) -> str:
        return self._server.url
