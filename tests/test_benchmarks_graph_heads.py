"""benchmarks/graph_heads.py: a tiny grid of two heads, its cross table and JSON."""
from __future__ import annotations

import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

import graph_heads  # noqa: E402


def test_two_heads_with_and_without_the_graph_make_one_table(tmp_path, capsys):
    out = tmp_path / "graph_heads.json"
    graph_heads.main(["--root", str(tmp_path / "runs"), "--heads", "max", "attention_topology",
                      "--seeds", "0", "1", "--out", str(out), f"data.root={tmp_path / 'data'}",
                      "data.synth.clips_per_class=4", "train.epochs=1"])
    result = json.loads(out.read_text())
    lines = result["table"].splitlines()
    assert lines[0].startswith("| head | no graph") and len(lines) == 4
    max_row = lines[2].split(" | ")
    assert max_row[0] == "| `readout=max`" and len(max_row) == 6
    assert "Δ" not in max_row[1]  # the reference cell
    assert all("Δ" in c and "[" in c for c in max_row[2:5])  # paired to topology none
    assert lines[3].startswith("| `attention_topology=T` (self only: ")
    assert set(result["heads"]) == {"max", "attention_topology"}
    ref = {r["variant"]: r for r in result["heads"]["max"]["summary"]}["topology none"]
    assert ref["seeds"] == [0, 1]
    # the runs are reused: a second call trains nothing and gives the same table
    graph_heads.main(["--root", str(tmp_path / "runs"), "--heads", "max", "attention_topology",
                      "--seeds", "0", "1", "--out", str(out), f"data.root={tmp_path / 'data'}",
                      "data.synth.clips_per_class=4", "train.epochs=1"])
    assert json.loads(out.read_text())["table"] == result["table"]
    assert "finished earlier" in capsys.readouterr().out
