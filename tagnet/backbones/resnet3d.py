"""3D ResNet-50-style trunks (Slow, I3D, CSN) with torchvision's module names.

One bottleneck block covers the three families; they differ in the temporal
kernel of the first 1x1 convolution, the kernel and grouping of the middle one,
and where time is down-sampled:

.. code-block:: text

    x -> conv1 (k_t x 1 x 1, C -> C/4) -> BN -> ReLU          k_t = 1 or 3 per block
      -> conv2 (1x3x3 or depthwise 3x3x3, stride s) -> BN -> ReLU
      -> conv3 (1x1x1, C/4 -> 4 * C/4) -> BN --(+ shortcut)--> ReLU
    shortcut = x, or downsample (1x1x1 conv with stride s -> BN) when the shape changes

    trunk: stem (k x 7 x 7 /(1,2,2) -> BN -> ReLU -> maxpool 1x3x3 /(1,2,2))
           -> layer1 -> [pool2: maxpool 2x1x1 /(2,1,1), I3D only] -> layer2 -> layer3 -> layer4

The names (``stem.0``, ``layer2.0.conv1.0``, ``layer2.0.downsample.1``) are
torchvision's ``VideoResNet`` ones, so VMZ-style checkpoints load as they are and
pytorchvideo checkpoints through :func:`~tagnet.backbones.keymaps.pytorchvideo_resnet`.
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from .keymaps import TORCHVISION_VIDEO, convert_with, pytorchvideo_resnet
from .r2plus1d import VideoResNetTrunk


def _conv_bn(cin: int, cout: int, kernel, stride=1, groups: int = 1, eps: float = 1e-5,
             relu: bool = True) -> nn.Sequential:
    kernel = (kernel,) * 3 if isinstance(kernel, int) else tuple(kernel)
    layers = [nn.Conv3d(cin, cout, kernel, stride=stride, padding=tuple(k // 2 for k in kernel),
                        groups=groups, bias=False), nn.BatchNorm3d(cout, eps=eps)]
    return nn.Sequential(*layers, nn.ReLU(inplace=True)) if relu else nn.Sequential(*layers)


class Bottleneck3d(nn.Module):
    """A 3D bottleneck block with torchvision's names (``conv1``/``conv2``/``conv3``).

    Args:
        inplanes (int): input channels.
        planes (int): inner channels; the block outputs ``4 * planes``.
        temporal_kernel (int): temporal kernel of ``conv1`` (1, or 3 for "inflated" blocks).
        conv2_kernel (tuple): kernel of ``conv2``, ``(1, 3, 3)`` or ``(3, 3, 3)``.
        stride (tuple): ``conv2``'s and the shortcut's ``(t, h, w)`` stride.
        depthwise (bool): ``conv2`` is channel-separated (``groups = planes``), as in ir-CSN.
        bn_eps (float): BatchNorm epsilon.
    """

    expansion = 4
    last_norm = "conv3.1"  # where ATR-style plug-ins go (after the block's last BN)

    def __init__(self, inplanes: int, planes: int, *, temporal_kernel: int = 1,
                 conv2_kernel: tuple[int, int, int] = (1, 3, 3),
                 stride: tuple[int, int, int] = (1, 1, 1), depthwise: bool = False,
                 bn_eps: float = 1e-5) -> None:
        super().__init__()
        out = planes * self.expansion
        self.conv1 = _conv_bn(inplanes, planes, (temporal_kernel, 1, 1), eps=bn_eps)
        self.conv2 = _conv_bn(planes, planes, conv2_kernel, stride, planes if depthwise else 1,
                              bn_eps)
        self.conv3 = _conv_bn(planes, out, 1, eps=bn_eps, relu=False)
        self.downsample = None
        if tuple(stride) != (1, 1, 1) or inplanes != out:
            self.downsample = _conv_bn(inplanes, out, 1, stride, eps=bn_eps, relu=False)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(self.conv3(self.conv2(self.conv1(x))) + shortcut)


@dataclass(frozen=True)
class ResNet3dConfig:
    """The knobs of a ResNet-50-style video trunk.

    Args:
        depths: blocks per stage (``(3, 4, 6, 3)`` for depth 50).
        stem_kernel: the stem convolution's kernel, ``(k_t, 7, 7)``.
        temporal_kernels: per stage, ``conv1``'s temporal kernels, cycled over its blocks
            (I3D's ``(3, 1)`` alternates inflated and 1x1x1 blocks).
        conv2_kernel: kernel of every block's ``conv2``.
        temporal_strides: per stage, the temporal stride of its first block.
        depthwise: channel-separated ``conv2`` (ir-CSN).
        pool2: I3D's ``MaxPool3d((2, 1, 1))`` between stage 1 and stage 2.
        bn_eps: BatchNorm epsilon (1e-5 for pytorchvideo weights, 1e-3 for Caffe2 ports).
    """

    depths: tuple[int, int, int, int] = (3, 4, 6, 3)
    stem_kernel: tuple[int, int, int] = (1, 7, 7)
    temporal_kernels: tuple[tuple[int, ...], ...] = ((1,), (1,), (3,), (3,))
    conv2_kernel: tuple[int, int, int] = (1, 3, 3)
    temporal_strides: tuple[int, int, int, int] = (1, 1, 1, 1)
    depthwise: bool = False
    pool2: bool = False
    bn_eps: float = 1e-5
    width: int = 64


class ResNet3dTrunk(VideoResNetTrunk):
    """``stem -> layer1 -> (pool2) -> layer2 -> layer3 -> layer4`` for a :class:`ResNet3dConfig`.

    Output channels ``32 * width`` (2048). Accepts torchvision-named state dicts
    (VMZ ports) and pytorchvideo ``model_state`` dicts; the layout is detected
    from the keys, and a key outside it raises naming the key.

    Shapes:
        - input: ``(B, 3, T, H, W)``;
        - output: ``(B, 2048, T', H / 32, W / 32)`` (see :meth:`output_grid`).
    """

    def __init__(self, config: ResNet3dConfig) -> None:
        c, w = config, config.width
        stem = nn.Sequential(
            *_conv_bn(3, w, c.stem_kernel, (1, 2, 2), eps=c.bn_eps),
            nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)))
        layers, inplanes = [], w
        for i, (depth, kernels, ts) in enumerate(zip(c.depths, c.temporal_kernels,
                                                     c.temporal_strides, strict=True)):
            planes, ss = w * 2 ** i, 1 if i == 0 else 2
            blocks = []
            for j in range(depth):
                stride = (ts, ss, ss) if j == 0 else (1, 1, 1)
                blocks.append(Bottleneck3d(
                    inplanes, planes, temporal_kernel=kernels[j % len(kernels)],
                    conv2_kernel=c.conv2_kernel, stride=stride, depthwise=c.depthwise,
                    bn_eps=c.bn_eps))
                inplanes = planes * Bottleneck3d.expansion
            layers.append(nn.Sequential(*blocks))
        # (stride, ceil_mode) of each down-sampling step; pool2 has no padding: floor
        steps = [((1, 2, 2), True), ((1, 2, 2), True), ((c.temporal_strides[0], 1, 1), True)]
        if c.pool2:
            steps.append(((2, 1, 1), False))
        steps += [((t, 2, 2), True) for t in c.temporal_strides[1:]]
        super().__init__(stem, layers, inplanes, [s for s, _ in steps])
        self.stage_ceil_mode = tuple(ceil for _, ceil in steps)
        self.config = config
        self.pool2 = nn.MaxPool3d((2, 1, 1), stride=(2, 1, 1)) if c.pool2 else nn.Identity()
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """He (fan-out) init for convolutions, BatchNorm to identity, as torchvision does."""
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        x = self.pool2(self.layer1(self.stem(x)))
        return self.layer4(self.layer3(self.layer2(x)))

    def convert_state_dict(self, state: dict[str, Tensor]) -> dict[str, Tensor]:
        """Map a torchvision/VMZ-named or pytorchvideo checkpoint to this trunk's keys."""
        blocks = (1, 3, 4, 5) if self.config.pool2 else (1, 2, 3, 4)  # pytorchvideo's indices
        layouts = {"torchvision": TORCHVISION_VIDEO,
                   "pytorchvideo": pytorchvideo_resnet(blocks, blocks[-1] + 1)}
        return convert_with(layouts)(state)


def build_resnet3d(config: ResNet3dConfig, **overrides) -> ResNet3dTrunk:
    """A :class:`ResNet3dTrunk` from ``config`` with some fields replaced."""
    fields = set(ResNet3dConfig.__dataclass_fields__)
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(f"unknown option(s) {unknown}; valid: {', '.join(sorted(fields))}")
    return ResNet3dTrunk(ResNet3dConfig(**{**config.__dict__, **overrides}))


__all__ = ["Bottleneck3d", "ResNet3dConfig", "ResNet3dTrunk", "build_resnet3d"]
