"""The trained k-NN model as the local endpoint serves it: a lookup table, pure Python, no numpy.

Five answers in 1..8 give only 8^5 = 32768 possible questionnaires, so training (``mysfits.ml.training``)
evaluates the k-NN vote for every one of them once and stores the winning label per cell. Serving is
then an O(1) list lookup at index Σ (a_i - 1)·8^(4-i), identical to running the k-NN search on the
request, and needs neither numpy nor scikit-learn at import time.

``model.json``::

    {"format": "mysfits-knn-lattice", "version": 1, "k": 40, "feature_dim": 5,
     "predictor_type": "classifier", "sample_size": 900000, "seed": 7, "rows": 1000000,
     "accuracy": 0.73, "bayes_optimum": 0.74, "ratio": 0.99, ..., "predictions": [32768 ints]}
"""

from __future__ import annotations

import functools
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from mysfits.project_files import load_catalog
from mysfits.settings import FEATURE_DIM, N_ANSWERS, N_CELLS, PREDICTOR_TYPE

FORMAT = "mysfits-knn-lattice"
VERSION = 1
MODEL_FILENAME = "model.json"


def model_path(path: str | Path) -> Path:
    """``path`` itself if it names a file, else ``path/model.json``."""
    path = Path(path)
    return path / MODEL_FILENAME if path.is_dir() or not path.suffix else path


@functools.cache
def catalog_labels() -> frozenset[int]:
    """The labels of the Mysfits catalog the handler serves: a model may predict only these."""
    mysfits = load_catalog()["mysfits"]
    return frozenset(m["label"] for m in mysfits)


def lattice_index(values: list[int]) -> int:
    """Σ (a_i - 1)·8^(4-i) for five validated answers."""
    index = 0
    for value in values:
        index = index * N_ANSWERS + (value - 1)
    return index


def _validate_row(position: int, row: Any) -> list[int]:
    if isinstance(row, str | bytes) or not hasattr(row, "__len__") or not hasattr(row, "__iter__"):
        raise ValueError(f"row {position}: expected a list of {FEATURE_DIM} features, got {type(row).__name__}")
    if len(row) != FEATURE_DIM:
        raise ValueError(f"row {position}: expected {FEATURE_DIM} features, got {len(row)}")
    answers = []
    for feature, value in enumerate(row):
        where = f"row {position}, feature {feature}"
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{where}: expected a number, got {value!r}")
        if not math.isfinite(value) or value != int(value):
            raise ValueError(f"{where}: expected a whole number 1..{N_ANSWERS}, got {value!r}")
        answer = int(value)
        if not 1 <= answer <= N_ANSWERS:
            raise ValueError(f"{where}: answer must be between 1 and {N_ANSWERS}, got {value!r}")
        answers.append(answer)
    return answers


class KnnModel:
    """A trained k-NN classifier over the five questionnaire answers (see the module docstring)."""

    def __init__(self, metadata: dict[str, Any], predictions: list[int]) -> None:
        self.metadata = dict(metadata)
        self.predictions = predictions
        self.k: int = int(metadata["k"])
        self.feature_dim: int = int(metadata["feature_dim"])
        self.predictor_type: str = str(metadata.get("predictor_type", PREDICTOR_TYPE))

    # --- loading ------------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path) -> KnnModel:
        """Load ``model.json`` (or the directory holding it); ``ValueError`` if missing/corrupt/foreign."""
        file = model_path(path)
        try:
            text = file.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ValueError(f"no model at {file}: train one with `python -m mysfits train`") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"cannot read model {file}: {exc}") from None
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"model {file} is not valid JSON ({exc.msg} at line {exc.lineno})") from None
        return cls.from_dict(document, source=str(file))

    @classmethod
    def from_dict(cls, document: Any, *, source: str = "model") -> KnnModel:
        if not isinstance(document, dict):
            raise ValueError(f"{source}: expected a JSON object, got {type(document).__name__}")
        if document.get("format") != FORMAT:
            raise ValueError(
                f"{source}: not a Mysfits k-NN model (format {document.get('format')!r}, expected {FORMAT!r})"
            )
        if document.get("version") != VERSION:
            raise ValueError(f"{source}: unsupported model version {document.get('version')!r} (expected {VERSION})")
        if document.get("feature_dim") != FEATURE_DIM:
            raise ValueError(f"{source}: feature_dim must be {FEATURE_DIM}, got {document.get('feature_dim')!r}")
        k = document.get("k")
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"{source}: k must be a positive integer, got {k!r}")
        predictions = document.get("predictions")
        if not isinstance(predictions, list) or len(predictions) != N_CELLS:
            got = len(predictions) if isinstance(predictions, list) else type(predictions).__name__
            raise ValueError(f"{source}: predictions must be a list of {N_CELLS} labels, got {got}")
        if not all(isinstance(p, int) and not isinstance(p, bool) and p >= 0 for p in predictions):
            raise ValueError(f"{source}: predictions must be non-negative integer labels")
        outside = sorted(set(predictions) - catalog_labels())
        if outside:
            shown = ", ".join(map(str, outside[:5])) + (", ..." if len(outside) > 5 else "")
            raise ValueError(
                f"{source}: predictions hold labels outside the catalog ({shown}); "
                f"the catalog's labels are {min(catalog_labels())}..{max(catalog_labels())}"
            )
        metadata = {key: value for key, value in document.items() if key != "predictions"}
        return cls(metadata, predictions)

    def to_dict(self) -> dict[str, Any]:
        return {**self.metadata, "predictions": list(self.predictions)}

    def save(self, path: str | Path) -> Path:
        """Write atomically (temp file + rename) so a reader never sees half a model."""
        file = model_path(path)
        file.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.to_dict(), separators=(",", ":"))
        fd, tmp = tempfile.mkstemp(prefix=".model-", suffix=".json", dir=file.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text + "\n")
            os.replace(tmp, file)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return file

    # --- serving ------------------------------------------------------------------------------------
    def predict(self, rows: list[list[float]]) -> list[int]:
        """The predicted Mysfit label for each row of five answers (integral values 1..8, 3.0 is fine)."""
        if isinstance(rows, str | bytes) or not hasattr(rows, "__iter__"):
            raise ValueError(f"expected a list of rows, got {type(rows).__name__}")
        return [self.predictions[lattice_index(_validate_row(i, row))] for i, row in enumerate(rows)]

    def __repr__(self) -> str:
        return f"KnnModel(k={self.k}, feature_dim={self.feature_dim}, accuracy={self.metadata.get('accuracy')})"
