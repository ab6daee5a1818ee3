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
Positions are stages, ATR's ``"S5-3"`` or block names (:func:`resolve_blocks`).

The frame-wise trunks (TSN's and TSM's :class:`~tagnet.backbones.frame_resnet.FrameResNet`)
live in :mod:`tagnet.backbones.frame_resnet`; ``FrameResNet`` is re-exported here.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm
from torchvision.models import resnet as tv2d
from torchvision.models import resnet50
from torchvision.models.video import resnet as tv3d

from tagnet.backbones import VideoBackbone, create_backbone
from tagnet.backbones.frame_resnet import FrameAware, FrameResNet, tsm_resnet
from tagnet.models.atr import ATRBlock
from tagnet.models.registry import register_model

_LAST_NORM = {tv2d.BasicBlock: "bn2", tv2d.Bottleneck: "bn3",
              tv3d.BasicBlock: "conv2.1", tv3d.Bottleneck: "conv3.1"}


class ATRAfterNorm(FrameAware):
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


def _paper_name(stage: int, block: int) -> str:
    """ATR's notation: ``S{i}-{j}``, stage ``i`` counting the stem as S1 (ResNet's conv{i}_x)."""
    return f"S{stage + 2}-{block + 1}"


def describe_blocks(model: nn.Module) -> list[str]:
    """Every residual block as ``"<name> (S<i>-<j>)"``, in network order."""
    return [f"{name} ({_paper_name(i, j)})" for i, stage in enumerate(find_residual_stages(model))
            for j, name in enumerate(stage)]


def resolve_blocks(model: nn.Module, where: int | str | Sequence[int | str] | None = None
                   ) -> list[str]:
    """The names of the residual blocks that ``where`` names, in network order.

    ``where`` is one item or a sequence of items, each

    - an ``int``: a residual stage, 1-based in network order (``4`` is ``layer4`` of a ResNet);
    - ``"S<i>"`` or ``"S<i>-<j>"``: ATR's notation, stages counted with the stem as S1, so
      ``"S5"`` is ``layer4`` and ``"S5-3"`` its third block, ``layer4.2``;
    - a module name: a block (``"layer4.2"``) or a stage (``"layer4"``).

    ``None`` gives the blocks of the last three stages (the paper's default). Unknown names
    raise, listing the model's blocks in both notations.

    Example:
        >>> from torchvision.models import resnet50
        >>> resolve_blocks(resnet50(), ["S5-3", "layer2.0", 1])
        ['layer1.0', 'layer1.1', 'layer1.2', 'layer2.0', 'layer4.2']
    """
    found = find_residual_stages(model)
    if not found:
        raise ValueError(f"{type(model).__name__} has no residual blocks that ATR knows "
                         "(torchvision BasicBlock/Bottleneck, a 'branch2' ResBlock, or a "
                         "block with a 'last_norm' attribute)")
    n, net = len(found), type(model).__name__
    if where is None:
        where = list(range(max(1, n - 2), n + 1))
    items = [where] if isinstance(where, (int, str)) else list(where)
    order = {name: i for i, name in enumerate(b for stage in found for b in stage)}
    prefixes = {stage[0].rpartition(".")[0]: stage for stage in found}
    known = (f"{net}'s blocks: {', '.join(describe_blocks(model))} (stages 1..{n}, or "
             f"S2..S{n + 1} counting the stem as S1)")
    chosen: set[str] = set()
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (int, str)):
            raise ValueError(f"ATR position {item!r} is neither a stage number nor a block "
                             f"name; {known}")
        if isinstance(item, int):
            if not 1 <= item <= n:
                raise ValueError(f"stages [{item}] do not exist: {net} has {n} residual "
                                 f"stages, numbered 1..{n}; {known}")
            chosen.update(found[item - 1])
            continue
        paper = re.fullmatch(r"[Ss](\d+)(?:-(\d+))?", item)
        if paper:
            stage = int(paper[1]) - 2
            if not 0 <= stage < n:
                raise ValueError(f"stage {item!r} does not exist (S1 is the stem); {known}")
            blocks = found[stage]
            if paper[2] is not None:
                j = int(paper[2]) - 1
                if not 0 <= j < len(blocks):
                    raise ValueError(f"block {item!r} does not exist: S{stage + 2} has "
                                     f"{len(blocks)} block(s); {known}")
                blocks = [blocks[j]]
            chosen.update(blocks)
        elif item in order:
            chosen.add(item)
        elif item in prefixes:
            chosen.update(prefixes[item])
        else:
            raise ValueError(f"{item!r} is not a residual block or stage; {known}")
    return sorted(chosen, key=order.__getitem__)


