"""The ``tagnet`` command: every subcommand's --help, and train -> eval -> predict -> demo ->
ablate on a tiny generated FineSynth benchmark."""
import json

import pytest
import torch
from _tiny import TINY as _TINY

from tagnet.cli import _command_modules, main

TINY = [*_TINY, "train.epochs=1"]


@pytest.mark.parametrize("name", sorted(_command_modules()))
def test_every_command_has_help(name, capsys):
    with pytest.raises(SystemExit) as exc:
        main([name, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: tagnet {name}")


def test_top_level_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for name in ("train", "eval", "predict", "demo", "ablate"):
        assert name in out


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    from tagnet.datasets import make_finesynth

    root = tmp_path_factory.mktemp("finesynth")
    return make_finesynth(root, num_classes=3, clips_per_class=8, num_frames=8, size=32,
                          progress=False)


@pytest.fixture(scope="module")
def trained(synth, tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    code = main(["train", "--config", "demo", "--output-dir", str(run), f"data.root={synth.root}",
                 *TINY])
    assert code == 0
    return run


def test_train_prints_rounded_metrics_and_says_what_compile_costs_on_the_cpu(
        synth, tmp_path, capsys, monkeypatch):
    import re

    compiled = []
    monkeypatch.setattr(torch, "compile", lambda m: compiled.append(m) or m)  # not minutes
    assert main(["train", "--config", "demo", "--output-dir", str(tmp_path / "r"),
                 f"data.root={synth.root}", *TINY, "train.compile=true"]) == 0
    out = capsys.readouterr().out
    assert compiled and re.search(r"\(best epoch \d+, top1 \d+\.\d\d\)", out), out
    assert "train.compile=true on the CPU: the first epoch compiles" in \
        (tmp_path / "r" / "log.jsonl").read_text()


def test_train_writes_a_complete_run_folder(trained):
    for name in ("config.yaml", "log.jsonl", "last.pth", "best.pth", "test/metrics.json",
                 "test/per_class.csv", "test/predictions.csv", "test/confusion.png"):
        assert (trained / name).is_file(), name
    metrics = json.loads((trained / "test/metrics.json").read_text())
    assert metrics["num_samples"] == 6 and metrics["split"] == "val"  # 2 clips x 3 classes
    assert {"top1", "top5", "mca", "mca_mmaction2"} <= set(metrics)


def test_resume_a_finished_run_for_more_epochs(trained, tmp_path, capsys):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(trained, run)
    assert main(["train", "--resume", str(run), "train.epochs=2", "--no-test"]) == 0
    state = torch.load(run / "last.pth", weights_only=True)
    assert state["epoch"] == 2 and state["config"]["train"]["epochs"] == 2
    assert state["config"]["output_dir"] == str(run)  # continues in the folder resumed from
    assert "resumed from" in (run / "log.jsonl").read_text()
    assert "resumed from" not in (trained / "log.jsonl").read_text()


def test_train_generates_the_synthetic_benchmark(synth, tmp_path, monkeypatch, capsys):
    root = tmp_path / "data"
    args = ["train", "--config", "demo", "--output-dir", str(tmp_path / "run"),
            f"data.root={root}", *TINY, "--no-test"]
    monkeypatch.setenv("WORLD_SIZE", "2")  # under torchrun it must exist already
    assert main(args) == 1
    assert f"the synthetic benchmark is not in {root} yet" in capsys.readouterr().err
    monkeypatch.delenv("WORLD_SIZE")
    assert main(args) == 0
    made = json.loads((root / "finesynth_manifest.json").read_text())
    assert made["train"] == [list(x) for x in synth.train]  # the same benchmark as make_finesynth
    assert (tmp_path / "run" / "best.pth").is_file()


def test_unknown_override_is_a_clear_error(capsys, tmp_path):
    code = main(["train", "--config", "demo", "train.lrr=1", "--output-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1 and "unknown key 'train.lrr'" in err and "valid keys of train" in err


def test_eval_multiview_and_tsne(trained, capsys):
    out = trained / "eval3"
    code = main(["eval", "--checkpoint", str(trained), "--num-clips", "2", "--num-crops", "3",
                 "--tsne", "--output", str(out)])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["views"] == 6 and metrics["num_samples"] == 6
    assert (out / "tsne.png").stat().st_size > 1000
    assert "6 views/video" in capsys.readouterr().out


def test_eval_compares_several_checkpoints(trained, tmp_path, monkeypatch, capsys):
    import shutil

    for name in ("a", "b", "c"):
        shutil.copytree(trained, tmp_path / "sweep" / name, ignore=shutil.ignore_patterns("eval*"))
    monkeypatch.chdir(tmp_path)
    code = main(["eval", "--checkpoint", "sweep/a", "sweep/b/best.pth", "sweep/c", "--tsne"])
    assert code == 0
    out = tmp_path / "sweep" / "compare_val"  # beside the run folders
    reference = json.loads((trained / "test/metrics.json").read_text())
    for sub in ("demo", "demo_2", "demo_3"):  # one run name three times: made unique
        metrics = json.loads((out / sub / "metrics.json").read_text())
        assert metrics["top1"] == reference["top1"] and metrics["mca"] == reference["mca"]
        assert (out / sub / "confusion.png").is_file()
    table = (out / "results.md").read_text()
    assert "| demo (2) " in table and "| demo (3) " in table
    assert table.count(f"{100 * reference['top1']:.1f}") >= 3
    assert (out / "tsne.png").stat().st_size > 1000
    assert "report: sweep/compare_val" in capsys.readouterr().out


def test_eval_titles_must_match_the_checkpoints(trained, capsys):
    code = main(["eval", "--checkpoint", str(trained), str(trained), "--titles", "a"])
    assert code == 1 and "2 checkpoints need as many --titles, got 1" in capsys.readouterr().err


def test_predict_on_a_generated_video(trained, tmp_path, capsys):
    from tagnet.datasets.finesynth import write_mp4
    from tagnet.datasets.synth import render

    video = tmp_path / "clip.mp4"
    write_mp4(video, render(1, seed=123, num_frames=8, size=32))
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    out_json = tmp_path / "preds.json"
    code = main(["predict", str(tmp_path), "--checkpoint", str(trained / "best.pth"),
                 "--topk", "2", "--json", str(out_json)])
    assert code == 0
    preds = json.loads(out_json.read_text())
    assert [p["path"] for p in preds] == [str(video)]
    top = preds[0]["top"]
    assert len(top) == 2 and top[0]["prob"] >= top[1]["prob"] and top[0]["prob"] <= 1
    ckpt = torch.load(trained / "best.pth", weights_only=True)
    assert top[0]["name"] == ckpt["class_names"][top[0]["class"]]
    printed = capsys.readouterr().out
    assert "skipping" in printed and str(video) in printed and top[0]["name"] in printed


def test_demo_end_to_end(synth, tmp_path, capsys):
    code = main(["demo", "--benchmark", "finesynth", "--output", str(tmp_path), "--data-root",
                 str(synth.root), "--quiet", *TINY])
    assert code == 0
    printed = capsys.readouterr().out
    assert "TAG-Head (full)" in printed and "backbone only (B)" in printed
    rep = tmp_path / "report"
    for name in ("metrics.json", "results.md", "tsne.png", "curves.png",
                 "confusion_tag_head.png", "confusion_baseline.png"):
        assert (rep / name).is_file(), name
    summary = json.loads((rep / "metrics.json").read_text())
    assert [m["variant"] for m in summary["models"]] == ["backbone only (B)", "TAG-Head (full)"]
    # the baseline (Table 4 row B) has no encoder: fewer parameters than TAG-Head
    assert summary["models"][0]["parameters"] < summary["models"][1]["parameters"]


def test_ablate_rows(synth, tmp_path, capsys):
    code = main(["ablate", "--values", "B", "full", "--seeds", "0", "1", "--output",
                 str(tmp_path), "--quiet", f"data.root={synth.root}", *TINY])
    assert code == 0
    result = json.loads((tmp_path / "ablation.json").read_text())
    assert len(result["records"]) == 8  # + the noise floor's PyG and structured runs
    assert [s["variant"] for s in result["summary"]] == ["B", "B + TE + IF-FC + TAT (full)"]
    assert all(s["seeds"] == [0, 1] for s in result["summary"])
    printed = capsys.readouterr().out
    assert "| configuration" in printed and " ± " in printed and "Δ vs B [95% CI]" in printed
    assert "noise floor (noise floor: full, structured APPNP - noise floor: full, PyG APPNP" \
        in printed


def test_ablate_reuses_finished_runs_and_resumes_unfinished_ones(synth, tmp_path, capsys):
    args = ["ablate", "--values", "B", "--seeds", "0", "--no-intervals", "--no-noise-floor",
            "--output", str(tmp_path), "--quiet",
            f"data.root={synth.root}", *TINY]

    def record():
        return json.loads((tmp_path / "ablation.json").read_text())["records"][0]

    assert main(args) == 0
    first, run = record(), tmp_path / "B" / "seed0"
    assert not first["resumed"] and (run / "record.json").is_file()
    stamp = (run / "last.pth").stat().st_mtime_ns
    capsys.readouterr()
    assert main(args) == 0  # finished: nothing is trained again
    assert "finished earlier" in capsys.readouterr().out
    assert (run / "last.pth").stat().st_mtime_ns == stamp
    assert record()["reused"] and record()["top1"] == first["top1"]
    # a run killed after its last checkpoint but before its record: resumed, not restarted
    (run / "record.json").unlink()
    assert main(args) == 0
    assert record()["resumed"] and record()["top1"] == first["top1"]
    assert record()["best_epoch"] == first["best_epoch"]
    # the convergence verdict is in the record, and a resumed run recomputes the same one
    assert isinstance(first["converged"], bool) and "converged_epoch" in first
    assert (record()["converged"], record()["converged_epoch"]) == \
        (first["converged"], first["converged_epoch"])
    # another config in the same folder is refused, not overwritten
    assert main([*args, "train.lr=0.5"]) == 1
    assert "holds a run with another config" in capsys.readouterr().err
    assert main(["ablate", "--fresh", *args[1:]]) == 0  # --fresh retrains
    assert (run / "last.pth").stat().st_mtime_ns != stamp and not record()["resumed"]
    # a sweep folder moved elsewhere holds the same runs: reused, with their new place
    moved = tmp_path.parent / (tmp_path.name + "_moved")
    tmp_path.rename(moved)
    stamp = (moved / "B" / "seed0" / "last.pth").stat().st_mtime_ns
    assert main([str(moved) if a == str(tmp_path) else a for a in args]) == 0
    moved_record = json.loads((moved / "ablation.json").read_text())["records"][0]
    assert moved_record["reused"] and moved_record["run_dir"] == str(moved / "B" / "seed0")
    assert (moved / "B" / "seed0" / "last.pth").stat().st_mtime_ns == stamp


def test_ablate_one_seed_with_intervals_says_why(capsys):
    assert main(["ablate", "--seeds", "0"]) == 1
    assert "intervals need at least 2 seeds" in capsys.readouterr().err


def test_ablate_ffn_sweep(synth, tmp_path):
    code = main(["ablate", "--sweep", "ffn", "--values", "32", "16", "--seeds", "0", "--output",
                 str(tmp_path), "--quiet", "--no-intervals", "--no-noise-floor",
                 f"data.root={synth.root}", *TINY])
    assert code == 0
    result = json.loads((tmp_path / "ablation.json").read_text())
    assert [s["variant"] for s in result["summary"]] == ["FFN 32", "FFN 16"]
    # two encoder layers over 16-channel tokens: each FFN (16->f->16) has 2*16*f + f + 16
    wide, narrow = (s["parameters"] for s in result["summary"])
    assert wide - narrow == 2 * (2 * 16 * 16 + 16)
    record = json.loads((tmp_path / "FFN_16" / "seed0" / "record.json").read_text())
    assert record["overrides"] == ["model.kwargs.ablation=full", "model.kwargs.ffn_dim=16"]
    assert "| FFN 32 " in (tmp_path / "ablation.md").read_text()


def _initial_model(run_dir):
    """The model a run started from: train() seeds with cfg.seed right before building it."""
    from tagnet.config import load_config
    from tagnet.models.factory import build_model

    cfg = load_config(run_dir / "config.yaml")
    torch.manual_seed(cfg.seed)
    return build_model(cfg, 3)


def test_head_only_training_on_a_frozen_backbone(synth, tmp_path):
    run = tmp_path / "run"
    assert main(["train", "--config", "demo", "--output-dir", str(run), f"data.root={synth.root}",
                 *TINY, "train.epochs=2", "model.freeze=backbone", "--no-test"]) == 0
    model = _initial_model(run)
    start = model.state_dict()
    ckpt = torch.load(run / "last.pth", weights_only=True)
    end = ckpt["model"]
    backbone = [k for k in start if k.startswith("backbone.")]
    assert backbone and all(k.startswith(("backbone.", "head.")) for k in start)
    for k in backbone:  # weights and BatchNorm statistics alike
        assert torch.equal(start[k], end[k]), k
    head = [k for k, p in model.named_parameters() if k.startswith("head.")]
    assert all(not torch.equal(start[k], end[k]) for k in head), "every head tensor trains"
    # the optimiser holds the head's parameters and nothing else
    assert [n for n, p in model.named_parameters() if p.requires_grad] == head
    assert sum(len(g["params"]) for g in ckpt["optimizer"]["param_groups"]) == len(head)


def test_extract_then_train_the_head_on_tokens(synth, tmp_path):
    """`tagnet extract` token grids -> `tagnet train` on data.dataset=tokens -> `tagnet eval`."""
    import csv

    tokens = tmp_path / "tokens"
    for split in ("train", "val"):
        assert main(["extract", "--backbone", "r2plus1d_tiny", "--dataset", "finegym", "--root",
                     str(synth.root), "--version", synth.version, "--split", split, "--frames",
                     "8", "--size", "32", "--resize", "32", "--workers", "0",
                     "--out", str(tokens / split)]) == 0
    run = tmp_path / "run"
    assert main(["train", "--config", "demo", "--output-dir", str(run), "data.dataset=tokens",
                 f"data.root={tokens}", "data.synth={}", "model.arch=tag_features",
                 "model.kwargs={backbone_kwargs: {source: r2plus1d_tiny}, ffn_dim: 16, "
                 "num_heads: 2}", "data.num_frames=8", "data.img_size=32",
                 "data.holdout_fraction=0.2", "train.epochs=2", "train.progress=false"]) == 0
    ckpt = torch.load(run / "best.pth", weights_only=True)
    assert not any(k.startswith("backbone.") for k in ckpt["model"])  # the head alone
    assert ckpt["class_names"] == synth.classes
    trained = json.loads((run / "test" / "metrics.json").read_text())
    assert trained["num_samples"] == 6
    with open(run / "test" / "predictions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    val_ids = [name for name, _ in synth.val]
    assert [r["path"] for r in rows] == val_ids  # token shards keep the clip ids
    # evaluating the checkpoint again reads the same tokens: the same numbers
    out = tmp_path / "eval"
    assert main(["eval", "--checkpoint", str(run / "best.pth"), "--output", str(out)]) == 0
    again = json.loads((out / "metrics.json").read_text())
    assert (again["top1"], again["mca"], again["num_samples"]) == \
        (trained["top1"], trained["mca"], 6)


def _log(run_dir, kind):
    with open(run_dir / "log.jsonl") as f:
        return [r for r in map(json.loads, f) if r["kind"] == kind]


def test_selection_on_a_holdout_by_default_and_on_val_as_released(synth, trained, tmp_path):
    # default: a stratified 20% of the train list selects; the rest trains
    info = _log(trained, "info")[0]
    (epoch,) = _log(trained, "epoch")
    assert info["select_split"] == epoch["val_split"] == "holdout"
    assert info["train_clips"] + epoch["val_num_samples"] == len(synth.train)
    assert len(synth.train) == 18 and epoch["val_num_samples"] == 3  # 20% of 6 per class: 1
    assert not any("released protocol" in r["message"] for r in _log(trained, "info"))
    run = tmp_path / "released"
    assert main(["train", "--config", "demo", "--output-dir", str(run), f"data.root={synth.root}",
                 *TINY, "--select-on", "val", "train.allow_test_selection=true",
                 "--no-test"]) == 0
    (epoch,) = _log(run, "epoch")
    assert epoch["val_split"] == "val" and epoch["val_num_samples"] == len(synth.val)
    assert _log(run, "info")[0]["train_clips"] == len(synth.train)
    notes = [r["message"] for r in _log(run, "info")]
    assert any("also the test split: the released protocol" in m for m in notes)
