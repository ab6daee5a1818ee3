"""R(2+1)D trunks: torchvision's VideoResNet without pool and fc.

``r2plus1d_34`` follows the IG-65M checkpoints (Caffe2/VMZ layout), which
differ from torchvision's R(2+1)D in two ways:

* the second (2+1)D convolution of the first block of layers 2-4 has
  ``(planes * planes * 27) // (planes * 9 + 3 * planes)`` middle channels
  (288, 576, 1152), where torchvision reuses the first convolution's
  230 / 460 / 921;
* BatchNorm ``eps = 1e-3``.

The result has exactly 63,491,975 parameters (the paper's 63.492 M backbone).
"""
from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn
from torchvision.models.video.resnet import (
    BasicBlock,
    Conv2Plus1D,
    R2Plus1dStem,
    VideoResNet,
    r2plus1d_18,
)

from .base import VideoBackbone
from .keymaps import TORCHVISION_VIDEO
from .registry import register_backbone

_VIDEO_RESNET_STRIDES = ((1, 2, 2), (1, 1, 1), (2, 2, 2), (2, 2, 2), (2, 2, 2))


class VideoResNetTrunk(VideoBackbone):
    """``stem -> layer1 -> ... -> layer4`` of a torchvision-style VideoResNet.

    Module names match torchvision's, so torchvision video checkpoints (and the
    IG-65M ports, which use the same names) load after dropping ``fc.*``.

    Args:
        stem (nn.Module), layers (list of 4 nn.Module): the network.
        out_channels (int): channels of ``layer4``'s output.
        stage_strides (sequence of (t, h, w), optional): the down-sampling strides
            (default: R(2+1)D / R3D's ``(1,2,2), (1,1,1), (2,2,2) x 3``).
    """

    stage_strides = _VIDEO_RESNET_STRIDES
    stage_names = ("stem", "layer1", "layer2", "layer3", "layer4")

    def __init__(self, stem: nn.Module, layers: list[nn.Module], out_channels: int,
                 stage_strides: Sequence[tuple[int, int, int]] | None = None) -> None:
        super().__init__()
        self.stem = stem
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.out_channels = out_channels
        if stage_strides is not None:
            self.stage_strides = tuple(tuple(s) for s in stage_strides)

    @classmethod
    def from_video_resnet(cls, model: VideoResNet, stage_strides=None) -> VideoResNetTrunk:
        layers = [model.layer1, model.layer2, model.layer3, model.layer4]
        return cls(model.stem, layers, model.fc.in_features, stage_strides)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(x)
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def convert_state_dict(self, state: dict[str, Tensor]) -> dict[str, Tensor]:
        """Accept torchvision / IG-65M VideoResNet state dicts: ``fc.*`` is dropped."""
        return TORCHVISION_VIDEO(state)


@register_backbone("r2plus1d_18")
def r2plus1d_18_trunk(**kwargs) -> VideoResNetTrunk:
    """torchvision's R(2+1)D-18 (31.3 M parameters without fc), channels 512, stride 8x16x16."""
    return VideoResNetTrunk.from_video_resnet(r2plus1d_18(weights=None, **kwargs))


@register_backbone("r2plus1d_34")
def r2plus1d_34_trunk(*, bn_eps: float = 1e-3) -> VideoResNetTrunk:
    """R(2+1)D-34 in the IG-65M (Caffe2/VMZ) layout, as used by TAG-Head."""
    model = VideoResNet(BasicBlock, [Conv2Plus1D] * 4, [3, 4, 6, 3], R2Plus1dStem)
    for name, planes in (("layer2", 128), ("layer3", 256), ("layer4", 512)):
        midplanes = (planes * planes * 27) // (planes * 9 + 3 * planes)
        getattr(model, name)[0].conv2[0] = Conv2Plus1D(planes, planes, midplanes)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm3d):
            m.eps = bn_eps
    return VideoResNetTrunk.from_video_resnet(model)


@register_backbone("r2plus1d_tiny")
def r2plus1d_tiny_trunk(*, widths=(16, 32, 64, 128), stem_mid: int = 12) -> VideoResNetTrunk:
    """A small R(2+1)D (one BasicBlock per stage) for CPU demos and tests.

    Same strides as R(2+1)D-18; channels ``widths[-1]`` (128 by default).
    """
    stem = nn.Sequential(
        nn.Conv3d(3, stem_mid, (1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3), bias=False),
        nn.BatchNorm3d(stem_mid), nn.ReLU(inplace=True),
        nn.Conv3d(stem_mid, widths[0], (3, 1, 1), padding=(1, 0, 0), bias=False),
        nn.BatchNorm3d(widths[0]), nn.ReLU(inplace=True),
    )
    layers, inplanes = [], widths[0]
    for i, planes in enumerate(widths):
        stride = 1 if i == 0 else 2
        downsample = None
        if stride != 1 or inplanes != planes:
            downsample = nn.Sequential(
                nn.Conv3d(inplanes, planes, 1, stride=stride, bias=False), nn.BatchNorm3d(planes))
        layers.append(nn.Sequential(
            BasicBlock(inplanes, planes, Conv2Plus1D, stride=stride, downsample=downsample)))
        inplanes = planes
    return VideoResNetTrunk(stem, layers, widths[-1])
