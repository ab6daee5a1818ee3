"""``framewise_tiny``: a frozen, randomly initialised per-frame 2D CNN (temporal kernel 1).

The backbone of the benchmark with headroom (:mod:`tagnet.train.headroom`). Every
convolution has temporal kernel 1 and temporal stride 1, so the token of frame
``t`` depends on frame ``t`` alone: with mean pooling and no encoder (Table 4's
row B), two clips made of the same frames in another order get identical pooled
features, so B is at chance between them by construction.

.. code-block:: text

    clip (B, 3, T, S, S) -> 3 x [Conv3d(kernel (1,3,3), stride (1,2,2)) + ReLU]
      -> tokens (B, 64, T, S/8, S/8)

Its weights come from a fixed seed (``seed``), not from training: the benchmark
trains only heads on its cached tokens, so every run sees the same features.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .base import VideoBackbone
from .registry import register_backbone


class FramewiseCNN(VideoBackbone):
    """Per-frame 2D CNN written with ``Conv3d(kernel (1, 3, 3))``.

    Args:
        widths (sequence of int): channels of the stages (``(16, 32, 64)``).
        seed (int): seed of the (Kaiming-uniform) initial weights (0).

    Shapes:
        - input: ``(B, 3, T, H, W)``; output ``(B, widths[-1], T, ceil(H/8), ceil(W/8))``
          for three stages.
    """

    def __init__(self, widths=(16, 32, 64), seed: int = 0) -> None:
        super().__init__()
        layers, c = [], 3
        for w in widths:
            layers += [nn.Conv3d(c, w, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
                       nn.ReLU(inplace=True)]
            c = w
        self.features = nn.Sequential(*layers)
        self.out_channels = c
        self.stage_strides = ((1, 2, 2),) * len(widths)
        self.stage_names = ("features",)
        if self.features[0].weight.device.type != "meta":
            g = torch.Generator().manual_seed(seed)
            for m in self.features:
                if isinstance(m, nn.Conv3d):
                    bound = (6 / (m.in_channels * 9)) ** 0.5  # Kaiming uniform for ReLU
                    with torch.no_grad():
                        m.weight.copy_(torch.rand(m.weight.shape, generator=g) * 2 * bound
                                       - bound)
                        m.bias.zero_()

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        return self.features(x)


@register_backbone("framewise_tiny")
def framewise_tiny(*, widths=(16, 32, 64), seed: int = 0) -> FramewiseCNN:
    """The frozen frame-wise backbone of the headroom benchmark (64 channels, stride 1x8x8)."""
    return FramewiseCNN(tuple(widths), seed)
