"""``tagnet train``: train or fine-tune a model from a config."""
from __future__ import annotations

import argparse

from tagnet.commands._common import model_options, safe_path

HELP = "train a model from a YAML config (plus key=value overrides); resumable, DDP-ready"
DESCRIPTION = """\
Train a model end to end (or the head only, with model.freeze=backbone).

CONFIG is a bundled config name (gym99, gym288, haa500, demo) or a YAML file;
any key can be overridden with its dotted path:

  tagnet train --config gym99 data.root=/data/finegym model.backbone_weights=r2p1d34_ig65m.pth
  tagnet train --config haa500 data.root=/data/haa500_v1_1 train.lr=3e-5 train.amp=true
  tagnet train --resume runs/gym99               # continue a killed run where it stopped
  tagnet train --config demo model.kwargs.ablation=B   # synthetic data, generated if missing
  torchrun --nproc_per_node 4 -m tagnet.cli train --config gym99 ...   # DDP

The run folder (output_dir) gets config.yaml (resolved), log.jsonl, last.pth,
best.pth and test/ (metrics.json, per_class.csv, predictions.csv, confusion.png).
A folder that holds a run is refused unless --resume (continue) or --overwrite
(start afresh: deletes the files a run writes, never other files in the folder or in
test/); a folder in use by another tagnet process is refused, naming it. A run never
writes onto its inputs: --overwrite of a folder whose config.yaml or best.pth is the
--config or model.weights of the new run is refused.
A NaN or infinite loss stops the run (exit 1), keeping the last finite checkpoints.

Every epoch judges convergence (log.jsonl and test/metrics.json: converged,
converged_epoch): the best holdout score rose by at most train.converge_tol over
the last train.converge_window epochs (weighted by their lr, so an annealed tail
does not count) and the training loss is below (1 - train.converge_fit) x that
of predicting the class frequencies. train.early_stop=true ends the run there.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="config overrides, e.g. train.lr=1e-4 model.kwargs.K=10")
    parser.add_argument("--config", "-c", help="bundled config name or YAML file")
    parser.add_argument("--resume", nargs="?", const="auto", default=None, metavar="CKPT",
                        help="resume from a checkpoint or run folder (no value: the "
                             "output_dir's last.pth); the run's saved config is used")
    parser.add_argument("--select-on", choices=["holdout", "val"], default=None,
                        help="model selection split: a holdout of the train list (default) "
                             "or the official val list (the released protocol; where val is "
                             "also the test split, as in FineGym, add "
                             "train.allow_test_selection=true)")
    parser.add_argument("--output-dir", "-o", help="run folder (output_dir)")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 or auto (default)")
    parser.add_argument("--overwrite", action="store_true",
                        help="start afresh in an output folder that holds a run, deleting its "
                             "checkpoints, log and test results (default: refuse; continue a "
                             "run with --resume)")
    parser.add_argument("--no-test", action="store_true",
                        help="skip evaluating best.pth on the test split at the end")
    parser.add_argument("--print-config", action="store_true",
                        help="print the resolved config and exit")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def resolve(args: argparse.Namespace):
    """The run's config and the checkpoint to resume from (``None`` for a new run)."""
    from pathlib import Path

    from tagnet.config import Config, load_config
    from tagnet.weights import load_checkpoint

    overrides = list(args.overrides)
    for flag, key in (("select_on", "train.select_on"), ("output_dir", "output_dir"),
                      ("device", "device")):
        if getattr(args, flag):
            overrides.append(f"{key}={getattr(args, flag)}")
    resume = None
    if args.resume is not None:
        if args.resume == "auto":
            if args.config is None and args.output_dir is None:
                raise ValueError("--resume without a checkpoint needs --config or "
                                 "--output-dir to find the run; or pass the run folder")
            run_dir = args.output_dir or load_config(args.config, overrides).output_dir
            resume = Path(run_dir) / "last.pth"
        else:
            resume = Path(args.resume)
            resume = resume / "last.pth" if resume.is_dir() else resume
        cfg = Config.from_dict(load_checkpoint(resume)["config"], where=str(resume))
        cfg.output_dir = str(resume.parent)  # continue where the checkpoint is (moved runs)
        cfg.override(overrides).validate()
        return cfg, resume
    if args.config is None:
        raise ValueError("give --config (a bundled name: gym99, gym288, haa500, demo; or a "
                         "YAML file) or --resume RUN_DIR")
    return load_config(args.config, overrides), None