def insert_atr(model: nn.Module, stages: int | str | Sequence[int | str] | None = None, *,
               num_frames: int | None = None, **atr_kwargs) -> list[str]:
    """Put an :class:`~tagnet.models.atr.ATRBlock` after the last norm of residual blocks, in place.

    Args:
        model (nn.Module): a network holding residual blocks (see the module docstring).
        stages (optional): where, as :func:`resolve_blocks` reads it: stage numbers
            (``(2, 3, 4)`` is ``layer2``-``layer4`` of a ResNet), ATR's ``"S5"`` /
            ``"S5-3"``, or module names (``"layer4.2"``), mixed freely; default the last
            three stages. An empty sequence inserts nothing.
        num_frames (int, optional): the clip length, for 2D networks that fold time into
            the batch (:class:`FrameResNet` sets it itself).
        **atr_kwargs: :class:`~tagnet.models.atr.ATRBlock` options (reduction, k, ...).

    Returns:
        The dotted names of the norms now followed by an ATR block.
    """
    if stages is not None and not isinstance(stages, (int, str)) and len(stages) == 0:
        ATRBlock(8, **atr_kwargs)  # still check the options
        return []
    names = []  # check every block first, so an error leaves the model untouched
    for block_name in resolve_blocks(model, stages):
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


