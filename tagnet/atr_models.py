"""ATR inside ResNets: insertion after residual blocks' last BatchNorm, and the ``atr_*`` models.

.. code-block:: text

    residual block:  x -> conv ... conv -> BN_last -> [ATRBlock] -> (+ shortcut(x)) -> ReLU
    ATRNet:          clip (B, 3, T, H, W) -> backbone with ATR blocks -> (B, C, T', H', W')
                       -> mean over T', H', W' (B, C) = forward_features
                       -> dropout -> Linear (B, classes) = forward_head

Residual blocks are found by structure: torchvision's 2D and video ``BasicBlock`` /
``Bottleneck``, pytorchvideo-style ``ResBlock`` s (a ``branch2`` holding the residual branch;
its last BatchNorm is used, never the ``branch1`` shortcut's), and any module that exposes its
last norm as a ``last_norm`` attribute (the module itself or its dotted name). A stage is a
module whose children are residual blocks (``layer1`` ... ``layer4``, ``res_blocks``).
"""
from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm
from torchvision.models import resnet as tv2d
from torchvision.models import resnet50
from torchvision.models.video import resnet as tv3d

from tagnet.atr import ATRBlock
from tagnet.backbones import VideoBackbone, create_backbone
from tagnet.factory import register_model

_LAST_NORM = {tv2d.BasicBlock: "bn2", tv2d.Bottleneck: "bn3",
              tv3d.BasicBlock: "conv2.1", tv3d.Bottleneck: "conv3.1"}


class ATRAfterNorm(nn.Module):
    """``norm -> ATRBlock``, put in place of a residual block's last norm.

    ``num_frames`` is the clip length a 2D network folds into its batch (``None`` for 3D
    networks, whose features keep their time axis); :class:`FrameResNet` sets it per call.
    """

    def __init__(self, norm: nn.Module, atr: ATRBlock, num_frames: int | None = None) -> None:
        super().__init__()
        self.norm, self.atr, self.num_frames = norm, atr, num_frames

    def forward(self, x: Tensor) -> Tensor:
        x = self.norm(x)
        return self.atr(x, self.num_frames) if x.dim() == 4 else self.atr(x)


def last_norm_name(block: nn.Module) -> str | None:
    """Dotted name of a residual block's last norm inside ``block``; ``None`` if not a block."""
    last = getattr(block, "last_norm", None)
    if isinstance(last, str):
        return last
    if isinstance(last, nn.Module):
        return next((n for n, m in block.named_modules() if m is last), None)
    for cls, name in _LAST_NORM.items():
        if isinstance(block, cls):
            return name
    branch = getattr(block, "branch2", None)
    if isinstance(branch, nn.Module):
        names = [n for n, m in branch.named_modules() if isinstance(m, _BatchNorm)]
        return f"branch2.{names[-1]}" if names else None
    return None


def find_residual_stages(model: nn.Module) -> list[list[str]]:
    """Residual blocks of ``model`` grouped by stage: ``[[block names of stage 1], ...]``."""
    stages: dict[str, list[str]] = {}

    def visit(module: nn.Module, prefix: str) -> None:
        for name, child in module.named_children():
            path = f"{prefix}.{name}" if prefix else name
            if last_norm_name(child) is not None:
                stages.setdefault(prefix, []).append(path)
            else:
                visit(child, path)

    visit(model, "")
    return list(stages.values())


