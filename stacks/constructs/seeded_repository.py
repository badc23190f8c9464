"""A CodeCommit repository that starts out holding this project: no manual copy before the notebook clones it."""

from pathlib import Path

from aws_cdk import IgnoreMode
from aws_cdk import aws_codecommit as codecommit
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BRANCH = "main"


def repository_excludes() -> list[str]:
    """What `.gitignore` keeps out of git stays out of the seeded repository too (plus `.git` itself)."""
    lines = (PROJECT_ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    return [".git", *(line.strip() for line in lines if line.strip() and not line.startswith("#"))]


class SeededRepository(Construct):
    """The project's service code and notebook, committed to `main` when the repository is created."""

    def __init__(self, scope: Construct, construct_id: str, *, repository_name: str) -> None:
        super().__init__(scope, construct_id)
        self.source = s3_assets.Asset(
            self,
            "InitialCommit",
            path=str(PROJECT_ROOT),
            exclude=repository_excludes(),
            ignore_mode=IgnoreMode.GIT,
        )
        self.repository = codecommit.Repository(
            self,
            "Repository",
            repository_name=repository_name,
            description="Mythical Mysfits recommendations: Lambda service, k-NN notebook, website and CDK app",
            code=codecommit.Code.from_asset(self.source, DEFAULT_BRANCH),
        )