class ATRNet(nn.Module):
    """A backbone with ATR blocks inside and a plain average-pool + linear classifier.

    Offers the :class:`~tagnet.models.tagnet.TAGNet` interface (``forward_features``,
    ``forward_head``, ``reset_classifier``), so trainers and tools treat both alike. Without
    ATR blocks it is the plain baseline (``tsm_r50``, ``stages=()``).

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

    def run_record(self) -> dict:
        """What a run record stores about this model's ATR blocks (``{}`` without any).

        ``{"atr": {"blocks": [residual-block names], "options": {...}}}``: the options
        (:meth:`~tagnet.models.atr.ATRBlock.options`: the distribution form, reasoner, widths,
        ...) when every block shares them, else ``"options_per_block"``, so a reported number
        says which form produced it.
        """
        found = [(name, m.atr.options()) for name, m in self.backbone.named_modules()
                 if isinstance(m, ATRAfterNorm)]
        if not found:
            return {}
        blocks = [b for stage in find_residual_stages(self.backbone) for b in stage]
        names = [next(b for b in blocks if name.startswith(b + ".")) for name, _ in found]
        options = [opt for _, opt in found]
        for opt in options:  # the width depends on the block; the switches do not
            opt.pop("hidden")
        shared = all(o == options[0] for o in options)
        key, value = ("options", options[0]) if shared else ("options_per_block", options)
        return {"atr": {"blocks": names, key: value}}

    @torch.no_grad()
    def explain_atr(self, video: Tensor) -> tuple[Tensor, dict[str, dict]]:
        """Logits and, per ATR block, :meth:`~tagnet.models.atr.ATRBlock.explain` on its input.

        Keys are the blocks' residual-block names (``"layer2.0"``); run in eval mode for
        BatchNorm's running statistics.
        """
        blocks = [b for stage in find_residual_stages(self.backbone) for b in stage]
        names = {m.atr: next(b for b in blocks if name.startswith(b + "."))
                 for name, m in self.backbone.named_modules() if isinstance(m, ATRAfterNorm)}
        records: dict[str, dict] = {}
        hooks = [atr.register_forward_pre_hook(
            lambda mod, args: records.__setitem__(names[mod], mod.explain(*args)))
            for atr in names]
        try:
            logits = self(video)
        finally:
            for h in hooks:
                h.remove()
        return logits, {name: records[name] for name in names.values()}


_OPTIONS = dict(num_classes=400, num_frames=32, img_size=112, backbone_weights=None,
                backbone_kwargs=None, stages=None, reduction=16, k=1, num_reasoners=2,
                distribution="add", locator=None, reasoner=None, ear_taps=None,
                locator_cues=None, aggregation=None, distribution_map=None,
                reasoner_widths=None, zero_init=True, min_channels=8, drop_rate=0.0)
_ATR_OPTIONS = ("reduction", "k", "num_reasoners", "distribution", "locator", "reasoner",
                "ear_taps", "locator_cues", "aggregation", "distribution_map",
                "reasoner_widths", "zero_init", "min_channels")


def build_atr_model(backbone: str | VideoBackbone, **kwargs) -> ATRNet:
    """An :class:`ATRNet` on a registered backbone (by name) or a backbone module.

    Keyword arguments (defaults): num_classes (400), num_frames (32), img_size (112),
    backbone_weights (a local checkpoint, loaded before the insertion), backbone_kwargs,
    stages (None: the last three; see :func:`resolve_blocks` for ``"S5-3"``,
    ``"layer4.2"``), drop_rate (0), and the :class:`~tagnet.models.atr.ATRBlock` options:
    reduction (16), k (1), num_reasoners (2; ``n_reasoners`` is accepted too),
    distribution ("add"), locator (None: built when the map is used; False is ATR-sim),
    reasoner ("efficient"), ear_taps ("shared"), locator_cues ("both"), aggregation
    ("action"), distribution_map ("action"), reasoner_widths ("bottleneck"), zero_init
    (True), min_channels (8).

    Example:
        >>> import torch
        >>> model = build_atr_model("r2plus1d_tiny", num_classes=10, num_frames=8)
        >>> len(model.atr_blocks()), model(torch.randn(2, 3, 8, 32, 32)).shape
        (3, torch.Size([2, 10]))
    """
    if "n_reasoners" in kwargs:  # the option's former name (saved configs)
        n = kwargs.pop("n_reasoners")
        if kwargs.get("num_reasoners", n) != n:
            raise ValueError(f"n_reasoners={n} and num_reasoners={kwargs['num_reasoners']} "
                             "disagree; n_reasoners is the old name, give num_reasoners only")
        kwargs["num_reasoners"] = n
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


@register_model("atr_tsm_r50")
def atr_tsm_r50(**kwargs) -> ATRNet:
    """TSM: ResNet-50 frame by frame with the temporal shift, ATR in layers 2-4 (13 blocks).

    ``backbone_weights`` is a torchvision ResNet-50 (ImageNet) state dict file (the shift
    has no parameters); ``backbone_kwargs`` go to ``torchvision.models.resnet50``, except
    ``shift_div`` (8: 1/8 of the channels move each way).
    """
    extra = dict(kwargs.pop("backbone_kwargs", None) or {})
    shift_div = extra.pop("shift_div", 8)
    return build_atr_model(tsm_resnet(resnet50(weights=None, **extra), shift_div), **kwargs)


@register_model("tsm_r50")
def tsm_r50(**kwargs) -> ATRNet:
    """The plain TSM-ResNet-50 baseline of ``atr_tsm_r50``: the same model without ATR blocks."""
    atr = sorted(set(kwargs) & {"stages", "n_reasoners", *_ATR_OPTIONS})
    if atr:
        raise ValueError(f"tsm_r50 is the TSM baseline without ATR blocks, so {atr} have "
                         "nothing to set; use atr_tsm_r50")
    return atr_tsm_r50(stages=(), **kwargs)


__all__ = ["ATRAfterNorm", "ATRNet", "FrameResNet", "build_atr_model", "describe_blocks",
           "find_residual_stages", "insert_atr", "last_norm_name", "resolve_blocks"]
