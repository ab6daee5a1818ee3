"""Video backbones: a registry of builders mapping ``(B, 3, T, H, W)`` to ``(B, C, T', H', W')``."""
from .base import VideoBackbone, load_state_dict_file
from .r2plus1d import VideoResNetTrunk
from .registry import BACKBONES, create_backbone, list_backbones, register_backbone

__all__ = [
    "VideoBackbone", "VideoResNetTrunk", "create_backbone", "list_backbones",
    "register_backbone", "load_state_dict_file", "BACKBONES",
]
