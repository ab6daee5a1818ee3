"""benchmarks/topology_ladder.py: a tiny study writes per-seed records, ceilings and verdicts,
and a second call reuses its runs."""
from __future__ import annotations

import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

import topology_ladder  # noqa: E402

TINY = ["data.synth.clips_per_class=4", "train.epochs=1"]


def test_a_tiny_ladder_writes_ceilings_and_per_seed_records(tmp_path, monkeypatch):
    monkeypatch.setitem(topology_ladder.STUDIES, "tiny", (
        "headroom", ("intra_frame", "tag", "tag_directed"),
        ["model.kwargs.operator=gatv2", "model.kwargs.readout=max"], []))
    out = tmp_path / "ladder.json"
    argv = ["--studies", "tiny", "--seeds", "0", "1", "--root", str(tmp_path / "runs"),
            "--out", str(out), f"data.root={tmp_path / 'data'}", *TINY]
    topology_ladder.main(argv)
    study = json.loads(out.read_text())["studies"]["tiny"]
    assert study["head"] == ["model.kwargs.graph_only=true", "model.kwargs.operator=gatv2",
                             "model.kwargs.readout=max"]
    ceilings = {v["variant"]: v["ceiling"] for v in study["verdicts"]}
    assert ceilings == {"topology intra_frame": 0.375, "topology tag": 0.5,
                        "topology tag_directed": 1.0}
    assert not any(v.get("above_ceiling") for v in study["verdicts"])
    runs = {(r["variant"], r["seed"]): r["top1"] for r in study["records"]}
    assert len(runs) == 6 and all("converged" in r for r in study["records"])
    for row in study["summary"]:  # every printed mean is the mean of the kept per-seed values
        values = [runs[row["variant"], s] for s in row["seeds"]]
        assert row["top1"]["values"] == values
        assert abs(row["top1"]["mean"] - sum(values) / len(values)) < 1e-12
    header = study["table"].splitlines()[0]
    assert [c.strip() for c in header.strip("| ").split(" | ")][:3] == \
        ["configuration", "top-1", "ceiling"]
    # a second call trains nothing new and keeps the same records
    before = (tmp_path / "runs" / "tiny" / "topology_tag" / "seed0" / "record.json").stat()
    topology_ladder.main(argv)
    after = (tmp_path / "runs" / "tiny" / "topology_tag" / "seed0" / "record.json").stat()
    assert before.st_mtime_ns == after.st_mtime_ns
    assert json.loads(out.read_text())["studies"]["tiny"]["records"] == study["records"]
