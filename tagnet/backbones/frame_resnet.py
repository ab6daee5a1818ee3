r"""2D ResNets run frame by frame: TSN (no temporal modelling) and TSM (temporal shift).

.. code-block:: text

    clip (B, 3, T, H, W) -> frames (B*T, 3, H, W) -> ResNet without pool and fc
      -> (B*T, C, H/32, W/32) -> (B, C, T, H/32, W/32)

    TSM residual block:  x -> shift(x) -> conv1 -> ... -> BN_last -> (+ x) -> ReLU

TSM (Lin et al., ICCV 2019) moves ``1/shift_div`` of the channels one frame back in time
and another ``1/shift_div`` one frame forward, inside the residual branch before its first
convolution (the shortcut sees the unshifted features); with ``shift_div = 8`` a quarter of
the channels move. The shift is zero-padded at the clip's ends and costs no multiply-adds.
A frame-wise network folds time into the batch, so modules that need the clip length
(:class:`FrameAware`: the shift, ATR blocks) are told ``T`` by :class:`FrameResNet` before
every call.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torchvision.models import resnet as tv2d

from .base import VideoBackbone


class FrameAware(nn.Module):
    """A module inside a frame-wise network that needs the clip length ``num_frames``."""

    num_frames: int | None = None


def temporal_shift(x: Tensor, num_frames: int, shift_div: int = 8) -> Tensor:
    r"""TSM's shift of a clip folded into the batch, ``(B*T, C, H, W)`` (clip-major).

    With :math:`f = \lfloor C / \text{shift\_div} \rfloor`, frame ``t`` of the output takes
    channels :math:`[0, f)` from frame ``t + 1``, channels :math:`[f, 2f)` from frame
    ``t - 1`` (zeros beyond the clip) and the other channels from frame ``t``.
    """
    if num_frames is None or x.size(0) % num_frames:
        raise ValueError(f"temporal_shift of a {tuple(x.shape)} input needs num_frames=T "
                         f"dividing {x.size(0)}, got {num_frames}")
    fold = x.size(1) // shift_div
    v = x.view(-1, num_frames, *x.shape[1:])  # (B, T, C, H, W)
    out = torch.zeros_like(v)
    out[:, :-1, :fold] = v[:, 1:, :fold]  # from the next frame
    out[:, 1:, fold:2 * fold] = v[:, :-1, fold:2 * fold]  # from the previous frame
    out[:, :, 2 * fold:] = v[:, :, 2 * fold:]
    return out.view_as(x)


class ShiftConv2d(nn.Conv2d, FrameAware):
    """A ``Conv2d`` that applies :func:`temporal_shift` to its input first.

    Its parameters are the convolution's (``weight``, ``bias``), so a torchvision ResNet's
    state dict loads unchanged into a network whose ``conv1`` s became ``ShiftConv2d`` s.
    """

    def __init__(self, *args, shift_div: int = 8, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.shift_div, self.num_frames = shift_div, None

    @classmethod
    def from_conv(cls, conv: nn.Conv2d, shift_div: int = 8) -> ShiftConv2d:
        """The same convolution (sharing its parameters) with the shift in front."""
        new = cls(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                  conv.padding, conv.dilation, conv.groups, conv.bias is not None,
                  conv.padding_mode, shift_div=shift_div, device="meta")
        new.weight, new.bias = conv.weight, conv.bias
        return new

    def forward(self, x: Tensor) -> Tensor:
        return self._conv_forward(temporal_shift(x, self.num_frames, self.shift_div),
                                  self.weight, self.bias)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", shift_div={self.shift_div}"


class FrameResNet(VideoBackbone):
    """A 2D torchvision ResNet run frame by frame (TSN style): time is folded into the batch.

    ``(B, 3, T, H, W) -> (B*T, 3, H, W) -> ResNet without pool and fc -> (B, C, T, H/32, W/32)``.
    Before each call it tells its :class:`FrameAware` modules the clip length ``T``.
    """

    stage_strides = ((1, 2, 2), (1, 2, 2), (1, 1, 1), (1, 2, 2), (1, 2, 2), (1, 2, 2))
    stage_names = ("stem", "layer1", "layer2", "layer3", "layer4")

    def __init__(self, resnet: tv2d.ResNet) -> None:
        super().__init__()
        self.stem = nn.Sequential(resnet.conv1, resnet.bn1, resnet.relu, resnet.maxpool)
        self.layer1, self.layer2 = resnet.layer1, resnet.layer2
        self.layer3, self.layer4 = resnet.layer3, resnet.layer4
        self.out_channels = resnet.fc.in_features

    def forward(self, x: Tensor) -> Tensor:
        B, _, T = x.shape[:3]
        for m in self.modules():
            if isinstance(m, FrameAware):
                m.num_frames = T
        x = x.transpose(1, 2).flatten(0, 1)  # (B*T, 3, H, W)
        x = self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))
        return x.view(B, T, *x.shape[1:]).transpose(1, 2)  # (B, C, T, h, w)

    def convert_state_dict(self, state: dict[str, Tensor]) -> dict[str, Tensor]:
        """Accept a torchvision ResNet state dict: stem keys renamed, ``fc.*`` dropped."""
        stem = {"conv1.": "stem.0.", "bn1.": "stem.1."}
        out = {}
        for key, value in state.items():
            if key.startswith("fc."):
                continue
            for old, new in stem.items():
                key = new + key[len(old):] if key.startswith(old) else key
            out[key] = value
        return out


def add_temporal_shift(resnet: tv2d.ResNet, shift_div: int = 8) -> tv2d.ResNet:
    """Put the shift before ``conv1`` of every residual block of ``resnet``, in place."""
    if not isinstance(shift_div, int) or shift_div < 2:
        raise ValueError(f"shift_div must be an integer >= 2 (1/shift_div of the channels "
                         f"move each way), got {shift_div!r}")
    for layer in (resnet.layer1, resnet.layer2, resnet.layer3, resnet.layer4):
        for block in layer:
            block.conv1 = ShiftConv2d.from_conv(block.conv1, shift_div)
    return resnet


def tsm_resnet(resnet: tv2d.ResNet, shift_div: int = 8) -> FrameResNet:
    """TSM: ``resnet`` frame by frame with the residual temporal shift in every block."""
    return FrameResNet(add_temporal_shift(resnet, shift_div))


__all__ = ["FrameAware", "FrameResNet", "ShiftConv2d", "temporal_shift", "add_temporal_shift",
           "tsm_resnet"]
