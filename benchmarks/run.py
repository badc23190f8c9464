"""`make bench`: every figure next to its target, as medians of several runs and ratios measured in the same run.

Machines here are noisy, so absolute seconds mean little: synthesis and the test suite are compared with an
empty CDK app synthesized the same way, and the handler's cold import with importing boto3 and creating its
client, in interleaved runs. Results go to a table on stdout and to benchmarks/results/<timestamp>.json.
"""

import argparse
import http.client
import io
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

RESULTS_DIR = PROJECT_ROOT / "benchmarks" / "results"
EMPTY_APP_DIR = PROJECT_ROOT / "benchmarks" / "empty_app"
CDK = PROJECT_ROOT / "node_modules" / ".bin" / "cdk"
PYTHON = sys.executable

from benchmarks import load  # noqa: E402 - needs the project root on sys.path
from mysfits.cli.cdk_env import offline_cli_env  # noqa: E402
from mysfits.project_files import HANDLER_DIR  # noqa: E402
from mysfits.settings import DEFAULT_ENDPOINT_NAME, api_path  # noqa: E402

OFFLINE_ENV = {**offline_cli_env(), "CDK_BENCH_PYTHON": PYTHON}  # the same environment the CLI test uses
HANDLER_ENV = {
    **OFFLINE_ENV,
    "ENDPOINT_NAME": DEFAULT_ENDPOINT_NAME,
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
}


def timed(command: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 900) -> float:
    start = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout[-2000:]}{result.stderr[-3000:]}"
        )
    return elapsed


def synth_seconds(app_dir: Path) -> float:
    with tempfile.TemporaryDirectory() as outdir:
        return timed([str(CDK), "synth", "--quiet", "--no-notices", "--output", outdir], cwd=app_dir, env=OFFLINE_ENV)


def bench_synthesis(runs: int) -> dict:
    """Interleaved so that both sides see the same machine noise."""
    project, floor = [], []
    for _ in range(runs):
        floor.append(synth_seconds(EMPTY_APP_DIR))
        project.append(synth_seconds(PROJECT_ROOT))
    return {"project_s": statistics.median(project), "floor_s": statistics.median(floor), "runs": runs}


