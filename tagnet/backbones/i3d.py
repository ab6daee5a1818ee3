"""I3D R50: an inflated 3D ResNet-50 (Carreira and Zisserman, CVPR 2017; ResNet form).

Temporal kernels: a 5x7x7 stem, ``conv1`` of 3x1x1 in every block of stage 1,
alternating 3x1x1 / 1x1x1 in stages 2-3 and 1x1x1 / 3x1x1 in stage 4, and a
``MaxPool3d((2, 1, 1))`` after stage 1 that halves time (rounding down: 8 input
frames give a 4x7x7 grid at 224, 9 frames too). pytorchvideo's Kinetics-400
checkpoint ``I3D_8x8_R50.pyth`` (73.27 % top-1) loads with
``weights="I3D_8x8_R50.pyth"``; its stages sit at ``blocks.1, 3, 4, 5`` (block 2
is the pooling) and its head ``blocks.6.proj`` is dropped.
"""
from __future__ import annotations

from .registry import register_backbone
from .resnet3d import ResNet3dConfig, ResNet3dTrunk, build_resnet3d

I3D_R50 = ResNet3dConfig(
    depths=(3, 4, 6, 3), stem_kernel=(5, 7, 7), temporal_kernels=((3,), (3, 1), (3, 1), (1, 3)),
    conv2_kernel=(1, 3, 3), temporal_strides=(1, 1, 1, 1), pool2=True)


@register_backbone("i3d_r50")
def i3d_r50(**overrides) -> ResNet3dTrunk:
    """I3D R50 (27.2 M parameters without the head): channels 2048, stride 2x32x32.

    ``overrides`` replace :class:`~tagnet.backbones.resnet3d.ResNet3dConfig` fields;
    the pytorchvideo weights need the defaults.
    """
    return build_resnet3d(I3D_R50, **overrides)
