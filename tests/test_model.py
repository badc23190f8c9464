"""The served model: lattice k-NN correctness, artifact round trip and request validation."""

import json
import subprocess
import sys

import numpy as np
import pytest

from mysfits.ml import data, training
from mysfits.ml.model import N_CELLS, KnnModel


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("model")
    report = training.train(rows=1_000_000, seed=7, out_dir=out, progress=False)  # dense: trains fastest
    return report, KnnModel.load(out)


def brute_force_votes(train_x, train_y, n_classes, query, k):
    """Plain k-NN on rows: sort by distance, the tie shell at the k-th distance shares votes."""
    d2 = ((train_x - query) ** 2).sum(axis=1)
    votes = np.zeros(n_classes)
    taken = 0
    for dist in np.unique(d2):
        members = train_y[d2 == dist]
        if taken + len(members) >= k:
            votes += np.bincount(members, minlength=n_classes) * (k - taken) / len(members)
            return votes
        votes += np.bincount(members, minlength=n_classes)
        taken += len(members)
    return votes


@pytest.mark.parametrize("k", [1, 4, 25])
def test_lattice_votes_equal_brute_force_knn(k):
    rng = np.random.default_rng(k)
    train_x = rng.integers(1, 9, size=(400, 5))
    train_y = rng.integers(0, 3, size=400)
    votes = training.lattice_votes(training.count_table(train_x, train_y, 3), [k])[k]
    cells = data.all_cells()
    for index in rng.choice(N_CELLS, size=60, replace=False):
        expected = brute_force_votes(train_x, train_y, 3, cells[index], k)
        assert np.allclose(votes[index], expected), index


def test_lattice_votes_with_fewer_rows_than_k():
    train_x = np.array([[1, 1, 1, 1, 1], [8, 8, 8, 8, 8]])
    votes = training.lattice_votes(training.count_table(train_x, np.array([0, 1]), 2), [5])[5]
    assert np.allclose(votes.sum(axis=1), 2)


def test_trained_model_is_close_to_the_bayes_optimum(trained):
    report, model = trained
    assert report["ratio"] >= 0.9
    assert 0 < report["accuracy"] <= 1
    assert model.metadata["ratio"] == pytest.approx(report["ratio"], abs=1e-5)


def test_artifact_contents(trained):
    report, model = trained
    document = json.loads(report["path"].read_text())
    for key in (
        "format",
        "version",
        "k",
        "feature_dim",
        "predictor_type",
        "sample_size",
        "seed",
        "rows",
        "accuracy",
        "bayes_optimum",
        "ratio",
    ):
        assert key in document, key
    assert document["feature_dim"] == 5
    assert document["predictor_type"] == "classifier"
    assert document["sample_size"] == 900_000
    assert len(document["predictions"]) == 32768
    assert set(document["predictions"]) <= set(range(12))
    assert model.k == document["k"]
    assert model.feature_dim == 5
    assert "predictions" not in model.metadata


def test_predict_is_a_lookup_of_the_cell(trained):
    _, model = trained
    rows = [[1, 1, 1, 1, 1], [8, 8, 8, 8, 8], [3.0, 5.0, 2.0, 7.0, 1.0], [1, 1, 1, 1, 2]]
    expected = [
        model.predictions[0],
        model.predictions[N_CELLS - 1],
        model.predictions[int(data.cell_index(np.array([3, 5, 2, 7, 1])))],
        model.predictions[1],
    ]
    assert model.predict(rows) == expected
    assert model.predict([]) == []


def test_round_trip_save_and_load(trained, tmp_path):
    _, model = trained
    path = model.save(tmp_path / "again")
    assert path.name == "model.json"
    again = KnnModel.load(path)
    assert again.predictions == model.predictions
    assert again.metadata == model.metadata


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([[1, 2, 3, 4]], "row 0: expected 5 features, got 4"),
        ([[1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 6]], "row 1: expected 5 features, got 6"),
        ([[1, 2, 3, 4, 9]], "row 0, feature 4: answer must be between 1 and 8"),
        ([[0, 2, 3, 4, 5]], "row 0, feature 0: answer must be between 1 and 8"),
        ([[1, 2.5, 3, 4, 5]], "row 0, feature 1: expected a whole number"),
        ([[1, "2", 3, 4, 5]], "row 0, feature 1: expected a number"),
        ([[1, True, 3, 4, 5]], "row 0, feature 1: expected a number"),
        ([[1, float("nan"), 3, 4, 5]], "row 0, feature 1: expected a whole number"),
        (["1,2,3,4,5"], "row 0: expected a list"),
        ("1,2,3,4,5", "expected a list of rows"),
    ],
)
def test_predict_rejects_bad_rows(trained, rows, message):
    _, model = trained
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(")):
        model.predict(rows)


def test_load_errors(tmp_path, trained):
    report, _ = trained
    with pytest.raises(ValueError, match="no model at"):
        KnnModel.load(tmp_path / "missing")
    (tmp_path / "corrupt.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        KnnModel.load(tmp_path / "corrupt.json")
    (tmp_path / "foreign.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ValueError, match="not a Mysfits k-NN model"):
        KnnModel.load(tmp_path / "foreign.json")
    document = json.loads(report["path"].read_text())
    document["predictions"] = document["predictions"][:100]
    (tmp_path / "short.json").write_text(json.dumps(document))
    with pytest.raises(ValueError, match="predictions must be a list of 32768"):
        KnnModel.load(tmp_path / "short.json")


def test_serving_imports_no_numpy():
    code = "import sys, mysfits.ml.model; print('numpy' in sys.modules or 'sklearn' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: [*p, 0], "predictions must be a list of 32768 labels, got 32769"),
        (lambda p: p[:-1], "predictions must be a list of 32768 labels, got 32767"),
        (lambda p: [12, *p[1:]], r"labels outside the catalog \(12\); the catalog's labels are 0\.\.11"),
        (lambda p: [*p[:-2], 99, 40], r"labels outside the catalog \(40, 99\)"),
    ],
)
def test_a_model_is_refused_at_load_unless_it_has_every_cell_and_only_catalog_labels(
    tmp_path, trained, change, message
):
    report, _ = trained
    document = json.loads(report["path"].read_text())
    document["predictions"] = change(document["predictions"])
    (tmp_path / "model.json").write_text(json.dumps(document))
    with pytest.raises(ValueError, match=message):
        KnnModel.load(tmp_path)
