"""Model definitions: TAG-Head, its parts, TAGNet, ATR, and building models by name.

============  ==============================================================================
module        holds
============  ==============================================================================
positional    :class:`SpaceTimePositionalEncoding`: one learned vector per (t, p) token
readouts      clip readouts: mean (released), attention, max, per-frame then temporal
head          :class:`TAGHead`: encoder -> clip graph -> propagation -> readout -> classifier
tagnet        :class:`TAGNet` = video backbone + head
atr           :class:`ATRBlock`, the comparison plug-in (ARL + EAR)
atr_models    ATR inserted into TSN / TSM / SlowOnly trunks (registers ``atr_*`` models)
presets       the authors' released per-dataset configurations
registry      the model registry (``register_model``); families register on first look-up
factory       ``create_model``, ``build_model`` (from a config), ``load_run``,
              ``model_from_weights``
============  ==============================================================================

Dependencies run down this table and into :mod:`tagnet.propagation`, :mod:`tagnet.backbones`,
:mod:`tagnet.graphs` and :mod:`tagnet.weights`; nothing here imports training, evaluation or
the commands. Names are imported on first use, so ``import tagnet.models.head`` does not
build the factory's registries.
"""
from importlib import import_module

_EXPORTS = {
    "SpaceTimePositionalEncoding": "positional", "resolve_readout": "readouts",
    "list_readouts": "readouts", "TAGHead": "head", "ABLATIONS": "head", "TAGNet": "tagnet",
    "ATRBlock": "atr", "ATRNet": "atr_models", "build_atr_model": "atr_models",
    "insert_atr": "atr_models", "PRESETS": "presets", "list_presets": "presets",
    "register_model": "registry", "create_model": "factory", "list_models": "factory",
    "build_tagnet": "factory", "build_model": "factory", "load_run": "factory",
    "model_from_weights": "factory",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
