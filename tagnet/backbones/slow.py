"""Slow R50: the slow pathway of SlowFast R50 (Feichtenhofer et al., ICCV 2019).

A ResNet-50 whose stages 1-2 are 2D (``conv1`` 1x1x1) and stages 3-4 have
temporal ``conv1`` kernels of 3; it never down-samples time, so ``T`` input
frames give ``T`` token frames (8 frames at 224 give an 8x7x7 grid).
pytorchvideo's Kinetics-400 checkpoint ``SLOW_8x8_R50.pyth`` (74.58 % top-1)
loads with ``weights="SLOW_8x8_R50.pyth"``: its ``model_state`` keys
(``blocks.{1..4}.res_blocks.{i}.branch2.conv_a`` ...) go through an explicit
key map and its head ``blocks.5.proj`` is dropped.
"""
from __future__ import annotations

from .registry import register_backbone
from .resnet3d import ResNet3dConfig, ResNet3dTrunk, build_resnet3d

SLOW_R50 = ResNet3dConfig(
    depths=(3, 4, 6, 3), stem_kernel=(1, 7, 7), temporal_kernels=((1,), (1,), (3,), (3,)),
    conv2_kernel=(1, 3, 3), temporal_strides=(1, 1, 1, 1))


@register_backbone("slow_r50")
def slow_r50(**overrides) -> ResNet3dTrunk:
    """Slow R50 (31.6 M parameters without the head): channels 2048, stride 1x32x32.

    ``overrides`` replace :class:`~tagnet.backbones.resnet3d.ResNet3dConfig` fields
    (e.g. ``bn_eps``); the pytorchvideo weights need the defaults.
    """
    return build_resnet3d(SLOW_R50, **overrides)
