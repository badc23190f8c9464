"""The notebook's on-start script and idle auto-stop program, checked without an instance."""

import http.server
import importlib.util
import json
import ssl
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta

import pytest

from stacks.constructs.ml_notebook import LIFECYCLE_DIR, render_on_start_script
from tests.http_peers import JsonPeer

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
VALUES = {
    "IDLE_MINUTES": "60",
    "NOTEBOOK_NAME": "mysfits-notebook",
    "REGION": "us-east-1",
    "ARTIFACTS_BUCKET": "bucket",
    "ROLE_ARN": "arn:aws:iam::123456789012:role/x",
    "ENDPOINT_NAME": "mysfits-recommender",
    "NAME_PREFIX": "mysfits-",
}


@pytest.fixture(scope="module")
def autostop():
    spec = importlib.util.spec_from_file_location("autostop", LIFECYCLE_DIR / "autostop.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def session(state: str, minutes_ago: int) -> dict:
    stamp = (NOW - timedelta(minutes=minutes_ago)).isoformat().replace("+00:00", "Z")
    return {"kernel": {"execution_state": state, "last_activity": stamp}}


def test_busy_kernel_is_never_idle(autostop):
    assert autostop.idle_since([session("busy", 500)], NOW, NOW - timedelta(hours=9)) is None


def test_idle_kernels_count_from_their_latest_activity(autostop):
    idle_start = autostop.idle_since([session("idle", 90), session("idle", 30)], NOW, None)
    assert idle_start == NOW - timedelta(minutes=30)
    assert not autostop.should_stop(idle_start, NOW, 60)
    assert autostop.should_stop(idle_start, NOW, 30)


def test_no_sessions_counts_from_when_idleness_was_first_seen(autostop):
    first_seen = autostop.idle_since([], NOW, None)
    assert first_seen == NOW
    later = NOW + timedelta(minutes=61)
    assert autostop.should_stop(autostop.idle_since([], later, first_seen), later, 60)


def test_in_use_instance_is_not_stopped(autostop):
    assert not autostop.should_stop(None, NOW, 5)


def test_rendered_on_start_script_is_valid_bash_and_python(tmp_path):
    script = render_on_start_script(VALUES)
    assert "@@" not in script
    path = tmp_path / "on_start.sh"
    path.write_text(script)
    assert subprocess.run(["bash", "-n", str(path)], capture_output=True).returncode == 0
    embedded = script.split("<<'MYSFITS_AUTOSTOP'\n", 1)[1].split("\nMYSFITS_AUTOSTOP", 1)[0]
    compile(embedded, "autostop.py", "exec")
    assert "from __future__ import annotations" in embedded  # AL2023's python is 3.9


# --- Against the Amazon Linux 2023 layout: the real script and program, with local stand-ins for the rest ---

JUPYTER_PYTHON = "home/ec2-user/anaconda3/envs/JupyterSystemEnv/bin/python"


def _executable(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)


@pytest.fixture
def instance_root(tmp_path):
    """/usr/bin/python3 without boto3 (as on AL2023), ec2-user's SageMaker folder, and recording stand-ins for
    systemctl and chown, which need a real init system and root."""
    root = tmp_path / "root"
    bin_dir = tmp_path / "bin"
    calls = tmp_path / "calls.log"
    _executable(root / "usr/bin/python3", f'#!/bin/sh\nexec {sys.executable} -S "$@"\n')
    (root / "home/ec2-user/SageMaker").mkdir(parents=True)
    for command in ("systemctl", "chown"):
        _executable(bin_dir / command, f'#!/bin/sh\necho "{command} $*" >> {calls}\n')
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "MYSFITS_ROOT": str(root)}
    return root, env, calls


def _run_on_start(tmp_path, env):
    script = tmp_path / "on_start.sh"
    script.write_text(render_on_start_script(VALUES))
    return subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=60)


def test_on_start_runs_autostop_on_the_python_that_has_boto3(tmp_path, instance_root):
    root, env, calls = instance_root
    _executable(root / JUPYTER_PYTHON, f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    result = _run_on_start(tmp_path, env)
    assert result.returncode == 0, result.stderr
    unit = (root / "etc/systemd/system/mysfits-autostop.service").read_text()
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    assert exec_start.startswith(f"ExecStart=/{JUPYTER_PYTHON} /usr/local/lib/mysfits/autostop.py ")
    assert "--idle-minutes 60 --notebook-name mysfits-notebook --region us-east-1" in exec_start
    installed = (root / "usr/local/lib/mysfits/autostop.py").read_text()
    assert installed.strip() == (LIFECYCLE_DIR / "autostop.py").read_text().strip()
    assert calls.read_text().splitlines() == [
        "systemctl daemon-reload",
        "systemctl enable --now mysfits-autostop.timer",
        f"chown ec2-user:ec2-user {root}/home/ec2-user/SageMaker/.mysfits-stack.json",
    ]


def test_on_start_fails_loudly_when_no_python_has_boto3(tmp_path, instance_root):
    root, env, calls = instance_root
    result = _run_on_start(tmp_path, env)
    assert result.returncode == 1
    assert "ERROR: no Python with boto3" in result.stderr
    assert not (root / "etc/systemd/system/mysfits-autostop.service").exists()
    assert not calls.exists()


class _Recorder(JsonPeer):
    """Jupyter's sessions API (GET) or SageMaker's JSON API (POST), whichever the test starts it as."""

    reply: bytes = b"[]"
    received: list

    def do_GET(self):
        self.send_json(200, self.reply)

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.headers["X-Amz-Target"], json.loads(body)))
        self.send_json(200, b"{}")


