"""``tagnet eval``: evaluate a checkpoint on a split and write a report folder."""
from __future__ import annotations

import argparse

HELP = "evaluate a checkpoint: top-1/top-5, MCA (and mmaction2's), CSVs, confusion, t-SNE"
DESCRIPTION = """\
Evaluate a checkpoint written by `tagnet train` on one split of its dataset.

  tagnet eval --checkpoint runs/gym99/best.pth
  tagnet eval --checkpoint runs/gym99 --split val --num-clips 3 --num-crops 3 --tsne
  tagnet eval --checkpoint best.pth data.root=/mnt/finegym     # data moved

The model and data settings come from the config saved in the checkpoint;
KEY=VALUE overrides change them (data.root, eval.batch_size, ...). Writes
metrics.json, per_class.csv, predictions.csv, confusion.png (and tsne.png) to
--output (default: <run folder>/eval_<split>). MCA is the mean per-class recall
over classes present in the ground truth (as released); mca_mmaction2 averages
over every class seen in predictions or ground truth.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="config overrides, e.g. data.root=/data eval.batch_size=16")
    parser.add_argument("--checkpoint", "-k", required=True,
                        help="a .pth written by tagnet train, or a run folder (best.pth)")
    parser.add_argument("--split", help="split to evaluate (default: the config's test_split)")
    parser.add_argument("--num-clips", type=int, help="clips per video (multi-clip testing)")
    parser.add_argument("--num-crops", type=int, choices=[1, 3],
                        help="spatial crops per clip: 1 (centre) or 3 (left/centre/right)")
    parser.add_argument("--tsne", action="store_true", help="t-SNE of pre-logit features")
    parser.add_argument("--output", "-o", help="report folder")
    parser.add_argument("--device", help="cpu, cuda or auto (default)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tagnet.config import Config
    from tagnet.eval.evaluate import evaluate
    from tagnet.eval.report import format_metrics
    from tagnet.train.checkpoint import load_checkpoint
    from tagnet.train.datasets import build_dataset
    from tagnet.train.distributed import resolve_device
    from tagnet.train.modeling import build_model

    ckpt_path = Path(args.checkpoint)
    if ckpt_path.is_dir():
        ckpt_path = ckpt_path / "best.pth"
    ckpt = load_checkpoint(ckpt_path)
    cfg = Config.from_dict(ckpt["config"], where=str(ckpt_path)).override(args.overrides)
    for flag, key in (("num_clips", "eval.num_clips"), ("num_crops", "eval.num_crops"),
                      ("device", "device")):
        if getattr(args, flag) is not None:
            cfg.set(key, getattr(args, flag))
    split = args.split or cfg.data.test_split
    device = resolve_device(cfg.device)
    class_names = list(ckpt["class_names"])
    model = build_model(cfg, len(class_names), load_weights=False)
    model.load_state_dict(ckpt["model"])
    dataset = build_dataset(cfg, split, train=False)
    if list(dataset.classes) != class_names:
        raise ValueError(f"split {split!r} has other classes than the checkpoint "
                         f"({len(dataset.classes)} vs {len(class_names)})")
    out = Path(args.output) if args.output else ckpt_path.parent / f"eval_{split}"
    views = cfg.eval.num_clips * cfg.eval.num_crops
    metrics, _ = evaluate(
        model.to(device), dataset, class_names, out_dir=out, batch_size=cfg.eval.batch_size,
        num_workers=cfg.data.num_workers, device=device, topk=cfg.eval.topk, tsne=args.tsne,
        tsne_max_points=cfg.eval.tsne_max_points, title=f"{cfg.name} ({split})",
        progress=True, extra={"split": split, "checkpoint": str(ckpt_path),
                              "epoch": ckpt["epoch"], "views": views,
                              "num_clips": cfg.eval.num_clips, "num_crops": cfg.eval.num_crops})
    print(f"{split} ({views} view{'s' if views > 1 else ''}/video): "
          f"{format_metrics(metrics, cfg.eval.topk)}")
    print(f"report: {out}")
    return 0
