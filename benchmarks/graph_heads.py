"""Does the topology help a graph head? Every graph head, with and without the graph, over seeds.

One ``tagnet ablate`` sweep per head on the benchmark with headroom (``--config
headroom``: PathSynth tokens of a frozen frame-wise backbone, grid 8x4x4), then one
table: a row per head, a column per topology, each cell the mean ± sample std of
top-1 over the seeds and the difference to the same head without the graph, paired
by seed, with its 95% t interval and its exact sign-flip p-value, Holm-adjusted over
every contrast of the table ("effect" only when the adjusted p is below 0.05 and
every run of both rows converged). The JSON keeps every run's metrics seed by seed
(``heads.<head>.records``; the per-row ``values`` in ``summary``) and every contrast
with its p and adjusted p (``contrasts``), so each interval and p can be recomputed
from the file alone.

    head                        varies                          reference (no graph)
    readout=attention|max|      model.kwargs.topology           topology none
      frame_temporal            (APPNP, then the readout)
    operator=gatv2|rgcn|        model.kwargs.topology           topology none (self loops)
      transformer               (the operator, then the mean)
    attention_topology          the encoder's attention mask    global (the plain encoder)

One factor at a time: each head changes the released head in one place (readout,
operator or attention mask). ``--heads cross`` adds the readout x operator cross
(each non-mean readout after each PyG operator), on ``none`` and ``tag`` only. Sweeps
reuse finished runs (``tagnet ablate`` never loses work), so a rerun only trains
what is missing and rebuilds the table. About 60 runs of 30-70 s per 20 runs on
2 cores; ``--heads`` picks some.

Example:
    python benchmarks/graph_heads.py --root runs/graph_heads   # one-factor heads, seeds 0-9
    python benchmarks/graph_heads.py --heads max rgcn --seeds 0 1 2
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from _common import command_line, machine_info, write_json

from tagnet.cli import main as tagnet
from tagnet.eval.stats import ALPHA, fmt_p, holm
from tagnet.eval.tables import multiplicity_note

TOPOLOGIES = ("none", "tag", "tag_aligned", "random")
#: name -> (folder, sweep, values, reference row, overrides)
HEADS = {
    "attention": ("gh_attention", "topology", TOPOLOGIES, "topology none",
                  ["model.kwargs.readout=attention"]),
    "max": ("gh_max", "topology", TOPOLOGIES, "topology none", ["model.kwargs.readout=max"]),
    "frame_temporal": ("gh_frame_temporal", "topology", TOPOLOGIES, "topology none",
                       ["model.kwargs.readout=frame_temporal"]),
    "gatv2": ("gh_gatv2", "topology", TOPOLOGIES, "topology none",
              ["model.kwargs.operator=gatv2"]),
    "rgcn": ("gh_rgcn", "topology", TOPOLOGIES, "topology none", ["model.kwargs.operator=rgcn"]),
    "transformer": ("gh_transformer", "topology", TOPOLOGIES, "topology none",
                    ["model.kwargs.operator=transformer"]),
    "attention_topology": ("gh_attn", "attention", ("global", "none") + TOPOLOGIES[1:],
                           "attention global", []),
}
#: the readout x operator cross (no APPNP, the readout after the operator), none vs tag only
for _readout in ("attention", "max", "frame_temporal"):
    for _op in ("gatv2", "rgcn", "transformer"):
        HEADS[f"{_readout}+{_op}"] = (f"gh_{_readout}_{_op}", "topology", ("none", "tag"),
                                      "topology none", [f"model.kwargs.readout={_readout}",
                                                        f"model.kwargs.operator={_op}"])
LABELS = {"attention": "`readout=attention`", "max": "`readout=max`",
          "frame_temporal": "`readout=frame_temporal`", "gatv2": "`operator=gatv2`",
          "rgcn": "`operator=rgcn`", "transformer": "`operator=transformer`",
          "attention_topology": "`attention_topology=T`"}
LABELS |= {name: f"`readout={name.split('+')[0]}`, `operator={name.split('+')[1]}`"
           for name in HEADS if "+" in name}
#: what runs without --heads: the one-factor heads (the cross is asked for by name or "cross")
ONE_FACTOR = [name for name in HEADS if "+" not in name]


#: Keys of a run's record that the JSON keeps, seed by seed (paths and overrides left out).
RECORD_KEYS = ("variant", "seed", "top1", "top5", "mca", "loss", "best_epoch", "converged",
               "converged_epoch", "train_time_s", "parameters")


def contrasts(results: dict[str, dict]) -> list[dict]:
    """Every contrast of the cross table (a head's row vs its no-graph reference, top-1),
    with Holm's correction over all of them (:func:`tagnet.eval.stats.holm`).

    Each sweep's summary holds the raw sign-flip p of its rows; the correction is
    redone here because the table is one family of contrasts. ``effect`` needs the
    Holm-adjusted p below 0.05 and no run of the row or the reference with
    ``converged: false``.
    """
    out = []
    for name, result in results.items():
        ref = next(r for r in result["summary"] if r["variant"] == result["reference"])
        for row in result["summary"]:
            if row["variant"] != result["reference"] and "p" in row.get("top1", {}):
                out.append({"head": name, "variant": row["variant"],
                            "reference": result["reference"], "pairs": row["top1"]["pairs"],
                            "diff": row["top1"]["diff"], "low": row["top1"]["diff_low"],
                            "high": row["top1"]["diff_high"], "p": row["top1"]["p"],
                            "clean": row.get("converged") is not False
                            and ref.get("converged") is not False})
    for c, p_holm in zip(out, holm([c["p"] for c in out]), strict=True):
        c.update(p_holm=p_holm, survives=p_holm < ALPHA, effect=p_holm < ALPHA and c["clean"])
    return out


def cell(row: dict, contrast: dict | None = None, unknown: bool = True) -> str:
    """``mean ± std`` of a row (``†`` when a run did not converge, ``‡`` when one does not say
    and ``unknown``), and for a contrast ``Δ [95% CI], p (Holm)`` and its verdict."""
    top = row["top1"]
    mark = ("†" if row.get("converged") is False else "") + \
        ("‡" if row.get("convergence_unknown_seeds") and unknown else "")
    text = f"{100 * top['mean']:.1f} ± {100 * top['std']:.1f}{mark}"
    if contrast is not None:
        c = contrast
        tag = ", effect" if c["effect"] else (", n.c." if c["survives"] else "")
        text += (f", Δ {100 * c['diff']:+.1f} [{100 * c['low']:+.1f}, {100 * c['high']:+.1f}], "
                 f"p {fmt_p(c['p'])} ({fmt_p(c['p_holm'])}){tag}")
    return text.replace("-", "−")


def cross_table(results: dict[str, dict]) -> tuple[str, list[dict]]:
    """One Markdown row per head; columns: the reference (no graph), then each topology.
    Returns the table with its notes (statistics, Holm, convergence) and the contrasts."""
    found = {(c["head"], c["variant"]): c for c in contrasts(results)}
    summaries = [row for result in results.values() for row in result["summary"]]
    all_unknown = all(len(r.get("convergence_unknown_seeds", ())) == len(r["seeds"])
                      for r in summaries)  # older runs: one note, no marks
    ran = {row["variant"].split(" ", 1)[1] for row in summaries}
    columns = [t for t in TOPOLOGIES[1:] if t in ran]  # the topologies some head ran
    header = ["head", "no graph (`none`; `global` for the mask)", *columns, "params"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    not_converged, unknown = [], []
    for name, result in results.items():
        rows = {r["variant"].split(" ", 1)[1]: r for r in result["summary"]}
        ref = result["reference"].split(" ", 1)[1]

        def at(topology, rows=rows, name=name):
            row = rows[topology]
            return cell(row, found.get((name, row["variant"])), unknown=not all_unknown)

        cells = [LABELS[name], at(ref)]
        cells += [at(t) if t in rows else "not run" for t in columns]
        cells.append(f"{rows[ref].get('parameters') or 0:,}")
        if name == "attention_topology" and "none" in rows:
            cells[0] += f" (self only: {at('none')})"
        lines.append("| " + " | ".join(cells) + " |")
        for row in result["summary"]:
            where = f"{LABELS[name]} {row['variant'].split(' ', 1)[1]}"
            if row.get("not_converged_seeds"):
                not_converged.append(f"{where} seeds {_seeds(row['not_converged_seeds'])}")
            if row.get("convergence_unknown_seeds"):
                unknown.append(f"{where} seeds {_seeds(row['convergence_unknown_seeds'])}")
    found = list(found.values())
    notes = ["Top-1 %, mean ± sample std over seeds; Δ: difference to the same head without the "
             "graph, paired by seed, with its 95% t interval; p: exact two-sided sign-flip p of "
             "the mean Δ, Holm-adjusted over the whole table in brackets; 'effect' only when "
             "the adjusted p is below 0.05."]
    if found:
        notes[0] += " " + multiplicity_note(len(found), [len(c["pairs"]) for c in found])
    if not_converged:
        notes.append("† not converged (`converged: false`): " + "; ".join(not_converged)
                     + ". Their contrasts are never called effects ('n.c.' where they survive "
                     "the correction).")
    if unknown and all_unknown:
        notes.append("Convergence unknown for every run (records from before the `converged` "
                     "flag).")
    elif unknown:
        notes.append("‡ convergence unknown (records from before the `converged` flag): "
                     + "; ".join(unknown) + ".")
    return "\n".join(lines) + "\n\n" + "\n\n".join(notes), found


def _seeds(seeds) -> str:
    return ", ".join(map(str, seeds))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="config overrides for every run, e.g. train.epochs=5")
    parser.add_argument("--root", default="runs/graph_heads", help="folder of the sweeps")
    parser.add_argument("--heads", nargs="+", choices=list(HEADS) + ["cross", "all"],
                        default=ONE_FACTOR, help="heads to run (default: the one-factor heads; "
                        "cross: readout x operator; all: both)")
    parser.add_argument("--seeds", nargs="+", help="training seeds (default: the config's "
                        "train.sweep_seeds, 0-9 on the headroom configs)")
    parser.add_argument("--topologies", nargs="+", help="run only these of each head's "
                        f"topologies (default: all: {', '.join(TOPOLOGIES)}; the attention "
                        "mask keeps its reference `global`)")
    parser.add_argument("--config", default="headroom")
    parser.add_argument("--out", default=str(Path(__file__).with_name("graph_heads.json")))
    args = parser.parse_args(argv)
    root = Path(args.root)
    cross = [name for name in HEADS if "+" in name]
    heads = []
    for name in args.heads:
        heads += {"cross": cross, "all": list(HEADS)}.get(name, [name])
    results = {}
    for name in dict.fromkeys(heads):
        folder, sweep, values, reference, overrides = HEADS[name]
        if args.topologies:
            values = [v for v in values if v in args.topologies or v == "global"]
        code = tagnet(["ablate", "--config", args.config, "--sweep", sweep, "--values", *values,
                       "--reference", reference, "--no-noise-floor", "--quiet",
                       "-o", str(root / folder), *overrides, *args.overrides,
                       *(["--seeds", *args.seeds] if args.seeds else [])])
        if code:
            raise SystemExit(f"the {name} sweep failed (exit {code}); see above")
        results[name] = json.loads((root / folder / "ablation.json").read_text())
    table, found = cross_table(results)
    print(table)
    seeds = sorted({s for v in results.values() for s in v["seeds"]})
    write_json(Path(args.out), {
        "benchmark": "graph_heads", "command": command_line(), "machine": machine_info("cpu"),
        "config": args.config, "seeds": seeds, "table": table, "contrasts": found,
        "heads": {k: {"summary": v["summary"], "reference": v["reference"],
                      "records": [{key: r[key] for key in RECORD_KEYS if key in r}
                                  for r in v["records"]]}
                  for k, v in results.items()}})


if __name__ == "__main__":
    main()
