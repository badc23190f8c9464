"""The CodeCommit seed: exactly what git tracks, never an empty file (CodeCommit refuses them), within quotas."""

import os
import subprocess
from pathlib import Path

import pytest

from mysfits.project_files import PROJECT_ROOT
from stacks.constructs import seeded_repository as seed


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    git(root, "init", "-q")
    (root / ".gitignore").write_text(".venv/\n")
    (root / "app.py").write_text("print('app')\n")
    (root / "pkg").mkdir()
    (root / "pkg" / "__init__.py").write_text("")
    (root / ".venv").mkdir()
    (root / ".venv" / "secret.txt").write_text("never seeded\n")
    (root / "untracked.py").write_text("not added\n")
    git(root, "add", ".gitignore", "app.py", "pkg/__init__.py")
    return root


def test_staged_asset_is_exactly_the_tracked_non_empty_files(synthesized):
    (staged,) = synthesized.asset_dirs("MysfitsRepository")
    files = sorted(str(path.relative_to(staged)) for path in staged.rglob("*") if path.is_file())
    tracked = [name for name in seed.tracked_files(PROJECT_ROOT) if (PROJECT_ROOT / name).is_file()]
    assert files == [name for name in tracked if (PROJECT_ROOT / name).stat().st_size > 0]
    assert all((staged / name).stat().st_size > 0 for name in files)
    assert all((staged / name).stat().st_size <= seed.MAX_FILE_BYTES for name in files)
    assert sum((staged / name).stat().st_size for name in files) <= seed.MAX_TOTAL_BYTES
    for expected in ("notebooks/mysfit_recommendations_knn.ipynb", "lambda/recommendations/handler.py", "app.py"):
        assert expected in files


def test_the_project_tracks_no_empty_file():
    """An empty tracked file would be left out of the seed (with a warning); keep the seed the whole project."""
    empty = [name for name in seed.tracked_files(PROJECT_ROOT) if (PROJECT_ROOT / name).stat().st_size == 0]
    assert empty == []


def test_empty_files_are_skipped_and_named(checkout, tmp_path):
    staged = seed.stage_repository_content(checkout, tmp_path / "staged")
    assert staged.files == (".gitignore", "app.py")
    assert staged.skipped_empty == ("pkg/__init__.py",)
    assert not (tmp_path / "staged" / "pkg").exists()
    assert not (tmp_path / "staged" / ".venv").exists()
    assert not (tmp_path / "staged" / "untracked.py").exists()


def test_a_file_over_codecommits_limit_stops_synthesis(checkout, tmp_path):
    (checkout / "big.bin").write_bytes(b"x" * (seed.MAX_FILE_BYTES + 1))
    git(checkout, "add", "big.bin")
    with pytest.raises(seed.RepositorySeedError, match=r"big\.bin is 6,291,457 bytes"):
        seed.stage_repository_content(checkout, tmp_path / "staged")


def test_outside_a_git_checkout_the_error_says_what_to_do(tmp_path):
    with pytest.raises(seed.RepositorySeedError, match="mysfits:createRepository=false"):
        seed.stage_repository_content(tmp_path, tmp_path / "staged")


@pytest.mark.synth
def test_cli_synth_outside_git_prints_one_line(tmp_path):
    """`app.py` turns the seed error into one line and exit 2, like a config error."""
    copy = tmp_path / "copy"
    copy.mkdir()
    for entry in ("app.py", "cdk.json", "api", "lambda", "mysfits", "stacks", "web"):
        source = PROJECT_ROOT / entry
        target = copy / entry
        if source.is_dir():
            subprocess.run(["cp", "-r", str(source), str(target)], check=True)
        else:
            target.write_bytes(source.read_bytes())
    result = subprocess.run(
        [str(PROJECT_ROOT / ".venv" / "bin" / "python"), "app.py"],
        cwd=copy,
        capture_output=True,
        text=True,
        env={
            "PATH": os.environ["PATH"],
            "HOME": str(tmp_path),
            "CDK_OUTDIR": str(tmp_path / "out"),
            "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
            "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
        },
        timeout=300,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: the Repository stack seeds CodeCommit with the files git tracks")
    assert "Traceback" not in result.stderr
