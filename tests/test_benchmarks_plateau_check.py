"""benchmarks/plateau_check.py: it picks the runs early stopping ended below their ceiling (by
the holdout score), retrains them on the whole budget, and a second call reuses them."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

import make_results  # noqa: E402
import plateau_check  # noqa: E402

from tagnet.cli import main as tagnet  # noqa: E402


def _fake_sweep(root: Path, budget: int = 10) -> Path:
    """A finished sweep folder by hand: two rows, holdout curves chosen per run."""
    sweep = root / "sweep"
    runs = {  # (variant, seed) -> (holdout top-1 per epoch, test top-1, converged)
        ("topology tag", 0): ([0.3, 0.5, 0.5, 0.5], 0.9, True),  # stopped at 4, 50 of 75
        ("topology tag", 1): ([0.3, 0.72, 0.72], 0.1, True),  # 72 of 75: within the margin
        ("topology tag_directed", 0): ([0.5] * budget, 0.5, True),  # ran the whole budget
        ("topology tag_directed", 1): ([0.5, 0.5], 0.5, False),  # stopped by hand, not the rule
        ("topology tag_directed", 2): ([0.4, 0.6, 0.6], 0.6, True),  # stopped, ceiling 100
    }
    records = []
    for (variant, seed), (curve, top1, converged) in runs.items():
        run = sweep / variant.replace(" ", "_") / f"seed{seed}"
        run.mkdir(parents=True)
        (run / "log.jsonl").write_text("".join(
            json.dumps({"kind": "epoch", "epoch": e + 1, "val_top1": v}) + "\n"
            for e, v in enumerate(curve)))
        records.append({"variant": variant, "seed": seed, "run_dir": str(run), "top1": top1,
                        "converged": converged})
    summary = [{"variant": "topology tag", "ceiling": 0.75},
               {"variant": "topology tag_directed", "ceiling": None}]
    (sweep / "ablation.json").write_text(json.dumps({
        "records": records, "summary": summary, "config": {"train": {"epochs": budget}}}))
    return sweep


def test_candidates_are_runs_the_rule_stopped_below_their_ceiling_on_the_holdout(tmp_path):
    sweep = _fake_sweep(tmp_path)
    found = plateau_check.candidates(sweep, margin=5.0, every=False)
    assert [(c["variant"], c["seed"]) for c in found] == [
        ("topology tag", 0), ("topology tag_directed", 2)]
    first = found[0]  # its test top-1 (90) is above the ceiling: the choice never reads it
    assert (first["stopped_epoch"], first["stopped_holdout_top1"], first["ceiling"]) == \
        (4, 0.5, 0.75)
    assert found[1]["ceiling"] == 1.0  # no ceiling in the table: 100%
    every = plateau_check.candidates(sweep, margin=5.0, every=True)
    assert [(c["variant"], c["seed"]) for c in every] == [
        ("topology tag", 0), ("topology tag", 1), ("topology tag_directed", 2)]


def test_seeds_limit_the_runs_retrained(tmp_path, capsys):
    sweep = _fake_sweep(tmp_path)
    plateau_check.main([str(sweep), "--seeds", "2", "--dry-run"])
    out = capsys.readouterr().out
    assert out.startswith("1 run(s) stopped early below their ceiling - 5 points (seeds 2)")
    assert "topology_tag_directed/seed2: stopped at epoch 3, best holdout 60.0" in out


def test_a_root_that_would_land_on_the_stopped_runs_is_refused(tmp_path):
    sweep = _fake_sweep(tmp_path)
    before = {f: f.read_bytes() for f in sweep.rglob("*") if f.is_file()}
    with pytest.raises(SystemExit, match=r"puts the retrained run onto the stopped one"):
        plateau_check.main([str(sweep), "--root", str(tmp_path), "--out",
                            str(tmp_path / "out.json")])
    assert {f: f.read_bytes() for f in sweep.rglob("*") if f.is_file()} == before
    assert not (tmp_path / "out.json").exists()


def test_an_out_inside_a_sweep_folder_is_refused(tmp_path, capsys):
    sweep = _fake_sweep(tmp_path)
    before = (sweep / "ablation.json").read_bytes()
    with pytest.raises(SystemExit):
        plateau_check.main([str(sweep), "--dry-run", "--out", str(sweep / "ablation.json")])
    assert "lies inside the sweep folder" in capsys.readouterr().err
    assert (sweep / "ablation.json").read_bytes() == before


def test_a_moved_sweep_folder_finds_its_own_runs(tmp_path):
    sweep = _fake_sweep(tmp_path)
    moved = tmp_path / "elsewhere" / "sweep"
    moved.parent.mkdir()
    sweep.rename(moved)
    found = plateau_check.candidates(moved, margin=5.0, every=False)
    assert [c["run_dir"] for c in found] == [
        str(moved / "topology_tag" / "seed0"), str(moved / "topology_tag_directed" / "seed2")]


def test_a_folder_without_a_finished_sweep_is_named(tmp_path):
    with pytest.raises(SystemExit, match=r"nope: no ablation.json"):
        plateau_check.candidates(tmp_path / "nope", margin=5.0, every=False)


def test_a_stopped_run_is_retrained_on_the_whole_budget_and_reused(tmp_path):
    # a rule that holds as soon as the training loss is below the class-frequency loss stops
    # the run (at epoch 5 here) before its 8-epoch budget
    stop_early = ["train.converge_window=1", "train.converge_tol=1.0",
                 "train.converge_loss_tol=100", "train.converge_fit=0", "train.early_stop=true"]
    sweep = tmp_path / "runs" / "tiny"
    code = tagnet(["ablate", "--config", "headroom", "--sweep", "topology", "--values", "tag",
                   "--seeds", "0", "--no-noise-floor", "--no-intervals", "--quiet",
                   "-o", str(sweep),
                   f"data.root={tmp_path / 'data'}", "data.synth.clips_per_class=8",
                   "train.epochs=8", *stop_early])
    assert code == 0
    out = tmp_path / "json" / "plateau_check.json"
    out.parent.mkdir()
    plateau_check.main([str(sweep), "--all", "--out", str(out)])
    run = json.loads(out.read_text())["runs"]
    assert len(run) == 1 and 1 < run[0]["stopped_epoch"] < 8 and run[0]["full_epochs"] == 8
    full = Path(run[0]["full_dir"])
    assert full == tmp_path / "runs" / "plateau_check" / "tiny" / "topology_tag" / "seed0"
    config = (full / "config.yaml").read_text()
    assert "early_stop: false" in config and "topology: tag" in config
    assert run[0]["full_top1"] == json.loads((full / "test" / "metrics.json").read_text())["top1"]
    epochs = [json.loads(line) for line in (full / "log.jsonl").read_text().splitlines()]
    assert run[0]["full_train_time_s"] == round(sum(e["epoch_time"] for e in epochs
                                                    if e["kind"] == "epoch"), 1) > 0
    before = (full / "test" / "metrics.json").stat().st_mtime_ns
    plateau_check.main([str(sweep), "--all", "--out", str(out)])  # reused, not retrained
    assert (full / "test" / "metrics.json").stat().st_mtime_ns == before
    assert json.loads(out.read_text())["runs"] == run
    (full / "test" / "metrics.json").unlink()  # cut short before its test: resumes, same result
    plateau_check.main([str(sweep), "--all", "--out", str(out)])
    assert "resumed from" in (full / "log.jsonl").read_text()
    assert json.loads(out.read_text())["runs"] == run
    # RESULTS.md shows the table with the count of runs that left a plateau
    make_results.main(["--dir", str(out.parent), "--out", str(tmp_path / "R.md")])
    text = (tmp_path / "R.md").read_text()
    assert "## Runs stopped on a plateau: plateau_check.json (plateau_check.py)" in text
    gained = int(run[0]["left_plateau"])
    assert f"retrained with train.early_stop=false: 1, of which {gained} gained more" in text
    assert json.loads(out.read_text())["table"] in text
