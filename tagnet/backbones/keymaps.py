"""Explicit key maps from public checkpoint layouts to tagnet's backbone keys.

tagnet's ResNet-style trunks all use torchvision's ``VideoResNet`` names::

    stem.0 (conv), stem.1 (bn)
    layer{s}.{i}.conv1.0 / conv1.1   first conv and its BN       (pytorchvideo conv_a / norm_a)
    layer{s}.{i}.conv2.0 / conv2.1   spatial (or depthwise) conv (conv_b / norm_b)
    layer{s}.{i}.conv3.0 / conv3.1   expanding 1x1x1 conv         (conv_c / norm_c)
    layer{s}.{i}.downsample.0 / .1   shortcut conv and BN         (branch1_conv / branch1_norm)

torchvision's video checkpoints, the IG-65M R(2+1)D ports and the VMZ ir-CSN
port already use these names (their ``fc.*`` is dropped). pytorchvideo's
Kinetics checkpoints (``model_state`` of ``SLOW_8x8_R50.pyth``,
``I3D_8x8_R50.pyth``, ``CSN_32x2_R101.pyth``) name the same tensors
``blocks.{b}.res_blocks.{i}.branch2.conv_a`` and so on; :func:`pytorchvideo_resnet`
builds the map, given which ``blocks`` index holds each stage (I3D has a pooling
block after stage 1, so its stages sit at 1, 3, 4, 5).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from torch import Tensor

Rule = tuple[str, str]


class KeyMap:
    """Ordered regular-expression rules from a checkpoint layout's keys to tagnet's.

    Each key is matched against ``rules`` in order; the first match is rewritten
    with :func:`re.sub` (``\\1`` back-references work). Keys matching a ``drop``
    pattern are discarded (classifier heads). A ``module.`` prefix (DataParallel)
    is stripped first. A key that no rule matches raises ``KeyError`` naming it.

    Args:
        name (str): the layout's name, used in error messages.
        rules (sequence of (pattern, replacement)): the key rewrites.
        drop (sequence of str): patterns of keys to discard.

    Example:
        >>> km = KeyMap("demo", [(r"^blocks\\.0\\.conv\\.", "stem.0.")], drop=[r"^head\\."])
        >>> sorted(km({"blocks.0.conv.weight": 1, "head.bias": 2}))
        ['stem.0.weight']
    """

    def __init__(self, name: str, rules: Sequence[Rule], drop: Sequence[str] = ()) -> None:
        self.name = name
        self.rules = [(re.compile(p), r) for p, r in rules]
        self.drop = [re.compile(p) for p in drop]

    def map_key(self, key: str) -> str | None:
        """The tagnet key of ``key`` (``None`` when dropped); raises if no rule matches."""
        key = key.removeprefix("module.")
        if any(p.search(key) for p in self.drop):
            return None
        for pattern, repl in self.rules:
            if pattern.search(key):
                return pattern.sub(repl, key, count=1)
        raise KeyError(key)

    def __call__(self, state: dict[str, Tensor]) -> dict[str, Tensor]:
        out, unknown = {}, []
        for key, value in state.items():
            try:
                new = self.map_key(key)
            except KeyError:
                unknown.append(key)
                continue
            if new is not None:
                if new in out:
                    raise KeyError(
                        f"{self.name} key map sends two keys to {new!r} (one is {key!r})")
                out[new] = value
        if unknown:
            more = f" ... (+{len(unknown) - 6} more)" if len(unknown) > 6 else ""
            raise KeyError(
                f"{len(unknown)} key(s) are not part of the {self.name} layout: "
                f"{', '.join(unknown[:6])}{more}"
            )
        return out

    def __repr__(self) -> str:
        return f"KeyMap({self.name!r}, {len(self.rules)} rules, drop={len(self.drop)})"


#: torchvision ``VideoResNet`` state dicts (and the IG-65M / VMZ ports): drop ``fc``.
TORCHVISION_VIDEO = KeyMap(
    "torchvision VideoResNet",
    [(r"^(stem|layer[1-4])\.", r"\1.")],
    drop=[r"^fc\."],
)

_BRANCH = {"branch1_conv": "downsample.0", "branch1_norm": "downsample.1",
           "branch2.conv_a": "conv1.0", "branch2.norm_a": "conv1.1",
           "branch2.conv_b": "conv2.0", "branch2.norm_b": "conv2.1",
           "branch2.conv_c": "conv3.0", "branch2.norm_c": "conv3.1"}


def pytorchvideo_resnet(stage_blocks: Sequence[int] = (1, 2, 3, 4), head_block: int = 5,
                        name: str = "pytorchvideo ResNet") -> KeyMap:
    """The key map of a pytorchvideo ``create_resnet`` / ``create_csn`` checkpoint.

    Args:
        stage_blocks: the ``blocks`` index of stages 1-4 (``(1, 3, 4, 5)`` for I3D).
        head_block: the ``blocks`` index of the classification head (dropped).
        name: the layout's name for error messages.
    """
    rules: list[Rule] = [(r"^blocks\.0\.conv\.", "stem.0."), (r"^blocks\.0\.norm\.", "stem.1.")]
    for stage, block in enumerate(stage_blocks, start=1):
        for src, dst in _BRANCH.items():
            rules.append((rf"^blocks\.{block}\.res_blocks\.(\d+)\.{re.escape(src)}\.",
                          rf"layer{stage}.\1.{dst}."))
    return KeyMap(name, rules, drop=[rf"^blocks\.{head_block}\.(proj|pool|dropout)\b"])


def detect_layout(state: dict[str, Tensor], layouts: dict[str, KeyMap]) -> str:
    """Name of the layout that maps the most of the checkpoint's keys (ties: the first)."""

    def score(keymap: KeyMap) -> int:
        n = 0
        for key in state:
            try:
                keymap.map_key(key)
            except KeyError:
                continue
            n += 1
        return n

    scores = {name: score(keymap) for name, keymap in layouts.items()}
    best = max(scores, key=scores.get)
    if scores[best] == 0:
        raise KeyError(
            f"no key of the checkpoint (first: {next(iter(state), None)!r}) belongs to a known "
            f"layout ({', '.join(layouts)}); is it a checkpoint of this backbone?"
        )
    return best


def convert_with(layouts: dict[str, KeyMap]) -> Callable[[dict[str, Tensor]], dict[str, Tensor]]:
    """A ``convert_state_dict`` that detects the layout among ``layouts`` and applies it.

    Keys outside the detected layout raise ``KeyError`` naming them.
    """

    def convert(state: dict[str, Tensor]) -> dict[str, Tensor]:
        return layouts[detect_layout(state, layouts)](state)

    return convert
