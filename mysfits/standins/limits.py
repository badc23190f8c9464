"""The local product's limits, in a module that imports neither aws_cdk nor a server.

The function's timeout comes from the same budget the CDK construct uses (``mysfits.settings.invoke_budget``):
the local endpoint answers like an instance endpoint, so the local gateway stops waiting for the handler after the
instance budget's function timeout, as Lambda would, and the two cannot drift apart.
"""

from mysfits.settings import Hosting, invoke_budget

# Lambda stops the recommendation function after this many seconds (instance hosting, the handler's defaults).
FUNCTION_TIMEOUT_SECONDS = invoke_budget(Hosting()).function_timeout_seconds

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
