"""The topology ladder: graph-only heads over topologies whose ceilings symmetry fixes first.

A graph-only head (``model.kwargs.graph_only=true``: a site-only positional code, encoder
attention inside each frame, an order-free readout) can carry information across time only
through its graph, so the graph's symmetries bound what it can learn before any training
(:mod:`tagnet.train.ceilings`): no temporal edges -> blind to frame order; undirected temporal
edges -> blind to the direction of time; directed edges -> neither. Each study is one
``tagnet ablate --sweep topology`` run (10 seeds on the headroom configs, finished runs
reused), whose table puts every row's construction ceiling beside its score and compares
every topology with the paper's ``tag``, paired by seed (t interval, exact sign-flip p,
Holm over the table).

    study        config          head (graph-only, then)      topologies                  seeds
    paths        headroom        GATv2, max                   LADDER                      10
    sites        sitesynth       GATv2, max                   LADDER                      10
    camera       headroom_pan    GATv2, max                   tag, tag_aligned,           10
                                                              random_temporal:tag
    sites_local  sitesynth       GATv2, max, no attention     LOCAL (reference            10
                                 between tokens                tag_directed)
    paths_rgcn   headroom        R-GCN, max                   intra_frame, tag,            5
    ...          (and sitesynth; TransformerConv + max; GATv2 + attention readout)  tag_directed

LADDER: intra_frame (no temporal edges), tag (undirected, the paper's), tag_directed
(forward / backward typed), tag_window:2 (undirected, 2 frames), random_temporal:tag (the
same temporal edge count per type, rewired between neighbouring frames), tag_dense (every
site of the neighbouring frames).

LOCAL: the same-site question without the encoder's help. With attention inside each frame
every token already summarises its whole frame before the graph, so any link between two
frames can compare a site with itself; with ``attention_topology=none`` (each token attends
to itself only) a token knows its own site, and only a time-aligned link brings it the same
site of the next frame: tag_directed against its control at equal typing
random_temporal:tag_directed, and tag, random_temporal:tag, tag_dense.

CAMERA: under a pan site p of frame t+1 shows other content than site p of frame t;
tag_aligned links each token to its most similar tokens of the next frame instead. Its
graph, rebuilt per clip, is not symmetric in time either, so random_temporal:tag (tag's edge
count per type, rewired at random) is the control that tells following the content from
merely breaking the time symmetry.

Example:
    python benchmarks/topology_ladder.py --root runs/ladder                 # everything
    python benchmarks/topology_ladder.py --studies paths sites --seeds 0 1 2
    python benchmarks/topology_ladder.py --studies paths train.epochs=2 --seeds 0 1   # a smoke run
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from _common import (
    add_override_args,
    command_line,
    machine_info,
    run_ablate,
    sweep_entry,
    write_json,
)

GRAPH_ONLY = ["model.kwargs.graph_only=true"]
LADDER = ("intra_frame", "tag", "tag_directed", "tag_window:2", "random_temporal:tag",
          "tag_dense")
THREE = ("intra_frame", "tag", "tag_directed")
FIVE = ["--seeds", "0", "1", "2", "3", "4"]
LOCAL = ("tag_directed", "random_temporal:tag_directed", "tag", "random_temporal:tag",
         "tag_dense")
#: name -> (config, topologies, head overrides, extra ablate arguments)
STUDIES: dict[str, tuple[str, tuple[str, ...], list[str], list[str]]] = {
    "paths": ("headroom", LADDER, ["model.kwargs.operator=gatv2", "model.kwargs.readout=max"], []),
    "sites": ("sitesynth", LADDER, ["model.kwargs.operator=gatv2", "model.kwargs.readout=max"],
              []),
    "camera": ("headroom_pan", ("tag", "tag_aligned", "random_temporal:tag"),
               ["model.kwargs.operator=gatv2", "model.kwargs.readout=max"], []),
    "sites_local": ("sitesynth", LOCAL, ["model.kwargs.operator=gatv2", "model.kwargs.readout=max",
                                         "model.kwargs.attention_topology=none"], []),
}
#: the row each study's contrasts are paired with (default: the paper's tag)
REFERENCES = {"sites_local": "tag_directed"}
for _bench, _config in (("paths", "headroom"), ("sites", "sitesynth")):
    STUDIES[f"{_bench}_rgcn"] = (_config, THREE, ["model.kwargs.operator=rgcn",
                                                  "model.kwargs.readout=max"], FIVE)
    STUDIES[f"{_bench}_transformer"] = (_config, THREE, ["model.kwargs.operator=transformer",
                                                         "model.kwargs.readout=max"], FIVE)
    STUDIES[f"{_bench}_attention"] = (_config, THREE, ["model.kwargs.operator=gatv2",
                                                       "model.kwargs.readout=attention"], FIVE)
MAIN = ["paths", "sites", "camera", "sites_local"]


def verdicts(result: dict) -> list[dict]:
    """Per row: its ceiling, its best and mean run, and what the table says of it in words."""
    out = []
    for row in result["summary"]:
        if not row.get("run", True):
            continue
        top = row["top1"]
        ceiling = row.get("ceiling", 1.0)
        entry = {"variant": row["variant"], "ceiling": ceiling, "mean": top["mean"],
                 "max": max(top["values"]), "converged": row.get("converged")}
        if ceiling < 1:
            gap = ceiling - top["mean"]
            entry["at_ceiling"] = gap <= 0.02  # within 2 points of the construction ceiling
            entry["above_ceiling"] = entry["max"] > ceiling + 1e-9
        if "p_holm" in top:
            entry.update(diff=top["diff"], low=top["diff_low"], high=top["diff_high"],
                         p=top["p"], p_holm=top["p_holm"], effect=top["effect"])
        out.append(entry)
    return out


def run_study(name: str, root: Path, seeds: list[str] | None, overrides: list[str]) -> dict:
    config, topologies, head, extra = STUDIES[name]
    seed_args = ["--seeds", *seeds] if seeds else extra
    reference = f"topology {REFERENCES.get(name, 'tag')}"
    return run_ablate(["--config", config, "--sweep", "topology", "--values", *topologies,
                       "--reference", reference, "--no-noise-floor", *GRAPH_ONLY, *head,
                       *overrides, *seed_args], root / name, f"study {name}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_override_args(parser, "runs/ladder")
    parser.add_argument("--studies", nargs="+", choices=list(STUDIES) + ["main", "all"],
                        default=["all"], help="studies to run (main: paths, sites, camera, "
                        "sites_local; all: every study)")
    parser.add_argument("--seeds", nargs="+", help="training seeds for every study (default: "
                        "the config's train.sweep_seeds, 0-9, and 0-4 for the operator and "
                        "readout studies)")
    parser.add_argument("--out", default=str(Path(__file__).with_name("topology_ladder.json")))
    args = parser.parse_args(argv)
    names = []
    for s in args.studies:
        names += {"main": MAIN, "all": list(STUDIES)}.get(s, [s])
    out = Path(args.out)
    done = json.loads(out.read_text())["studies"] if out.is_file() else {}
    results = {}
    for name in dict.fromkeys(names):
        result = run_study(name, Path(args.root), args.seeds, args.overrides)
        config, topologies, head, _ = STUDIES[name]
        results[name] = sweep_entry(result, config=config, head=GRAPH_ONLY + head,
                                    topologies=list(topologies), verdicts=verdicts(result))
        done[name] = results[name]  # keep the studies of earlier calls beside this one's
        write_json(out, {"benchmark": "topology_ladder", "command": command_line(),
                         "machine": machine_info("cpu"), "overrides": args.overrides,
                         "studies": done})


if __name__ == "__main__":
    main()
