"""Execute notebooks/topology_exploration.ipynb so that it cannot rot."""
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "topology_exploration.ipynb"


def outputs(nb) -> str:
    text = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                text.append(out.text)
            elif out.output_type == "error":
                text.append(f"{out.ename}: {out.evalue}")
    return "".join(text)


def test_topology_notebook_runs(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert nb.metadata.kernelspec.name == "python3"
    # "python3" resolves to this interpreter (jupyter_client swaps in sys.executable)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    text = outputs(nb)
    assert "Error" not in text, text
    assert "tag_aligned  forward temporal edges that reach the moved content: 80%" in text
    assert "frame 3: self  1.00/51   same frame 48.00/51   other frames 2.00/51" in text
    assert "topology       still     pan" in text
    images = sum("image/png" in out.get("data", {}) for cell in nb.cells
                 for out in cell.get("outputs", []))
    assert images == 4, f"expected the notebook's 4 figures, got {images}"
