"""Channel-Separated Networks: ir-CSN (Tran et al., ICCV 2019).

Bottleneck ResNets whose middle 3x3x3 convolution is depthwise
(``groups = channels``, the "interaction-reduced" variant); all channel mixing
happens in the 1x1x1 convolutions. Time and space are both down-sampled in
stages 2-4: stride 8x32x32, so 32 frames at 224 give a 4x7x7 grid.

* ``ir_csn_152`` (depth 152, 3/8/36/3 blocks) follows the VMZ PyTorch port
  (IG-65M / Sports-1M / Kinetics checkpoints such as
  ``irCSN_152_ig65m_from_scratch_f125286141.pth``): torchvision ``VideoResNet``
  names (``stem.0``, ``layer1.0.conv2.0``, ``fc``), BatchNorm ``eps = 1e-3``.
* ``csn_r101`` (depth 101, 3/4/23/3 blocks) follows pytorchvideo's Kinetics-400
  checkpoint ``CSN_32x2_R101.pyth`` (``blocks.*`` names, ``eps = 1e-5``), mapped
  by an explicit key map.

Both accept either layout; the keys decide.
"""
from __future__ import annotations

from .registry import register_backbone
from .resnet3d import ResNet3dConfig, ResNet3dTrunk, build_resnet3d

_CSN = dict(stem_kernel=(3, 7, 7), temporal_kernels=((1,),) * 4, conv2_kernel=(3, 3, 3),
            temporal_strides=(1, 2, 2, 2), depthwise=True)
IR_CSN_152 = ResNet3dConfig(depths=(3, 8, 36, 3), bn_eps=1e-3, **_CSN)
CSN_R101 = ResNet3dConfig(depths=(3, 4, 23, 3), bn_eps=1e-5, **_CSN)


@register_backbone("ir_csn_152")
def ir_csn_152(**overrides) -> ResNet3dTrunk:
    """ir-CSN-152 in the VMZ layout: channels 2048, stride 8x32x32."""
    return build_resnet3d(IR_CSN_152, **overrides)


@register_backbone("csn_r101")
def csn_r101(**overrides) -> ResNet3dTrunk:
    """ir-CSN-101 in pytorchvideo's layout (21.4 M parameters without the head)."""
    return build_resnet3d(CSN_R101, **overrides)
