"""Local tooling for the Mysfits recommendations: data, model and the one-machine product."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CATALOG_PATH = PROJECT_ROOT / "lambda" / "recommendations" / "mysfits.json"
QUESTIONNAIRE_PATH = PROJECT_ROOT / "web" / "questionnaire.json"
DEFAULT_MODEL_DIR = PROJECT_ROOT / ".local" / "model"