def insert_atr(model: nn.Module, stages: Sequence[int] | None = None, *,
               num_frames: int | None = None, **atr_kwargs) -> list[str]:
    """Put an :class:`~tagnet.atr.ATRBlock` after the last norm of residual blocks, in place.

    Args:
        model (nn.Module): a network holding residual blocks (see the module docstring).
        stages (sequence of int, optional): 1-based stage numbers in network order
            (``(2, 3, 4)`` is ``layer2``-``layer4`` of a ResNet); default the last three.
        num_frames (int, optional): the clip length, for 2D networks that fold time into
            the batch (:class:`FrameResNet` sets it itself).
        **atr_kwargs: :class:`~tagnet.atr.ATRBlock` options (reduction, k, ...).

    Returns:
        The dotted names of the norms now followed by an ATR block.
    """
    found = find_residual_stages(model)
    if not found:
        raise ValueError(f"{type(model).__name__} has no residual blocks that ATR knows "
                         "(torchvision BasicBlock/Bottleneck, a 'branch2' ResBlock, or a "
                         "block with a 'last_norm' attribute)")
    stages = list(range(max(1, len(found) - 2), len(found) + 1)) if stages is None else stages
    bad = [s for s in stages if not 1 <= s <= len(found)]
    if bad:
        raise ValueError(f"stages {bad} do not exist: {type(model).__name__} has "
                         f"{len(found)} residual stages, numbered 1..{len(found)}")
    names = []  # check every block first, so an error leaves the model untouched
    for block_name in (b for s in sorted(set(stages)) for b in found[s - 1]):
        block = model.get_submodule(block_name)
        if any(isinstance(m, ATRAfterNorm) for m in block.modules()):
            raise ValueError(f"block {block_name!r} already holds an ATR block")
        name = f"{block_name}.{last_norm_name(block)}"
        if not hasattr(model.get_submodule(name), "num_features"):
            raise ValueError(f"{name!r} is a {type(model.get_submodule(name)).__name__}, not a "
                             "norm layer with num_features; point the block's last_norm at "
                             "its BatchNorm")
        names.append(name)
    for name in names:
        norm = model.get_submodule(name)
        atr = ATRBlock(norm.num_features, **atr_kwargs)
        model.set_submodule(name, ATRAfterNorm(norm, atr, num_frames))
    return names


