"""The synthetic questionnaire world: determinism, formats and the exact Bayes optimum."""

import gzip
import itertools

import numpy as np
import pytest

from mysfits.ml import data


@pytest.fixture(scope="module")
def world():
    answers, labels, dist = data.generate(50_000, seed=7)
    return answers, labels, dist


def test_same_seed_same_rows_and_distribution():
    a1, y1, d1 = data.generate(2_000, seed=3)
    a2, y2, d2 = data.generate(2_000, seed=3)
    assert np.array_equal(a1, a2)
    assert np.array_equal(y1, y2)
    assert np.array_equal(d1.answer_probs, d2.answer_probs)
    a3, _, d3 = data.generate(2_000, seed=4)
    assert not np.array_equal(a1, a3)
    assert not np.allclose(d1.answer_probs, d3.answer_probs)


def test_distribution_depends_on_seed_only_not_rows():
    _, _, small = data.generate(100, seed=7)
    _, _, large = data.generate(10_000, seed=7)
    assert np.array_equal(small.answer_probs, large.answer_probs)
    assert np.array_equal(small.priors, large.priors)


def test_shapes_ranges_and_labels(world):
    answers, labels, dist = world
    assert answers.shape == (50_000, 5)
    assert labels.shape == (50_000,)
    assert answers.min() == 1
    assert answers.max() == 8
    assert set(np.unique(labels)) == set(data.catalog_labels()) == set(range(12))
    assert np.allclose(dist.answer_probs.sum(axis=-1), 1)
    assert np.isclose(dist.priors.sum(), 1)


def test_negative_seed_rejected():
    with pytest.raises(ValueError, match="seed"):
        data.make_distribution(-1)


def test_cell_index_round_trip():
    cells = data.all_cells()
    assert cells.shape == (32768, 5)
    assert np.array_equal(data.cell_index(cells), np.arange(32768))
    assert data.cell_index(np.array([1, 1, 1, 1, 2])) == 1
    assert data.cell_index(np.array([2, 1, 1, 1, 1])) == 8**4


def test_original_format_label_last_gzip(tmp_path, world):
    answers, labels, _ = world
    path = data.write_original(tmp_path / data.ORIGINAL_FILENAME, answers[:100], labels[:100])
    raw = path.read_bytes()
    assert raw[:2] == b"\x1f\x8b"
    lines = gzip.decompress(raw).decode().splitlines()
    assert len(lines) == 100
    first = [int(v) for v in lines[0].split(",")]
    assert first == [*answers[0].tolist(), int(labels[0])]
    x, y = data.read_csv(path, label_first=False)
    assert np.array_equal(x, answers[:100])
    assert np.array_equal(y, labels[:100])


def test_knn_format_label_first_plain(tmp_path, world):
    answers, labels, _ = world
    path = data.write_knn(tmp_path / data.KNN_FILENAME, answers[:100], labels[:100])
    raw = path.read_bytes()
    assert raw[:2] != b"\x1f\x8b"
    first = [int(v) for v in raw.decode().splitlines()[0].split(",")]
    assert first == [int(labels[0]), *answers[0].tolist()]
    x, y = data.read_csv(path, label_first=True)
    assert np.array_equal(x, answers[:100])
    assert np.array_equal(y, labels[:100])


def test_bayes_optimum_is_meaningful():
    for seed in (0, 7, 42):
        optimum = data.bayes_optimum(data.make_distribution(seed))
        assert 0.6 < optimum < 0.85


def test_bayes_optimum_matches_brute_force_on_a_tiny_case():
    rng = np.random.default_rng(0)
    # three classes, answers restricted to 1..2 (other answers impossible): 2^5 = 32 questionnaires
    probs = np.zeros((3, 5, 8))
    probs[:, :, :2] = rng.dirichlet([1.0, 1.0], size=(3, 5))
    dist = data.Distribution(labels=np.array([0, 1, 2]), priors=np.array([0.5, 0.3, 0.2]), answer_probs=probs)
    brute = 0.0
    for answers in itertools.product((1, 2), repeat=5):
        brute += max(dist.priors[c] * np.prod([probs[c, q, a - 1] for q, a in enumerate(answers)]) for c in range(3))
    assert data.bayes_optimum(dist) == pytest.approx(brute, rel=1e-12)
    assert 0 < brute < 1
    assert data.joint_table(dist).sum() == pytest.approx(1.0)


def test_bayes_rule_on_samples_matches_the_computed_optimum():
    answers, labels, dist = data.generate(200_000, seed=11)
    empirical = (data.bayes_predictions(dist)[data.cell_index(answers)] == labels).mean()
    # binomial standard error ~0.001 at 200k rows
    assert empirical == pytest.approx(data.bayes_optimum(dist), abs=0.006)


def test_split_is_90_10_and_disjoint():
    answers = np.arange(1000 * 5).reshape(1000, 5)
    labels = np.arange(1000)
    tx, ty, _vx, vy = data.split(answers, labels, 0.1, seed=1)
    assert len(ty) == 900
    assert len(vy) == 100
    assert not set(ty) & set(vy)
    assert np.array_equal(tx[:, 0] // 5, ty)
