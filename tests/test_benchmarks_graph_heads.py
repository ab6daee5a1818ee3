"""benchmarks/graph_heads.py: a tiny grid of two heads, its cross table and JSON."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from scipy.stats import t

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

import graph_heads  # noqa: E402


def test_two_heads_with_and_without_the_graph_make_one_table(tmp_path, capsys):
    out = tmp_path / "graph_heads.json"
    graph_heads.main(["--root", str(tmp_path / "runs"), "--heads", "max", "attention_topology",
                      "--seeds", "0", "1", "--out", str(out), f"data.root={tmp_path / 'data'}",
                      "data.synth.clips_per_class=4", "train.epochs=1"])
    result = json.loads(out.read_text())
    table, notes = result["table"].split("\n\n", 1)
    lines = table.splitlines()
    assert lines[0].startswith("| head | no graph") and len(lines) == 4
    max_row = lines[2].split(" | ")
    assert max_row[0] == "| `readout=max`" and len(max_row) == 6
    assert "Δ" not in max_row[1]  # the reference cell
    assert all("Δ" in c and "[" in c and ", p " in c for c in max_row[2:5])  # vs topology none
    assert lines[3].startswith("| `attention_topology=T` (self only: ")
    # one family: 3 contrasts of max, 4 of the attention mask (global vs none and 3 topologies)
    assert "Holm's correction over the 7 contrasts of this table" in notes
    assert "2/2^2 = 0.5, so no contrast can reach p < 0.05" in notes
    assert set(result["heads"]) == {"max", "attention_topology"}
    ref = {r["variant"]: r for r in result["heads"]["max"]["summary"]}["topology none"]
    assert ref["seeds"] == [0, 1] and result["seeds"] == [0, 1]

    # every contrast is recomputed from the per-seed records the JSON keeps
    pvalues = []
    for c in result["contrasts"]:
        records = result["heads"][c["head"]]["records"]
        top1 = {(r["variant"], r["seed"]): r["top1"] for r in records}
        d = [top1[c["variant"], s] - top1[c["reference"], s] for s in (0, 1)]
        assert c["pairs"] == [0, 1] and c["diff"] == pytest.approx(sum(d) / 2)
        half = t.ppf(0.975, 1) * abs(d[0] - d[1]) / 2   # t s / √2 with s = |d0 - d1| / √2
        assert (c["low"], c["high"]) == pytest.approx((c["diff"] - half, c["diff"] + half))
        # two seeds, 4 sign patterns: |d0 + d1| beats |d0 - d1| only when they share a sign
        assert c["p"] == (0.5 if d[0] * d[1] > 0 else 1.0)
        pvalues.append(c["p"])
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    for rank, i in enumerate(order):
        holm = max(min(1.0, (m - j) * pvalues[order[j]]) for j in range(rank + 1))
        assert result["contrasts"][i]["p_holm"] == pytest.approx(holm)
        assert result["contrasts"][i]["effect"] is False
    # the runs are reused: a second call trains nothing and gives the same table
    graph_heads.main(["--root", str(tmp_path / "runs"), "--heads", "max", "attention_topology",
                      "--seeds", "0", "1", "--out", str(out), f"data.root={tmp_path / 'data'}",
                      "data.synth.clips_per_class=4", "train.epochs=1"])
    assert json.loads(out.read_text())["table"] == result["table"]
    assert "finished earlier" in capsys.readouterr().out
