"""The notebook's on-start script and idle auto-stop program, checked without an instance."""

import importlib.util
import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from stacks.constructs.ml_notebook import LIFECYCLE_DIR, render_on_start_script

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


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
    script = render_on_start_script(
        {
            "IDLE_MINUTES": "60",
            "NOTEBOOK_NAME": "mysfits-notebook",
            "REGION": "us-east-1",
            "ARTIFACTS_BUCKET": "bucket",
            "ROLE_ARN": "arn:aws:iam::123456789012:role/x",
            "ENDPOINT_NAME": "mysfits-recommender",
            "NAME_PREFIX": "mysfits-",
        }
    )
    assert "@@" not in script
    path = tmp_path / "on_start.sh"
    path.write_text(script)
    assert subprocess.run(["bash", "-n", str(path)], capture_output=True).returncode == 0
    embedded = script.split("<<'MYSFITS_AUTOSTOP'\n", 1)[1].split("\nMYSFITS_AUTOSTOP", 1)[0]
    compile(embedded, "autostop.py", "exec")
    assert "from __future__ import annotations" in embedded  # AL2023's python is 3.9
