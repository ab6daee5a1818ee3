"""``tagnet eval``: evaluate checkpoints on a split and write report folders (and a comparison)."""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tagnet.commands._common import (
    add_weights_arguments,
    check_frames,
    positive_int,
    safe_path,
    weights_model,
)

if TYPE_CHECKING:
    from tagnet.config import Config

HELP = "evaluate a checkpoint: top-1/top-5, MCA (and mmaction2's), CSVs, confusion, t-SNE"
DESCRIPTION = """\
Evaluate a checkpoint written by `tagnet train` on one split of its dataset.

  tagnet eval --checkpoint runs/gym99/best.pth
  tagnet eval --checkpoint runs/gym99 --split val --num-clips 3 --num-crops 3 --tsne
  tagnet eval --checkpoint best.pth data.root=/mnt/finegym     # data moved
  tagnet eval --weights gym99_best.pth --arch tag_r2plus1d_34 --config gym99 \
      data.root=/data/finegym                                  # the authors' weights file
  tagnet eval --checkpoint runs/linear runs/finetune runs/tag --tsne \
      --titles "transfer learning" "fine-tuning" "TAG-Head"    # the paper's Fig. 3

The model and data settings come from the config saved in the checkpoint;
KEY=VALUE overrides change them (data.root, eval.batch_size, ...). Writes
metrics.json, per_class.csv, predictions.csv, confusion.png (and tsne.png) to
--output (default: <run folder>/eval_<split>). MCA is the mean per-class recall
over classes present in the ground truth (as released); mca_mmaction2 averages
over every class seen in predictions or ground truth.

With several checkpoints (of the same classes) each gets its report in a
subfolder of --output (default: compare_<split> beside their run folders),
results.md holds a table of all of them, and --tsne draws tsne.png with one
panel per model, side by side.

Every report file is written atomically (a failed write keeps the previous file),
and a report file that would replace an input (a checkpoint, --weights, --config,
a data list) is refused before anything is evaluated.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="config overrides, e.g. data.root=/data eval.batch_size=16")
    parser.add_argument("--checkpoint", "-k", nargs="+",
                        help="a .pth written by tagnet train, or a run folder (best.pth); "
                        "several to compare models")
    add_weights_arguments(parser)
    parser.add_argument("--titles", nargs="+", help="a name per checkpoint for the table and "
                        "the t-SNE panels (default: each run's name)")
    parser.add_argument("--split", help="split to evaluate (default: the config's test_split)")
    parser.add_argument("--num-clips", type=positive_int,
                        help="clips per video (multi-clip testing)")
    parser.add_argument("--num-crops", type=int, choices=[1, 3],
                        help="spatial crops per clip: 1 (centre) or 3 (left/centre/right)")
    parser.add_argument("--tsne", action="store_true", help="t-SNE of pre-logit features")
    parser.add_argument("--output", "-o", help="report folder (default: <run folder>/eval_<split>, "
                        "or compare_<split> for several checkpoints)")
    parser.add_argument("--device", help="cpu, cuda or auto (default)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def _check_report(out: Path, runs, args, names=None) -> None:
    """Refuse report files that would replace an input (checkpoint, weights, config, lists)."""
    from tagnet.datasets.atomic import check_output_folder, check_outputs
    from tagnet.eval.evaluate import REPORT_FILES

    check_output_folder("the report folder", out)
    inputs = [("--config", args.config if args.config and Path(args.config).is_file()
               else None)]
    for run in runs:
        inputs.append(("--weights" if args.weights else "--checkpoint", run.path))
        for key in ("train_list", "val_list", "test_list"):
            value = getattr(run.cfg.data, key)
            inputs.append((f"data.{key}", Path(value).expanduser() if value else None))
    check_outputs([(f"the report's {n}", out / n) for n in (names or REPORT_FILES)], inputs)


def run(args: argparse.Namespace) -> int:
    from tagnet.datasets.atomic import check_output_folder
    from tagnet.eval.report import format_metrics

    if (args.checkpoint is None) == (args.weights is None):
        raise ValueError("pass either --checkpoint (tagnet training checkpoints) or --weights "
                         "FILE with --arch and --preset (or --config)")
    if args.weights is not None:
        args.checkpoint = [args.weights]
    paths = [Path(p) / "best.pth" if Path(p).is_dir() else Path(p) for p in args.checkpoint]
    if args.titles is not None and len(args.titles) != len(paths):
        raise ValueError(f"{len(paths)} checkpoints need as many --titles, "
                         f"got {len(args.titles)}")
    if args.output:
        check_output_folder("--output", args.output)
    runs = [_load(args, p) for p in paths]
    for run in runs:
        check_frames(run.cfg.data.num_frames, run.cfg.eval.num_clips, run.cfg.eval.num_crops)
    if len(runs) == 1:
        run = runs[0]
        out = Path(args.output) if args.output else paths[0].parent / f"eval_{run.split}"
        _check_report(out, runs, args)
        metrics, _ = _evaluate(args, run, out, args.titles[0] if args.titles else run.cfg.name)
        print(f"{run.split} ({_views(metrics)}/video): "
              f"{format_metrics(metrics, run.cfg.eval.topk)}")
        _print_skipped(metrics)
        print(f"report: {safe_path(out)}")
        return 0
    return _compare(args, paths, runs)


def _compare(args: argparse.Namespace, paths, runs) -> int:
    """Several checkpoints: a report each, one table, one t-SNE figure with a panel each."""
    import os

    from tagnet.datasets.atomic import atomic_write
    from tagnet.eval.report import skipped_markdown
    from tagnet.eval.tables import fmt_pct, markdown_table
    from tagnet.eval.tsne import plot_tsne
    from tagnet.train.sweeps import slug

    for path, run in zip(paths[1:], runs[1:], strict=True):
        if run.class_names != runs[0].class_names or run.split != runs[0].split:
            raise ValueError(f"{path} ({len(run.class_names)} classes, split {run.split!r}) "
                             f"does not match {paths[0]} ({len(runs[0].class_names)} classes, "
                             f"split {runs[0].split!r}); models compared in one table and one "
                             "t-SNE must share classes and test split")
    titles = []
    for i, run in enumerate(runs):
        base = title = args.titles[i] if args.titles else run.cfg.name
        n = 2
        while title in titles:  # two runs of one name: seed0 of two sweeps, ...
            title, n = f"{base} ({n})", n + 1
        titles.append(title)
    split = runs[0].split
    if args.output:
        out = Path(args.output)
    else:
        common = os.path.commonpath([str(p.resolve().parent.parent) for p in paths])
        out = Path(os.path.relpath(common)) / f"compare_{split}"
    _check_report(out, runs, args, names=["results.md", "tsne.png"])
    for title, run in zip(titles, runs, strict=True):
        _check_report(out / slug(title), [run], args)
    topk = runs[0].cfg.eval.topk
    header = ["model", *(f"top-{k}" for k in topk), "MCA", "MCA (mmaction2)", "checkpoint"]
    rows, panels, skips = [], {}, []
    for i, (path, run, title) in enumerate(zip(paths, runs, titles, strict=True)):
        print(f"[{i + 1}/{len(runs)}] {title}: {safe_path(path)}")
        m, preds = _evaluate(args, run, out / slug(title), title)
        rows.append([title, *(fmt_pct(m[f"top{k}"]) for k in topk), fmt_pct(m["mca"]),
                     fmt_pct(m["mca_mmaction2"]), str(path)])
        panels[title] = (preds.features, preds.labels)
        _print_skipped(m)
        if m["num_skipped"]:
            skips.append(f"\n## {title}: skipped clips\n\n{skipped_markdown(m)}")
    table = markdown_table(header, rows, align="l" + "r" * (len(header) - 2) + "l")
    atomic_write(out / "results.md", f"# {len(runs)} models on split {split!r} "
                 f"({m['num_samples']} videos, {_views(m)} each)\n\n{table}\n" + "".join(skips))
    print(table)
    if args.tsne:
        plot_tsne(panels, out / "tsne.png", runs[0].class_names,
                  max_points=runs[0].cfg.eval.tsne_max_points)
    print(f"report: {safe_path(out)}")
    return 0


def _print_skipped(metrics: dict) -> None:
    for row in metrics["skipped"]:
        print(f"  skipped (not counted): {safe_path(row['path'])}: {row['reason']}")


def _views(metrics: dict) -> str:
    v = metrics["views"]
    return f"{v} view{'s' if v > 1 else ''}"


@dataclass
class _Run:
    """A loaded checkpoint, its config with the command's overrides, and the split to test."""

    path: Path
    ckpt: dict
    cfg: Config
    split: str
    class_names: list[str]


