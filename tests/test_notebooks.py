"""Every notebook runs top to bottom on the embedded sample; committed notebooks carry no outputs."""

import nbformat
import pytest
from helpers import REPO
from nbclient import NotebookClient

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


def test_the_notebooks_exist():
    assert [p.name for p in NOTEBOOKS] == [
        "01_explore_taxonomy.ipynb", "02_embedding_diversity.ipynb", "03_ablation_subsets.ipynb", "04_pair_quality.ipynb"
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_outputs_are_stripped_in_git(path):
    notebook = nbformat.read(path, as_version=4)
    assert all(cell.get("id") for cell in notebook.cells), f"{path.name}: every cell needs an id (nbformat warns)"
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: strip outputs before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes_without_error(path, tmp_path):
    notebook = nbformat.read(path, as_version=4)
    # the kernel inherits this session's caches (SPA_VL_CACHE, HF_DATASETS_CACHE) and offline mode
    client = NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError on any cell error
    images = sum("image/png" in o.get("data", {}) for c in notebook.cells if c.cell_type == "code" for o in c.outputs)
    assert images >= 2  # the figures rendered
    streams = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.outputs)
    assert "TqdmWarning" not in streams and "IProgress not found" not in streams
