"""A CodeCommit repository that starts out holding this project: no manual copy before the notebook clones it."""

import atexit
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Annotations
from aws_cdk import aws_codecommit as codecommit
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

DEFAULT_BRANCH = "main"
# CloudFormation refuses an initial code archive over 20 MB compressed ("Code archive supplied cannot be more than
# 20 MB compressed"; the quotas page says GB), and CodeCommit's file APIs stop at 6 MB a file. The seed keeps to
# the strictest reading, counting uncompressed bytes: far above what this project needs.
MAX_FILE_BYTES = 6 * 1024 * 1024
MAX_TOTAL_BYTES = 20_000_000


class RepositorySeedError(Exception):
    """The project cannot be staged as the repository's first commit; the message says what to do."""


@dataclass(frozen=True)
class StagedContent:
    directory: Path
    files: tuple[str, ...]
    skipped_empty: tuple[str, ...]
    total_bytes: int


def tracked_files(root: Path) -> list[str]:
    """What git tracks, so the seed is the project as committed: no .venv, caches, or local secrets."""
    try:
        result = subprocess.run(
            ["git", "-C", str(root), "ls-files", "-z", "--cached"],
            capture_output=True,
            check=True,
            timeout=60,
        )
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        raise RepositorySeedError(
            f"the Repository stack seeds CodeCommit with the files git tracks, but `git ls-files` failed in {root} "
            f"({error}); synthesize from a git checkout, or set mysfits:createRepository=false"
        ) from None
    return sorted(name for name in result.stdout.decode("utf-8").split("\0") if name)


def stage_repository_content(root: Path, destination: Path) -> StagedContent:
    """Copy the tracked files; CodeCommit refuses empty files in a repository's initial code, so skip them."""
    staged, empty, total = [], [], 0
    for name in tracked_files(root):
        source = root / name
        if not source.is_file():  # deleted in the work tree but not yet in git, or a submodule
            continue
        size = source.stat().st_size
        if size == 0:
            empty.append(name)
            continue
        if size > MAX_FILE_BYTES:
            raise RepositorySeedError(f"{name} is {size:,} bytes; CodeCommit's seed takes files up to 6 MB")
        total += size
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
        staged.append(name)
    if not staged:
        raise RepositorySeedError(f"git tracks no files in {root}; commit the project before synthesizing")
    if total > MAX_TOTAL_BYTES:
        raise RepositorySeedError(f"the tracked files hold {total:,} bytes; the repository seed is kept under 20 MB")
    return StagedContent(destination, tuple(staged), tuple(empty), total)


class SeededRepository(Construct):
    """The project's service code and notebook, committed to `main` when the repository is created."""

    def __init__(self, scope: Construct, construct_id: str, *, repository_name: str, source_root: Path) -> None:
        super().__init__(scope, construct_id)
        staging = Path(tempfile.mkdtemp(prefix="mysfits-repository-"))
        atexit.register(shutil.rmtree, staging, ignore_errors=True)  # CDK copies it into cdk.out at synth
        self.content = stage_repository_content(source_root, staging / "content")
        if self.content.skipped_empty:
            Annotations.of(self).add_warning_v2(
                "mysfits:emptyFilesNotSeeded",
                "CodeCommit refuses empty files in a repository's initial code, so these are not in the first "
                f"commit: {', '.join(self.content.skipped_empty)}",
            )
        self.source = s3_assets.Asset(self, "InitialCommit", path=str(self.content.directory))
        self.repository = codecommit.Repository(
            self,
            "Repository",
            repository_name=repository_name,
            description="Mythical Mysfits recommendations: Lambda service, k-NN notebook, website and CDK app",
            code=codecommit.Code.from_asset(self.source, DEFAULT_BRANCH),
        )