class FrameResNet(VideoBackbone):
    """A 2D torchvision ResNet run frame by frame (TSN style): time is folded into the batch.

    ``(B, 3, T, H, W) -> (B*T, 3, H, W) -> ResNet without pool and fc -> (B, C, T, H/32, W/32)``.
    Before each call it tells its :class:`ATRAfterNorm` blocks the clip length ``T``.
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
            if isinstance(m, ATRAfterNorm):
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


class ATRNet(nn.Module):
    """A backbone with ATR blocks inside and a plain average-pool + linear classifier.

    Offers the :class:`~tagnet.model.TAGNet` interface (``forward_features``,
    ``forward_head``, ``reset_classifier``), so trainers and tools treat both alike.

    Args:
        backbone (VideoBackbone): maps ``(B, 3, T, H, W)`` to ``(B, C, T', H', W')``.
        num_classes (int): classes (0 gives an identity classifier).
        num_frames (int), img_size (int): the nominal input (pooling is global, so any works).
        drop_rate (float): dropout before the classifier (0).
    """

    def __init__(self, backbone: VideoBackbone, num_classes: int, num_frames: int = 32,
                 img_size: int = 112, drop_rate: float = 0.0) -> None:
        super().__init__()
        self.backbone = backbone
        self.num_classes, self.num_frames, self.img_size = num_classes, num_frames, img_size
        self.head_drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(backbone.out_channels, num_classes) if num_classes > 0 \
            else nn.Identity()
        self.config: dict = {}  # the create_model arguments, filled by the factory

    def forward_features(self, video: Tensor) -> Tensor:
        """Clip features ``(B, C)``: the backbone's map averaged over time and space."""
        if video.dim() != 5 or video.size(1) != 3:
            raise ValueError(f"expected video clips of shape (B, 3, T, H, W), got "
                             f"{tuple(video.shape)}")
        return self.backbone(video).mean(dim=(2, 3, 4))

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = self.head_drop(x)
        return x if pre_logits else self.fc(x)

    def forward(self, video: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(video))

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.fc = nn.Linear(self.backbone.out_channels, num_classes) if num_classes > 0 \
            else nn.Identity()

    def resize_grid(self, num_frames: int, img_size: int) -> None:
        """Record another input size (nothing depends on it: pooling is global)."""
        self.num_frames, self.img_size = num_frames, img_size

    def atr_blocks(self) -> list[ATRBlock]:
        """The inserted ATR blocks, in network order."""
        return [m for m in self.modules() if isinstance(m, ATRBlock)]


_OPTIONS = dict(num_classes=400, num_frames=32, img_size=112, backbone_weights=None,
                backbone_kwargs=None, stages=None, reduction=16, k=1, n_reasoners=2,
                distribution="add", locator=True, zero_init=True, min_channels=8,
                drop_rate=0.0)
_ATR_OPTIONS = ("reduction", "k", "n_reasoners", "distribution", "locator", "zero_init",
                "min_channels")


def build_atr_model(backbone: str | VideoBackbone, **kwargs) -> ATRNet:
    """An :class:`ATRNet` on a registered backbone (by name) or a backbone module.

    Keyword arguments (defaults): num_classes (400), num_frames (32), img_size (112),
    backbone_weights (a local checkpoint, loaded before the insertion), backbone_kwargs,
    stages (None: the last three), reduction (16), k (1), n_reasoners (2),
    distribution ("add"), locator (True; False is ATR-sim), zero_init (True),
    min_channels (8) (see :class:`~tagnet.atr.ATRBlock`), drop_rate (0).

    Example:
        >>> import torch
        >>> model = build_atr_model("r2plus1d_tiny", num_classes=10, num_frames=8)
        >>> len(model.atr_blocks()), model(torch.randn(2, 3, 8, 32, 32)).shape
        (3, torch.Size([2, 10]))
    """
    unknown = sorted(set(kwargs) - set(_OPTIONS))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for an ATR model; valid: "
                         f"{', '.join(_OPTIONS)}")
    o = {**_OPTIONS, **{k: v for k, v in kwargs.items() if v is not None}}
    if isinstance(backbone, str):
        trunk = create_backbone(backbone, weights=o["backbone_weights"],
                                **(o["backbone_kwargs"] or {}))
    else:
        if o["backbone_kwargs"]:
            raise ValueError("backbone_kwargs needs a backbone name, not a built module")
        trunk = backbone
        if o["backbone_weights"] is not None:
            trunk.load_weights(o["backbone_weights"])
    insert_atr(trunk, o["stages"], **{key: o[key] for key in _ATR_OPTIONS})
    return ATRNet(trunk, o["num_classes"], o["num_frames"], o["img_size"], o["drop_rate"])


@register_model("atr_r2plus1d_18")
def atr_r2plus1d_18(**kwargs) -> ATRNet:
    """torchvision's R(2+1)D-18 with ATR in every block of layers 2-4 (6 blocks)."""
    return build_atr_model("r2plus1d_18", **kwargs)


@register_model("atr_r2plus1d_tiny")
def atr_r2plus1d_tiny(**kwargs) -> ATRNet:
    """The tiny R(2+1)D with ATR in layers 2-4 (3 blocks), for CPU demos and tests."""
    return build_atr_model("r2plus1d_tiny", **kwargs)


@register_model("atr_slow_r50")
def atr_slow_r50(**kwargs) -> ATRNet:
    """The Slow pathway of SlowFast R50 with ATR in every block of its last three stages."""
    return build_atr_model("slow_r50", **kwargs)


@register_model("atr_tsn_r50")
def atr_tsn_r50(**kwargs) -> ATRNet:
    """TSN: torchvision's ResNet-50 frame by frame, ATR in every block of layers 2-4 (13).

    ``backbone_weights`` is a torchvision ResNet-50 (ImageNet) state dict file;
    ``backbone_kwargs`` go to ``torchvision.models.resnet50``.
    """
    extra = kwargs.pop("backbone_kwargs", None) or {}
    return build_atr_model(FrameResNet(resnet50(weights=None, **extra)), **kwargs)
