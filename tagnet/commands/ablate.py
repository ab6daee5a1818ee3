"""``tagnet ablate``: the paper's ablation tables over seeds, on the synthetic benchmark."""
from __future__ import annotations

import argparse

from tagnet.commands._common import positive_int

HELP = "run the paper's ablations (Table 4 rows, FFN widths, backbones, topologies) over seeds"
DESCRIPTION = """\
Train and test one model per configuration and seed, then print a table in the
paper's layout with statistics over seeds (mean ± sample std, 95% t interval, the
difference Δ to a reference row paired by seed with its 95% t interval, Δ's exact
sign-flip p-value and its Holm-adjusted value over the table's contrasts: an
"effect" only when the adjusted p is below 0.05) and a noise-floor line, and save
every run's metrics, seed by seed, as JSON (ablation.json: records, and per row
the per-seed values from which each interval and p is recomputed).

Seeds: --seeds, else the config's train.sweep_seeds (the headroom configs: 0-9),
else 0-4. With n seeds the smallest possible two-sided p is 2/2^n: 5 seeds can
never reach 0.05, and the note under the table says so when it applies. Rows
with runs whose record says `converged: false` are marked, and their contrasts
are never called effects.

A config that selects the best epoch on its test split (train.select_on=val with
data.val_split = data.test_split) is refused before anything is written unless
train.allow_test_selection=true.

Before training, the rows' models are built and compared on the same weights and
input: a row whose pooled features equal an earlier row's (e.g. the released
head, APPNP then the mean, on a regular graph equals B + TE) is listed as
"= B + TE" and not trained unless --run-equivalent. A sweep over a key that the
config's preset fixes (--sweep ffn --config gym99) drops the preset for its runs
and says so under the table.

  tagnet ablate                                  # Table 4 rows, seeds 0-4, demo settings
  tagnet ablate --config headroom                # row B far from the ceiling; seeds 0-9
  tagnet ablate --sweep ffn --seeds 0 1          # Table 2: FFN 2048/1024/512/256
  tagnet ablate --sweep ffn --config gym99 data.root=/data/finegym   # unlocks the preset
  tagnet ablate --sweep topology --values tag temporal intra_frame none
  tagnet ablate --sweep operator --values appnp gatv2 model.kwargs.readout=attention
  tagnet ablate --sweep attention --values global tag none --config headroom
  tagnet ablate --sweep backbone --values r2plus1d_tiny r3d_18 --config my.yaml
  tagnet ablate --sweep atr --values table4 --seeds 0 1   # ATR's Table 4 rows

A sweep never loses work: run it again with the same arguments and it skips the
finished runs and resumes an interrupted one from its last checkpoint (--fresh
retrains everything). By default it uses the bundled `demo` config, so the data is
the synthetic FineSynth benchmark (generated and cached); with another config
(data.root of a real dataset) the same sweep runs on real data.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from tagnet.eval.stats import DEFAULT_SEEDS

    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="config overrides for every run, e.g. train.epochs=5")
    parser.add_argument("--sweep", choices=["rows", "ffn", "backbone", "topology", "readout",
                                             "operator", "attention", "atr"], default="rows",
                        help="rows (Table 4, default), ffn (Table 2), backbone (Table 3), "
                             "topology, readout, operator, attention (encoder attention masked "
                             "to each topology; graph heads), atr (ATR's Tables 1-4; "
                             "values: table1..table4 and row keys, see tagnet.train.atr_sweeps)")
    parser.add_argument("--values", nargs="+", help="the sweep's values (default: the paper's)")
    parser.add_argument("--seeds", nargs="+", type=int, default=None,
                        help="training seeds (default: the config's train.sweep_seeds, 0-9 on "
                             "the headroom configs; else "
                             f"{' '.join(map(str, DEFAULT_SEEDS))}; intervals need 2 or more, "
                             "a p below 0.05 at least 6)")
    parser.add_argument("--config", "-c", default="demo", help="base config (default: demo; "
                        "headroom* for the benchmark on which row B is far from the ceiling)")
    parser.add_argument("--output", "-o", help="folder (default: runs/ablate_<sweep>)")
    parser.add_argument("--epochs", type=int, help="training epochs per run")
    parser.add_argument("--reference", help="row the others are compared with, paired by seed "
                        "(default: the first row)")
    parser.add_argument("--run-equivalent", action="store_true",
                        help="also train rows whose model computes the same pooled features as "
                             "an earlier row (default: list them as '= <row>' and skip them)")
    parser.add_argument("--tolerance", type=float, default=1e-3,
                        help="equivalence tolerance on the pooled features, relative to the "
                             "mean token norm (1e-3)")
    parser.add_argument("--no-noise-floor", action="store_true",
                        help="skip the noise-floor runs (the full head with PyG vs structured "
                             "APPNP: same model, float rounding only; a TAG-Head measure, "
                             "so the atr sweep never runs it)")
    parser.add_argument("--no-intervals", action="store_true",
                        help="means and std only (allows a single seed)")
    parser.add_argument("--fresh", action="store_true", help="retrain every run, overwriting "
                        "the output folder's earlier runs (default: reuse finished runs of the "
                        "same config and resume unfinished ones)")
    parser.add_argument("--jobs", "-j", type=positive_int, default=1,
                        help="train the runs in this many worker processes of one thread each "
                             "(default 1: one process, torch's thread count). On 2 cores -j 2 "
                             "is the fastest; each run records its thread count, and a run is "
                             "bit-identical only for the same thread count")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def sweep_seeds(seeds, cfg) -> list[int]:
    """The seeds a sweep trains: ``--seeds``, else ``cfg.train.sweep_seeds``, else
    :data:`tagnet.eval.stats.DEFAULT_SEEDS`."""
    from tagnet.eval.stats import DEFAULT_SEEDS

    return list(seeds or cfg.train.sweep_seeds or DEFAULT_SEEDS)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tagnet.config import load_config
    from tagnet.datasets.atomic import check_output_folder, check_outputs
    from tagnet.train.lock import FolderLock

    overrides = list(args.overrides)
    if args.epochs is not None:
        overrides.append(f"train.epochs={args.epochs}")
    overrides.append("train.progress=false" if args.quiet else "train.progress=true")
    cfg = load_config(args.config, overrides)  # refuses selection on the test split
    out = check_output_folder("--output", args.output or f"runs/ablate_{args.sweep}")
    config = Path(args.config) if Path(args.config).is_file() else None
    check_outputs({"ablation.json": out / "ablation.json", "ablation.md": out / "ablation.md"},
                  {"--config": config})
    with FolderLock(out):  # one sweep at a time
        return _run_locked(args, cfg, out)


def _run_locked(args: argparse.Namespace, cfg, out) -> int:
    import time

    from tagnet.datasets.atomic import atomic_write
    from tagnet.eval.report import write_json
    from tagnet.train.experiment import run_sweep

    seeds = sweep_seeds(args.seeds, cfg)
    if len(seeds) < 2 and not args.no_intervals:
        raise ValueError(f"--seeds {' '.join(map(str, seeds))}: the table's 95% intervals "
                         "need at least 2 seeds (one run gives no estimate of the run-to-run "
                         "spread); give more seeds or pass --no-intervals")
    start = time.time()
    result = run_sweep(cfg, args.sweep, args.values, seeds, out,
                       reference=args.reference, run_equivalent=args.run_equivalent,
                       tolerance=args.tolerance,
                       noise_floor=not args.no_noise_floor and args.sweep != "atr",
                       intervals=not args.no_intervals, reuse=not args.fresh,
                       progress=not args.quiet, jobs=args.jobs)
    result = {"command": args.command_line, **result,
              "total_time_s": round(time.time() - start, 1), "config": cfg.to_dict()}
    write_json(result, out / "ablation.json")
    atomic_write(out / "ablation.md", result["table"] + "\n")
    print()
    print(result["table"])
    print(f"\n{len(result['records'])} runs in {(time.time() - start) / 60:.1f} min; "
          f"saved {out / 'ablation.json'}")
    return 0
