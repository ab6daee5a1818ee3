"""The model registry: names -> builders, filled by model-family modules when they are imported.

Dependencies point one way, into this module::

    registry  <-  factory     (create_model; builds tag_<backbone> itself)
              <-  atr_models  (registers atr_*, tsm_r50 with @register_model)

A family module registers its builders with :func:`register_model` at import time and imports
nothing from :mod:`tagnet.models.factory`. :data:`MODEL_FAMILIES` lists the family modules by name
(an in-package stand-in for packaging entry points); :func:`load_model_families` imports them
once, on the first look-up, so ``import tagnet`` stays lazy and neither the registry nor the
factory imports a family's code at module level. A package of your own adds its family with
:func:`register_model_family`.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable

from torch import nn

from tagnet.graphs import Registry

MODELS: Registry[Callable[..., nn.Module]] = Registry("model")

#: Modules whose import registers model builders (imported by :func:`load_model_families`).
MODEL_FAMILIES: list[str] = ["tagnet.models.atr_models"]
_loaded: set[str] = set()


def register_model(name: str | None = None):
    """Decorator registering a model builder ``fn(**kwargs) -> nn.Module`` under ``name``."""
    return MODELS.decorator(name)


def register_model_family(module: str) -> None:
    """Add a module (dotted name) whose import registers models; imported on the next look-up."""
    if module not in MODEL_FAMILIES:
        MODEL_FAMILIES.append(module)


def load_model_families() -> None:
    """Import every module of :data:`MODEL_FAMILIES` not imported yet."""
    for module in list(MODEL_FAMILIES):
        if module not in _loaded:
            importlib.import_module(module)
            _loaded.add(module)


__all__ = ["MODELS", "MODEL_FAMILIES", "register_model", "register_model_family",
           "load_model_families"]