def run(args: argparse.Namespace) -> int:
    import os

    import yaml

    from tagnet.eval.report import format_metrics
    from tagnet.train.run import check_output_dir, train

    if args.overwrite and args.resume is not None:
        raise ValueError("--overwrite starts the run afresh and --resume continues it: give "
                         "one of them")
    cfg, resume = resolve(args)
    if args.print_config:
        from tagnet.backbones.pretrained import config_input

        shown = cfg.to_dict()  # the normalisation that will be used, not null
        inp = config_input(cfg)
        shown["data"].update(mean=list(inp.mean), std=list(inp.std))
        print(yaml.safe_dump(shown, sort_keys=False), end="")
        print(f"# input: {inp.describe()}")
        return 0
    check_output_dir(cfg.output_dir, resume, args.overwrite)  # before generating any data
    if resume is None:
        _check_inputs(cfg, args)
    if cfg.data.synth:
        _prepare_synthetic(cfg)
    with model_options(cfg.model.arch, args.config):
        result = train(cfg, resume=resume, evaluate_test=not args.no_test,
                       overwrite=args.overwrite)
    if int(os.environ.get("RANK", "0")) != 0:
        return 0
    best = result["best"] or {}
    value = best.get("value")
    shown = f"{100 * value:.2f}" if best.get("metric") in ("top1", "mca") and value is not None \
        else (f"{value:.4f}" if isinstance(value, float) else value)
    print(f"run folder: {safe_path(result['run_dir'])}  (best epoch {best.get('epoch')}, "
          f"{best.get('metric')} {shown})")
    if "test" in result:
        print(f"test ({cfg.data.test_split}): {format_metrics(result['test'], cfg.eval.topk)}")
    return 0


def _check_inputs(cfg, args: argparse.Namespace) -> None:
    """Refuse a new run whose outputs (run files, test report) would replace its inputs."""
    from pathlib import Path

    from tagnet.datasets.atomic import check_outputs
    from tagnet.eval.evaluate import REPORT_FILES
    from tagnet.train.run import RUN_FILES

    run_dir = Path(cfg.output_dir)
    outputs = {f"the run's {n}": run_dir / n for n in RUN_FILES}
    outputs.update({f"the run's test/{n}": run_dir / "test" / n for n in REPORT_FILES})
    config = args.config and Path(args.config)
    inputs = {"--config": config if config and config.is_file() else None,
              "model.weights": cfg.model.weights, "model.backbone_weights":
              cfg.model.backbone_weights, "data.train_list": cfg.data.train_list,
              "data.val_list": cfg.data.val_list, "data.test_list": cfg.data.test_list}
    check_outputs(outputs, {k: Path(v).expanduser() if v else None for k, v in inputs.items()})


def _prepare_synthetic(cfg) -> None:
    """Generate (or reuse) the synthetic benchmark ``data.synth`` describes, in ``data.root``.

    Under torchrun every process would write the same files at once, so there the
    benchmark must already exist.
    """
    import os
    from pathlib import Path

    from tagnet.train.experiment import prepare_synthetic

    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        name = cfg.data.synth.get("name", "finesynth")
        manifest = Path(cfg.data.root or "").expanduser() / f"{name}_manifest.json"
        if not manifest.is_file():
            raise ValueError(f"the synthetic benchmark is not in {manifest.parent} yet; "
                             "generate it with one process first (the same tagnet train "
                             "command without torchrun, or tagnet demo)")
    prepare_synthetic(cfg, progress=cfg.train.progress)

