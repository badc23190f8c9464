"""A CodeCommit repository that starts out holding this project: no manual copy before the notebook clones it."""

import atexit
import fnmatch
import shutil
import tempfile
from pathlib import Path

from aws_cdk import aws_codecommit as codecommit
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BRANCH = "main"
# What the repository holds: the project as committed. An explicit list, because an asset of the project root
# with exclusions makes CDK walk all of .venv and node_modules on every synth (about 3 s of a 5 s synth).
REPOSITORY_CONTENT = (
    ".ci",
    ".gitignore",
    "Makefile",
    "README.md",
    "api",
    "app.py",
    "benchmarks",
    "cdk.json",
    "lambda",
    "mysfits",
    "notebooks",
    "package-lock.json",
    "package.json",
    "pyproject.toml",
    "requirements-dev.txt",
    "requirements.txt",
    "stacks",
    "tests",
    "web",
)


def ignored_patterns() -> list[str]:
    """What `.gitignore` keeps out of git stays out of the seeded repository too."""
    lines = (PROJECT_ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    return [line.strip().rstrip("/") for line in lines if line.strip() and not line.startswith(("#", "!"))]


def stage_repository_content(destination: Path) -> Path:
    patterns = ignored_patterns()

    def ignore(directory: str, names: list[str]) -> set[str]:
        relative = Path(directory).relative_to(PROJECT_ROOT)
        return {
            name
            for name in names
            if any(fnmatch.fnmatch(name, p) or fnmatch.fnmatch(str(relative / name), p) for p in patterns)
        }

    for entry in REPOSITORY_CONTENT:
        source = PROJECT_ROOT / entry
        if source.is_dir():
            shutil.copytree(source, destination / entry, ignore=ignore)
        elif source.exists():
            shutil.copy2(source, destination / entry)
    return destination


class SeededRepository(Construct):
    """The project's service code and notebook, committed to `main` when the repository is created."""

    def __init__(self, scope: Construct, construct_id: str, *, repository_name: str) -> None:
        super().__init__(scope, construct_id)
        staging = Path(tempfile.mkdtemp(prefix="mysfits-repository-"))
        atexit.register(shutil.rmtree, staging, ignore_errors=True)  # CDK copies it into cdk.out at synth
        self.source = s3_assets.Asset(self, "InitialCommit", path=str(stage_repository_content(staging / "content")))
        self.repository = codecommit.Repository(
            self,
            "Repository",
            repository_name=repository_name,
            description="Mythical Mysfits recommendations: Lambda service, k-NN notebook, website and CDK app",
            code=codecommit.Code.from_asset(self.source, DEFAULT_BRANCH),
        )
