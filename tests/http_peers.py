"""Fake AWS or Jupyter peers on 127.0.0.1 for tests: JSON answers, and no log noise in pytest's output."""

from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler


class JsonPeer(BaseHTTPRequestHandler):
    def send_json(self, status: int, body: bytes, headers: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the tests assert on what the peer received instead."""
