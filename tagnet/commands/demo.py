"""``tagnet demo``: the topology ladder on the benchmark with headroom (~3 min on 2 cores)."""
from __future__ import annotations

import argparse

from tagnet.commands._common import positive_int, safe_path

HELP = "the topology ladder: what the clip graph can and cannot carry (CPU, ~3 min)"
DESCRIPTION = """\
The whole pipeline on built-in data, no download. Default (--benchmark headroom):

  1. generate the benchmark with headroom (cached; setup, not timed): PathSynth clips,
     8 classes whose clips come in twins that are the same frames in another order, and
     in reversal twins that are the same clip played backwards, seen through a frozen
     frame-wise backbone whose tokens are cached;
  2. check, on the built models, which rows compute the same pooled features (the
     released head vs B + TE) before anything is trained; such a row is not trained;
  3. train B (mean pool, no encoder), B + TE (space-time code, global encoder), and the
     topology ladder: one graph-only head (site-only code, attention inside each frame,
     GATv2 over the clip graph, max readout: the graph is its only path across time) on
     three graphs, all from the same initial weights:
       no temporal edges         ceiling 37.5 (blind to frame order, by symmetry)
       tag, the paper's graph    ceiling 50.0 (undirected: blind to the direction of time)
       tag_directed              ceiling 100  (forward / backward links as two edge types)
  4. test them and write a report folder: results.md (table, each row beside its
     construction ceiling, and what it shows in words), metrics.json, confusion
     matrices, t-SNE, training curves.

  tagnet demo                         # one seed, runs/demo
  tagnet demo --seeds                 # seeds 0 1 2 with 95% intervals (3x the time)
  tagnet demo --seeds 0 1 2 3 4 -o runs/demo5
  tagnet demo --benchmark finesynth   # the old demo: a pipeline smoke test on videos

The rows are fixed by the design of the study (tagnet.train.ceilings), not chosen by
their scores on any split. Runs go to --jobs worker processes of one thread each (2).
"order" is the top-1 among the clips a model puts in the right group of classes
that share their frames: given the frames, did it get the order? KEY=VALUE overrides
apply to every model.
"""

#: The graph-only head of the ladder: the clip graph is its only path across time, so the
#: graph's symmetries fix its ceiling (tagnet.train.ceilings). Its three graphs share one
#: edge-type count (3), so the three rows start from the same weights.
GRAPH_ONLY = ["model.kwargs.graph_only=true", "model.kwargs.operator=gatv2",
              "model.kwargs.readout=max", "model.kwargs.operator_kwargs.num_edge_types=3"]
LADDER_WHAT = ("a site-only positional code without time, encoder attention inside each "
               "frame, one GATv2 layer over the clip graph and a channel-wise max over the "
               "nodes")
