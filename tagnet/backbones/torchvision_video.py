"""torchvision's R3D-18 and MC3-18 as token-grid trunks (no pool, no fc).

Both come from torchvision's own builders (``weights=None``: tagnet never
downloads), so torchvision's Kinetics-400 state dicts (``r3d_18-b3b3357e.pth``,
``mc3_18-a90a0ba3.pth``) load with ``weights="path.pth"`` after their ``fc.*`` is
dropped.

.. code-block:: text

    r3d_18: stem 3x7x7 /(1,2,2) -> layer1 -> layer2-4 3x3x3 /(2,2,2) : 512 x T/8 x H/16 x W/16
    mc3_18: stem 3x7x7 /(1,2,2) -> layer1 -> layer2-4 1x3x3 /(1,2,2) : 512 x T   x H/16 x W/16

MC3 ("mixed convolutions") keeps 3D convolutions in layer1 only; its later
layers are 2D, so it never down-samples time and its grid keeps every frame.
"""
from __future__ import annotations

from torchvision.models.video import mc3_18, r3d_18

from .r2plus1d import VideoResNetTrunk
from .registry import register_backbone

_MC3_STRIDES = ((1, 2, 2), (1, 1, 1), (1, 2, 2), (1, 2, 2), (1, 2, 2))


@register_backbone("r3d_18")
def r3d_18_trunk(**kwargs) -> VideoResNetTrunk:
    """torchvision's R3D-18 (33.2 M parameters without fc): channels 512, stride 8x16x16."""
    return VideoResNetTrunk.from_video_resnet(r3d_18(weights=None, **kwargs))


@register_backbone("mc3_18")
def mc3_18_trunk(**kwargs) -> VideoResNetTrunk:
    """torchvision's MC3-18 (11.5 M parameters without fc): channels 512, stride 1x16x16."""
    return VideoResNetTrunk.from_video_resnet(mc3_18(weights=None, **kwargs), _MC3_STRIDES)