def bench_tests(runs: int, floor_s: float) -> dict:
    """The suite's own wall time (pytest after `make setup`)."""
    walls = [
        timed([PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=PROJECT_ROOT, env=dict(os.environ))
        for _ in range(runs)
    ]
    wall = statistics.median(walls)
    return {"wall_s": wall, "floor_s": floor_s, "ratio": wall / floor_s, "runs": runs}


COLD_HANDLER = (
    "import sys; sys.path.insert(0, {root!r}); "
    "from mysfits.standins.lambda_handler import load_recommendations_handler; load_recommendations_handler()"
)
COLD_FLOOR = "import boto3; boto3.client('sagemaker-runtime')"


def bench_handler(runs: int, requests: int) -> dict:
    handler_import, floor_import = [], []
    for _ in range(runs):
        floor_import.append(timed([PYTHON, "-c", COLD_FLOOR], cwd=PROJECT_ROOT, env=HANDLER_ENV))
        handler_import.append(
            timed([PYTHON, "-c", COLD_HANDLER.format(root=str(PROJECT_ROOT))], cwd=PROJECT_ROOT, env=HANDLER_ENV)
        )
    warm = warm_overhead(requests)
    return {
        "cold_import_s": statistics.median(handler_import),
        "cold_floor_s": statistics.median(floor_import),
        "cold_ratio": statistics.median(handler_import) / statistics.median(floor_import),
        **warm,
        **package_size(),
        "runs": runs,
    }


def warm_overhead(requests: int) -> dict:
    """Per-request cost of the handler itself: the endpoint answers in-process, without botocore or a socket."""
    os.environ.update({key: value for key, value in HANDLER_ENV.items() if key not in os.environ})
    from botocore.response import StreamingBody

    from mysfits.standins.lambda_handler import load_recommendations_handler

    handler_module = load_recommendations_handler()
    reply = b'{"predictions": [{"predicted_label": 3.0}]}'

    def answer(**_kwargs):
        return {"Body": StreamingBody(io.BytesIO(reply), len(reply)), "ContentType": "application/json"}

    handler_module.runtime_client.invoke_endpoint = answer
    logger_level = handler_module.logging.getLogger().level
    handler_module.logging.getLogger().setLevel(handler_module.logging.CRITICAL)  # time the work, not the terminal
    event = {
        "httpMethod": "POST",
        "path": api_path(),
        "headers": {"content-type": "application/json"},
        "body": '{"entry": [1, 2, 3, 4, 5]}',
        "isBase64Encoded": False,
        "requestContext": {"requestId": "bench"},
    }
    samples = []
    try:
        for _ in range(200):
            handler_module.handler(event, None)
        for _ in range(requests):
            start = time.perf_counter_ns()
            response = handler_module.handler(event, None)
            samples.append(time.perf_counter_ns() - start)
            if response["statusCode"] != 200:
                raise RuntimeError(f"handler answered {response}")
    finally:
        handler_module.logging.getLogger().setLevel(logger_level)
    samples.sort()
    return {
        "warm_p50_ms": samples[len(samples) // 2] / 1e6,
        "warm_p99_ms": samples[int(len(samples) * 0.99)] / 1e6,
        "warm_requests": requests,
    }


def package_size() -> dict:
    files = sorted(path for path in HANDLER_DIR.iterdir() if path.is_file())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.write(path, path.name)
    return {
        "package_files": [path.name for path in files],
        "package_raw_bytes": sum(path.stat().st_size for path in files),
        "package_zip_bytes": len(buffer.getvalue()),
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def bench_local_api(rate: int, seconds: int, overload_rate: int, model_dir: Path) -> dict:
    """Open-loop load, overload and a connection burst against `python -m mysfits serve` in another process."""
    port = free_port()
    server = subprocess.Popen(
        [PYTHON, "-m", "mysfits", "serve", "--port", str(port), "--model-dir", str(model_dir)],
        cwd=PROJECT_ROOT,
        env=dict(OFFLINE_ENV),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until_serving(port, server)
        load.open_loop(port, rate, 2)  # warm-up: connections, imports, caches
        steady = load.open_loop(port, rate, seconds)
        burst = load.burst(port, connections=1000, within_s=10.0)
        time.sleep(5)  # let the burst's connections close before memory is taken as the start
        overload = load.measure_overload(port, server.pid, overload_rate, seconds)
        return {**steady, "overload": overload, "burst": burst}
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


def wait_until_serving(port: int, server: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    body = json.dumps({"entry": [1, 2, 3, 4, 5]})
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"local product exited: {server.stderr.read()[-2000:]}")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            connection.request("POST", api_path(), body=body, headers={"Content-Type": "application/json"})
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
        finally:
            connection.close()
    raise RuntimeError("local product did not start in time")


def bench_model(runs: int) -> dict:
    from mysfits.ml.training import train

    reports = []
    with tempfile.TemporaryDirectory() as out_dir:
        for _ in range(runs):
            reports.append(train(out_dir=Path(out_dir), progress=False))
    return {
        "accuracy": statistics.median(report["accuracy"] for report in reports),
        "bayes_optimum": reports[0]["bayes_optimum"],
        "ratio": statistics.median(report["ratio"] for report in reports),
        "train_s": statistics.median(report["train_seconds"] for report in reports),
        "k": reports[0]["k"],
        "runs": runs,
    }


def rows_for(results: dict) -> list[tuple[str, str, str, bool]]:
    """(figure, measured, target, met) for each figure present in `results`."""
    rows = []
    if "synthesis" in results:
        s = results["synthesis"]
        ratio = s["project_s"] / s["floor_s"]
        measured = f"{s['project_s']:.1f} s / {s['floor_s']:.1f} s = {ratio:.2f}x"
        rows.append(("synth: project / empty app", measured, "<= 1.20x", ratio <= 1.20))
    if "tests" in results:
        t = results["tests"]
        measured = f"{t['wall_s']:.0f} s / {t['floor_s']:.1f} s = {t['ratio']:.1f}x"
        rows.append(("tests: wall / empty-app synth", measured, "<= 12x", t["ratio"] <= 12))
    if "handler" in results:
        h = results["handler"]
        measured = f"{h['cold_import_s']:.2f} s / {h['cold_floor_s']:.2f} s = {h['cold_ratio']:.2f}x"
        rows.append(("handler cold import / boto3+client", measured, "<= 1.10x", h["cold_ratio"] <= 1.10))
        measured = f"{h['warm_p50_ms']:.3f} / {h['warm_p99_ms']:.3f} ms"
        rows.append(("handler warm overhead p50 / p99", measured, "p99 <= 1 ms", h["warm_p99_ms"] <= 1.0))
        measured = f"{h['package_raw_bytes']} / {h['package_zip_bytes']} bytes"
        rows.append(("Lambda package (raw / zip)", measured, "<= 16 KB", h["package_zip_bytes"] <= 16 * 1024))
    if "local_api" in results:
        rows += _local_api_rows(results["local_api"])
    if "model" in results:
        m = results["model"]
        measured = f"{m['accuracy']:.4f} / {m['bayes_optimum']:.4f} = {m['ratio']:.3f}"
        rows.append(("model accuracy / Bayes optimum (1M rows)", measured, ">= 0.97", m["ratio"] >= 0.97))
        rows.append(("model training time (1M rows)", f"{m['train_s']:.1f} s", "<= 30 s", m["train_s"] <= 30))
    return rows


def _local_api_rows(a: dict) -> list[tuple[str, str, str, bool]]:
    measured = f"p50 {a['p50_ms']:.1f} ms, p99 {a['p99_ms']:.1f} ms, {a['errors']} errors"
    ok = a["p99_ms"] <= 15 and a["errors"] == 0
    rows = [(f"local API at {a['rate_rps']} req/s for {a['seconds']} s", measured, "p99 <= 15 ms, 0 errors", ok)]
    o = a["overload"]
    counts = ", ".join(f"{count} {name}" for name, count in sorted(o["outcomes"].items()))
    answered = o["outcomes"].get("ok", 0) + o["outcomes"].get("shed", 0)
    target = "all 200 or 503+Retry-After within 2 s"
    measured = f"{counts}; max {o['max_ms']:.0f} ms"
    rows.append(
        (f"local API offered {o['rate_rps']} req/s for {o['seconds']} s", measured, target, answered == o["requests"])
    )
    growth = o["rss_after_mib"] / o["rss_start_mib"] - 1
    measured = f"{o['rss_start_mib']:.0f} / {o['rss_end_mib']:.0f} / {o['rss_after_mib']:.0f} MiB ({growth:+.0%})"
    rows.append(("local server memory: start / end / 5 s later", measured, "after <= start + 20%", growth <= 0.20))
    b = a["burst"]
    measured = f"{b['answered']} answered in {b['within_s']:.0f} s"
    if b["all_answered_s"] is not None:
        measured += f", all by {b['all_answered_s']:.1f} s"
    rows.append(
        (f"burst of {b['connections']} connections", measured, "all answered", b["answered"] == b["connections"])
    )
    return rows


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", choices=["synthesis", "tests", "handler", "local_api", "model"], action="append")
    parser.add_argument("--runs", type=int, default=3, help="runs per median (default 3)")
    parser.add_argument("--test-runs", type=int, default=1, help="runs of the whole test suite (default 1)")
    parser.add_argument("--load-seconds", type=int, default=30)
    parser.add_argument("--load-rate", type=int, default=200)
    parser.add_argument("--overload-rate", type=int, default=1000)
    args = parser.parse_args(argv)
    if args.runs < 1 or args.test_runs < 1 or args.load_seconds < 1 or args.load_rate < 1 or args.overload_rate < 1:
        parser.error("--runs, --test-runs, --load-seconds and --load-rate must be positive")
    wanted = set(args.only or ["synthesis", "tests", "handler", "local_api", "model"])
    results: dict = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "machine": machine()}
    began = time.perf_counter()

    def measure(name: str, run) -> None:
        """A section that fails is reported as failed; the others still run."""
        try:
            results[name] = run()
        except (RuntimeError, subprocess.TimeoutExpired, OSError) as error:
            results.setdefault("failed", {})[name] = str(error)[-3000:]
            print(f"{name}: FAILED\n{error}", file=sys.stderr, flush=True)
        else:
            print(f"{name}: {results[name]}", flush=True)

    if wanted & {"synthesis", "tests"}:
        measure("synthesis", lambda: bench_synthesis(args.runs))
    if "tests" in wanted and "synthesis" in results:
        measure("tests", lambda: bench_tests(args.test_runs, results["synthesis"]["floor_s"]))
    if "handler" in wanted:
        measure("handler", lambda: bench_handler(args.runs * 3, requests=20_000))
    if "model" in wanted or "local_api" in wanted:
        with tempfile.TemporaryDirectory() as model_dir:
            if "model" in wanted:
                measure("model", lambda: bench_model(args.runs))
            if "local_api" in wanted:
                measure(
                    "local_api",
                    lambda: bench_local_api(args.load_rate, args.load_seconds, args.overload_rate, Path(model_dir)),
                )
    results["bench_seconds"] = time.perf_counter() - began

    rows = rows_for(results) + [(name, "FAILED (see above)", "runs", False) for name in results.get("failed", {})]
    results["table"] = [{"figure": f, "measured": m, "target": t, "met": ok} for f, m, t, ok in rows]
    width = max(len(row[0]) for row in rows)
    print()
    for figure, measured, target, ok in rows:
        print(f"{figure:<{width}}  {measured:<48} {target:<24} {'OK' if ok else 'MISSED'}")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{results['started'].replace(':', '')}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nresults: {path.relative_to(PROJECT_ROOT)} ({results['bench_seconds']:.0f} s)")
    return 1 if "failed" in results else 0


def machine() -> dict:
    return {
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "node": shutil.which("node")
        and subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip(),
    }


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
