"""Execute notebooks/topology_exploration.ipynb so that it cannot rot."""
import json
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "topology_exploration.ipynb"
LADDER = ROOT / "benchmarks" / "topology_ladder.json"


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
    # section 5: the symmetry fixes each graph's ceiling, and random weights obey it exactly
    rows = {line.split()[0]: line.split()[1:] for line in text.splitlines()
            if line.endswith("%") and len(line.split()) == 6}
    assert rows["intra_frame"][:2] == ["False", "True"] and rows["intra_frame"][-1] == "37.5%"
    assert max(map(float, rows["intra_frame"][2:4])) < 1e-12      # blind to any frame order
    for name in ("tag", "tag_window:2", "tag_dense"):
        _, _, twins, reversals, ceiling = rows[name]
        assert ceiling == "50.0%" and float(reversals) < 1e-12 < float(twins)  # direction only
    for name in ("tag_directed", "random_temporal:tag"):
        _, symmetric, twins, reversals, ceiling = rows[name]
        assert (symmetric, ceiling) == ("False", "100.0%")
        assert min(float(twins), float(reversals)) > 1e-6                  # sees both
    # section 6 reads the committed study: every printed mean is the mean of its seeds' records
    studies = json.loads(LADDER.read_text())["studies"]
    for name in ("paths", "sites"):
        by_row: dict[str, list[float]] = {}
        for record in studies[name]["records"]:
            by_row.setdefault(record["variant"], []).append(record["top1"])
        assert len(by_row) == 6
        for variant, values in by_row.items():
            mean = 100 * sum(values) / len(values)
            assert f"  {variant.split(' ', 1)[1]:22s} {mean:5.1f}  " in text, variant
    images = sum("image/png" in out.get("data", {}) for cell in nb.cells
                 for out in cell.get("outputs", []))
    assert images == 4, f"expected the notebook's 4 figures, got {images}"
