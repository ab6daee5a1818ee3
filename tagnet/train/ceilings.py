r"""Construction ceilings: the best top-1 a head can reach on a benchmark with headroom, fixed
by symmetry before any training.

On the benchmarks with headroom (:mod:`tagnet.train.headroom`) the backbone is frame-wise and
frozen, and the classes come in groups built by symmetry:

- *twins* (``order_pairs``): clips of these classes are the same frames in another order;
- *reversal twins* (``reversal_pairs``): clips of one are the exact time reverses of the
  other's (same seed, still camera).

A head that carries no time code and reads the nodes without order (a *time-free* head: no
positional encoding or a site-only one, no encoder or encoder attention inside frames, a
mean / max / attention readout) sees time only through its graph, so the symmetries of the
graph (:func:`tagnet.graphs.time_symmetry`) are symmetries of the model:

==============================  =============================  ==============================
the head's graph                the model is invariant to      ceiling (classes equally many)
==============================  =============================  ==============================
no edge between frames          any order of the frames        #(twin groups) / #classes
undirected in time              reversing time                 #(reversal groups) / #classes
(maps onto itself)
directed, or any other head     (nothing by construction)      1
==============================  =============================  ==============================

where a class without a twin counts as a group of its own. A model invariant to a symmetry
gives a clip and its twin the same logits, so of each group at most one class is right.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tagnet.config import Config


@dataclass(frozen=True)
class Ceiling:
    """The best top-1 by construction and why (``reason`` is one phrase)."""

    top1: float
    reason: str
    invariance: str | None  # "frame order", "time reversal" or None


def group_ceiling(groups: Sequence[Sequence[int]], num_classes: int) -> float:
    """Best top-1 of a model that gives every class of a group the same prediction:
    ``(number of groups + classes in none) / num_classes``.

    Example:
        >>> group_ceiling([(0, 1, 2, 3), (4, 5), (6, 7)], 8)
        0.375
    """
    grouped = {c for g in groups for c in g}
    return (len(groups) + num_classes - len(grouped)) / num_classes


def head_kwargs(cfg: Config) -> dict:
    """The head options ``cfg`` gives, with ``graph_only`` and ``ablation`` applied."""
    from tagnet.models.head import ABLATIONS, GRAPH_ONLY

    kw = dict(cfg.model.kwargs or {})
    if kw.get("graph_only"):
        kw = {**GRAPH_ONLY, **kw}
    return {**kw, **ABLATIONS.get(kw.get("ablation") or "", {})}


def time_free(cfg: Config) -> str | None:
    """``None`` when ``cfg``'s head can carry time only through its graph, else why not."""
    from tagnet.models.head import ORDER_FREE_READOUTS
    from tagnet.models.positional import resolve_pos_embed

    kw = head_kwargs(cfg)
    if not cfg.model.arch.startswith("tag_"):
        return f"model {cfg.model.arch!r} is not a TAG-Head model"
    if resolve_pos_embed(kw.get("pos_embed", True)) == "spacetime":
        return "its positional encoding has a time code"
    if kw.get("num_layers", 2) and kw.get("attention_topology") not in ("intra_frame", "none"):
        return "its encoder attends across frames"
    if kw.get("readout", "mean") not in ORDER_FREE_READOUTS:
        return f"readout {kw.get('readout')!r} reads the frames in order"
    return None


def row_ceiling(cfg: Config, order_pairs: Sequence[Sequence[int]],
                reversal_pairs: Sequence[Sequence[int]], num_classes: int) -> Ceiling:
    """The construction ceiling of the model ``cfg`` builds on a benchmark with these groups.

    Valid for the benchmarks with headroom (frame-wise frozen backbones, still camera):
    under camera motion the twins are no longer exact and no ceiling is constructed.
    """
    from tagnet.backbones import create_backbone
    from tagnet.graphs import get_topology, time_symmetry

    synth = dict(cfg.data.synth or {})
    if "benchmark" not in synth:
        return Ceiling(1.0, "not a benchmark with headroom", None)
    if synth.get("camera"):
        return Ceiling(1.0, f"camera {synth['camera']!r}: twins are not exact", None)
    why = time_free(cfg)
    if why is not None:
        return Ceiling(1.0, f"none by construction: {why}", None)
    kw = head_kwargs(cfg)
    topology = get_topology(kw.get("topology", "tag"))
    if topology.dynamic:
        return Ceiling(1.0, f"none by construction: topology {topology.name!r} is built from "
                       "the tokens", None)
    backbone = create_backbone(cfg.model.arch[len("tag_"):], **(kw.get("backbone_kwargs") or {}))
    grid = backbone.output_grid(cfg.data.num_frames, cfg.data.img_size, cfg.data.img_size)
    sym = time_symmetry(topology, grid)
    if sym.frame_order_invariant:
        return Ceiling(group_ceiling(order_pairs, num_classes),
                       f"no edge between frames in {topology.name!r}: blind to frame order",
                       "frame order")
    if sym.reversal_invariant and reversal_pairs:
        return Ceiling(group_ceiling(reversal_pairs, num_classes),
                       f"{topology.name!r} is symmetric in time: blind to its direction",
                       "time reversal")
    return Ceiling(1.0, f"{topology.name!r} joins frames and is not symmetric in time", None)


__all__ = ["Ceiling", "group_ceiling", "head_kwargs", "time_free", "row_ceiling"]
