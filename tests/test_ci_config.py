"""The project's own rules for its CI, dependency and hook files (their schemas are checked by `make
check-workflows`), and the Makefile's Node.js check. Offline: nothing here reaches GitHub or a registry."""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from mysfits.project_files import PROJECT_ROOT

WORKFLOW = PROJECT_ROOT / ".github" / "workflows" / "ci.yml"
PINNED_ACTION = re.compile(r"^\s*(?:- )?uses: [\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")
LOCKED_LINE = re.compile(r"^([a-z0-9][a-z0-9._-]*)(?:\[[^\]]*\])?==([^ ;\\]+)")
SYNTH_ONLY = {"aws-cdk-lib", "constructs", "cdk-nag"}


def load_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def workflow() -> dict:
    return load_yaml(WORKFLOW)


def locked(path: Path) -> dict[str, str]:
    """Package -> version of a `make lock` output; every pin must carry its hashes."""
    lines = path.read_text(encoding="utf-8").splitlines()
    pins = {}
    for index, line in enumerate(lines):
        match = LOCKED_LINE.match(line)
        if match:
            assert lines[index + 1].strip().startswith("--hash=sha256:"), f"{path.name}: {line} has no hash"
            pins[match.group(1)] = match.group(2)
    return pins


def test_every_action_is_pinned_to_a_commit_with_its_version():
    uses = [line for line in WORKFLOW.read_text(encoding="utf-8").splitlines() if "uses:" in line]
    assert uses
    assert [line for line in uses if not PINNED_ACTION.match(line)] == []


def test_test_job_runs_make_test_on_node_22_and_24_and_keeps_cdk_out(workflow):
    job = workflow["jobs"]["test"]
    assert job["strategy"]["matrix"]["node"] == ["22", "24"]
    runs = [step.get("run") for step in job["steps"]]
    assert "make test" in runs
    upload = next(step for step in job["steps"] if step.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["with"]["path"] == "cdk.out"
    assert runs.index("make synth") < job["steps"].index(upload)
    cached = {step["with"].get("cache") for step in job["steps"] if "with" in step} | {
        step["with"].get("path") for step in job["steps"] if step.get("uses", "").startswith("actions/cache@")
    }
    assert {"npm", "~/.cache/pip"} <= cached


def test_workflow_reads_only_and_only_the_diff_job_may_request_an_oidc_token(workflow):
    assert workflow["permissions"] == {"contents": "read"}
    assert "permissions" not in workflow["jobs"]["test"]
    assert workflow["jobs"]["diff"]["permissions"] == {"contents": "read", "id-token": "write"}


def test_diff_job_is_skipped_without_the_role_and_on_fork_pull_requests(workflow):
    condition = " ".join(workflow["jobs"]["diff"]["if"].split())
    assert "vars.AWS_DIFF_ROLE_ARN != ''" in condition
    assert "github.event.pull_request.head.repo.full_name == github.repository" in condition
    steps = workflow["jobs"]["diff"]["steps"]
    credentials = next(s for s in steps if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@"))
    assert credentials["with"]["role-to-assume"] == "${{ vars.AWS_DIFF_ROLE_ARN }}"
    assert "aws-access-key-id" not in credentials["with"]
    assert any("GITHUB_STEP_SUMMARY" in step.get("run", "") for step in steps)


def test_dependabot_moves_the_cdk_together_and_never_proposes_aws_cdk_3():
    config = load_yaml(PROJECT_ROOT / ".github" / "dependabot.yml")
    updates = {update["package-ecosystem"]: update for update in config["updates"]}
    assert set(updates) == {"pip", "npm", "github-actions"}
    assert updates["pip"]["multi-ecosystem-group"] == updates["npm"]["multi-ecosystem-group"]
    assert {"dependency-name": "aws-cdk", "versions": [">=3.0.0"]} in updates["npm"]["ignore"]


def test_pre_commit_detects_secrets_and_aws_credentials_and_runs_ruff_and_mypy():
    config = load_yaml(PROJECT_ROOT / ".pre-commit-config.yaml")
    hooks = {hook["id"] for repo in config["repos"] for hook in repo["hooks"]}
    assert {
        "detect-aws-credentials",
        "detect-private-key",
        "detect-secrets",
        "ruff-check",
        "ruff-format",
        "mypy",
    } <= hooks
    remote_revs = [repo["rev"] for repo in config["repos"] if repo["repo"] != "local"]
    assert remote_revs
    assert all(re.fullmatch(r"[0-9a-f]{40}", rev) for rev in remote_revs)


def test_locks_pin_everything_with_hashes_and_keep_synth_apart():
    synth, dev = locked(PROJECT_ROOT / "requirements.txt"), locked(PROJECT_ROOT / "requirements-dev.txt")
    assert set(synth) >= SYNTH_ONLY
    assert not {"pytest", "boto3", "ruff", "mypy", "playwright"} & set(synth)
    assert {name: dev.get(name) for name in synth} == synth  # the dev lock installs the synth set as locked
    assert "scikit-learn" not in dev


def test_lock_inputs_match_the_locked_versions():
    for source, lock in (("requirements.in", "requirements.txt"), ("requirements-dev.in", "requirements-dev.txt")):
        wanted = {
            match.group(1).replace("_", "-").replace(".", "-"): match.group(2)
            for line in (PROJECT_ROOT / source).read_text(encoding="utf-8").splitlines()
            if (match := LOCKED_LINE.match(line.lower()))
        }
        pins = {name.replace(".", "-"): version for name, version in locked(PROJECT_ROOT / lock).items()}
        assert {name: pins.get(name) for name in wanted} == wanted, f"run `make lock`: {lock} is stale"


def test_package_json_pins_the_v2_cli_and_asks_for_node_22():
    package = json.loads((PROJECT_ROOT / "package.json").read_text(encoding="utf-8"))
    assert re.fullmatch(r"2\.\d+\.\d+", package["devDependencies"]["aws-cdk"])
    assert package["engines"]["node"] == ">=22"


@pytest.fixture
def fake_node(tmp_path):
    """A `node` that reports the given version, first on PATH, for the Makefile's check."""

    def make(version: str) -> dict[str, str]:
        node = tmp_path / "node"
        node.write_text(f"#!/bin/sh\necho {version}\n")
        node.chmod(0o755)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JSII_", "MAKE"))}
        return {**env, "PATH": f"{tmp_path}:{env['PATH']}"}

    return make


def run_make(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "--no-print-directory", "-s", *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True
    )


SHOW_JSII = '--eval=show-jsii: ; @echo "[$$JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION]"'


@pytest.mark.parametrize("version", ["v22.21.0", "v24.11.1"])
def test_make_accepts_supported_node_and_silences_nothing(fake_node, version):
    env = fake_node(version)
    check = run_make(env, "node-check")
    assert (check.returncode, check.stderr) == (0, "")
    assert run_make(env, SHOW_JSII, "show-jsii").stdout.strip() == "[]"


def test_make_warns_on_node_20_and_silences_jsii_only_there(fake_node):
    env = fake_node("v20.20.2")
    check = run_make(env, "node-check")
    assert check.returncode == 0
    assert "end of life" in check.stderr
    assert "22 or 24" in check.stderr
    assert run_make(env, SHOW_JSII, "show-jsii").stdout.strip() == "[20]"


def test_make_refuses_node_older_than_20(fake_node):
    check = run_make(fake_node("v18.20.4"), "node-check")
    assert check.returncode != 0
    assert "v18.20.4 is not supported" in check.stderr
