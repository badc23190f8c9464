"""Training API and CLI: report, ensure_model reuse, argument errors."""

import subprocess
import sys
import time

import pytest

from mysfits.ml import training
from mysfits.ml.model import KnnModel
from mysfits.project_files import PROJECT_ROOT


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "mysfits", *args], capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120
    )


def test_train_report_and_fixed_k(tmp_path):
    report = training.train(rows=1_000_000, seed=7, out_dir=tmp_path, k=20, progress=False)
    assert report["k"] == 20
    assert report["ratio"] >= 0.9
    assert report["ratio"] == pytest.approx(report["accuracy"] / report["bayes_optimum"])
    assert report["train_rows"] == 900_000
    assert report["test_rows"] == 100_000
    assert report["path"] == tmp_path / "model.json"
    assert KnnModel.load(tmp_path).k == 20


def test_train_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="rows"):
        training.train(rows=10, out_dir=tmp_path)
    with pytest.raises(ValueError, match="seed"):
        training.train(rows=10_000, seed=-1, out_dir=tmp_path)
    with pytest.raises(ValueError, match="k must"):
        training.train(rows=10_000, k=0, out_dir=tmp_path)


@pytest.mark.slow  # trains a 1M-row model
def test_ensure_model_reuses_an_existing_artifact(tmp_path):
    # 1M rows: a dense lattice trains faster (under 2 s) than a sparse 200k one.
    first = training.ensure_model(tmp_path, rows=1_000_000, seed=7)
    assert first == tmp_path / "model.json"
    stamp = first.stat().st_mtime_ns
    time.sleep(0.01)
    assert training.ensure_model(tmp_path, rows=1_000_000, seed=7) == first
    assert first.stat().st_mtime_ns == stamp


@pytest.mark.slow  # trains a 1M-row model
def test_ensure_model_replaces_a_corrupt_artifact(tmp_path):
    (tmp_path / "model.json").write_text("garbage")
    path = training.ensure_model(tmp_path, rows=1_000_000, seed=7)
    assert KnnModel.load(path).metadata["rows"] == 1_000_000


def test_cli_train_prints_the_comparison(tmp_path):
    result = run_cli("train", "--rows", "50000", "--seed", "5", "--out", str(tmp_path), "--k", "10", "--no-progress")
    assert result.returncode == 0, result.stderr
    for text in ("accuracy", "bayes optimum", "ratio", "training time", str(tmp_path / "model.json")):
        assert text in result.stdout
    assert result.stderr == ""


def test_cli_generate_writes_both_formats(tmp_path):
    result = run_cli("generate", "--rows", "1000", "--seed", "1", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "mysfit-data.csv.gz").stat().st_size > 0
    assert len((tmp_path / "knn-train.csv").read_text().splitlines()) == 1000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--rows", "5"], "--rows: must be between 1000"),
        (["train", "--rows", "many"], "--rows: must be an integer"),
        (["train", "--seed", "-3"], "--seed: must be a non-negative integer"),
        (["train", "--k", "0"], "--k: must be a positive integer"),
        (["train", "--bogus"], "unrecognized arguments"),
        (["generate", "--rows", "0"], "--rows: must be between 1"),
        (["train", "--out", "/proc/mysfits-model"], "--out: cannot write to"),
    ],
)
def test_cli_bad_arguments_exit_2_with_one_line(args, message):
    result = run_cli(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
