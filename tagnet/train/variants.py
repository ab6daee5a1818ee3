"""A variant: one row of an experiment, a name and the config overrides that define it.

Sweeps (:mod:`tagnet.train.sweeps`, :mod:`tagnet.train.atr_sweeps`) make lists of them and
:mod:`tagnet.train.experiment` trains them; this module imports neither, so the three stay
free of import circles.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

from tagnet.config import Config


@dataclass
class Variant:
    """One row of an experiment: a name and the config overrides that define it."""

    name: str
    overrides: list[str] = field(default_factory=list)


def variant_config(base: Config, variant: Variant, seed: int, output: Path) -> Config:
    cfg = copy.deepcopy(base)
    cfg.override(variant.overrides)
    cfg.seed, cfg.name = seed, variant.name
    cfg.output_dir = str(output)
    return cfg


__all__ = ["Variant", "variant_config"]
