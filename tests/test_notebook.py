"""Execute the notebook in local mode (small data) and check what it shows."""

import os

import nbformat
import pytest

from mysfits.project_files import PROJECT_ROOT

NOTEBOOK = PROJECT_ROOT / "notebooks" / "mysfit_recommendations_knn.ipynb"


def test_committed_notebook_has_no_outputs_and_a_parameters_cell():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    assert any("parameters" in c.metadata.get("tags", []) for c in code)


@pytest.mark.notebook
def test_notebook_runs_end_to_end_in_local_mode(monkeypatch, tmp_path):
    from nbclient import NotebookClient

    monkeypatch.setenv("MYSFITS_MODE", "local")
    monkeypatch.setenv("MYSFITS_ROWS", "200000")
    monkeypatch.setenv("MYSFITS_SEED", "7")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    )
    client.execute(env=dict(os.environ))
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "\n".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "Bayes-optimal accuracy" in text
    assert "held-out accuracy" in text
    assert "ratio" in text
    assert "local mode: no AWS calls" in text
    assert any(name in text for name in ("Evangeline", "Pauly", "CoCo", "Gretta", "Hasla", "Snowflake"))
    assert any("image/png" in o.get("data", {}) for o in outputs if o.output_type == "display_data")
    ratio_line = next(line for line in text.splitlines() if line.startswith("ratio:"))
    assert float(ratio_line.split()[-1]) >= 0.9
