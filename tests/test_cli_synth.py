"""`npx cdk synth` as a user runs it: offline, no credentials, cdk-nag registered in app.py, five templates."""

import json
import os
import shutil
import subprocess

import pytest

from stacks.application import STACK_NAMES
from tests.cdk_support import PROJECT_ROOT


def test_cdk_cli_synthesizes_all_stacks_offline_without_credentials(tmp_path):
    npx = shutil.which("npx")
    if npx is None or not (PROJECT_ROOT / "node_modules" / ".bin" / "cdk").exists():
        pytest.fail("the pinned CDK CLI is not installed: run `make setup` (npm ci)")
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(
        AWS_EC2_METADATA_DISABLED="true",  # no instance metadata lookups for a default account
        CDK_DISABLE_VERSION_CHECK="1",
        CDK_DISABLE_CLI_TELEMETRY="true",
        JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20",
        JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION="1",
    )
    result = subprocess.run(
        [npx, "cdk", "synth", "--quiet", "--no-notices", "--output", str(tmp_path)],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    templates = sorted(path.name for path in tmp_path.glob("*.template.json"))
    assert templates == sorted(f"{name}.template.json" for name in STACK_NAMES)
    report = json.loads((tmp_path / "validation-report.json").read_text())
    violations = [v for plugin in report["pluginReports"] for v in plugin.get("violations", [])]
    assert violations == []
