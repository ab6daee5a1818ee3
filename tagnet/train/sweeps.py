"""The paper's ablation tables as sweeps: lists of :class:`~tagnet.train.experiment.Variant`.

=========  ===================================================  ==========================
sweep      variants                                             paper
=========  ===================================================  ==========================
rows       B, B+TE, B+TE+IF-FC, B+TE+TAT, full                  Table 4
ffn        FFN width 2048, 1024, 512, 256                       Table 2
backbone   each backbone alone (B) and with TAG-Head            Table 3
topology   TAG-Head with each registered topology               (graph experiments)
atr        ATR's ablations (:mod:`tagnet.train.atr_sweeps`)     ATR Tables 1-4
readout    each registered readout (mean, attention, max, ...)  (graph heads)
operator   each graph operator (appnp, gatv2, rgcn, transformer)  (graph heads)
=========  ===================================================  ==========================

Sweeps combine with overrides: ``tagnet ablate --sweep topology --values none tag
model.kwargs.readout=attention`` runs the topologies under the attention readout.
"""
from __future__ import annotations

from collections.abc import Sequence

from tagnet.train.experiment import Variant

#: Table 4's row labels, by :data:`tagnet.head.ABLATIONS` key.
ROW_LABELS = {"B": "B", "B+TE": "B + TE", "B+TE+IF-FC": "B + TE + IF-FC",
              "B+TE+TAT": "B + TE + TAT", "full": "B + TE + IF-FC + TAT (full)"}
SWEEPS = ("rows", "ffn", "backbone", "topology", "readout", "operator", "atr")


def default_values(sweep: str) -> list[str]:
    from tagnet.graphs import list_topologies
    from tagnet.head import ABLATIONS

    if sweep == "rows":
        return list(ABLATIONS)
    if sweep == "ffn":
        return ["2048", "1024", "512", "256"]
    if sweep == "backbone":
        return ["r2plus1d_tiny"]  # the CPU-sized one; pass --values for Table 3's
    if sweep == "topology":
        return list_topologies()
    if sweep == "atr":
        from tagnet.train.atr_sweeps import TABLES

        return list(TABLES)
    if sweep == "readout":
        from tagnet.readouts import list_readouts

        return list_readouts()
    if sweep == "operator":
        from tagnet.propagation import list_operators

        return list_operators()
    raise ValueError(f"sweep {sweep!r} is unknown; known: {', '.join(SWEEPS)}")


def sweep_variants(sweep: str, values: Sequence[str] | None = None,
                   current_arch: str = "") -> list[Variant]:
    """The variants of a sweep (``values`` default to the paper's / all registered)."""
    values = list(values) if values else default_values(sweep)
    if sweep == "atr":
        from tagnet.train.atr_sweeps import atr_variants

        return atr_variants(values, current_arch)
    if sweep == "rows":
        from tagnet.head import ABLATIONS

        unknown = [v for v in values if v not in ABLATIONS]
        if unknown:
            raise ValueError(f"ablation row(s) {unknown} unknown; known: {', '.join(ABLATIONS)}")
        return [Variant(ROW_LABELS[v], [f"model.kwargs.ablation={v}"]) for v in values]
    if sweep == "ffn":
        return [Variant(f"FFN {int(v)}", ["model.kwargs.ablation=full",
                                          f"model.kwargs.ffn_dim={int(v)}"]) for v in values]
    if sweep == "topology":
        from tagnet.graphs import get_topology

        for v in values:
            get_topology(v)  # raises, listing the known names
        return [Variant(f"topology {v}", [f"model.kwargs.topology={v}"]) for v in values]
    if sweep in ("readout", "operator"):
        known = default_values(sweep)
        unknown = [v for v in values if v not in known]
        if unknown:
            raise ValueError(f"{sweep}(s) {unknown} unknown; known: {', '.join(known)}")
        return [Variant(f"{sweep} {v}", [f"model.kwargs.{sweep}={v}"]) for v in values]
    if sweep == "backbone":
        from tagnet.backbones import list_backbones

        out = []
        for v in values:
            if v not in list_backbones():
                raise ValueError(f"backbone {v!r} is unknown; known: "
                                 f"{', '.join(list_backbones())}")
            keep = current_arch == f"tag_{v}"  # keep its backbone_kwargs (tiny widths)
            base = [f"model.arch=tag_{v}"] + ([] if keep else ["model.kwargs.backbone_kwargs={}"])
            out += [Variant(v, base + ["model.kwargs.ablation=B"]),
                    Variant(f"{v} + TAG", base + ["model.kwargs.ablation=full"])]
        return out
    raise ValueError(f"sweep {sweep!r} is unknown; known: {', '.join(SWEEPS)}")


def slug(name: str) -> str:
    """A folder name for a variant: ``"B + TE + TAT"`` -> ``"B_TE_TAT"``."""
    keep = "".join(c if c.isalnum() or c in "-." else "_" for c in name)
    return "_".join(p for p in keep.split("_") if p)


__all__ = ["sweep_variants", "default_values", "slug", "ROW_LABELS", "SWEEPS"]
