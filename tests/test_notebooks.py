"""The experiment notebooks execute top to bottom (nbclient, cwd = repository root)."""

from __future__ import annotations

import pytest

import recsys

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

# 01 runs in ~10 s; 02 trains a small two-tower and takes ~80 s on 2 shared cores, hence slow.
NOTEBOOKS = [
    "experiments/01_eda.ipynb",
    pytest.param("experiments/02_embedding_analysis.ipynb", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("path", NOTEBOOKS)
def test_notebook_executes(path: str) -> None:
    if not (recsys.REPO_ROOT / "data" / "movielens" / "ml-latest-small").exists():
        pytest.skip("bundled ml-latest-small is absent")
    notebook = nbformat.read(recsys.REPO_ROOT / path, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(recsys.REPO_ROOT)}}
    )
    client.execute()
    errors = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
