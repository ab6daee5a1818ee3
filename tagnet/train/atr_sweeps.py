"""ATR's ablation tables (Tables 1-4 of the ATR paper) as ``tagnet ablate --sweep atr`` rows.

======  =======================================================  ===========================
table   rows                                                     switches
======  =======================================================  ===========================
table1  no ATR, S2, S3, S4, S5, S3-S5 (default), ATR-sim         ``stages``, ``locator``
table2  ER x1, ER x2 (default), ER x3, GR x1, GR x2,             ``num_reasoners``,
        ER x2 with per-channel taps                              ``reasoner``, ``ear_taps``
table3  appearance only, motion only, both (default),            ``locator_cues``,
        without AFA                                              ``aggregation``
table4  uniform distribution, add (default), gate, scale         ``distribution_map``,
                                                                 ``distribution``
======  =======================================================  ===========================

The default ATR row is shared by the four tables and trained once. ``--values`` takes table
names and row keys (:data:`ROWS`), mixed: ``--values table4 GRx1``.

The model: with a config whose model is an ``atr_*`` one, each row sets its switches on top
of that config's ``model.kwargs``. With any other config (the bundled ``demo`` is a TAG-Head)
the rows use ``atr_r2plus1d_tiny`` at the demo's widths (:data:`TINY_BACKBONE`: 64 channels,
stride 8x16x16), with nothing else of the config's model, so the comparison is ATR against
its own baseline on the same data, not against TAG-Head. The tiny backbone has one block per
stage, so a stage row (``S5``) is also the single-block row (``S5-1``) of the paper's Table 1.
"""
from __future__ import annotations

import json
from collections.abc import Sequence

from tagnet.train.variants import Variant

#: The backbone of the rows when the config's model is not an ATR one (the demo's widths).
TINY_BACKBONE = {"widths": [8, 16, 32, 64], "stem_mid": 8}

#: Row key -> (label, the row's ATR options on top of the defaults).
ROWS: dict[str, tuple[str, dict]] = {
    "none": ("no ATR (baseline)", {"stages": []}),
    "S2": ("ATR in S2", {"stages": ["S2"]}),
    "S3": ("ATR in S3", {"stages": ["S3"]}),
    "S4": ("ATR in S4", {"stages": ["S4"]}),
    "S5": ("ATR in S5", {"stages": ["S5"]}),
    "default": ("ATR default (S3-S5, ER x2, both cues, AFA, add)", {}),
    "sim": ("ATR-sim (no locator)", {"locator": False}),
    "ERx1": ("ER x1", {"num_reasoners": 1}),
    "ERx3": ("ER x3", {"num_reasoners": 3}),
    "GRx1": ("GR x1", {"reasoner": "graph", "num_reasoners": 1}),
    "GRx2": ("GR x2", {"reasoner": "graph"}),
    "channel-taps": ("ER x2, per-channel taps", {"ear_taps": "channel"}),
    "appearance": ("appearance cue only", {"locator_cues": "appearance"}),
    "motion": ("motion cue only", {"locator_cues": "motion"}),
    "no-AFA": ("without AFA (uniform aggregation)", {"aggregation": "uniform"}),
    "uniform-dist": ("uniform distribution", {"distribution_map": "uniform"}),
    "gate": ("gate form BN(r) sigmoid(M)", {"distribution": "gate"}),
    "scale": ("scale form X BN(r) sigmoid(M)", {"distribution": "scale"}),
}

#: ATR's tables as row keys, in the paper's order.
TABLES: dict[str, list[str]] = {
    "table1": ["none", "S2", "S3", "S4", "S5", "default", "sim"],
    "table2": ["ERx1", "default", "ERx3", "GRx1", "GRx2", "channel-taps"],
    "table3": ["appearance", "motion", "default", "no-AFA"],
    "table4": ["uniform-dist", "default", "gate", "scale"],
}


def atr_rows(values: Sequence[str] | None = None) -> list[str]:
    """Row keys of ``values`` (table names and row keys; default all tables), each once."""
    keys: list[str] = []
    for v in values or list(TABLES):
        if v in TABLES:
            keys += TABLES[v]
        elif v in ROWS:
            keys.append(v)
        else:
            raise ValueError(f"ATR sweep value {v!r} is unknown; known: tables "
                             f"{', '.join(TABLES)}; rows {', '.join(ROWS)}")
    return list(dict.fromkeys(keys))


def atr_variants(values: Sequence[str] | None = None, current_arch: str = "") -> list[Variant]:
    """The :class:`~tagnet.train.experiment.Variant` s of ATR's tables (module docstring)."""
    out = []
    for key in atr_rows(values):
        label, options = ROWS[key]
        if current_arch.startswith("atr_"):
            overrides = [f"model.kwargs.{k}={json.dumps(v)}" for k, v in options.items()]
        else:
            kwargs = {"backbone_kwargs": TINY_BACKBONE, **options}
            overrides = ["model.arch=atr_r2plus1d_tiny", f"model.kwargs={json.dumps(kwargs)}"]
        out.append(Variant(label, overrides))
    return out


__all__ = ["ROWS", "TABLES", "TINY_BACKBONE", "atr_rows", "atr_variants"]
