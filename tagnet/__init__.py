"""tagnet: TAG-Head (Time-Aligned Graph Head) for fine-grained video action recognition.

Example:
    >>> import torch, tagnet
    >>> model = tagnet.create_model("tag_r2plus1d_tiny", num_classes=10, num_frames=16)
    >>> model(torch.randn(2, 3, 16, 112, 112)).shape
    torch.Size([2, 10])
"""
__version__ = "0.1.0"

import warnings

# torch_geometric 2.8 calls torch.jit.script at import, which torch 2.14 deprecates; the
# warning is about PyG, not about anything a tagnet user can change.
warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated",
                        category=FutureWarning)

from tagnet.atr import ATRBlock
from tagnet.atr_models import ATRNet, build_atr_model, insert_atr  # registers atr_* models
from tagnet.backbones import create_backbone, freeze_backbone, list_backbones
from tagnet.complexity import complexity_report, count_macs, count_parameters
from tagnet.convert import convert_official_state_dict
from tagnet.factory import build_tagnet, create_model, list_models, register_model
from tagnet.functional import propagate
from tagnet.head import ABLATIONS, TAGHead
from tagnet.model import TAGNet
from tagnet.positional import SpaceTimePositionalEncoding
from tagnet.presets import PRESETS, list_presets
from tagnet.propagation import GraphPropagation

__all__ = [
    "__version__", "create_model", "list_models", "register_model", "build_tagnet", "TAGNet",
    "TAGHead", "ABLATIONS", "GraphPropagation", "SpaceTimePositionalEncoding",
    "convert_official_state_dict", "create_backbone", "list_backbones", "PRESETS",
    "list_presets", "ATRBlock", "ATRNet", "build_atr_model", "insert_atr", "complexity_report",
    "count_macs", "count_parameters", "freeze_backbone", "propagate",
]
