"""The project's data files that several parts read by path, each behind one named loader.

CDK-free and Python 3.10-compatible: the stacks, the notebook (on the instance's `conda_python3` kernel), the
local stand-ins, the clean-up Lambda and the tests all read these files, so where each lives is written once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# The recommendation Lambda's package: the handler and the Mysfits catalog it ships (the website deploys the same file).
HANDLER_DIR = PROJECT_ROOT / "lambda" / "recommendations"
HANDLER_PATH = HANDLER_DIR / "handler.py"
CATALOG_PATH = HANDLER_DIR / "mysfits.json"
WEB_DIR = PROJECT_ROOT / "web"
QUESTIONNAIRE_PATH = WEB_DIR / "questionnaire.json"
# Region -> AWS account that publishes the built-in k-NN image (`<account>.dkr.ecr.<region>.amazonaws.com/knn:1`).
KNN_IMAGE_REGISTRIES_PATH = PROJECT_ROOT / "mysfits" / "ml" / "knn_image_registries.json"
CDK_JSON_PATH = PROJECT_ROOT / "cdk.json"
OPENAPI_PATH = PROJECT_ROOT / "api" / "openapi.json"
# Where `python -m mysfits train` writes the model and `python -m mysfits serve` loads it.
LOCAL_MODEL_DIR = PROJECT_ROOT / ".local" / "model"


class ProjectFileError(ValueError):
    """A project file that is present but unusable; the message names the file."""


def _load_json(path: Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def load_catalog(path: Path = CATALOG_PATH) -> dict[str, Any]:
    """The Mysfits catalog: `{"mysfits": [{"label", "name", ...}, ...]}`."""
    return _load_json(path)


def load_questionnaire(path: Path = QUESTIONNAIRE_PATH) -> dict[str, Any]:
    """The website's questionnaire: `{"questions": [{"id", "options", ...}, ...]}`, in feature order."""
    return _load_json(path)


def load_knn_image_registries(path: Path = KNN_IMAGE_REGISTRIES_PATH) -> dict[str, str]:
    """Region -> account of the built-in k-NN image: the notebook builds image URIs, the stacks IAM and regions."""
    return _load_json(path)


def load_openapi(path: Path = OPENAPI_PATH) -> dict[str, Any]:
    """The API's OpenAPI document, which owns the request schema and the API path."""
    return _load_json(path)


def load_cdk_context(path: Path = CDK_JSON_PATH) -> dict[str, Any]:
    """The `context` object of cdk.json; empty when the file is absent (e.g. a notebook copied elsewhere)."""
    try:
        document = _load_json(path)
    except FileNotFoundError:
        return {}
    except ValueError as error:
        raise ProjectFileError(f"{path} is not valid JSON ({error})") from None
    context = document.get("context", {}) if isinstance(document, dict) else None
    if not isinstance(context, dict):
        raise ProjectFileError(f"{path}: 'context' must be a JSON object")
    return context
