"""Seeded synthetic questionnaire data with real structure, and its exact Bayes-optimal accuracy.

The world: every Mysfit (label 0..11 from the catalog) has a prior P(c) and, for each of the five
questions (occupation, age, relax, color, sport), its own categorical distribution P(a | c) over the
answers 1..8. Each distribution is peaked on a couple of favourite answers, and Mysfits share
favourites often enough that the classes overlap, so the best possible classifier is right only
about three times in four (see ``bayes_optimum``). A respondent is drawn as: label ~ P(c), then the five
answers independently given the label (naive-Bayes structure).

Everything is derived from one integer seed through ``numpy.random.SeedSequence``: the distribution
comes from the seed alone, and the rows from the seed and the row count, so 200 000 and 1 000 000 rows
with the same seed are samples of the *same* world.

Files (all header-less, comma-separated, integers):

* ``mysfit-data.csv.gz`` — the original workshop's layout: ``occupation,age,relax,color,sport,label``
  (label LAST), gzip-compressed.
* ``knn-train.csv`` — what the SageMaker built-in k-NN algorithm reads with
  ``ContentType="text/csv;label_size=1"``: ``label,occupation,age,relax,color,sport`` (label FIRST),
  uncompressed.
"""

from __future__ import annotations

import gzip
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mysfits.project_files import load_catalog, load_questionnaire
from mysfits.settings import DEFAULT_ROWS, DEFAULT_SEED, FEATURE_DIM, N_ANSWERS, N_CELLS

ORIGINAL_FILENAME = "mysfit-data.csv.gz"
KNN_FILENAME = "knn-train.csv"

# Shape of the per-Mysfit answer preferences (tuned so the Bayes optimum is ~0.7-0.8 for any seed).
FAVOURITES_PER_QUESTION = 2
FAVOURITE_WEIGHT = 6.0  # extra mass of a favourite answer, in units of a uniform answer (1/8)
BACKGROUND_CONCENTRATION = 3.0  # Dirichlet jitter of the background answers
PRIOR_CONCENTRATION = 12.0  # Dirichlet concentration of the class priors (higher = more uniform)


def catalog_labels() -> list[int]:
    """The Mysfit labels from the catalog, sorted (0..11)."""
    return sorted(int(m["label"]) for m in load_catalog()["mysfits"])


def question_ids() -> list[str]:
    """Question ids in feature order (occupation, age, relax, color, sport)."""
    questions = load_questionnaire()["questions"]
    return [q["id"] for q in sorted(questions, key=lambda q: q["feature"])]


@dataclass(frozen=True)
class Distribution:
    """The generative model: ``priors[c]`` and ``answer_probs[c, q, a-1]`` for answer a in 1..8."""

    labels: np.ndarray  # (C,) int, the Mysfit labels
    priors: np.ndarray  # (C,) float, sums to 1
    answer_probs: np.ndarray  # (C, 5, 8) float, each [c, q] sums to 1

    @property
    def n_classes(self) -> int:
        return len(self.labels)


def _seed_sequences(seed: int) -> tuple[np.random.SeedSequence, np.random.SeedSequence]:
    if not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    world, rows = np.random.SeedSequence(int(seed)).spawn(2)
    return world, rows


def make_distribution(seed: int = DEFAULT_SEED, labels: list[int] | None = None) -> Distribution:
    """Draw the per-Mysfit answer preferences and class priors deterministically from ``seed``."""
    labels_arr = np.asarray(catalog_labels() if labels is None else labels, dtype=np.int64)
    n_classes = len(labels_arr)
    world, _ = _seed_sequences(seed)
    rng = np.random.default_rng(world)
    priors = rng.dirichlet(np.full(n_classes, PRIOR_CONCENTRATION))
    probs = rng.dirichlet(np.full(N_ANSWERS, BACKGROUND_CONCENTRATION), size=(n_classes, FEATURE_DIM))
    # Favourite answers: a couple per question, chosen independently per Mysfit, so with 12 Mysfits and
    # 8 answers several Mysfits share each favourite (the overlap that keeps the problem honest).
    favourites = np.argsort(rng.random((n_classes, FEATURE_DIM, N_ANSWERS)), axis=-1)[..., :FAVOURITES_PER_QUESTION]
    boost = np.zeros_like(probs)
    np.put_along_axis(boost, favourites, FAVOURITE_WEIGHT / N_ANSWERS, axis=-1)
    probs = (probs + boost) / (1.0 + FAVOURITES_PER_QUESTION * FAVOURITE_WEIGHT / N_ANSWERS)
    return Distribution(labels=labels_arr, priors=priors, answer_probs=probs)


def cell_index(answers: np.ndarray) -> np.ndarray:
    """Flat lattice index Σ (a_i - 1)·8^(4-i) of answers (…, 5) in 1..8."""
    answers = np.asarray(answers, dtype=np.int64)
    weights = N_ANSWERS ** np.arange(FEATURE_DIM - 1, -1, -1, dtype=np.int64)
    return (answers - 1) @ weights


