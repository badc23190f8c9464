"""`npx cdk synth` started in the background when collection ends, so its ~8 s overlap the rest of the suite."""

import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mysfits.cli.cdk_env import offline_cli_env
from mysfits.project_files import PROJECT_ROOT


@dataclass
class BackgroundSynth:
    process: subprocess.Popen
    outdir: Path

    def wait(self, timeout: float = 300) -> tuple[int, str]:
        output, _ = self.process.communicate(timeout=timeout)
        return self.process.returncode, output

    def cleanup(self) -> None:
        """Stop the CLI and the `python app.py` it started (its own process group), then remove the output."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        shutil.rmtree(self.outdir, ignore_errors=True)


def start_cli_synth() -> BackgroundSynth:
    """As a user runs it: the pinned CLI, offline, no AWS credentials or instance metadata."""
    cdk = PROJECT_ROOT / "node_modules" / ".bin" / "cdk"
    if not cdk.exists():
        raise RuntimeError("the pinned CDK CLI is not installed: run `make setup` (npm ci)")
    env = offline_cli_env()
    outdir = Path(tempfile.mkdtemp(prefix="mysfits-cli-synth-"))
    process = subprocess.Popen(
        [str(cdk), "synth", "--quiet", "--no-notices", "--output", str(outdir)],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    return BackgroundSynth(process, outdir)