def _load(args: argparse.Namespace, path) -> _Run:
    from tagnet.config import Config
    from tagnet.weights import load_checkpoint

    if args.weights is not None:
        return _load_weights(args)
    ckpt = load_checkpoint(path)
    cfg = Config.from_dict(ckpt["config"], where=str(path)).override(args.overrides)
    for flag, key in (("num_clips", "eval.num_clips"), ("num_crops", "eval.num_crops"),
                      ("device", "device")):
        if getattr(args, flag) is not None:
            cfg.set(key, getattr(args, flag))
    cfg.validate(selection=False)  # the overrides' values, before anything is evaluated
    return _Run(path=path, ckpt=ckpt, cfg=cfg, split=args.split or cfg.data.test_split,
                class_names=list(ckpt["class_names"]))


def _load_weights(args: argparse.Namespace) -> _Run:
    """A --weights file: the model from --arch/--preset/--config, the classes from the data."""
    from tagnet.config import load_config
    from tagnet.data import build_dataset

    cfg = load_config(args.config, args.overrides)
    if args.preset:
        cfg.set("model.preset", args.preset)
    split = args.split or cfg.data.test_split
    classes = list(build_dataset(cfg, split, train=False, views=False).classes)
    model, cfg, layout = weights_model(args, args.overrides, num_classes=len(classes))
    print(f"loaded '{args.weights}' ({layout} layout, {len(classes)} classes)")
    for flag, key in (("num_clips", "eval.num_clips"), ("num_crops", "eval.num_crops"),
                      ("device", "device")):
        if getattr(args, flag) is not None:
            cfg.set(key, getattr(args, flag))
    ckpt = {"model": model.state_dict(), "epoch": None}
    return _Run(path=Path(args.weights), ckpt=ckpt, cfg=cfg, split=split, class_names=classes)


