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
attention  encoder attention masked to each topology's edges    (graph heads)
=========  ===================================================  ==========================

Sweeps combine with overrides: ``tagnet ablate --sweep topology --values none tag
model.kwargs.readout=attention`` runs the topologies under the attention readout.
A sweep is a list of variants, each a name and config overrides, so every sweep
gets the same machinery: :func:`unlock_preset` (a sweep over a key that the
config's released preset fixes), :func:`equivalent_variants` (rows that compute
the same pooled features as an earlier row, found numerically on the built
models) and :func:`noise_floor_variants` (one configuration computed two ways
that differ only in float rounding).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tagnet.config import Config
from tagnet.train.variants import Variant, variant_config

#: Table 4's row labels, by :data:`tagnet.models.head.ABLATIONS` key.
ROW_LABELS = {"B": "B", "B+TE": "B + TE", "B+TE+IF-FC": "B + TE + IF-FC",
              "B+TE+TAT": "B + TE + TAT", "full": "B + TE + IF-FC + TAT (full)"}
SWEEPS = ("rows", "ffn", "backbone", "topology", "readout", "operator", "attention", "atr")


def default_values(sweep: str) -> list[str]:
    from tagnet.graphs import list_topologies
    from tagnet.models.head import ABLATIONS

    if sweep == "rows":
        return list(ABLATIONS)
    if sweep == "ffn":
        return ["2048", "1024", "512", "256"]
    if sweep == "backbone":
        return ["r2plus1d_tiny"]  # the CPU-sized one; pass --values for Table 3's
    if sweep == "topology":
        return list_topologies()
    if sweep == "attention":  # "global" first: the ordinary encoder, the natural reference
        return ["global"] + [t for t in list_topologies() if t != "global"]
    if sweep == "atr":
        from tagnet.train.atr_sweeps import PAPER_TABLES

        return list(PAPER_TABLES)
    if sweep == "readout":
        from tagnet.models.readouts import list_readouts

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
        from tagnet.models.head import ABLATIONS

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
    if sweep == "attention":
        from tagnet.graphs import get_topology

        for v in values:
            get_topology(v)
        return [Variant(f"attention {v}", [f"model.kwargs.attention_topology={v}"])
                for v in values]
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


def unlock_preset(base: Config, variants: list[Variant]) -> tuple[list[Variant], list[str]]:
    """Let a sweep vary a key that ``base``'s released preset fixes (e.g. ``ffn_dim`` of gym99).

    ``create_model`` refuses an override that contradicts the preset. When a
    variant sets such a key to another value, every variant of the sweep drops the
    preset (``model.preset=null``) and keeps the preset's other values explicitly
    (``model.num_classes``, ``model.kwargs.<key>``; frames come from
    ``data.num_frames``), so the rows differ only in what the sweep varies.
    Returns the variants and the unlocked keys (empty when nothing conflicts).
    """
    from tagnet.models.presets import PRESETS

    preset = base.model.preset
    if preset is None:
        return variants, []
    locked = PRESETS[preset]
    unlocked = []
    for v in variants:
        kwargs = variant_config(base, v, 0, Path(".")).model.kwargs
        unlocked += [k for k, val in locked.items()
                     if k in kwargs and kwargs[k] != val and k not in unlocked]
    if not unlocked:
        return variants, []
    if locked["num_frames"] != base.data.num_frames:
        raise ValueError(f"preset {preset!r} sets num_frames={locked['num_frames']}, but "
                         f"data.num_frames={base.data.num_frames}; make them agree first")
    keep = ["model.preset=null", f"model.num_classes={locked['num_classes']}"]
    keep += [f"model.kwargs.{k}={val}" for k, val in locked.items()
             if k not in ("num_classes", "num_frames")]
    return [Variant(v.name, keep + v.overrides) for v in variants], unlocked


def equal_edge_types(base: Config, variants: Sequence[Variant]) -> list[Variant]:
    """Give the rows of a sweep whose PyG operator runs on topologies with different edge-type
    counts one relation count, the largest, so every row starts from the same weights.

    An operator keeps parameters per edge type (R-GCN a weight matrix per relation,
    GATv2 / TransformerConv a type embedding), so ``tag`` (2 types) and its control
    ``none`` (1) would otherwise be built with other shapes and draw other initial
    weights. With ``model.kwargs.operator_kwargs.num_edge_types`` set to the largest count
    the shapes agree and the operator's generator (:class:`~tagnet.models.head.TAGHead`)
    gives every row the same values; the extra types never occur in the smaller graphs.
    Rows are left alone when they use APPNP, already agree, or set the count themselves.
    """
    from tagnet.graphs import get_topology

    configs = [variant_config(base, v, 0, Path(".")) for v in variants]
    kwargs = [c.model.kwargs or {} for c in configs]
    if any((k.get("operator_kwargs") or {}).get("num_edge_types") is not None for k in kwargs):
        return list(variants)
    if not any(isinstance(k.get("operator"), str) and k["operator"] != "appnp" for k in kwargs):
        return list(variants)
    counts = [get_topology(k.get("topology", "tag")).num_edge_types for k in kwargs]
    if len(set(counts)) == 1:
        return list(variants)
    pad = f"model.kwargs.operator_kwargs.num_edge_types={max(counts)}"
    return [Variant(v.name, [*v.overrides, pad]) if isinstance(k.get("operator"), str)
            and k["operator"] != "appnp" else v for v, k in zip(variants, kwargs, strict=True)]


