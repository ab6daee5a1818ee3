"""Video backbones: a registry of builders mapping ``(B, 3, T, H, W)`` to ``(B, C, T', H', W')``.

Registered: ``r2plus1d_18``, ``r2plus1d_34`` (IG-65M layout), ``r2plus1d_tiny``,
``r3d_18``, ``mc3_18``, ``slow_r50``, ``i3d_r50``, ``csn_r101``, ``ir_csn_152`` and
``features`` (precomputed token grids). Weights come from local files only.
"""
from . import csn, framewise, i3d, slow, torchvision_video  # noqa: F401  (registers the builders)
from .base import VideoBackbone, check_state_dict
from .features import FeatureBackbone
from .freeze import freeze_backbone, freeze_bn_stats, freeze_module, unfreeze, unfreeze_bn_stats
from .keymaps import TORCHVISION_VIDEO, KeyMap, pytorchvideo_resnet
from .r2plus1d import VideoResNetTrunk
from .registry import BACKBONES, create_backbone, list_backbones, register_backbone
from .resnet3d import Bottleneck3d, ResNet3dConfig, ResNet3dTrunk
from .token_shards import TokenShardDataset, TokenShardWriter, extract_tokens

__all__ = [
    "VideoBackbone", "VideoResNetTrunk", "ResNet3dTrunk", "ResNet3dConfig", "Bottleneck3d",
    "FeatureBackbone", "create_backbone", "list_backbones", "register_backbone",
    "check_state_dict", "BACKBONES", "KeyMap", "TORCHVISION_VIDEO",
    "pytorchvideo_resnet", "freeze_backbone", "freeze_bn_stats", "unfreeze_bn_stats",
    "freeze_module", "unfreeze", "TokenShardWriter", "TokenShardDataset", "extract_tokens",
]