@pytest.fixture
def local_server():
    servers = []

    def start(reply=b"[]", tls_dir=None):
        handler = type("Handler", (_Recorder,), {"reply": reply, "received": []})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        if tls_dir is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(tls_dir / "cert.pem", tls_dir / "key.pem")
            server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server, handler.received

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def self_signed(tmp_path):
    """Jupyter on a notebook instance serves a self-signed certificate on localhost."""
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-keyout",
            str(tmp_path / "key.pem"),
            "-out",
            str(tmp_path / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )
    return tmp_path


def _run_autostop(jupyter_url, tmp_path, env=None):
    """The installed program as the systemd unit runs it, with Jupyter's URL and the state file moved here."""
    arguments = ["--idle-minutes", "60", "--notebook-name", "mysfits-notebook", "--region", "us-east-1"]
    arguments += ["--jupyter-url", jupyter_url, "--state-file", str(tmp_path / "idle-since")]
    return subprocess.run(
        [sys.executable, str(LIFECYCLE_DIR / "autostop.py"), *arguments],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.slow  # the program in a subprocess against local HTTPS servers
@pytest.mark.parametrize(("minutes_idle", "stops"), [(90, True), (30, False)])
def test_autostop_reads_jupyter_over_https_and_stops_through_sagemaker(
    tmp_path, local_server, self_signed, minutes_idle, stops
):
    last_activity = (datetime.now(UTC) - timedelta(minutes=minutes_idle)).isoformat().replace("+00:00", "Z")
    sessions = [{"kernel": {"execution_state": "idle", "last_activity": last_activity}}]
    jupyter, _ = local_server(json.dumps(sessions).encode(), tls_dir=self_signed)
    sagemaker, received = local_server()
    env = {
        "PATH": "/usr/bin:/bin",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL_SAGEMAKER": f"http://127.0.0.1:{sagemaker.server_address[1]}",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    result = _run_autostop(f"https://localhost:{jupyter.server_address[1]}/api/sessions", tmp_path, env)
    assert result.returncode == 0, result.stdout + result.stderr
    expected = [("SageMaker.StopNotebookInstance", {"NotebookInstanceName": "mysfits-notebook"})]
    assert received == (expected if stops else [])


@pytest.mark.slow
def test_autostop_reports_a_refused_stop_and_exits_1(tmp_path, local_server, self_signed):
    jupyter, _ = local_server(b"[]", tls_dir=self_signed)
    (tmp_path / "idle-since").write_text((datetime.now(UTC) - timedelta(hours=3)).isoformat())
    env = {
        "PATH": "/usr/bin:/bin",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL_SAGEMAKER": "http://127.0.0.1:9",  # nothing listens: the call fails
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_MAX_ATTEMPTS": "1",
    }
    result = _run_autostop(f"https://localhost:{jupyter.server_address[1]}/api/sessions", tmp_path, env)
    assert result.returncode == 1
    assert "autostop: ERROR: could not stop mysfits-notebook: EndpointConnectionError" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_on_start_falls_back_to_the_kernels_python_when_jupyters_lacks_boto3(tmp_path, instance_root):
    root, env, _ = instance_root
    _executable(root / JUPYTER_PYTHON, f'#!/bin/sh\nexec {sys.executable} -S "$@"\n')
    kernel_python = "home/ec2-user/anaconda3/envs/python3/bin/python"
    _executable(root / kernel_python, f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    result = _run_on_start(tmp_path, env)
    assert result.returncode == 0, result.stderr
    unit = (root / "etc/systemd/system/mysfits-autostop.service").read_text()
    assert f"ExecStart=/{kernel_python} " in unit


def test_autostop_fails_the_unit_when_jupyter_cannot_be_read(tmp_path):
    result = _run_autostop("https://localhost:9/api/sessions", tmp_path)
    assert result.returncode == 1
    assert result.stdout.startswith("autostop: ERROR: Jupyter's sessions API not readable")