def noise_floor_variants(variants: Sequence[Variant]) -> tuple[Variant, Variant]:
    """Two runs of the full head that differ only in float rounding: APPNP computed by
    PyG and by the exact structured closed form (same weights, same maths).

    Both name their propagation method explicitly, so the pair differs whatever the
    default (``"auto"`` runs the structured form on ``tag``: a default ``full`` row and a
    ``propagation=structured`` one would be the same computation, a noise floor of 0).
    A sweep variant with exactly the same overrides is reused.
    """
    pyg = Variant("noise floor: full, PyG APPNP",
                  ["model.kwargs.ablation=full", "model.kwargs.propagation=pyg"])
    structured = Variant("noise floor: full, structured APPNP",
                         ["model.kwargs.ablation=full", "model.kwargs.propagation=structured"])
    same = {tuple(v.overrides): v for v in variants}
    return same.get(tuple(pyg.overrides), pyg), same.get(tuple(structured.overrides), structured)


@dataclass(frozen=True)
class Equivalence:
    """Row ``name`` computes the same pooled features as the earlier row ``same_as``."""

    name: str
    same_as: str
    deviation: float  # max over clips of |pooled difference| / mean token norm
    tol: float


def _probe(model, generator):
    """Random head input and ``model -> pooled features`` (None for models without a head)."""
    import torch

    head = getattr(model, "head", None)
    if head is None or not hasattr(head, "forward_features") or not hasattr(head, "grid"):
        return None
    g = head.grid
    x = torch.randn(4, head.in_channels, g.T, g.H, g.W, generator=generator)
    return x


def _dynamic(model) -> bool:
    topology = getattr(getattr(model, "head", None), "topology", None)
    return bool(getattr(topology, "dynamic", False))


def equivalent_variants(base: Config, variants: Sequence[Variant], num_classes: int,
                        tol: float = 1e-3, seed: int = 0) -> dict[str, Equivalence]:
    r"""Rows whose model computes the same pooled features as an earlier row's, numerically.

    Each variant's model is built (``load_weights=False``); models with the same
    parameter names and shapes get the first one's weights (``load_state_dict``,
    strict), run in eval mode on the same random token grid, and a row is
    equivalent to an earlier one when

    .. math::
        \max_b \frac{\| f_b - f^{\mathrm{ref}}_b \|}{\operatorname{mean}_j \|h^{\mathrm{ref}}_{b,j}\|}
        \le \mathrm{tol},

    :math:`f` the pooled features (``head.forward_features``) and :math:`h` the
    reference's tokens before pooling. So nothing is decided by name: the released
    head (APPNP, then the mean) is found equal to ``B + TE`` on grids where its graph
    is regular, and a head whose readout or operator lets the graph act is not.
    A head on a data-dependent topology is never flagged (agreement on one input
    says nothing about others), nor is a model without a TAG-Head-like ``head``.
    Models that fail to build raise.
    """  # noqa: E501
    import torch

    from tagnet.models.factory import build_model

    g = torch.Generator().manual_seed(seed)
    built = []
    for v in variants:
        cfg = variant_config(base, v, seed, Path("."))
        torch.manual_seed(seed)
        model = build_model(cfg, num_classes, load_weights=False).eval()
        built.append((v.name, model, {k: tuple(t.shape) for k, t in model.state_dict().items()}))
    out: dict[str, Equivalence] = {}
    inputs: dict[int, torch.Tensor] = {}
    with torch.no_grad():
        for i, (name, model, shapes) in enumerate(built):
            for ref_name, ref, ref_shapes in built[:i]:
                if ref_name in out or shapes != ref_shapes or _dynamic(model) or _dynamic(ref):
                    continue
                x = inputs.get(id(ref))
                if x is None:
                    x = inputs[id(ref)] = _probe(ref, g)
                if x is None:
                    continue
                model.load_state_dict(ref.state_dict())
                f_ref = ref.head.forward_features(x).double()
                scale = ref.head.forward_tokens(x).double().norm(dim=-1).mean(dim=1)
                f = model.head.forward_features(x).double()
                dev = float(((f - f_ref).norm(dim=-1) / scale).max())
                if dev <= tol:
                    out[name] = Equivalence(name, ref_name, dev, tol)
                    break
    return out


__all__ = ["sweep_variants", "default_values", "slug", "ROW_LABELS", "SWEEPS", "unlock_preset",
           "noise_floor_variants", "equivalent_variants", "Equivalence"]
