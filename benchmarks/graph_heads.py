"""Does the topology help a graph head? Every graph head, with and without the graph, over seeds.

One ``tagnet ablate`` sweep per head on the benchmark with headroom (``--config
headroom``: PathSynth tokens of a frozen frame-wise backbone, grid 8x4x4), then one
table: a row per head, a column per topology, each cell the mean ± sample std of
top-1 over the seeds and the difference to the same head without the graph, paired
by seed, with its 95% t interval ("effect" only when it excludes 0).

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
    python benchmarks/graph_heads.py --root runs/graph_heads            # everything, 5 seeds
    python benchmarks/graph_heads.py --heads max rgcn --seeds 0 1 2
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from _common import command_line, machine_info, write_json

from tagnet.cli import main as tagnet

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


def cell(row: dict) -> str:
    top = row["top1"]
    text = f"{100 * top['mean']:.1f} ± {100 * top['std']:.1f}"
    if "diff" in top:
        tag = ", effect" if top["effect"] else ""
        text += (f", Δ {100 * top['diff']:+.1f} [{100 * top['diff_low']:+.1f}, "
                 f"{100 * top['diff_high']:+.1f}]{tag}")
    return text.replace("-", "−")


def cross_table(results: dict[str, dict]) -> str:
    """One Markdown row per head; columns: the reference (no graph), then each topology."""
    header = ["head", "no graph (`none`; `global` for the mask)", *TOPOLOGIES[1:], "params"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, result in results.items():
        rows = {r["variant"].split(" ", 1)[1]: r for r in result["summary"]}
        ref = result["reference"].split(" ", 1)[1]
        cells = [LABELS[name], cell(rows[ref])]
        cells += [cell(rows[t]) if t in rows else "not run" for t in TOPOLOGIES[1:]]
        cells.append(f"{rows[ref].get('parameters') or 0:,}")
        if name == "attention_topology" and "none" in rows:
            cells[0] += f" (self only: {cell(rows['none'])})"
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="config overrides for every run, e.g. train.epochs=5")
    parser.add_argument("--root", default="runs/graph_heads", help="folder of the sweeps")
    parser.add_argument("--heads", nargs="+", choices=list(HEADS) + ["cross", "all"],
                        default=ONE_FACTOR, help="heads to run (default: the one-factor heads; "
                        "cross: readout x operator; all: both)")
    parser.add_argument("--seeds", nargs="+", default=["0", "1", "2", "3", "4"])
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
        code = tagnet(["ablate", "--config", args.config, "--sweep", sweep, "--values", *values,
                       "--reference", reference, "--no-noise-floor", "--quiet",
                       "-o", str(root / folder), *overrides, *args.overrides, "--seeds",
                       *args.seeds])
        if code:
            raise SystemExit(f"the {name} sweep failed (exit {code}); see above")
        results[name] = json.loads((root / folder / "ablation.json").read_text())
    table = cross_table(results)
    print(table)
    write_json(Path(args.out), {
        "benchmark": "graph_heads", "command": command_line(), "machine": machine_info("cpu"),
        "config": args.config, "seeds": args.seeds, "table": table,
        "heads": {k: {"summary": v["summary"], "reference": v["reference"]}
                  for k, v in results.items()}})


if __name__ == "__main__":
    main()
