"""What runs on the notebook instance must run on its Python: the `conda_python3` kernel is 3.10.

The modules are found from the notebook's own imports, so a module the notebook starts to use is checked too.
"""

import ast
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from mysfits.project_files import PROJECT_ROOT
from stacks.constructs.ml_notebook import LIFECYCLE_DIR

NOTEBOOK = PROJECT_ROOT / "notebooks" / "mysfit_recommendations_knn.ipynb"
KERNEL_PYTHON = "3.10"
AUTOSTOP = LIFECYCLE_DIR / "autostop.py"


def _imported_project_modules(source: str) -> set[str]:
    """`mysfits.x` modules named by `import mysfits.x`, `from mysfits import x` or `from mysfits.x import y`."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "mysfits"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "mysfits":
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if _module_path(name) is not None}


def _module_path(module: str) -> Path | None:
    base = PROJECT_ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def notebook_side_modules() -> set[Path]:
    """Every project module the notebook imports, directly or through another project module."""
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    code = "\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "code")
    pending, seen = _imported_project_modules(code) | {"mysfits"}, set()
    while pending:
        module = pending.pop()
        seen.add(module)
        for parent in (module.rsplit(".", 1)[0],) if "." in module else ():
            pending |= {parent} - seen  # importing a submodule runs its package's __init__
        pending |= _imported_project_modules(_module_path(module).read_text(encoding="utf-8")) - seen
    return {_module_path(module) for module in seen}


def test_notebook_uses_the_kernel_that_notebook_instances_offer():
    kernelspec = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["metadata"]["kernelspec"]
    assert kernelspec["name"] == "conda_python3"


def test_ruff_checks_every_notebook_side_module_at_the_kernels_version():
    """ruff flags syntax and stdlib rewrites newer than a file's target; the list must match the imports."""
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    targets = pyproject["tool"]["ruff"]["per-file-target-version"]
    py310 = {PROJECT_ROOT / path for path, version in targets.items() if version == "py310"}
    assert py310 == notebook_side_modules()
    assert targets[str(AUTOSTOP.relative_to(PROJECT_ROOT))] == "py39"


@pytest.mark.slow  # mypy in a subprocess
def test_notebook_side_modules_type_check_on_python_310():
    """mypy with the 3.10 typeshed rejects 3.11-only names such as `datetime.UTC` that 3.11 tests never see."""
    files = sorted(str(path) for path in notebook_side_modules() | {AUTOSTOP})
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--python-version", KERNEL_PYTHON, "--ignore-missing-imports", *files],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("source", "modules"),
    [
        ("from mysfits.ml import data, training", {"mysfits.ml", "mysfits.ml.data", "mysfits.ml.training"}),
        ("import mysfits.ml.sagemaker_job", {"mysfits.ml.sagemaker_job"}),
        ("from mysfits.ml.model import KnnModel", {"mysfits.ml.model"}),
        ("import numpy\nfrom mysfits import settings", {"mysfits", "mysfits.settings"}),
    ],
)
def test_import_discovery_finds_project_modules(source, modules):
    assert _imported_project_modules(source) == modules
