r"""ATR's experiments as the paper runs them, as ``tagnet ablate --sweep atr`` rows.

The paper's progression, row for row (a row is a set of ATR options on top of the defaults;
``S5-3`` is the third block of the last stage, ``layer4.2`` of a ResNet-50):

.. code-block:: text

    table1  one block at S5-3 over the baseline, then stages added cumulatively
              base            no ATR (the backbone alone)                     27.5
              S5-3            ATR, one block at S5-3                          50.3
              S5-3-sim        ATR-sim (no locator), one block at S5-3         47.1
              S5              ATR in every block of S5
              S4-S5           ... of S4 and S5
              S3-S5           ... of S3-S5 (the default)                      59.6 (add)
              S2-S5           ... of S2-S5
    table2  reasoners, on ATR-sim at S5-3 (one block, no stacking)
              S5-3-sim        ER x2 (the default reasoner)                    47.1
              sim-GR          GR x2 (the graph reasoner, same widths)
              sim-ERx1        ER x1
              sim-ERx3        ER x3
    table3  activating AFA over ATR-sim at S5-3, uniform distribution
              S5-3-sim        no AFA (ATR-sim: M is not computed)             47.1
              AFA-appearance  AFA from the appearance cue
              AFA-motion      AFA from the motion cue
              AFA-both        AFA from both cues
    table4  distribution forms, on the default (S3-S5)
              S3-S5-uniform   uniform distribution (AFA aggregation kept)
              S3-S5           adding (the default, D = BN(r) + gamma sigma(M))  59.6
              S3-S5-scale     scaling (D = X BN(r) sigma(M))                  58.9
    extra   tagnet's switches, not the paper's rows (only when asked for)
              S3-S5-gate      D = BN(r) sigma(M) (the project's former "add")
              S3-S5-channel   per-channel taps
              S3-S5-stack     the former reasoner widths (C -> C/r -> C over the stack)

The numbers are Top-1 (%) the paper reports for that row, as far as the sources in this
project give them (:data:`PAPER`: ``shared/PAPER.md`` and the issue that asked for these
tables): 27.5 / 50.3 / 47.1 on Something-Something V2, ResNet-50, T = 8; 59.6 (adding) and
58.9 (scaling) with the dataset and setting not stated there. Every other cell is empty
because our sources do not give it, not because the paper lacks it: no number is made up.
A row's name carries its number (``"ATR at S5-3 [paper 50.3]"``), so the sweep's table shows
the comparison at a glance; the rows shared by several tables are trained once.

The model: with a config whose model is an ``atr_*`` one (``atr_sthv2`` runs
``atr_tsn_r50``), each row sets its options on top of that config's ``model.kwargs``.
With any other config (the bundled ``demo`` is a TAG-Head) the rows use
``atr_r2plus1d_tiny`` at the demo's widths (:data:`TINY_BACKBONE`), with nothing else of the
config's model. Its stages hold one block each, so ``S5-3`` is read as ``S5-1`` there
(:data:`TINY_BLOCK`).
"""
from __future__ import annotations

import json
from collections.abc import Sequence

from tagnet.train.variants import Variant

#: The backbone of the rows when the config's model is not an ATR one (the demo's widths).
TINY_BACKBONE = {"widths": [8, 16, 32, 64], "stem_mid": 8}

#: The single block's position on the tiny backbone (one block per stage).
TINY_BLOCK = {"S5-3": "S5-1"}

_SIM = {"stages": ["S5-3"], "locator": False}  # ATR-sim, one block at S5-3
_AFA = {"stages": ["S5-3"], "aggregation": "action", "distribution_map": "uniform"}