#: ``--benchmark`` -> (bundled config, rows). A row: (folder, title, config overrides).
BENCHMARKS = {
    "headroom": ("headroom", (
        ("baseline", "B (backbone only)", ["model.kwargs.ablation=B"]),
        ("b_te", "B + TE", ["model.kwargs.ablation=B+TE"]),
        ("tag_head", "TAG-Head (released)", ["model.kwargs.ablation=full"]),
        ("no_temporal", "graph-only, no temporal edges",
         [*GRAPH_ONLY, "model.kwargs.topology=intra_frame"]),
        ("tag", "graph-only, tag (undirected)", [*GRAPH_ONLY, "model.kwargs.topology=tag"]),
        ("tag_directed", "graph-only, tag_directed",
         [*GRAPH_ONLY, "model.kwargs.topology=tag_directed"]),
    )),
    "finesynth": ("demo", (
        ("baseline", "backbone only (B)", ["model.kwargs.ablation=B"]),
        ("tag_head", "TAG-Head (full)", ["model.kwargs.ablation=full"]),
    )),
}
DEFAULT_SEEDS = (0, 1, 2)
#: Seconds a run of each headroom row took on one idle core (the README's demo table): the
#: workers take the longest runs first, so two workers finish together (3 min 13 s -> 2 min
#: 55 s for the whole demo, measured). Order only: every run's result is the same in any order.
EXPECTED_S = {"tag": 102, "tag_directed": 93, "b_te": 64, "no_temporal": 49, "baseline": 7}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="config overrides for every model, e.g. train.epochs=20")
    parser.add_argument("--benchmark", choices=sorted(BENCHMARKS),
                        help="headroom (default: row B at chance inside each group by "
                             "construction) or finesynth (videos, a pipeline smoke test on "
                             "which every model scores 100)")
    parser.add_argument("--config", "-c", help="config (default: the benchmark's, headroom "
                        "or demo)")
    parser.add_argument("--output", "-o", help="report folder (default: runs/demo)")
    parser.add_argument("--data-root", help="where the benchmark is generated and cached")
    parser.add_argument("--epochs", type=int, help="training epochs per model")
    parser.add_argument("--seed", type=int, help="the one random seed (default 0)")
    parser.add_argument("--seeds", nargs="*", metavar="SEED",
                        help="several seeds with 95%% intervals and paired differences "
                             "(alone: 0 1 2)")
    parser.add_argument("--jobs", "-j", type=positive_int, default=2,
                        help="worker processes of one thread each that train the models "
                             "(default 2; 1: in this process, torch's thread count)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def demo_config(args: argparse.Namespace):
    """The demo's config, rows and seeds from its command-line arguments (nothing is run)."""
    from tagnet.config import load_config

    if args.epochs is not None and args.epochs < 1:
        raise ValueError(f"--epochs {args.epochs} is invalid: give 1 or more epochs per model")
    if args.seeds is not None and args.seed is not None:
        raise ValueError("give --seed (one run per model) or --seeds (several), not both")
    extra, seeds = [], None
    if args.seeds is not None:  # KEY=VALUE overrides after --seeds end up here: sort them out
        extra = [v for v in args.seeds if "=" in v]
        bad = [v for v in args.seeds if "=" not in v and not v.isdigit()]
        if bad:
            raise ValueError(f"--seeds {' '.join(bad)}: seeds are whole numbers, e.g. --seeds "
                             "0 1 2")
        seeds = [int(v) for v in args.seeds if "=" not in v] or list(DEFAULT_SEEDS)
    if seeds is not None and len(seeds) < 2:
        raise ValueError(f"--seeds {' '.join(map(str, seeds))}: intervals need at least 2 "
                         "seeds; use --seed for a single run")
    if seeds is not None and len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds {' '.join(map(str, seeds))} repeats a seed")
    overrides = ["output_dir=runs/demo"] + list(args.overrides) + extra
    for flag, key in (("output", "output_dir"), ("data_root", "data.root"),
                      ("epochs", "train.epochs"), ("seed", "seed")):
        if getattr(args, flag) is not None:
            overrides.append(f"{key}={getattr(args, flag)}")
    if args.quiet:
        overrides.append("train.progress=false")
    config, rows = BENCHMARKS[args.benchmark or "headroom"]
    cfg = load_config(args.config or config, overrides)
    if not cfg.data.synth:
        raise ValueError(f"config {args.config!r} has no data.synth: the demo runs on built-in "
                         "synthetic data only; train and compare on real data with tagnet "
                         "train / tagnet ablate")
    kind = "headroom" if "benchmark" in cfg.data.synth else "finesynth"
    if args.benchmark not in (None, kind):
        raise ValueError(f"--benchmark {args.benchmark} but config {args.config!r} describes "
                         f"the {kind} benchmark; leave one of them out")
    return cfg, BENCHMARKS[kind][1], seeds or [cfg.seed]


def run(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from tagnet.train.experiment import prepare_synthetic, run_variants, shared_data
    from tagnet.train.sweeps import equivalent_variants
    from tagnet.train.variants import Variant

    cfg, rows, seeds = demo_config(args)
    out = Path(cfg.output_dir)
    setup = time.time()
    print(f"[1/4] synthetic benchmark in {safe_path(Path(cfg.data.root).expanduser())}")
    synth = prepare_synthetic(cfg, progress=not args.quiet)
    data = shared_data(cfg)
    print(f"      {len(synth.classes)} classes, {len(data.train)} training clips "
          f"(+{len(data.select) if data.select else 0} holdout), {len(data.test)} test clips"
          f"{'' if synth.generated else ' (cached)'}")
    setup = time.time() - setup
    start = time.time()
    variants = [Variant(title, list(ov)) for _, title, ov in rows]
    print("[2/4] equivalence check: which rows compute the same pooled features")
    equivalent = equivalent_variants(cfg, variants, len(synth.classes))
    for e in equivalent.values():
        print(f"      {e.name} = {e.same_as} (deviation {e.deviation:.1e} <= {e.tol:g}): "
              "not trained")
    if not equivalent:
        print("      none: every row computes something of its own")
    todo = [(folder, v) for (folder, _, _), v in zip(rows, variants, strict=True)
            if v.name not in equivalent]
    tasks = [(v, seed, out / folder / (f"seed{seed}" if len(seeds) > 1 else ""))
             for folder, v in sorted(todo, key=lambda fv: -EXPECTED_S.get(fv[0], 0))
             for seed in seeds]
    print(f"[3/4] training {len(tasks)} models ({cfg.train.epochs}-epoch budget, early stop"
          f"{f', seeds {seeds}' if len(seeds) > 1 else ''}"
          f"{f', {args.jobs} workers' if args.jobs > 1 else ''})")

    def seed_note(rec):
        return f", seed {rec['seed']}" if len(seeds) > 1 else ""

    def report(i, rec):
        print(f"      {rec['variant']}{seed_note(rec)}: "
              f"top-1 {100 * rec['top1']:.1f} ({rec['train_time_s']:.0f} s)")

    records = run_variants(cfg, tasks, data, synth.order_pairs, reuse=False, jobs=args.jobs,
                           on_done=report)
    folder_of = {v.name: folder for folder, v in todo}
    for rec in records:
        rec["folder"] = folder_of[rec["variant"]]
    place = {folder: i for i, (folder, _, _) in enumerate(rows)}
    records.sort(key=lambda rec: (place[rec["folder"]], rec["seed"]))  # the table's order
    print("[4/4] report")
    report = write_report(cfg, synth, data, rows, records, equivalent, seeds, out,
                          time.time() - start, setup,
                          command_line=getattr(args, "command_line", ""))
    print()
    print(report["table"])
    print()
    print(report["findings"])
    print(f"\ntotal time {report['total_time_s'] / 60:.1f} min (+{setup:.0f} s setup); "
          f"report: {out / 'report'}")
    return 0


def row_ceilings(cfg, synth, rows) -> dict[str, tuple[float, str]]:
    """Each row's construction ceiling (:mod:`tagnet.train.ceilings`), by title."""
    from pathlib import Path

    from tagnet.train.ceilings import row_ceiling
    from tagnet.train.variants import Variant, variant_config

    if not getattr(synth, "reversal_pairs", None) and "benchmark" not in cfg.data.synth:
        return {}
    out = {}
    for _, title, overrides in rows:
        c = row_ceiling(variant_config(cfg, Variant(title, list(overrides)), 0, Path(".")),
                        synth.order_pairs, synth.reversal_pairs, len(synth.classes))
        out[title] = (c.top1, c.reason)
    return out


def twin_deviation(preds, groups) -> dict:
    """How far apart a model puts the pre-logit features of clips that share their frames.

    ``preds``: :class:`~tagnet.eval.inference.Predictions` with features, over a split of
    the benchmark with headroom. Twins are the clips of one group of classes rendered
    from one seed (ids ``<split>_<k>_c<class>``, as
    :func:`tagnet.train.headroom.make_headroom` names them). Returns the largest
    distance between the features of two twins, relative to the mean feature norm
    (``max``), and the number of twin sets (``sets``).
    """
    group_of = {c: i for i, g in enumerate(groups) for c in g}
    sets: dict[tuple[str, int], list[int]] = {}
    for i, (clip_id, label) in enumerate(zip(preds.paths, preds.labels.tolist(), strict=True)):
        if label in group_of:
            sets.setdefault((clip_id.rsplit("_c", 1)[0], group_of[label]), []).append(i)
    sets = {k: v for k, v in sets.items() if len(v) > 1}
    if not sets:
        raise ValueError("no two clips of the test split share their frames (ids "
                         "'<split>_<k>_c<class>' of one group): is this the benchmark with "
                         "headroom?")
    scale = preds.features.norm(dim=1).mean().clamp_min(1e-12)
    dev = max((preds.features[v] - preds.features[v[0]]).norm(dim=1).max().item()
              for v in sets.values())
    return {"max": dev / scale.item(), "sets": len(sets)}


def write_report(cfg, synth, data, rows, records: list[dict], equivalent: dict, seeds,
                 out, total_time: float, setup_time: float = 0.0, command_line: str = "") -> dict:
    """``report/``: results.md (table + findings), metrics.json, confusion_*.png, tsne.png,
    curves.png (the first seed's runs)."""
    import platform
    import shutil
    from pathlib import Path

    import torch

    from tagnet.data import eval_loader
    from tagnet.datasets.atomic import atomic_write
    from tagnet.eval.inference import predict
    from tagnet.eval.plots import plot_training_curves, read_log
    from tagnet.eval.report import write_json
    from tagnet.eval.tsne import plot_tsne
    from tagnet.models.factory import load_run
    from tagnet.train.experiment import order_chance

    rep = out / "report"
    rep.mkdir(parents=True, exist_ok=True)
    chance = {"top1": 1 / len(synth.classes), "within_group_top1": order_chance(synth.order_pairs)}
    ceilings = row_ceilings(cfg, synth, rows)
    table, summary = results_table(rows, records, seeds, chance, equivalent, ceilings)
    panels, logs, twins = {}, {}, {}
    headroom = "benchmark" in cfg.data.synth
    for r in records:
        if r["seed"] != seeds[0]:
            continue
        run_dir = Path(r["run_dir"])
        shutil.copy(run_dir / "test" / "confusion.png", rep / f"confusion_{r['folder']}.png")
        model = load_run(run_dir / "best.pth")
        preds = predict(model, eval_loader(data.test, cfg.eval.batch_size, 0), features=True)
        panels[r["variant"]] = (preds.features, preds.labels)
        logs[r["variant"]] = read_log(run_dir / "log.jsonl")
        if headroom and r["folder"] in ("baseline", "b_te"):
            twins[r["variant"]] = twin_deviation(preds, synth.order_pairs)
    plot_tsne(panels, rep / "tsne.png", synth.classes, seed=seeds[0])
    plot_training_curves(logs, rep / "curves.png")
    text = findings(rows, records, equivalent, twins, seeds, chance, headroom, ceilings,
                    summary)
    metrics = {
        "benchmark": {"name": synth.version, "root": str(synth.root), "classes": synth.classes,
                      "order_groups": synth.order_pairs,
                      "reversal_pairs": getattr(synth, "reversal_pairs", []),
                      "params": synth.params, "train_clips": len(data.train),
                      "test_clips": len(data.test)},
        "seeds": list(seeds), "chance": chance, "ceilings": ceilings, "summary": summary,
        "equivalent": {k: vars(e) for k, e in equivalent.items()}, "twin_deviation": twins,
        "models": records, "total_time_s": round(total_time, 1),
        "setup_time_s": round(setup_time, 1),
        "command": command_line,
        "machine": {"python": platform.python_version(), "torch": str(torch.__version__),
                    "threads": sorted({r.get("threads") for r in records} - {None}),
                    "cpu": platform.processor()},
        "config": cfg.to_dict(),
    }
    write_json(metrics, rep / "metrics.json")
    kind = "the benchmark with headroom" if headroom else "FineSynth"
    atomic_write(rep / "results.md", (
        f"# tagnet demo: {kind} ({synth.version}, {len(synth.classes)} classes, synthetic)\n\n"
        f"{table}\n\nTest split: {len(data.test)} held-out clips. top-1 chance: a uniform "
        "guess. ceiling: the best top-1 the row's model can reach, fixed by construction "
        "before training (tagnet.train.ceilings). order: top-1 among the clips put in the "
        f"right group of classes that share their frames ({synth.order_pairs}); its chance "
        "row is a uniform guess inside the group.\n\n## What this shows\n\n" + text + "\n"))
    return {"table": table, "findings": text, "total_time_s": total_time, "summary": summary}


METRICS = (("top1", "top-1"), ("within_group_top1", "order"))
#: the multi-seed table's reference row: the paper's graph on the ladder, else B + TE
REFERENCES = ("graph-only, tag (undirected)", "B + TE")


def results_table(rows, records, seeds, chance, equivalent, ceilings=None
                  ) -> tuple[str, list[dict]]:
    """One seed: a plain table; several: mean ± std, 95% intervals, the paired difference to
    the reference row (:data:`REFERENCES`), sign-flip p and Holm. Each row shows its
    construction ceiling. Returns ``(markdown, per-row summary)``."""
    from tagnet.eval.tables import fmt_pct, markdown_table, sweep_table

    titles = [title for _, title, _ in rows]
    ceilings = ceilings or {}
    if len(seeds) > 1:
        reference = next((r for r in REFERENCES if r in titles), titles[0])
        table, summary = sweep_table(records, METRICS, reference=reference, equivalents=equivalent,
                                     order=titles, chance=chance, ceilings=ceilings or None)
        return table, summary["rows"]
    header = ["model", "params", "top-1", "ceiling", "order", "train time"]
    out, summary = [], []
    by_title = {r["variant"]: r for r in records}
    for title in titles:
        if title in equivalent:
            e = equivalent[title]
            out.append([f"{title} (= {e.same_as})", "", "not trained", "", "", ""])
            summary.append({"variant": title, "equivalent_to": e.same_as, "run": False})
            continue
        r = by_title[title]
        ceiling = ceilings.get(title, (float("nan"), ""))[0]
        out.append([title, f"{r['parameters']:,}", fmt_pct(r["top1"]), fmt_pct(ceiling),
                    fmt_pct(r.get("within_group_top1", float("nan"))),
                    f"{r['train_time_s']:.0f} s"])
        summary.append({"variant": title, "top1": {"mean": r["top1"]}, "ceiling": ceiling,
                        "within_group_top1": {"mean": r.get("within_group_top1")}})
    out.append(["chance", "", fmt_pct(chance["top1"]), "",
                fmt_pct(chance["within_group_top1"]), ""])
    return markdown_table(header, out), summary


def findings(rows, records, equivalent, twins, seeds, chance, headroom: bool,
             ceilings: dict | None = None, summary: list | None = None) -> str:
    """What the table shows and what it does not, in plain words, from the measured values."""
    title = {folder: t for folder, t, _ in rows}
    runs: dict[str, dict[int, dict]] = {}
    for r in records:
        runs.setdefault(r["folder"], {})[r["seed"]] = r
    stats = {row["variant"]: row for row in summary or ()}
    ceilings = ceilings or {}

    def pct(folder, key="top1"):
        return 100 * sum(r[key] for r in runs[folder].values()) / len(runs[folder])

    def ceiling(folder):
        return 100 * ceilings.get(title[folder], (1.0, ""))[0]

    def contrast(a, b):
        """``a`` - ``b`` in points; with seeds, the table's paired interval and Holm p."""
        text = f"{pct(a) - pct(b):+.1f} points"
        row = stats.get(title[a], {}).get("top1", {})
        if len(seeds) < 2 or "p_holm" not in row or stats.get(title[b], {}).get(
                "variant") not in REFERENCES:
            return text
        verdict = "an effect" if row["effect"] else "not established"
        return (text + f", paired by seed [{100 * row['diff_low']:+.1f}, "
                f"{100 * row['diff_high']:+.1f}], Holm-adjusted p {row['p_holm']:.3g}: "
                f"{verdict}")

    if not headroom:
        return (f"{title['baseline']} scores {pct('baseline'):.1f}% top-1 and "
                f"{title['tag_head']} {pct('tag_head'):.1f}%. On FineSynth the backbone alone "
                "already resolves the order pairs, so this run shows that the pipeline works "
                "end to end, not what the head adds; `tagnet demo` (the benchmark with "
                "headroom) does.")
    out = []
    blind = 100 * chance["within_group_top1"]
    dev = twins.get(title["baseline"])
    if dev is None or dev["max"] < 1e-4:
        twin_note = "" if dev is None else (
            f" The trained B model gives the reordered twins of the test split the same "
            f"pre-logit features (largest difference over {dev['sets']} twin sets: "
            f"{dev['max']:.1e} of the mean feature norm).")
        out.append(
            f"- **B is blind to order by construction** (ceiling {ceiling('baseline'):.1f}%): "
            f"the frame-wise backbone sees one frame at a time and B averages its tokens, so "
            f"twins that share their frames get the same features.{twin_note} B scores "
            f"{pct('baseline'):.1f}% top-1 (chance {100 * chance['top1']:.1f}%): it is also "
            "blind to where the motion is, since the mean over all tokens has no position.")
    else:  # camera motion: twins no longer share their frames
        out.append(
            f"- **B is not blind to order by construction here**: the twins of a group no longer "
            f"share their frames (camera motion?), and the trained B model gives them features "
            f"{dev['max']:.2f} of the mean norm apart. B scores {pct('baseline'):.1f}% top-1 "
            f"(chance {100 * chance['top1']:.1f}%).")
    if "b_te" in runs:
        out.append(
            f"- **B + TE** (a space-time positional table and a global encoder, no graph) "
            f"scores {pct('b_te'):.1f}% top-1"
            + (f": above the {blind:.1f}% of any model blind to order, so it reads the order "
               "of the frames without any graph; its (t, p) table tells every token its time, "
               "and every token reaches every other." if pct("b_te") > blind else
               f", not above the {blind:.1f}% of a model blind to order in this run."))
    eq = equivalent.get(title.get("tag_head", ""))
    if eq is not None:
        out.append(
            f"- **The released TAG-Head equals B + TE here** and was not trained: before "
            f"training, given the same weights and input, its pooled features agree with B + "
            f"TE's to {eq.deviation:.1e} of the token norm (tolerance {eq.tol:g}). APPNP is "
            "linear, the mean pool after it only reweights the tokens, and the `tag` graph on "
            "this grid is near-regular, so the weights are all about 1.")
    ladder = [f for f in ("no_temporal", "tag", "tag_directed") if f in runs]
    if ladder:
        lines = []
        for f in ladder:
            c = ceiling(f)
            where = "at its ceiling" if c < 100 and c - pct(f) <= 2 else (
                "below its ceiling" if c < 100 else "no ceiling by construction")
            reason = ceilings.get(title[f], (1.0, ""))[1]
            lines.append(f"{title[f]} {pct(f):.1f}% (ceiling {c:.1f}%: {reason}; {where})")
        out.append(
            f"- **The topology ladder.** The graph-only head ({LADDER_WHAT}) can carry "
            "information across time only through its graph, so the graph's symmetries fix "
            "its ceiling before training, and all three start from the same weights: "
            + "; ".join(lines) + ".")
    if "tag" in runs and "tag_directed" in runs:
        out.append(
            "- **The paper's graph cannot tell the direction of time when nothing else "
            "carries it.** `tag` links the same site in neighbouring frames without a "
            "direction, so reversing a clip maps the graph onto itself: a clip and its "
            "reversal twin (the same frames played backwards) get the same logits, and no "
            f"such head can score above {ceiling('tag'):.1f}%. Typing the forward and "
            "backward links apart (`tag_directed`) lifts that ceiling: "
            f"tag_directed minus tag {contrast('tag_directed', 'tag')}.")
    if len(seeds) == 1:
        out.append(
            "- **One seed.** The ceilings hold by construction (in every seed); a difference "
            "between two trained rows needs seeds: `tagnet demo --seeds` trains seeds 0 1 2 "
            "with paired intervals and Holm-corrected sign-flip p-values, and "
            "`python benchmarks/topology_ladder.py` runs the 10-seed study.")
    out.append(
        "- **Not shown:** anything about real video. The data is synthetic and the backbone "
        "frozen and random; these are not the paper's numbers.")
    return "\n".join(out)