def all_cells() -> np.ndarray:
    """Every possible questionnaire, (32768, 5) answers in 1..8, row i has ``cell_index == i``."""
    idx = np.arange(N_CELLS, dtype=np.int64)
    powers = N_ANSWERS ** np.arange(FEATURE_DIM - 1, -1, -1, dtype=np.int64)
    return (idx[:, None] // powers) % N_ANSWERS + 1


def joint_table(dist: Distribution) -> np.ndarray:
    """P(x, c) for every lattice cell x and class c, shape (8^5, C); sums to 1."""
    digits = all_cells() - 1  # (N_CELLS, 5)
    joint = np.broadcast_to(dist.priors, (N_CELLS, dist.n_classes)).copy()
    for q in range(FEATURE_DIM):
        joint *= dist.answer_probs[:, q, :].T[digits[:, q]]  # (N_CELLS, C)
    return joint


def bayes_optimum(dist: Distribution) -> float:
    """Exact accuracy of the Bayes rule: Σ_x max_c P(c)·Π_i P(x_i | c) over all 8^5 questionnaires."""
    return float(joint_table(dist).max(axis=1).sum())


def bayes_predictions(dist: Distribution) -> np.ndarray:
    """The Bayes-optimal label for every lattice cell (lowest label on exact ties)."""
    return dist.labels[joint_table(dist).argmax(axis=1)]


def sample(dist: Distribution, rows: int, seed: int = DEFAULT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``rows`` respondents: answers (rows, 5) int8 in 1..8 and labels (rows,) int64."""
    if rows < 0:
        raise ValueError(f"rows must be non-negative, got {rows}")
    _, stream = _seed_sequences(seed)
    rng = np.random.default_rng(stream)
    class_idx = rng.choice(dist.n_classes, size=rows, p=dist.priors)
    cdf = np.cumsum(dist.answer_probs, axis=-1)  # (C, 5, 8)
    cdf[..., -1] = 1.0
    u = rng.random((rows, FEATURE_DIM))
    answers = np.empty((rows, FEATURE_DIM), dtype=np.int8)
    for q in range(FEATURE_DIM):
        # inverse-CDF sampling, vectorised: count the CDF steps below u
        answers[:, q] = (u[:, q, None] >= cdf[class_idx, q, :-1]).sum(axis=1) + 1
    return answers, dist.labels[class_idx]


def generate(rows: int = DEFAULT_ROWS, seed: int = DEFAULT_SEED) -> tuple[np.ndarray, np.ndarray, Distribution]:
    """The seeded world and a sample of it: ``answers, labels, distribution``."""
    dist = make_distribution(seed)
    answers, labels = sample(dist, rows, seed)
    return answers, labels, dist


def split(
    answers: np.ndarray, labels: np.ndarray, test_fraction: float = 0.1, seed: int = DEFAULT_SEED
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Seeded shuffle split: ``train_x, train_y, test_x, test_y`` (90/10 by default)."""
    n = len(labels)
    order = np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(99,))).permutation(n)
    n_test = round(n * test_fraction)
    test, train = order[:n_test], order[n_test:]
    return answers[train], labels[train], answers[test], labels[test]


# --- writers ------------------------------------------------------------------------------------------
def _csv_bytes(answers: np.ndarray, labels: np.ndarray, *, label_first: bool) -> bytes:
    """Fast CSV: every questionnaire's text is precomputed once, so 1M rows is a single join."""
    labels = np.asarray(labels, dtype=np.int64)
    if not len(labels):
        return b""
    cell_text = np.array([",".join(map(str, row)) for row in all_cells()], dtype=object)
    label_text = np.array([str(v) for v in range(int(labels.max()) + 1)], dtype=object)
    texts, label_col = cell_text[cell_index(answers)], label_text[labels]
    rows = label_col + "," + texts if label_first else texts + "," + label_col
    return ("\n".join(rows.tolist()) + "\n").encode("ascii")


def original_csv_bytes(answers: np.ndarray, labels: np.ndarray) -> bytes:
    """Original workshop layout, uncompressed: five answers then the label, no header."""
    return _csv_bytes(answers, labels, label_first=False)


def knn_csv_bytes(answers: np.ndarray, labels: np.ndarray) -> bytes:
    """SageMaker k-NN training layout (``text/csv;label_size=1``): label first, no header."""
    return _csv_bytes(answers, labels, label_first=True)


def write_original(path: Path, answers: np.ndarray, labels: np.ndarray) -> Path:
    """Write ``answers…,label`` rows gzip-compressed (reproducible bytes: mtime 0)."""
    path = Path(path)
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz:
        gz.write(original_csv_bytes(answers, labels))
    return path


def write_knn(path: Path, answers: np.ndarray, labels: np.ndarray) -> Path:
    """Write ``label,answers…`` rows uncompressed, ready to upload as the k-NN ``train`` channel."""
    path = Path(path)
    path.write_bytes(knn_csv_bytes(answers, labels))
    return path


def read_csv(path: Path, *, label_first: bool) -> tuple[np.ndarray, np.ndarray]:
    """Read either format back (gzip detected by the file's magic bytes)."""
    data = Path(path).read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    table = np.loadtxt(io.BytesIO(data), delimiter=",", dtype=np.int64, ndmin=2)
    if label_first:
        return table[:, 1:], table[:, 0]
    return table[:, :-1], table[:, -1]
