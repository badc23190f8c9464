"""`npx cdk synth` as a user runs it: offline, no credentials, cdk-nag registered in app.py, one template per stack.

The synthesis itself is started by conftest when collection ends; this test, run last, checks its result.
"""

import json

import pytest

from stacks.application import STACK_NAMES


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
