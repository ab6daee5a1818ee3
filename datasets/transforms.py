"""Video transforms on top of ``torchvision.transforms.v2``.

Input: uint8 frames ``(T, H, W, 3)`` as :func:`read_clip` returns them (or ``(K, T, H, W, 3)``
for several clips). Output: normalised float ``(3, T, S, S)`` (``(K, 3, T, S, S)``), the layout
3D backbones take. Random parameters are drawn once per call, so every frame of a clip gets
the same crop and flip. Randomness comes from torch's global generator: ``torch.manual_seed``
makes a pipeline reproducible.

Pipelines::

    train "release"  RandomResizedCrop(112, scale=(0.5, 1), ratio=1) -> flip(0.5) -> normalise
    train "paper"    Resize(short side 126) -> RandomCrop(112) -> flip(0.5) -> normalise
    test             Resize(short side 128) -> CenterCrop(112) -> normalise
    test views       Resize(short side 128) -> num_crops crops along the long side
                     (MultiCropTransform; 1 crop = test's centre crop) -> normalise

Normalisation defaults to the release's, mean 0.45 and std 0.225 for every channel; a
model's backbone may expect others (``tagnet.backbones.pretrained``), which the
training and evaluation code pass as ``mean`` / ``std``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchvision import tv_tensors
from torchvision.transforms import v2

MEAN = (0.45, 0.45, 0.45)
STD = (0.225, 0.225, 0.225)
TRAIN_KINDS = ("release", "paper")


class ToVideo(nn.Module):
    """``(..., T, H, W, 3)`` uint8 tensor or array -> ``tv_tensors.Video`` ``(..., T, 3, H, W)``."""

    def forward(self, frames) -> tv_tensors.Video:
        x = torch.as_tensor(frames)
        if x.ndim < 4 or x.shape[-1] != 3:
            raise ValueError(f"expected frames (..., T, H, W, 3), got shape {tuple(x.shape)}")
        return tv_tensors.Video(x.movedim(-1, -3))


class ToCTHW(nn.Module):
    """``(..., T, C, H, W)`` -> plain tensor ``(..., C, T, H, W)`` (the backbone layout)."""

    def forward(self, video: Tensor) -> Tensor:
        return video.as_subclass(Tensor).movedim(-3, -4).contiguous()


def _tail(mean, std) -> list[nn.Module]:
    return [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std)), ToCTHW()]


def train_transform(
    kind: str = "release",
    size: int = 112,
    *,
    scale: tuple[float, float] = (0.5, 1.0),
    resize: int = 126,
    flip: float = 0.5,
    mean: tuple[float, ...] = MEAN,
    std: tuple[float, ...] = STD,
) -> v2.Compose:
    """Training augmentation.

    Args:
        kind (str, optional): ``"release"`` (what produced the reported numbers: random
            resized crop, square, area ``scale``) or ``"paper"`` (the text: short side
            ``resize``, random crop). (default: ``"release"``)
        size (int, optional): output side. (default: ``112``)
        scale (tuple, optional): crop area range for ``"release"``. (default: ``(0.5, 1.0)``)
        resize (int, optional): short side before cropping for ``"paper"``. (default: ``126``)
        flip (float, optional): horizontal flip probability. (default: ``0.5``)
        mean (tuple, optional): per-channel mean. (default: ``0.45``)
        std (tuple, optional): per-channel std. (default: ``0.225``)

    Returns:
        v2.Compose: frames ``(T, H, W, 3)`` uint8 -> ``(3, T, size, size)`` float.
    """
    if kind == "release":
        crop = [v2.RandomResizedCrop(size, scale=scale, ratio=(1.0, 1.0), antialias=True)]
    elif kind == "paper":
        crop = [v2.Resize(resize, antialias=True), v2.RandomCrop(size)]
    else:
        raise ValueError(f"train transform {kind!r} is unknown; known: {', '.join(TRAIN_KINDS)}")
    return v2.Compose([ToVideo(), *crop, v2.RandomHorizontalFlip(flip), *_tail(mean, std)])


def test_transform(
    size: int = 112,
    *,
    resize: int | None = 128,
    mean: tuple[float, ...] = MEAN,
    std: tuple[float, ...] = STD,
) -> v2.Compose:
    """Evaluation transform: short side ``resize`` (skipped if ``None`` or already there),
    centre crop ``size``, normalise.

    Returns:
        v2.Compose: frames ``(T, H, W, 3)`` uint8 -> ``(3, T, size, size)`` float.
    """
    resize_ = [v2.Resize(resize, antialias=True)] if resize else []
    return v2.Compose([ToVideo(), *resize_, v2.CenterCrop(size), *_tail(mean, std)])


test_transform.__test__ = False  # not a pytest test, despite the name


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
        x = v2.functional.resize(x, [self.resize], antialias=True)
        H, W = x.shape[-2:]
        crops = []
        for off in crop_offsets(max(H, W), self.size, self.num_crops):
            top, left = (off, int(round((W - self.size) / 2.0))) if H > W else \
                (int(round((H - self.size) / 2.0)), off)
            crops.append(x[..., top:top + self.size, left:left + self.size])
        x = torch.stack(crops, 1)  # (K*T, crops, 3, S, S)
        x = v2.functional.normalize(x.float().div(255), self.mean, self.std)
        x = x.view(K, T, self.num_crops, 3, self.size, self.size)
        x = x.permute(0, 2, 3, 1, 4, 5).flatten(0, 1)  # (K*crops, 3, T, S, S)
        return x[0] if single and self.num_crops == 1 else x.contiguous()

    def extra_repr(self) -> str:
        return f"size={self.size}, resize={self.resize}, num_crops={self.num_crops}"
