"""Would a run that early stopping ended have gone further? Retrain it on the whole budget.

The convergence rule (:mod:`tagnet.train.convergence`) calls a run converged when its best
holdout score stopped rising over ``train.converge_window`` lr-weighted epochs and its training
loss settled below ``(1 - converge_fit)`` times the class-frequency loss; ``train.early_stop``
ends the run there. A head waiting on a plateau that a symmetry sets (50% on SiteSynth, what a
head blind to frame order can reach) can meet both conditions for a few epochs and be stopped
before it leaves. This script retrains such runs of finished sweep folders with
``train.early_stop=false`` (the same config, the whole ``train.epochs`` budget) and puts the
two results side by side.

Which runs: every run stopped early (``converged_epoch`` before the budget) whose best holdout
top-1 is more than ``--margin`` points below its row's construction ceiling (100 where the
sweep table has none); ``--all`` takes every run stopped early. The choice reads the holdout,
never the test split. Retrained runs go to ``ROOT/<sweep folder>/<row>/<seed>`` (``--root``,
by default ``plateau_check/`` beside the first sweep folder) and resume from their last
checkpoint when interrupted; a finished one is reused.

    python benchmarks/plateau_check.py runs/ladder/sites runs/ladder/sites_attention
    python benchmarks/plateau_check.py runs/ladder/paths --margin 2 --out plateau.json

Per run the table gives the epoch the rule stopped at, the test top-1 of the stopped run and
of the whole-budget run (both from the checkpoint with the best holdout score), and the first
epoch at which the whole-budget run met the rule. ``left plateau`` says the whole-budget run
ends more than ``--gain`` points higher: the rule had stopped it on a plateau.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from _common import command_line, machine_info, print_table, write_json

from tagnet.eval.plots import read_log

CHECK_DIR = "plateau_check"


def _epochs(run: Path) -> list[dict]:
    return [e for e in read_log(run / "log.jsonl") if e.get("kind") == "epoch"]


def candidates(sweep: Path, margin: float, every: bool) -> list[dict]:
    """The runs of a finished sweep folder that early stopping ended below their ceiling."""
    path = sweep / "ablation.json"
    if not path.is_file():
        raise SystemExit(f"{sweep}: no ablation.json; give a folder `tagnet ablate` finished")
    result = json.loads(path.read_text())
    ceilings = {row["variant"]: row.get("ceiling") for row in result["summary"]}
    budget = result["config"]["train"]["epochs"]
    out = []
    for rec in result["records"]:
        run = Path(rec["run_dir"])
        if not run.is_dir():  # a moved sweep folder: its own <row>/<seed> folders
            run = sweep / run.parent.name / run.name
        epochs = _epochs(run)
        stopped = rec.get("converged") and len(epochs) < budget
        ceiling = ceilings.get(rec["variant"]) or 1.0
        holdout = max(e["val_top1"] for e in epochs)
        if stopped and (every or 100 * holdout < 100 * ceiling - margin):
            out.append({"sweep": str(sweep), "variant": rec["variant"], "seed": rec["seed"],
                        "run_dir": str(run), "ceiling": ceiling, "stopped_epoch": len(epochs),
                        "stopped_holdout_top1": holdout, "stopped_top1": rec["top1"]})
    return out


def retrain(c: dict, root: Path) -> dict:
    """``tagnet train`` of the run's own config without early stop (resumes, reuses)."""
    from tagnet.cli import main as tagnet

    run = Path(c["run_dir"])
    out = root / Path(c["sweep"]).name / run.parent.name / run.name
    if out.resolve() == run.resolve():  # it would report (or resume) the stopped run itself
        raise SystemExit(f"--root {root} puts the retrained run onto the stopped one ({run}); "
                         "give a --root outside the sweep's parent folder")
    if not (out / "test" / "metrics.json").is_file():
        resume = ["--resume", str(out)] if (out / "last.pth").is_file() else []
        code = tagnet(["train", "--config", str(run / "config.yaml"), "--output-dir", str(out),
                       *resume, "train.early_stop=false", "train.progress=false"])
        if code:
            raise SystemExit(f"retraining {run} failed (exit {code}); see above")
    metrics = json.loads((out / "test" / "metrics.json").read_text())
    epochs = _epochs(out)
    return {**c, "full_dir": str(out), "full_epochs": len(epochs),
            "full_holdout_top1": max(e["val_top1"] for e in epochs),
            "full_top1": metrics["top1"], "full_best_epoch": metrics.get("epoch"),
            "full_train_time_s": round(sum(e.get("epoch_time", 0.0) for e in epochs), 1),
            "full_converged_epoch": metrics.get("converged_epoch")}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sweeps", nargs="+", type=Path, help="finished `tagnet ablate` folders")
    parser.add_argument("--margin", type=float, default=5.0,
                        help="points below the row's ceiling (holdout top-1) that make a "
                        "stopped run a candidate (default 5)")
    parser.add_argument("--gain", type=float, default=5.0,
                        help="test top-1 points the whole-budget run must gain over the stopped "
                        "one to count as having left a plateau (default 5)")
    parser.add_argument("--all", action="store_true", help="every run stopped early")
    parser.add_argument("--seeds", nargs="+", type=int, help="only the runs of these seeds "
                        "(a smaller budget: each retraining runs the whole train.epochs)")
    parser.add_argument("--root", type=Path, default=None, help="where retrained runs go "
                        f"(default: {CHECK_DIR}/ beside the first sweep folder)")
    parser.add_argument("--dry-run", action="store_true", help="list the candidates only")
    parser.add_argument("--out", default=str(Path(__file__).with_name("plateau_check.json")))
    args = parser.parse_args(argv)
    out = Path(args.out).resolve()
    for sweep in args.sweeps:  # the sweeps are this command's inputs
        if out.is_relative_to(sweep.resolve()):
            parser.error(f"--out {args.out} lies inside the sweep folder {sweep}, one of this "
                         "command's inputs; write the JSON elsewhere")
    found = [c for s in args.sweeps for c in candidates(s, args.margin, args.all)
             if args.seeds is None or c["seed"] in args.seeds]
    print(f"{len(found)} run(s) stopped early below their ceiling - {args.margin:g} points"
          + (f" (seeds {' '.join(map(str, args.seeds))})" if args.seeds else ""))
    for c in found:
        print(f"  {c['run_dir']}: stopped at epoch {c['stopped_epoch']}, best holdout "
              f"{100 * c['stopped_holdout_top1']:.1f}, ceiling {100 * c['ceiling']:.1f}")
    if args.dry_run:
        return
    root = args.root or args.sweeps[0].parent / CHECK_DIR
    rows = []
    for i, c in enumerate(found, 1):
        print(f"\n[{i}/{len(found)}] {c['run_dir']} on the whole budget", flush=True)
        r = retrain(c, root)
        r["left_plateau"] = 100 * (r["full_top1"] - r["stopped_top1"]) > args.gain
        rows.append(r)
    table = print_table([{
        "run": f"{Path(r['sweep']).name} / {r['variant']} / seed {r['seed']}",
        "ceiling": f"{100 * r['ceiling']:.1f}", "stopped at": r["stopped_epoch"],
        "top-1 stopped": f"{100 * r['stopped_top1']:.1f}",
        "top-1 whole budget": f"{100 * r['full_top1']:.1f}",
        "converged from": r["full_converged_epoch"] or "-",
        "left plateau": "yes" if r["left_plateau"] else "no"} for r in rows],
        ["run", "ceiling", "stopped at", "top-1 stopped", "top-1 whole budget",
         "converged from", "left plateau"])
    write_json(args.out, {"benchmark": "plateau_check", "command": command_line(),
                          "machine": machine_info("cpu"), "margin": args.margin, "gain": args.gain,
                          "seeds": args.seeds,
                          "runs": rows, "table": table})


if __name__ == "__main__":
    main()
