"""Limits the local product shares with the stacks, in a module that imports neither aws_cdk nor a server.

The Lambda function's timeout lives here so that the CDK construct (``Duration.seconds(...)``) and the local
gateway (which stops waiting for the handler after the same time, as Lambda does) cannot drift apart.
"""

# Lambda stops the recommendation function after this many seconds (the construct's `timeout`).
FUNCTION_TIMEOUT_SECONDS = 10
# API Gateway REST stops waiting for an integration after 29 s (504 "Endpoint request timed out"); the
# function's timeout is below it, so a slow function ends as a function error (502) first.
API_GATEWAY_INTEGRATION_TIMEOUT_SECONDS = 29

# The local HTTP servers (uvicorn): listen queue, deadlines, sizes and bounded work.
LISTEN_BACKLOG = 2048
IDLE_KEEP_ALIVE_SECONDS = 30  # an idle keep-alive connection is closed after this (as before uvicorn)
HEADER_DEADLINE_SECONDS = 10.0  # from its first byte (or the connection), a request's head must arrive in this
BODY_DEADLINE_SECONDS = 10.0  # the whole body must arrive within this, or 408 and close
MAX_HEADER_BYTES = 16 * 1024  # request line + headers; above: 431 (h11's incomplete-event limit)
MAX_URL_BYTES = 8 * 1024  # above: 414
MAX_IN_FLIGHT_REQUESTS = 64  # per server; above: 503 with Retry-After at once, nothing queued
HANDLER_WORKERS = 4  # concurrent handler invocations: more threads only contend for the GIL on 2 cores
RETRY_AFTER_SECONDS = 1
