"""``tagnet ablate``: the paper's ablation tables over seeds, on the synthetic benchmark."""
from __future__ import annotations

import argparse

HELP = "run the paper's ablations (Table 4 rows, FFN widths, backbones, topologies) over seeds"
DESCRIPTION = """\
Train and test one model per configuration and seed, then print a table in the
paper's layout (mean ± sample std over seeds) and save every run's metrics as JSON.

  tagnet ablate                                  # Table 4 rows, seeds 0 1 2, demo settings
  tagnet ablate --sweep ffn --seeds 0 1          # Table 2: FFN 2048/1024/512/256
  tagnet ablate --sweep topology --values tag temporal intra_frame none
  tagnet ablate --sweep operator --values appnp gatv2 model.kwargs.readout=attention
  tagnet ablate --sweep backbone --values r2plus1d_tiny r3d_18 --config my.yaml
  tagnet ablate --sweep atr --values table4 --seeds 0 1   # ATR's Table 4 rows

A sweep never loses work: run it again with the same arguments and it skips the
finished runs and resumes an interrupted one from its last checkpoint (--fresh
retrains everything). By default it uses the bundled `demo` config, so the data is
the synthetic FineSynth benchmark (generated and cached); with another config
(data.root of a real dataset) the same sweep runs on real data.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="config overrides for every run, e.g. train.epochs=5")
    parser.add_argument("--sweep", choices=["rows", "ffn", "backbone", "topology", "readout",
                                             "operator", "atr"], default="rows",
                        help="rows (Table 4, default), ffn (Table 2), backbone (Table 3), "
                             "topology, readout, operator (graph heads), atr (ATR's Tables 1-4; "
                             "values: table1..table4 and row keys, see tagnet.train.atr_sweeps)")
    parser.add_argument("--values", nargs="+", help="the sweep's values (default: the paper's)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--config", "-c", default="demo", help="base config (default: demo)")
    parser.add_argument("--output", "-o", help="folder (default: runs/ablate_<sweep>)")
    parser.add_argument("--epochs", type=int, help="training epochs per run")
    parser.add_argument("--fresh", action="store_true", help="retrain every run, overwriting "
                        "the output folder's earlier runs (default: reuse finished runs of the "
                        "same config and resume unfinished ones)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tagnet.train.lock import FolderLock

    with FolderLock(Path(args.output or f"runs/ablate_{args.sweep}")):  # one sweep at a time
        return _run_locked(args)


def _run_locked(args: argparse.Namespace) -> int:
    import sys
    import time
    from pathlib import Path

    from tagnet.config import load_config
    from tagnet.eval.report import write_json
    from tagnet.train.data import build_run_data
    from tagnet.train.experiment import prepare_synthetic, run_variant
    from tagnet.train.sweeps import slug, sweep_variants

    overrides = list(args.overrides)
    if args.epochs is not None:
        overrides.append(f"train.epochs={args.epochs}")
    overrides.append("train.progress=false" if args.quiet else "train.progress=true")
    cfg = load_config(args.config, overrides)
    out = Path(args.output or f"runs/ablate_{args.sweep}")
    variants = sweep_variants(args.sweep, args.values, cfg.model.arch)
    pairs = ()
    if cfg.data.synth:
        synth = prepare_synthetic(cfg, progress=not args.quiet)
        pairs = synth.order_pairs
    data = build_run_data(cfg)
    start, records = time.time(), []
    total = len(variants) * len(args.seeds)
    for seed in args.seeds:
        for v in variants:
            print(f"[{len(records) + 1}/{total}] {v.name}, seed {seed}")
            rec = run_variant(cfg, v, seed, out / slug(v.name) / f"seed{seed}", data, pairs,
                              reuse=not args.fresh)
            records.append(rec)
            done = " (finished earlier; --fresh retrains)" if rec.get("reused") else ""
            print(f"    top-1 {100 * rec['top1']:.1f}  MCA {100 * rec['mca']:.1f}{done}")
    table, summary = ablation_table(records, bool(pairs), len(data.class_names))
    result = {"sweep": args.sweep, "seeds": args.seeds, "dataset": cfg.data.version,
              "command": "tagnet " + " ".join(sys.argv[1:]), "records": records,
              "summary": summary, "total_time_s": round(time.time() - start, 1),
              "config": cfg.to_dict(), "table": table}
    write_json(result, out / "ablation.json")
    (out / "ablation.md").write_text(table + "\n")
    print()
    print(table)
    print(f"\n{len(records)} runs in {(time.time() - start) / 60:.1f} min; "
          f"saved {out / 'ablation.json'}")
    return 0


def ablation_table(records: list[dict], order_pairs: bool, num_classes: int):
    """The paper's layout: configuration | Top-1 | MCA [| order pairs] | params, mean ± std."""
    from tagnet.eval.tables import fmt_pct, markdown_table, summarise

    keys = ["top1", "mca"] + (["order_pair_top1"] if order_pairs else [])
    summary = summarise(records, keys)
    header = ["configuration", "Top-1", "MCA"] + (["order pairs"] if order_pairs else []) + \
        ["params", "seeds"]
    rows = []
    for s in summary:
        row = [s["variant"]] + [fmt_pct(s[k], s[f"{k}_std"]) for k in keys]
        rows.append(row + [f"{s['parameters']:,}", str(len(s["seeds"]))])
    chance = ["chance", fmt_pct(1 / num_classes), fmt_pct(1 / num_classes)]
    rows.append(chance + ([fmt_pct(0.5)] if order_pairs else []) + ["", ""])
    return markdown_table(header, rows), summary