#: Row key -> (label, the row's ATR options on top of the defaults), in the paper's order.
ROWS: dict[str, tuple[str, dict]] = {
    "base": ("no ATR (baseline)", {"stages": []}),
    "S5-3": ("ATR at S5-3", {"stages": ["S5-3"]}),
    "S5-3-sim": ("ATR-sim at S5-3 (ER x2, no AFA)", dict(_SIM)),
    "S5": ("ATR in S5", {"stages": ["S5"]}),
    "S4-S5": ("ATR in S4-S5", {"stages": ["S4", "S5"]}),
    "S3-S5": ("ATR in S3-S5, add (default)", {"stages": ["S3", "S4", "S5"]}),
    "S2-S5": ("ATR in S2-S5", {"stages": ["S2", "S3", "S4", "S5"]}),
    "sim-GR": ("ATR-sim at S5-3, GR x2", {**_SIM, "reasoner": "graph"}),
    "sim-ERx1": ("ATR-sim at S5-3, ER x1", {**_SIM, "num_reasoners": 1}),
    "sim-ERx3": ("ATR-sim at S5-3, ER x3", {**_SIM, "num_reasoners": 3}),
    "AFA-appearance": ("ATR-sim + AFA (appearance) at S5-3", {**_AFA,
                                                              "locator_cues": "appearance"}),
    "AFA-motion": ("ATR-sim + AFA (motion) at S5-3", {**_AFA, "locator_cues": "motion"}),
    "AFA-both": ("ATR-sim + AFA (both) at S5-3", {**_AFA, "locator_cues": "both"}),
    "S3-S5-uniform": ("ATR in S3-S5, uniform distribution",
                      {"stages": ["S3", "S4", "S5"], "distribution_map": "uniform"}),
    "S3-S5-scale": ("ATR in S3-S5, scale", {"stages": ["S3", "S4", "S5"],
                                             "distribution": "scale"}),
    "S3-S5-gate": ("ATR in S3-S5, gate", {"stages": ["S3", "S4", "S5"],
                                          "distribution": "gate"}),
    "S3-S5-channel": ("ATR in S3-S5, per-channel taps", {"stages": ["S3", "S4", "S5"],
                                                          "ear_taps": "channel"}),
    "S3-S5-stack": ("ATR in S3-S5, former stack widths", {"stages": ["S3", "S4", "S5"],
                                                           "reasoner_widths": "stack"}),
}

#: ATR's tables as row keys, in the paper's order; ``extra`` runs only when asked for.
TABLES: dict[str, list[str]] = {
    "table1": ["base", "S5-3", "S5-3-sim", "S5", "S4-S5", "S3-S5", "S2-S5"],
    "table2": ["S5-3-sim", "sim-GR", "sim-ERx1", "sim-ERx3"],
    "table3": ["S5-3-sim", "AFA-appearance", "AFA-motion", "AFA-both"],
    "table4": ["S3-S5-uniform", "S3-S5", "S3-S5-scale"],
    "extra": ["S3-S5-gate", "S3-S5-channel", "S3-S5-stack"],
}

#: The paper's tables (the default of ``--values``).
PAPER_TABLES = ("table1", "table2", "table3", "table4")

#: Top-1 (%) the paper reports for a row, with where our sources say it was measured. Rows
#: absent here have no number in our sources (module docstring).
PAPER: dict[str, tuple[float, str]] = {
    "base": (27.5, "Something-Something V2, ResNet-50, T=8 (PAPER.md section 2)"),
    "S5-3": (50.3, "Something-Something V2, ResNet-50, T=8, one ATR block"),
    "S5-3-sim": (47.1, "Something-Something V2, ResNet-50, T=8, ATR without the locator"),
    "S3-S5": (59.6, "the adding form; dataset and setting not stated in our sources"),
    "S3-S5-scale": (58.9, "the scaling form; dataset and setting not stated in our sources"),
}


def row_name(key: str) -> str:
    """A row's label with the paper's number beside it: ``"ATR at S5-3 [paper 50.3]"``."""
    label = ROWS[key][0]
    return f"{label} [paper {PAPER[key][0]}]" if key in PAPER else label


def atr_rows(values: Sequence[str] | None = None) -> list[str]:
    """Row keys of ``values`` (table names and row keys; default the paper's four tables),
    each once, in the order given."""
    keys: list[str] = []
    for v in values or PAPER_TABLES:
        if v in TABLES:
            keys += TABLES[v]
        elif v in ROWS:
            keys.append(v)
        else:
            raise ValueError(f"ATR sweep value {v!r} is unknown; known: tables "
                             f"{', '.join(TABLES)}; rows {', '.join(ROWS)}")
    return list(dict.fromkeys(keys))


def atr_variants(values: Sequence[str] | None = None, current_arch: str = "") -> list[Variant]:
    """The :class:`~tagnet.train.variants.Variant` s of ATR's tables (module docstring).

    Every row states the options it sets, ``stages`` included, so a row means the same
    whatever the config's ``model.kwargs`` hold.
    """
    out = []
    for key in atr_rows(values):
        options = dict(ROWS[key][1])
        if current_arch.startswith("atr_"):
            overrides = [f"model.kwargs.{k}={json.dumps(v)}" for k, v in options.items()]
        else:
            options["stages"] = [TINY_BLOCK.get(s, s) for s in options["stages"]]
            kwargs = {"backbone_kwargs": TINY_BACKBONE, **options}
            overrides = ["model.arch=atr_r2plus1d_tiny", f"model.kwargs={json.dumps(kwargs)}"]
        out.append(Variant(row_name(key), overrides))
    return out


__all__ = ["PAPER", "PAPER_TABLES", "ROWS", "TABLES", "TINY_BACKBONE", "TINY_BLOCK",
           "atr_rows", "atr_variants", "row_name"]
