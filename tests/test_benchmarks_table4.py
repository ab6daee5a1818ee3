"""benchmarks/table4.py: a tiny Table 4 writes per-seed records from which its printed paired
intervals are recomputed, reuses its runs on a second call, and make_results.py renders it."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from scipy import stats

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

import make_results  # noqa: E402
import table4  # noqa: E402

TINY = ["data.synth.clips_per_class=4", "train.epochs=1"]


def test_a_tiny_table4_keeps_every_seed_and_reuses_its_runs(tmp_path):
    out = tmp_path / "table4.json"
    argv = ["--settings", "still", "--seeds", "0", "1", "--root", str(tmp_path / "runs"),
            "--out", str(out), f"data.root={tmp_path / 'data'}", *TINY]
    table4.main(argv)
    data = json.loads(out.read_text())
    assert data["benchmark"] == "table4" and list(data["settings"]) == ["still"]
    still = data["settings"]["still"]
    assert still["config"] == "headroom" and still["seeds"] == [0, 1]
    assert still["reference"] == "B + TE" and still["noise_floor"] is not None
    runs = {(r["variant"], r["seed"]): r["top1"] for r in still["records"]}
    rows = {row["variant"]: row for row in still["summary"]}
    assert {"B", "B + TE"} <= set(rows)
    # the contrast B - B + TE, recomputed from the committed records, is the printed one
    diffs = [runs["B", s] - runs["B + TE", s] for s in (0, 1)]
    top = rows["B"]["top1"]
    assert abs(top["diff"] - sum(diffs) / 2) < 1e-12
    if diffs[0] != diffs[1]:
        low, high = stats.t.interval(0.95, 1, loc=sum(diffs) / 2, scale=stats.sem(diffs))
        assert abs(top["diff_low"] - low) < 1e-9 and abs(top["diff_high"] - high) < 1e-9
    assert "| B + TE " in still["table"]
    # a second call trains nothing new and keeps the same records
    record = tmp_path / "runs" / "still" / "B_TE" / "seed0" / "record.json"
    before = record.stat().st_mtime_ns
    table4.main(argv)
    assert record.stat().st_mtime_ns == before
    assert json.loads(out.read_text())["settings"]["still"]["records"] == still["records"]
    # RESULTS.md shows the table under its setting, with the sweep's command
    section = make_results.sweeps_section(json.loads(out.read_text()), out)
    assert section.startswith("## Table 4 on the benchmarks with headroom: table4.json")
    assert "### still: headroom, seeds 0 1" in section and still["table"] in section
    assert still["command"].startswith("tagnet ablate --config headroom")
