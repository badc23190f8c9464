"""`make integ`: deploy integ_mysfits.py with the pinned CDK CLI, read its assertion results, destroy everything.

This is what CDK's integ-runner does for an IntegTest. The integ-runner on npm (2.197.10) bundles a toolkit that
reads cloud assembly schema 53 at most, and aws-cdk-lib 2.275.0 writes schema 55, so it cannot run this app yet.
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

INTEG_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = INTEG_DIR.parent.parent
INTEG_APP = INTEG_DIR / "integ_mysfits.py"
RESULT_PREFIX = "AssertionResults"


def assertion_results(outputs: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """`{"status": "success"}` or `{"status": "fail", "message": ...}` per assertion, from the stack outputs."""
    return {
        f"{stack}.{name}": json.loads(value)
        for stack, stack_outputs in outputs.items()
        for name, value in stack_outputs.items()
        if name.startswith(RESULT_PREFIX)
    }


def failures(results: dict[str, dict[str, str]]) -> list[str]:
    return [
        f"{name}: {result.get('message', result)}"
        for name, result in results.items()
        if result.get("status") != "success"
    ]


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="mysfits-integ-"))
    outputs_file = workdir / "outputs.json"
    cdk = [
        str(PROJECT_ROOT / "node_modules" / ".bin" / "cdk"),
        "--app",
        f"{sys.executable} {INTEG_APP}",
        "--output",
        str(workdir / "cdk.out"),
        "--no-notices",
    ]
    deploy = ["deploy", "--all", "--require-approval", "never", "--outputs-file", str(outputs_file)]
    try:
        if subprocess.run([*cdk, *deploy], cwd=PROJECT_ROOT, check=False).returncode != 0:
            print("integ: the deployment failed (see above); destroying what was created", file=sys.stderr)
            return 1
        results = assertion_results(json.loads(outputs_file.read_text(encoding="utf-8")))
        if not results:
            print("integ: the deployment reported no assertion results", file=sys.stderr)
            return 1
        failed = failures(results)
        for name in results:
            print(f"integ: {'FAIL' if any(f.startswith(name) for f in failed) else 'ok  '} {name}")
        for failure in failed:
            print(f"integ: {failure}", file=sys.stderr)
        return 1 if failed else 0
    finally:
        if os.environ.get("INTEG_KEEP") == "1":
            print("integ: INTEG_KEEP=1, the stacks are left deployed; `make integ-destroy` removes them")
        else:
            subprocess.run([*cdk, "destroy", "--all", "--force"], cwd=PROJECT_ROOT, check=False)


if __name__ == "__main__":
    sys.exit(main())