def _evaluate(args: argparse.Namespace, run: _Run, out, title: str):
    """Evaluate a loaded checkpoint, writing its report to ``out``; ``(metrics, predictions)``."""
    from tagnet.data import build_dataset
    from tagnet.distributed import resolve_device
    from tagnet.eval.evaluate import evaluate
    from tagnet.models.factory import build_model

    cfg, split = run.cfg, run.split
    device = resolve_device(cfg.device)
    model = build_model(cfg, len(run.class_names), load_weights=False)
    model.load_state_dict(run.ckpt["model"])
    dataset = build_dataset(cfg, split, train=False)
    if list(dataset.classes) != run.class_names:
        raise ValueError(f"split {split!r} has other classes than the checkpoint "
                         f"{run.path} ({len(dataset.classes)} vs {len(run.class_names)})")
    from tagnet.data import dataset_labels, label_origins
    from tagnet.datasets.lists import check_labels

    check_labels(dataset_labels(dataset), label_origins(dataset), len(run.class_names))
    views = cfg.eval.num_clips * cfg.eval.num_crops
    extra = {"split": split, "checkpoint": str(run.path), "epoch": run.ckpt["epoch"],
             "views": views, "num_clips": cfg.eval.num_clips, "num_crops": cfg.eval.num_crops}
    metrics, preds = evaluate(
        model.to(device), dataset, run.class_names, out_dir=out,
        batch_size=cfg.eval.batch_size, num_workers=cfg.data.num_workers, device=device,
        topk=cfg.eval.topk, tsne=args.tsne, tsne_max_points=cfg.eval.tsne_max_points,
        title=f"{title} ({split})", progress=True, extra=extra)
    return {**metrics, **extra}, preds
