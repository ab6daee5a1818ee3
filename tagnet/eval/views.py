"""Multi-crop test transform: several spatial crops of every clip.

.. code-block:: text

    frames (T, H, W, 3) or (K, T, H, W, 3) uint8      K clips from multi-clip sampling
      -> resize short side to `resize`
      -> `num_crops` crops S x S spread along the long side (left, centre, right)
      -> normalise -> (K * num_crops, 3, T, S, S)       views, clip-major

With ``num_crops=1`` the crop is the centre crop of
:func:`tagnet.datasets.transforms.test_transform`, and a single clip gives
``(3, T, S, S)`` like it, so the model sees exactly the single-view input.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torchvision.transforms.v2 import functional as TF

MEAN = (0.45, 0.45, 0.45)
STD = (0.225, 0.225, 0.225)


def crop_offsets(length: int, size: int, num_crops: int) -> list[int]:
    """Start offsets of ``num_crops`` windows of ``size`` spread evenly over ``length``;
    a single crop is centred the way torchvision's ``CenterCrop`` centres it."""
    if size > length:
        raise ValueError(f"crop size {size} exceeds the frame side {length}")
    if num_crops == 1:
        return [int(round((length - size) / 2.0))]
    return [int(round(i * (length - size) / (num_crops - 1))) for i in range(num_crops)]


class MultiCropTransform(nn.Module):
    """Test-time views: ``num_crops`` spatial crops per clip (see module docstring).

    Args:
        size (int): crop side ``S`` (112).
        resize (int): short side before cropping (128, the release's).
        num_crops (int): crops per clip (3: left/top, centre, right/bottom).
        mean, std (tuple): per-channel normalisation (the release's 0.45 / 0.225).
    """

    def __init__(self, size: int = 112, resize: int = 128, num_crops: int = 3,
                 mean: tuple = MEAN, std: tuple = STD) -> None:
        super().__init__()
        self.size, self.resize, self.num_crops = size, resize, num_crops
        self.mean, self.std = list(mean), list(std)

    def forward(self, frames) -> Tensor:
        x = torch.as_tensor(frames)
        single = x.dim() == 4
        if single:
            x = x[None]
        if x.dim() != 5 or x.size(-1) != 3:
            raise ValueError(f"expected frames (T, H, W, 3) or (K, T, H, W, 3), "
                             f"got {tuple(x.shape)}")
        K, T = x.shape[:2]
        x = x.flatten(0, 1).permute(0, 3, 1, 2)  # (K*T, 3, H, W)
        x = TF.resize(x, [self.resize], antialias=True)
        H, W = x.shape[-2:]
        crops = []
        for off in crop_offsets(max(H, W), self.size, self.num_crops):
            top, left = (off, int(round((W - self.size) / 2.0))) if H > W else \
                (int(round((H - self.size) / 2.0)), off)
            crops.append(x[..., top:top + self.size, left:left + self.size])
        x = torch.stack(crops, 1)  # (K*T, crops, 3, S, S)
        x = TF.normalize(x.float().div(255), self.mean, self.std)
        x = x.view(K, T, self.num_crops, 3, self.size, self.size)
        x = x.permute(0, 2, 3, 1, 4, 5).flatten(0, 1)  # (K*crops, 3, T, S, S)
        return x[0] if single and self.num_crops == 1 else x.contiguous()

    def extra_repr(self) -> str:
        return f"size={self.size}, resize={self.resize}, num_crops={self.num_crops}"


__all__ = ["MultiCropTransform", "crop_offsets"]
