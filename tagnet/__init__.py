"""tagnet: TAG-Head (Time-Aligned Graph Head) for fine-grained video action recognition.

Example:
    >>> import torch, tagnet
    >>> model = tagnet.create_model("tag_r2plus1d_tiny", num_classes=10, num_frames=16)
    >>> model(torch.randn(2, 3, 16, 112, 112)).shape
    torch.Size([2, 10])

The top-level names are imported on first use (PEP 562), so ``import tagnet.datasets`` or
``import tagnet.graphs`` does not pay for the model code, torchvision's model zoo and PyG's
neural-network modules.
"""
from __future__ import annotations

import importlib
import warnings
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# torch_geometric 2.8 calls torch.jit.script at import, which torch 2.14 deprecates; the
# warning is about PyG, not about anything a tagnet user can change.
warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated",
                        category=FutureWarning)

# public name -> defining module
_LAZY = {
    "ATRBlock": "tagnet.models.atr",
    "ATRNet": "tagnet.models.atr_models",
    "build_atr_model": "tagnet.models.atr_models",
    "insert_atr": "tagnet.models.atr_models",
    "create_backbone": "tagnet.backbones",
    "freeze_backbone": "tagnet.backbones",
    "list_backbones": "tagnet.backbones",
    "complexity_report": "tagnet.complexity",
    "count_macs": "tagnet.complexity",
    "count_parameters": "tagnet.complexity",
    "convert_official_state_dict": "tagnet.weights",
    "load_weights": "tagnet.weights",
    "build_tagnet": "tagnet.models.factory",
    "create_model": "tagnet.models.factory",
    "list_models": "tagnet.models.factory",
    "load_run": "tagnet.models.factory",
    "register_model": "tagnet.models.factory",
    "propagate": "tagnet.propagation.functional",
    "ABLATIONS": "tagnet.models.head",
    "TAGHead": "tagnet.models.head",
    "TAGNet": "tagnet.models.tagnet",
    "SpaceTimePositionalEncoding": "tagnet.models.positional",
    "PRESETS": "tagnet.models.presets",
    "list_presets": "tagnet.models.presets",
    "GraphPropagation": "tagnet.propagation",
}

__all__ = [
    "__version__", "create_model", "list_models", "load_run", "load_weights",
    "register_model", "build_tagnet", "TAGNet",
    "TAGHead", "ABLATIONS", "GraphPropagation", "SpaceTimePositionalEncoding",
    "convert_official_state_dict", "create_backbone", "list_backbones", "PRESETS",
    "list_presets", "ATRBlock", "ATRNet", "build_atr_model", "insert_atr", "complexity_report",
    "count_macs", "count_parameters", "freeze_backbone", "propagate",
]  # the names of _LAZY (a test checks)


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tagnet' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


if TYPE_CHECKING:  # what static analysers and IDEs see
    from tagnet.backbones import create_backbone, freeze_backbone, list_backbones
    from tagnet.complexity import complexity_report, count_macs, count_parameters
    from tagnet.models.atr import ATRBlock
    from tagnet.models.atr_models import ATRNet, build_atr_model, insert_atr
    from tagnet.models.factory import (
        build_tagnet,
        create_model,
        list_models,
        load_run,
        register_model,
    )
    from tagnet.models.head import ABLATIONS, TAGHead
    from tagnet.models.positional import SpaceTimePositionalEncoding
    from tagnet.models.presets import PRESETS, list_presets
    from tagnet.models.tagnet import TAGNet
    from tagnet.propagation import GraphPropagation
    from tagnet.propagation.functional import propagate
    from tagnet.weights import convert_official_state_dict, load_weights
