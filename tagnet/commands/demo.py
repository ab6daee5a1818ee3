"""``tagnet demo``: the main job on built-in data, about two minutes on a 2-core CPU."""
from __future__ import annotations

import argparse

from tagnet.commands._common import safe_path

HELP = "train TAG-Head and the backbone-only baseline on synthetic data (CPU, ~2 min)"
DESCRIPTION = """\
The whole pipeline on built-in data, no download:

  1. generate the FineSynth benchmark (cached): 8 fine-grained classes of one
     actor's routines, three pairs of which differ only in the order of frames;
  2. train a tiny R(2+1)D + TAG-Head, and the same backbone with mean pooling and a
     linear classifier (Table 4's row "B"), from scratch on the CPU;
  3. test both on the held-out clips and write a report folder: metrics.json,
     results.md, confusion matrices, t-SNE of pre-logit features, training curves.

  tagnet demo                        # runs/demo, data cached in ~/.cache/tagnet/finesynth
  tagnet demo --epochs 20 train.lr=5e-4
  tagnet demo data.synth.camera_motion=pan   # the paper's stated limitation

Settings come from the bundled `demo` config; KEY=VALUE overrides apply to both models.
"""

VARIANTS = (("baseline", "backbone only (B)", "B"), ("tag_head", "TAG-Head (full)", "full"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="config overrides for both models, e.g. train.epochs=20")
    parser.add_argument("--config", "-c", default="demo", help="config (default: demo)")
    parser.add_argument("--output", "-o", help="report folder (default: runs/demo)")
    parser.add_argument("--data-root", help="where the benchmark is generated and cached")
    parser.add_argument("--epochs", type=int, help="training epochs per model")
    parser.add_argument("--seed", type=int, help="random seed (default 0)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def run(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from tagnet.config import load_config
    from tagnet.train.experiment import Variant, prepare_synthetic, run_variant, shared_data

    if args.epochs is not None and args.epochs < 1:
        raise ValueError(f"--epochs {args.epochs} is invalid: give 1 or more epochs per model")
    start = time.time()
    overrides = list(args.overrides)
    for flag, key in (("output", "output_dir"), ("data_root", "data.root"),
                      ("epochs", "train.epochs"), ("seed", "seed")):
        if getattr(args, flag) is not None:
            overrides.append(f"{key}={getattr(args, flag)}")
    if args.quiet:
        overrides.append("train.progress=false")
    cfg = load_config(args.config, overrides)
    out = Path(cfg.output_dir)
    print(f"[1/3] synthetic benchmark in {safe_path(Path(cfg.data.root).expanduser())}")
    synth = prepare_synthetic(cfg, progress=not args.quiet)
    data = shared_data(cfg)
    print(f"      {len(synth.classes)} classes, {len(data.train)} training clips "
          f"(+{len(data.select) if data.select else 0} holdout), {len(data.test)} test clips"
          f"{'' if synth.generated else ' (cached)'}")
    records = []
    for i, (folder, title, ablation) in enumerate(VARIANTS, start=2):
        print(f"[{i}/3] training {title} ({cfg.train.epochs} epochs)")
        variant = Variant(title, [f"model.kwargs.ablation={ablation}"])
        rec = run_variant(cfg, variant, cfg.seed, out / folder, data, synth.order_pairs)
        rec["folder"] = folder
        records.append(rec)
    report = write_report(cfg, synth, data, records, out, time.time() - start)
    print()
    print(report["table"])
    print(f"\nchance: {100 / len(synth.classes):.1f}% top-1; total time "
          f"{report['total_time_s'] / 60:.1f} min; report: {out / 'report'}")
    return 0


def write_report(cfg, synth, data, records: list[dict], out, total_time: float) -> dict:
    """``report/``: metrics.json, results.md, confusion_*.png, tsne.png, curves.png."""
    import platform
    import shutil
    import sys

    import torch

    from tagnet.eval.inference import predict
    from tagnet.eval.plots import plot_training_curves, read_log
    from tagnet.eval.report import write_json
    from tagnet.eval.tables import fmt_pct, markdown_table
    from tagnet.eval.tsne import plot_tsne
    from tagnet.train.data import eval_loader
    from tagnet.train.modeling import load_model

    rep = out / "report"
    rep.mkdir(parents=True, exist_ok=True)
    header = ["model", "params", "top-1", "top-5", "MCA", "order pairs", "train time"]
    rows, panels, logs = [], {}, {}
    for r in records:
        run_dir = out / r["folder"]
        rows.append([r["variant"], f"{r['parameters']:,}", fmt_pct(r["top1"]),
                     fmt_pct(r.get("top5", float("nan"))), fmt_pct(r["mca"]),
                     fmt_pct(r["order_pair_top1"]), f"{r['train_time_s']:.0f} s"])
        shutil.copy(run_dir / "test" / "confusion.png", rep / f"confusion_{r['folder']}.png")
        model, _ = load_model(run_dir / "best.pth")
        preds = predict(model, eval_loader(data.test, cfg.eval.batch_size, 0), features=True)
        panels[r["variant"]] = (preds.features, preds.labels)
        logs[r["variant"]] = read_log(run_dir / "log.jsonl")
    rows.append(["chance", "", fmt_pct(1 / len(synth.classes)),
                 fmt_pct(min(5, len(synth.classes)) / len(synth.classes)),
                 fmt_pct(1 / len(synth.classes)), fmt_pct(0.5), ""])
    table = markdown_table(header, rows)
    plot_tsne(panels, rep / "tsne.png", synth.classes, seed=cfg.seed)
    plot_training_curves(logs, rep / "curves.png")
    summary = {
        "benchmark": {"name": synth.version, "root": str(synth.root), "classes": synth.classes,
                      "order_pairs": synth.order_pairs, "params": synth.params,
                      "train_clips": len(data.train), "test_clips": len(data.test)},
        "models": records, "total_time_s": round(total_time, 1),
        "command": "tagnet " + " ".join(sys.argv[1:]) if sys.argv else "",
        "machine": {"python": platform.python_version(), "torch": str(torch.__version__),
                    "threads": torch.get_num_threads(), "cpu": platform.processor()},
        "config": cfg.to_dict(),
    }
    write_json(summary, rep / "metrics.json")
    (rep / "results.md").write_text(
        f"# tagnet demo: {synth.version}, {len(synth.classes)} classes (synthetic data)\n\n"
        f"{table}\n\nTest split: {len(data.test)} held-out clips. \"order pairs\": top-1 over "
        "the classes that differ from another class only in frame order "
        f"({synth.order_pairs}); chance between the two is 50%.\n")
    return {"table": table, "total_time_s": total_time}
