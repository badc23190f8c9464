"""`npx cdk synth` as a user runs it: offline, no credentials, cdk-nag registered in app.py, one template per stack.

The synthesis itself is started by conftest when collection ends; this test, run last, checks its result.
"""

import json
import subprocess
import sys

import pytest

from mysfits.project_files import PROJECT_ROOT
from stacks.application import STACK_NAMES
from tests.conftest import CLI_SYNTH_STARTED


@pytest.mark.cli_synth
def test_cdk_cli_synthesizes_all_stacks_offline_without_credentials(background_cli_synth):
    returncode, output = background_cli_synth.wait()
    assert returncode == 0, output
    outdir = background_cli_synth.outdir
    templates = sorted(path.name for path in outdir.glob("*.template.json"))
    assert templates == sorted(f"{name}.template.json" for name in STACK_NAMES)
    report = json.loads((outdir / "validation-report.json").read_text())
    violations = [v for plugin in report["pluginReports"] for v in plugin.get("violations", [])]
    assert violations == []


def collection_report(*selection: str) -> str:
    """What `pytest --collect-only` says for this file and a selection: conftest reports a started synthesis."""
    command = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", __file__]
    result = subprocess.run(
        [*command, *selection], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    return result.stdout


@pytest.mark.slow
def test_the_cli_synth_starts_only_when_a_selected_test_needs_it():
    assert CLI_SYNTH_STARTED in collection_report("-k", "cdk_cli")
    assert CLI_SYNTH_STARTED not in collection_report("-k", "starts_only")
