"""Train the local k-NN model (``python -m mysfits train``) and write the data files (``… generate``).

The classifier is an *exact* k-NN (Euclidean distance on the raw ordinal answers 1..8, majority vote
of the k nearest training rows), computed on the 8^5 answer lattice instead of row by row:

* the 900 000 training rows collapse into a count table ``counts[cell, label]`` (32768 x 12);
* for every cell, neighbours are visited shell by shell in increasing distance (all lattice offsets
  with the same squared length form one shell), accumulating label counts until k rows are reached;
* rows tied at the k-th distance share the remaining votes in proportion (fractional votes), i.e. the
  *expected* vote of k-NN with uniformly random tie-breaking. In a cell holding more than k rows that
  is the majority label of the whole cell, so the vote does not depend on row order.

This gives the predicted label of every possible questionnaire (the served lookup table) in about a
second, where scikit-learn's KNeighborsClassifier would spend far longer on a KD-tree full of exact
duplicates and would break the ties by row index. The hyperparameters are the SageMaker job's:
``k``, ``feature_dim=5``, ``predictor_type=classifier`` and ``sample_size`` (all training rows).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, NoReturn, TextIO

import numpy as np

from mysfits.ml import data
from mysfits.ml.model import FORMAT, MODEL_FILENAME, VERSION, KnnModel
from mysfits.project_files import LOCAL_MODEL_DIR
from mysfits.settings import DEFAULT_ROWS, DEFAULT_SEED, FEATURE_DIM, N_ANSWERS, N_CELLS, PREDICTOR_TYPE

K_CANDIDATES = (1, 3, 5, 10, 15, 20, 30, 40, 50, 75, 100, 150)
MIN_TRAIN_ROWS = 1_000
MAX_ROWS = 50_000_000
TEST_FRACTION = 0.1
VALIDATION_FRACTION = 0.1  # of the training rows, only to choose k when none is given


# --- the lattice k-NN ---------------------------------------------------------------------------------
def count_table(answers: np.ndarray, class_idx: np.ndarray, n_classes: int) -> np.ndarray:
    """``counts[cell, c]``: how many rows answered questionnaire ``cell`` and carry class index ``c``."""
    flat = data.cell_index(answers) * n_classes + np.asarray(class_idx, dtype=np.int64)
    return np.bincount(flat, minlength=N_CELLS * n_classes).reshape(N_CELLS, n_classes).astype(np.float64)


def _shells() -> list[tuple[int, np.ndarray]]:
    """All lattice offsets in {-7..7}^5 grouped by squared length, nearest shell first."""
    span = np.arange(-(N_ANSWERS - 1), N_ANSWERS)
    grid = np.stack(np.meshgrid(*([span] * FEATURE_DIM), indexing="ij"), axis=-1).reshape(-1, FEATURE_DIM)
    norms = (grid**2).sum(axis=1)
    order = np.argsort(norms, kind="stable")
    grid, norms = grid[order], norms[order]
    bounds = np.flatnonzero(np.diff(norms)) + 1
    return [
        (int(group_norms[0]), offsets)
        for offsets, group_norms in zip(np.split(grid, bounds), np.split(norms, bounds), strict=True)
    ]


_SHELLS: list[tuple[int, np.ndarray]] | None = None


def lattice_votes(counts: np.ndarray, ks: list[int] | tuple[int, ...]) -> dict[int, np.ndarray]:
    """Exact k-NN votes (fractional at the tie boundary) for every lattice cell, for several k at once.

    Returns ``{k: votes}`` with ``votes`` shaped like ``counts`` (32768 x C); each row sums to
    ``min(k, total rows)`` (with fewer than k rows in all, every row votes).
    """
    global _SHELLS
    if _SHELLS is None:
        _SHELLS = _shells()
    requested = sorted({int(k) for k in ks})
    if not requested or requested[0] < 1:
        raise ValueError(f"k must be a positive integer, got {ks}")
    total = float(counts.sum())
    if total <= 0:
        raise ValueError("cannot train k-NN on zero rows")
    effective = {k: min(float(k), total) for k in requested}
    n_cells, n_classes = counts.shape
    coords = data.all_cells() - 1  # (cells, 5) in 0..7
    cube = counts.reshape(*([N_ANSWERS] * FEATURE_DIM), n_classes)
    votes = {k: np.zeros_like(counts) for k in requested}
    largest = max(effective.values())
    before = np.zeros(n_cells)  # rows already counted per cell (strictly closer than the current shell)
    cum_votes = np.zeros_like(counts)  # their label counts
    active = np.arange(n_cells)  # cells still short of the largest k
    nonempty = np.flatnonzero(counts.sum(axis=1))
    for _, offsets in _SHELLS:
        if not len(active):
            break
        # Sparse data or few cells left: comparing the remaining cells with every occupied cell directly
        # is cheaper than walking more (ever larger) shells of offsets.
        if len(active) * len(nonempty) <= _DIRECT_PAIRS:
            for k, rows in _direct_votes(coords, active, counts, nonempty, effective).items():
                votes[k][active] = rows
            break
        # label counts of this shell, for the active cells only
        shell = np.zeros((len(active), n_classes))
        base = coords[active]
        for offset in offsets:
            target = base + offset
            valid = ((target >= 0) & (target < N_ANSWERS)).all(axis=1)
            if valid.any():
                shell[valid] += cube[tuple(target[valid].T)]
        shell_total = shell.sum(axis=1)
        after = before[active] + shell_total
        for k, need_total in effective.items():
            # cells whose k-th neighbour lies in this shell: take the missing votes proportionally
            finishing = (before[active] < need_total) & (after >= need_total)
            if finishing.any():
                share = (need_total - before[active][finishing]) / shell_total[finishing]
                cells = active[finishing]
                votes[k][cells] = cum_votes[cells] + shell[finishing] * share[:, None]
        cum_votes[active] += shell
        before[active] = after
        active = active[after < largest]
    return votes


_DIRECT_PAIRS = 20_000_000  # (cell, occupied cell) pairs _direct_votes handles in about a second


def _direct_votes(
    coords: np.ndarray, cells: np.ndarray, counts: np.ndarray, nonempty: np.ndarray, effective: dict[int, float]
) -> dict[int, np.ndarray]:
    """The same fractional k-NN votes for ``cells``, by sorting their distances to every occupied cell."""
    counts_nz = counts[nonempty]
    totals = counts_nz.sum(axis=1)
    coords_nz = coords[nonempty].astype(np.int16)
    n_dist = FEATURE_DIM * (N_ANSWERS - 1) ** 2 + 1  # squared distances are integers 0..245
    out = {k: np.zeros((len(cells), counts.shape[1])) for k in effective}
    chunk = max(1, 1_000_000 // max(len(nonempty), 1))
    for start in range(0, len(cells), chunk):
        block = coords[cells[start : start + chunk]].astype(np.int16)
        dist = np.zeros((len(block), len(nonempty)), dtype=np.int16)
        for q in range(FEATURE_DIM):
            dist += (block[:, q, None] - coords_nz[None, :, q]) ** 2
        # rows of training data at each distance, per cell: a histogram instead of a sort
        flat = (np.arange(len(block))[:, None] * n_dist + dist).ravel()
        weights = np.broadcast_to(totals, dist.shape).ravel()
        cumulative = np.bincount(flat, weights=weights, minlength=len(block) * n_dist)
        cumulative = cumulative.reshape(len(block), n_dist).cumsum(axis=1)
        for k, need in effective.items():
            boundary = np.argmax(cumulative >= need - 1e-9, axis=1)
            closer = (dist < boundary[:, None]).astype(np.float64)
            tied = (dist == boundary[:, None]).astype(np.float64)
            share = (need - closer @ totals) / (tied @ totals)
            out[k][start : start + chunk] = closer @ counts_nz + share[:, None] * (tied @ counts_nz)
    return out


def choose_k(train_x: np.ndarray, train_idx: np.ndarray, n_classes: int, seed: int) -> tuple[int, dict[int, float]]:
    """Pick k from ``K_CANDIDATES`` on a validation slice of the training rows; returns (k, scores)."""
    fit_x, fit_y, val_x, val_y = data.split(train_x, train_idx, VALIDATION_FRACTION, seed=seed + 1)
    votes = lattice_votes(count_table(fit_x, fit_y, n_classes), K_CANDIDATES)
    val_cells = data.cell_index(val_x)
    scores = {k: float((v.argmax(axis=1)[val_cells] == val_y).mean()) for k, v in votes.items()}
    best = max(scores.values())
    # the smallest k within half a standard error of the best: cheaper SageMaker inference, same accuracy
    tolerance = 0.5 * np.sqrt(best * (1 - best) / max(len(val_y), 1))
    return min(k for k, s in scores.items() if s >= best - tolerance), scores


# --- the public API -----------------------------------------------------------------------------------
def _bar(progress: bool, total: int, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="step", file=sys.stderr, disable=not progress, leave=False)


def train(
    *,
    rows: int = DEFAULT_ROWS,
    seed: int = DEFAULT_SEED,
    out_dir: Path = LOCAL_MODEL_DIR,
    k: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Generate ``rows`` seeded rows, split 90/10, train the lattice k-NN, evaluate, write model.json.

    Returns a report: accuracy, bayes_optimum, ratio, train_seconds, k, path, and more.
    """
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < MIN_TRAIN_ROWS:
        raise ValueError(f"rows must be an integer of at least {MIN_TRAIN_ROWS}, got {rows!r}")
    if rows > MAX_ROWS:
        raise ValueError(f"rows must be at most {MAX_ROWS}, got {rows}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
        raise ValueError(f"k must be a positive integer, got {k!r}")
    out_dir = Path(out_dir)
    steps = ["generate", "split", "choose k", "fit", "evaluate", "save"]
    with _bar(progress and sys.stderr.isatty(), len(steps), "training k-NN") as bar:
        bar.set_postfix_str(steps[0])
        started = time.perf_counter()
        dist = data.make_distribution(seed)
        answers, labels = data.sample(dist, rows, seed)
        optimum = data.bayes_optimum(dist)
        generate_seconds = time.perf_counter() - started
        bar.update()

        bar.set_postfix_str(steps[1])
        class_of = {int(label): i for i, label in enumerate(dist.labels)}
        lookup = np.zeros(int(dist.labels.max()) + 1, dtype=np.int64)
        lookup[list(class_of)] = list(class_of.values())
        train_x, train_y, test_x, test_y = data.split(answers, lookup[labels], TEST_FRACTION, seed=seed)
        bar.update()

        fit_started = time.perf_counter()
        bar.set_postfix_str(steps[2])
        scores: dict[int, float] = {}
        if k is None:
            k, scores = choose_k(train_x, train_y, dist.n_classes, seed)
        bar.update()

        bar.set_postfix_str(steps[3])
        votes = lattice_votes(count_table(train_x, train_y, dist.n_classes), [k])[k]
        predicted_idx = votes.argmax(axis=1)
        train_seconds = time.perf_counter() - fit_started
        bar.update()

        bar.set_postfix_str(steps[4])
        accuracy = float((predicted_idx[data.cell_index(test_x)] == test_y).mean())
        bayes_cells = data.joint_table(dist).argmax(axis=1)
        bar.update()

        bar.set_postfix_str(steps[5])
        metadata = {
            "format": FORMAT,
            "version": VERSION,
            "algorithm": "exact k-NN on the 8^5 answer lattice (Euclidean, ordinal answers, fractional ties)",
            "k": int(k),
            "feature_dim": FEATURE_DIM,
            "predictor_type": PREDICTOR_TYPE,
            "sample_size": len(train_y),
            "encoding": "ordinal",
            "seed": seed,
            "rows": rows,
            "train_rows": len(train_y),
            "test_rows": len(test_y),
            "labels": [int(v) for v in dist.labels],
            "accuracy": round(accuracy, 6),
            "bayes_optimum": round(optimum, 6),
            "ratio": round(accuracy / optimum, 6),
            "agreement_with_bayes_rule": round(float((predicted_idx == bayes_cells).mean()), 6),
            "k_validation_accuracy": {str(key): round(value, 6) for key, value in sorted(scores.items())},
            "train_seconds": round(train_seconds, 3),
        }
        model = KnnModel(metadata, [int(v) for v in dist.labels[predicted_idx]])
        path = model.save(out_dir / MODEL_FILENAME)
        bar.update()
    return {
        **{key: metadata[key] for key in ("k", "sample_size", "seed", "rows", "train_rows", "test_rows")},
        "accuracy": accuracy,
        "bayes_optimum": optimum,
        "ratio": accuracy / optimum,
        "train_seconds": train_seconds,
        "generate_seconds": generate_seconds,
        "total_seconds": time.perf_counter() - started,
        "k_validation_accuracy": scores,
        "path": path,
    }


def ensure_model(
    out_dir: Path = LOCAL_MODEL_DIR,
    *,
    rows: int = DEFAULT_ROWS,
    seed: int = DEFAULT_SEED,
    progress_stream: TextIO | None = None,
) -> Path:
    """The existing ``out_dir/model.json`` if it loads, else train one and return its path.

    With ``progress_stream``, say why a model is trained, show the progress bar and report the result there.
    """
    path = Path(out_dir) / MODEL_FILENAME
    try:
        KnnModel.load(path)
    except ValueError as problem:
        if progress_stream is not None:
            print(f"No usable model in {out_dir} ({problem}); training one now...", file=progress_stream, flush=True)
    else:
        return path
    started = time.perf_counter()
    report = train(rows=rows, seed=seed, out_dir=Path(out_dir), progress=progress_stream is not None)
    if progress_stream is not None:
        print(
            f"Trained k-NN (k={report['k']}, accuracy {report['accuracy']:.3f}) in "
            f"{time.perf_counter() - started:.1f}s -> {report['path']}",
            file=progress_stream,
            flush=True,
        )
    return report["path"]


def generate_files(*, rows: int, seed: int, out_dir: Path) -> dict[str, Path]:
    """Write both CSV layouts of ``rows`` seeded rows into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    answers, labels, _ = data.generate(rows, seed)
    return {
        "original": data.write_original(out_dir / data.ORIGINAL_FILENAME, answers, labels),
        "knn": data.write_knn(out_dir / data.KNN_FILENAME, answers, labels),
    }


# --- CLI ----------------------------------------------------------------------------------------------
class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, no usage dump, no SystemExit
        raise _UsageError(message)


def _positive_rows(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
        if value < minimum or value > MAX_ROWS:
            raise argparse.ArgumentTypeError(f"must be between {minimum} and {MAX_ROWS}, got {value}")
        return value

    return parse


def _int_at_least(minimum: int, description: str):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a {description}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be a {description}, got {value}")
        return value

    return parse


_seed = _int_at_least(0, "non-negative integer")
_k = _int_at_least(1, "positive integer")


def _parser(command: str) -> argparse.ArgumentParser:
    parser = _Parser(prog=f"python -m mysfits {command}")
    if command == "train":
        parser.description = "Train the local k-NN model and save the artifact the local endpoint loads."
        parser.add_argument("--rows", type=_positive_rows(MIN_TRAIN_ROWS), default=DEFAULT_ROWS)
        parser.add_argument("--seed", type=_seed, default=DEFAULT_SEED)
        parser.add_argument("--out", type=Path, default=LOCAL_MODEL_DIR, help="directory for model.json")
        parser.add_argument("--k", type=_k, default=None, help="neighbours (default: chosen on a validation split)")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    else:
        parser.description = "Write seeded synthetic questionnaire data in both CSV layouts."
        parser.add_argument("--rows", type=_positive_rows(1), default=DEFAULT_ROWS)
        parser.add_argument("--seed", type=_seed, default=DEFAULT_SEED)
        parser.add_argument("--out", type=Path, default=Path("data"), help="output directory")
    return parser


def _writable_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise _UsageError(f"--out: cannot write to {path}: {exc.strerror or exc}") from None


def main(argv: list[str]) -> int:
    command, rest = (argv[0], list(argv[1:])) if argv else ("train", [])
    if command not in ("train", "generate"):
        print(f"python -m mysfits: unknown command {command!r}", file=sys.stderr)
        return 2
    parser = _parser(command)
    try:
        args = parser.parse_args(rest)
        _writable_dir(args.out)
    except _UsageError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    if command == "generate":
        started = time.perf_counter()
        paths = generate_files(rows=args.rows, seed=args.seed, out_dir=args.out)
        print(f"wrote {args.rows} rows (seed {args.seed}) in {time.perf_counter() - started:.1f} s")
        print(f"  original (answers…,label, gzip): {paths['original']}")
        print(f"  k-NN     (label,answers…, text/csv;label_size=1): {paths['knn']}")
        return 0
    report = train(rows=args.rows, seed=args.seed, out_dir=args.out, k=args.k, progress=not args.no_progress)
    split_text = f"{report['train_rows']} train / {report['test_rows']} held out"
    print(f"rows            {report['rows']} ({split_text}), seed {report['seed']}")
    print(f"k               {report['k']}" + ("" if args.k else " (chosen on a validation split)"))
    print(f"accuracy        {report['accuracy']:.4f} (held-out)")
    print(f"bayes optimum   {report['bayes_optimum']:.4f}")
    print(f"ratio           {report['ratio']:.4f}")
    print(f"training time   {report['train_seconds']:.2f} s (data generation {report['generate_seconds']:.2f} s)")
    print(f"model           {report['path']}")
    return 0
