"""`python -m mysfits serve`: the whole product on one machine.

Two uvicorn servers (h11, each in its own thread and event loop; see ``mysfits.standins.asgi``) in one process,
both on 127.0.0.1:

* the **website + API** server (``--port``, default 8080 or ``$PORT``): ``GET /`` and the files of
  ``web/`` (what S3 + CloudFront serve on AWS, with the same Content-Security-Policy), ``GET
  /mysfits.json`` (the catalog, ``lambda/recommendations/mysfits.json``, deployed at that path on AWS),
  ``GET /docs`` (the OpenAPI document ``/openapi.json`` rendered by a page shipped here, local only),
  and ``POST /recommendations`` → an API Gateway REST proxy event (payload 1.0) → the REAL Lambda
  handler (``lambda/recommendations/handler.py``) → its status, headers and body;
* the **SageMaker endpoint stand-in** (``--endpoint-port``, a free port by default): ``POST
  /endpoints/{name}/invocations`` (see ``mysfits.standins.endpoint``). The handler's boto3 client reaches
  it through ``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME``, exactly like the real service.

``start_local_product(...)`` starts the same thing programmatically (tests, benchmarks) and returns a
``LocalProduct`` handle (``.url``, ``.endpoint.url``, ``.undeploy_endpoint()``, ``.stop()``, a context
manager). ``--endpoint-down`` / ``endpoint_deployed=False`` start with the endpoint not deployed: the
endpoint then answers like AWS does for a deleted endpoint and the API answers 503.

The gateway behaves like API Gateway + Lambda: the handler runs in a pool of ``HANDLER_WORKERS`` threads,
is given up on at the function's timeout (the instance-hosting budget the CDK construct also uses,
``mysfits.settings.invoke_budget``), and a timeout or a crash answers 502 ``{"message": "Internal server
error"}``. Requests over the in-flight cap are
answered at once with 503 and ``Retry-After``; every error is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import gc
import os
import signal
import socket
import sys
import threading
import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

from starlette.requests import Request
from starlette.responses import Response

from mysfits.project_files import CATALOG_PATH, LOCAL_MODEL_DIR, OPENAPI_PATH, WEB_DIR
from mysfits.settings import CONTENT_SECURITY_POLICY, api_path, sagemaker_names
from mysfits.standins import limits
from mysfits.standins.apigw import INTERNAL_ERROR, LambdaContext, build_proxy_event, proxy_response
from mysfits.standins.asgi import BodyRefused, Guard, LocalServer, ServedBy, bind, json_error, read_body
from mysfits.standins.endpoint import DEFAULT_REGION, LocalEndpoint
from mysfits.standins.lambda_handler import print_handler_log_lines

DEFAULT_PORT = 8080
# The name the CDK app gives the Lambda (cdk.json `mysfits:endpointName`), so local and AWS agree.
DEFAULT_ENDPOINT_NAME = sagemaker_names(stack={}).endpoint_name
API_PATH = api_path()
DOCS_DIR = Path(__file__).resolve().parent / "docs"
# Served by the local product only (on AWS the website is web/ alone): the API document and a page rendering it.
LOCAL_ONLY_FILES = {
    "/openapi.json": OPENAPI_PATH,
    "/docs": DOCS_DIR / "index.html",
    "/docs/": DOCS_DIR / "index.html",
    "/docs/docs.js": DOCS_DIR / "docs.js",
    "/docs/docs.css": DOCS_DIR / "docs.css",
}
MAX_API_BODY_BYTES = 64 * 1024
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
    ".webmanifest": "application/manifest+json",
    ".woff2": "font/woff2",
}


class PortInUseError(OSError):
    """The requested port is taken; ``str()`` is a one-line explanation."""


# --- the Lambda handler ----------------------------------------------------------------------------
_HANDLER_LOCK = threading.Lock()


def _load_handler(env: dict[str, str]) -> ModuleType:
    """Import the real handler as a fresh Lambda execution environment bound to ``env``.

    Its boto3 client is built at import from the environment, so each local product gets its own module
    instance; whatever ``sys.modules`` held before (another product's, a test's) is put back afterwards.
    ``env`` is in ``os.environ`` only during the import (the handler reads it then, and only then), and an
    outer ``AWS_SESSION_TOKEN`` is hidden from the local keys: nothing else sees them, during or after.
    """
    from mysfits.standins import lambda_handler

    with _HANDLER_LOCK, lambda_handler.environment(env, unset=("AWS_SESSION_TOKEN",)):
        previous = sys.modules.pop(lambda_handler.MODULE_NAME, None)
        try:
            return lambda_handler.load_recommendations_handler()
        finally:
            if previous is not None:
                sys.modules[lambda_handler.MODULE_NAME] = previous
            else:
                sys.modules.pop(lambda_handler.MODULE_NAME, None)


# --- the website + API server ----------------------------------------------------------------------
class WebApp:
    """Website (static files) + ``POST /recommendations`` (API Gateway → Lambda), as an ASGI app."""

    product: LocalProduct  # set once the product exists (the server is built first)

    def __init__(self) -> None:
        # Lambda runs one invocation per execution environment; this pool is their count here.
        self.pool = ThreadPoolExecutor(max_workers=limits.HANDLER_WORKERS, thread_name_prefix="mysfits-lambda")

    async def __call__(self, scope, receive, send) -> None:
        request = Request(scope, receive)
        response = await self.respond(request)
        response.headers.update(SECURITY_HEADERS)
        await response(scope, receive, send)

    async def respond(self, request: Request) -> Response:
        path = request.scope["raw_path"].decode("latin-1")
        method = request.method
        if path == API_PATH:
            if method != "POST":
                return json_error(405, f"Method {method} is not allowed on {API_PATH}", {"Allow": "POST"}, close=True)
            return await self.recommend(request)
        file_path = LOCAL_ONLY_FILES.get(path) or resolve_static(self.product.web_root, path)
        if file_path is None:
            return json_error(404, "Not Found", close=method not in ("GET", "HEAD"))
        if method not in ("GET", "HEAD"):
            return json_error(405, f"Method {method} is not allowed on {path}", {"Allow": "GET, HEAD"}, close=True)
        try:
            content = file_path.read_bytes()
        except OSError:
            return json_error(404, "Not Found")
        content_type = CONTENT_TYPES.get(file_path.suffix.lower(), "application/octet-stream")
        return Response(content, headers={"Cache-Control": "no-cache", "Content-Type": content_type})

    async def recommend(self, request: Request) -> Response:
        product = self.product
        try:
            body = await read_body(
                request, MAX_API_BODY_BYTES, f"Request body too large (limit {MAX_API_BODY_BYTES} bytes)"
            )
        except BodyRefused as refused:
            return refused.reply
        request_id = str(uuid.uuid4())
        headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in request.scope["headers"]]
        host_header = request.headers.get("host") or f"{product.host}:{product.port}"
        query = request.scope["query_string"].decode("latin-1")
        event = build_proxy_event(
            method="POST",
            raw_path=API_PATH + (f"?{query}" if query else ""),
            headers=headers,
            body=body,
            source_ip=request.client.host if request.client else "127.0.0.1",
            resource=API_PATH,
            host=host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header,
            port=product.port,
            request_id=request_id,
            region=product.region,
        )
        status, reply_headers, payload = await self.invoke(event)
        reply_headers = {**reply_headers, "x-amzn-RequestId": request_id}
        return Response(payload, status_code=status, headers=reply_headers)

    async def invoke(self, event: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        """Run the handler as Lambda does: stopped waiting for at the function timeout; a crash or a timeout is a
        function error, which API Gateway answers with 502 ``{"message": "Internal server error"}``."""
        product = self.product
        context = LambdaContext(product.region, product.function_timeout_s)
        if product.handler_module is None:  # loaded before the servers start serving
            return INTERNAL_ERROR
        call = asyncio.get_running_loop().run_in_executor(self.pool, product.handler_module.handler, event, context)
        try:
            result = await asyncio.wait_for(call, product.function_timeout_s)
        except TimeoutError:
            # What Lambda logs; the thread finishes on its own (a thread cannot be stopped), its answer is dropped.
            print(
                f"{context.aws_request_id} Task timed out after {product.function_timeout_s:.2f} seconds",
                file=sys.stderr,
                flush=True,
            )
            return INTERNAL_ERROR
        except Exception:
            traceback.print_exc(file=sys.stderr)
            return INTERNAL_ERROR
        return proxy_response(result)


def resolve_static(web_root: Path, url_path: str) -> Path | None:
    """The file under ``web_root`` a URL path names, or None (missing, hidden, outside the root)."""
    from urllib.parse import unquote

    if url_path == "/mysfits.json":
        return CATALOG_PATH
    if url_path in ("", "/"):
        url_path = "/index.html"
    decoded = unquote(url_path)
    if not decoded.startswith("/") or "\\" in decoded or "\x00" in decoded:
        return None
    parts = decoded[1:].split("/")
    if any(part in ("", ".", "..") or part.startswith(".") for part in parts):
        return None
    root = web_root.resolve()
    candidate = root.joinpath(*parts)
    try:
        resolved = candidate.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not resolved.is_relative_to(root) or not resolved.is_file():
        return None
    return resolved


# --- the product -------------------------------------------------------------------------------------
class LocalProduct(ServedBy):
    """A running local product: website + API server (``url``) and the SageMaker endpoint stand-in (``endpoint``)."""

    def __init__(
        self,
        web_server: LocalServer,
        endpoint: LocalEndpoint,
        *,
        endpoint_name: str,
        model: Any,
        model_path: Path,
        region: str,
        web_root: Path,
        function_timeout_s: float,
    ) -> None:
        self._server = web_server
        self.function_timeout_s = function_timeout_s
        self.endpoint = endpoint
        self.endpoint_name = endpoint_name
        self.model = model
        self.model_path = model_path
        self.region = region
        self.web_root = web_root
        self.handler_module: ModuleType | None = None
        self.web_app: WebApp | None = None
        self._stopped = False

    @property
    def endpoint_deployed(self) -> bool:
        return self.endpoint.registry.get(self.endpoint_name) is not None

    def deploy_endpoint(self) -> None:
        self.endpoint.deploy(self.endpoint_name, self.model)

    @property
    def started_threads(self) -> list[threading.Thread]:
        """Every thread this product started (servers, handler pool): none outlives ``stop()``."""
        handler_threads = list(self.web_app.pool._threads) if self.web_app is not None else []
        return [*self._server.started_threads, *self.endpoint.started_threads, *handler_threads]

    def undeploy_endpoint(self) -> None:
        """Take the endpoint down: it then answers like AWS for a deleted endpoint (API → 503)."""
        self.endpoint.undeploy(self.endpoint_name)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._server.stop()
        self.endpoint.stop()
        if self.web_app is not None:
            self.web_app.pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> LocalProduct:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class UnusableModelDirError(Exception):
    """``--model-dir`` names something that cannot hold a model (a file, say); ``str()`` is one line."""


def _load_model(model_dir: Path, progress_stream: TextIO | None) -> tuple[Path, Any]:
    """Load ``model_dir/model.json``; without a usable one, train one first (``training.ensure_model``)."""
    from mysfits.ml.model import MODEL_FILENAME, KnnModel

    if model_dir.exists() and not model_dir.is_dir():
        raise UnusableModelDirError(f"--model-dir {model_dir} is not a directory (a model directory holds model.json)")
    path = model_dir / MODEL_FILENAME
    try:
        return path, KnnModel.load(path)
    except ValueError:
        from mysfits.ml.training import ensure_model  # numpy and the trainer: imported only without a model
    try:
        path = Path(ensure_model(model_dir, progress_stream=progress_stream))
    except OSError as error:
        raise UnusableModelDirError(f"cannot write a model to {model_dir}: {error.strerror or error}") from None
    return path, KnnModel.load(path)


def _bind(host: str, port: int) -> socket.socket:
    try:
        return bind(host, port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(exc.errno, f"port {port} on {host} is already in use") from None
        raise


def start_local_product(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    endpoint_port: int = 0,
    model_dir: str | os.PathLike[str] = LOCAL_MODEL_DIR,
    endpoint_name: str = DEFAULT_ENDPOINT_NAME,
    endpoint_deployed: bool = True,
    region: str = DEFAULT_REGION,
    web_root: str | os.PathLike[str] = WEB_DIR,
    function_timeout_s: float = limits.FUNCTION_TIMEOUT_SECONDS,
    log_stream: TextIO | None = None,
    endpoint_log_stream: TextIO | None = None,
    progress_stream: TextIO | None = None,
) -> LocalProduct:
    """Bind both servers, make sure a model exists (training one if needed), load the real handler, serve.

    ``port=0`` / ``endpoint_port=0`` pick free ports. Raises ``PortInUseError`` when a port is taken.
    """
    web_socket = _bind(host, port)
    try:
        endpoint = LocalEndpoint(host, endpoint_port, region=region, log_stream=endpoint_log_stream)
    except OSError as exc:
        web_socket.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(exc.errno, f"port {endpoint_port} on {host} is already in use") from None
        raise
    except BaseException:
        web_socket.close()
        raise
    product: LocalProduct | None = None
    try:
        model_path, model = _load_model(Path(model_dir), progress_stream)
        web_app = WebApp()
        web_server = LocalServer(Guard(web_app, log_stream=log_stream), web_socket)
        product = LocalProduct(
            web_server,
            endpoint,
            endpoint_name=endpoint_name,
            model=model,
            model_path=model_path,
            region=region,
            web_root=Path(web_root),
            function_timeout_s=function_timeout_s,
        )
        product.web_app = web_app
        web_app.product = product
        if endpoint_deployed:
            product.deploy_endpoint()
        env = {
            "ENDPOINT_NAME": endpoint_name,
            "AWS_DEFAULT_REGION": region,
            "AWS_REGION": region,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": endpoint.url,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        product.handler_module = _load_handler(env)
        endpoint.start()
        web_server.start("mysfits-web")
    except BaseException:
        if product is not None:
            product.stop()
        else:
            web_socket.close()
            endpoint.stop()
        raise
    return product


# --- the command ------------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    try:
        default_port = int(os.environ.get("PORT", DEFAULT_PORT))
    except ValueError:
        default_port = DEFAULT_PORT
    parser = argparse.ArgumentParser(
        prog="python -m mysfits serve",
        description="Run the website, the API and a local SageMaker endpoint on one machine.",
    )
    parser.add_argument("--port", type=int, default=default_port, help="website + API port (default: $PORT or 8080)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--endpoint-port", type=int, default=0, help="local endpoint port (default: a free one)")
    parser.add_argument("--model-dir", type=Path, default=LOCAL_MODEL_DIR, help="model directory (trained if empty)")
    parser.add_argument("--endpoint-name", default=DEFAULT_ENDPOINT_NAME, help="SageMaker endpoint name")
    parser.add_argument(
        "--endpoint-down", action="store_true", help="start with the endpoint not deployed (the API answers 503)"
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="also log each request to the endpoint")
    return parser


def _start_failure(exc: Exception, args: argparse.Namespace) -> str:
    """One line for a product that could not start: a busy port, an unusable model directory, a bad value."""
    if isinstance(exc, PortInUseError):
        return f"{exc.strerror}; choose another with --port or PORT="
    if isinstance(exc, OSError):
        return f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}"
    return str(exc)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv[1:])
    stdout = sys.stdout
    print_handler_log_lines(stdout)  # the handler's one JSON line per request, metrics included, as on CloudWatch
    # Installed explicitly: a process started in the background inherits SIGINT ignored, and Ctrl-C must still stop.
    previous_int = signal.signal(signal.SIGINT, _raise_interrupt)
    previous_term = signal.signal(signal.SIGTERM, _raise_interrupt)  # SIGTERM stops like Ctrl-C
    product: LocalProduct | None = None
    try:
        try:
            product = start_local_product(
                host=args.host,
                port=args.port,
                endpoint_port=args.endpoint_port,
                model_dir=args.model_dir,
                endpoint_name=args.endpoint_name,
                endpoint_deployed=not args.endpoint_down,
                log_stream=stdout,
                endpoint_log_stream=stdout if args.verbose else None,
                progress_stream=stdout,
            )
        except (OSError, UnusableModelDirError, ValueError) as exc:
            print(f"error: {_start_failure(exc, args)}", file=sys.stderr)
            return 1 if isinstance(exc, ValueError) else 2
        state = "" if product.endpoint_deployed else " (NOT deployed: --endpoint-down)"
        print(
            f"Mysfits running at {product.url}/\n"
            f"  API:      POST {product.url}{API_PATH}\n"
            f"  Endpoint: {args.endpoint_name}{state} at {product.endpoint.url} (model {product.model_path})\n"
            "Press Ctrl-C to stop.",
            file=stdout,
            flush=True,
        )
        # botocore's service models, the model's 32,768 labels and the imports are long-lived: kept out of the
        # collector, a full collection no longer walks them (tens of milliseconds in a request's tail).
        gc.collect()
        gc.freeze()
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if product is not None:
            print("Stopping...", file=stdout, flush=True)
        else:
            print("Interrupted.", file=sys.stderr, flush=True)
            return 130
        return 0
    finally:
        if product is not None:
            product.stop()
        signal.signal(signal.SIGTERM, previous_term)
        signal.signal(signal.SIGINT, previous_int)
