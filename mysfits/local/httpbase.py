"""Small shared pieces of the two local HTTP servers (website/API and SageMaker endpoint stand-in).

Both are stdlib ``ThreadingHTTPServer`` s speaking HTTP/1.1 with keep-alive. ``LocalHTTPServer`` tracks
its open connections so ``stop()`` can wake idle keep-alive readers and join every handler thread: no
orphan threads after a stop, and no wait for clients to hang up first.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import weakref
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TextIO

# Idle keep-alive connections are closed after this many seconds (the handler thread then exits).
IDLE_TIMEOUT_S = 30.0


class BodyError(Exception):
    """The request body could not be read; ``status`` says how to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class LocalHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that knows its connections and stops completely."""

    daemon_threads = True
    block_on_close = True  # server_close() joins the handler threads

    def __init__(self, address: tuple[str, int], handler_cls: type[BaseHTTPRequestHandler]) -> None:
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        # Every thread this server started, weakly (finished ones vanish): tests check none outlives stop().
        self.started_threads: weakref.WeakSet[threading.Thread] = weakref.WeakSet()
        super().__init__(address, handler_cls)

    # socketserver hooks -------------------------------------------------------------------------
    def process_request(self, request, client_address):
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)
        if self._threads:  # ThreadingMixIn keeps the per-connection threads it started (joined on close)
            self.started_threads.add(self._threads[-1])

    def shutdown_request(self, request):
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request, client_address):
        # A client that went away mid-response is not worth a traceback on the console.
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError | OSError):
            return
        super().handle_error(request, client_address)

    # lifecycle ----------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def host(self) -> str:
        return str(self.server_address[0])

    @property
    def url(self) -> str:
        """Base URL without a trailing slash."""
        return f"http://{self.host}:{self.port}"

    def start(self, name: str) -> None:
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.2}, name=name)
        self._thread.daemon = True
        self.started_threads.add(self._thread)
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting, wake idle keep-alive connections, join all threads, close the socket."""
        if self._thread is not None:
            self.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            # SHUT_RD wakes a handler blocked reading the next request; a reply in flight still goes out.
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RD)
        self.server_close()


class QuietHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive handler base: no default stderr logging; helpers to read and answer."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # small keep-alive replies must not wait for delayed ACKs
    timeout = IDLE_TIMEOUT_S
    server_version = "mysfits-local/1.0"
    sys_version = ""
    log_stream: TextIO | None = None  # set per server class; None = silent
    _headers_buffer: list[bytes]  # BaseHTTPRequestHandler's own (set by send_header); typeshed leaves it out

    def log_message(self, format, *args):
        pass

    def log_line(self, status: int, elapsed_ms: float, prefix: str) -> None:
        stream = self.log_stream
        if stream is not None:
            try:
                lead = f"{prefix} " if prefix else ""
                stream.write(f"{lead}{self.command} {self.path} {status} {elapsed_ms:.1f}ms\n")
                stream.flush()
            except (OSError, ValueError):
                pass

    def read_body(self, cap: int) -> bytes:
        """Read the whole request body (Content-Length or chunked), refusing more than ``cap`` bytes."""
        transfer_encoding = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in transfer_encoding:
            return self._read_chunked(cap)
        raw_length = self.headers.get("Content-Length")
        if raw_length is None:
            return b""
        try:
            length = int(raw_length)
        except ValueError:
            self.close_connection = True
            raise BodyError(400, "Invalid Content-Length header") from None
        if length < 0:
            self.close_connection = True
            raise BodyError(400, "Invalid Content-Length header")
        if length > cap:
            self.close_connection = True  # the unread body must not be taken for the next request
            raise BodyError(413, f"Request body too large (limit {cap} bytes)")
        body = self.rfile.read(length)
        if len(body) != length:
            self.close_connection = True
            raise BodyError(400, "Incomplete request body")
        return body

    def _read_chunked(self, cap: int) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                self.close_connection = True
                raise BodyError(400, "Malformed chunked body") from None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            total += size
            if total > cap:
                self.close_connection = True
                raise BodyError(413, f"Request body too large (limit {cap} bytes)")
            parts.append(self.rfile.read(size))
            self.rfile.readline(8)  # CRLF after the chunk

    def send_bytes(self, status: int, body: bytes, headers: dict[str, str], *, head_only: bool = False) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self._headers_buffer.append(b"\r\n")
        if not head_only and body:
            self._headers_buffer.append(body)  # one write for headers and body
        self.flush_headers()
