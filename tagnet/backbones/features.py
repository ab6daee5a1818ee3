"""The ``features`` backbone: precomputed token grids in, the same grids out.

Running a 3D backbone dominates TAG-Head's cost (about 150 of 153 GMACs). When
the backbone stays frozen (the paper's transfer-learning setting, or topology
experiments on a CPU), extract its token grids once with ``tagnet extract`` and
train only the head on them, many times:

.. code-block:: text

    tagnet extract: clip (3, T, H, W) --backbone--> grid (C, T', H', W') --> shards + clip ids
    training:       grid (B, C, T', H', W') --features (identity)--> TAG-Head --> logits

``FeatureBackbone`` declares the channels and strides of the backbone the grids
came from, so ``output_grid(num_frames, size)`` and hence the head's grid are the
same as with the real backbone, and a head trained on features loads into the
full model (and back).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .base import VideoBackbone
from .registry import BACKBONES, register_backbone


class FeatureBackbone(VideoBackbone):
    """Identity on ``(B, C, T', H', W')`` token grids made by another backbone.

    Args:
        channels (int): token channels ``C`` (512).
        stage_strides (sequence of (t, h, w)): the source backbone's strides
            (default one stage of ``(8, 16, 16)``, R(2+1)D's geometry).
        stage_ceil_mode (sequence of bool, optional): the source's rounding per stage.
        source (str, optional): the source backbone's name, for messages.

    Shapes:
        - input: ``(B, C, T', H', W')`` token grids; output: the same tensor.
    """

    def __init__(self, channels: int = 512,
                 stage_strides: Sequence[tuple[int, int, int]] = ((8, 16, 16),),
                 stage_ceil_mode: Sequence[bool] | None = None,
                 source: str | None = None) -> None:
        super().__init__()
        self.out_channels = self.in_channels = int(channels)
        self.stage_strides = tuple(tuple(int(v) for v in s) for s in stage_strides)
        self.stage_ceil_mode = None if stage_ceil_mode is None else tuple(stage_ceil_mode)
        self.source = source

    @classmethod
    def like(cls, backbone: VideoBackbone, source: str | None = None) -> FeatureBackbone:
        """A features backbone with ``backbone``'s channels and strides."""
        return cls(backbone.out_channels, backbone.stage_strides, backbone.stage_ceil_mode,
                   source or type(backbone).__name__)

    def check_input(self, x: Tensor) -> None:
        if x.dim() != 5 or x.size(1) != self.out_channels:
            raise ValueError(
                f"the features backbone expects token grids of shape (B, {self.out_channels}, "
                f"T', H', W') (made by {self.source or 'a backbone'}), got {tuple(x.shape)}; "
                "feed the output of `tagnet extract`, or build the model on the real backbone "
                "to run on video clips"
            )

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        return x

    def extra_repr(self) -> str:
        return f"channels={self.out_channels}, stride={self.stride}, source={self.source!r}"


@register_backbone("features")
def features(*, source: str | None = None, channels: int | None = None,
             stride: Sequence[int] | None = None, **source_kwargs) -> FeatureBackbone:
    """The ``features`` backbone, shaped like backbone ``source`` or like ``channels``/``stride``.

    With ``source`` (e.g. ``"r2plus1d_34"``) the channels and strides are read from
    that backbone built on the meta device (no memory, no weights); otherwise
    ``channels`` (512) and one overall ``stride`` (``(8, 16, 16)``) are used.
    """
    if source is not None:
        if channels is not None or stride is not None:
            raise ValueError("give either source=... or channels/stride for the features "
                             f"backbone, not both (source={source!r})")
        if source == "features":
            raise ValueError("the features backbone's source must be a real backbone")
        with torch.device("meta"):
            real = BACKBONES.get(source)(**source_kwargs)
        return FeatureBackbone.like(real, source)
    if source_kwargs:
        raise ValueError(f"unknown option(s) {sorted(source_kwargs)} for the features backbone; "
                         "valid: source, channels, stride (and the source's own options)")
    stride = (8, 16, 16) if stride is None else tuple(stride)
    return FeatureBackbone(channels or 512, (stride,))
