"""``create_model``: ``tag_<backbone>`` archs plus the models of :mod:`tagnet.registry`.

``MODELS`` and ``register_model`` are re-exported from :mod:`tagnet.registry`, where model
families register themselves without importing this module.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable

from torch import nn

from tagnet.backbones import create_backbone, freeze_backbone, list_backbones
from tagnet.backbones.pretrained import model_input_config
from tagnet.head import ABLATIONS, TAGHead
from tagnet.model import TAGNet
from tagnet.presets import HEAD_PRESET_KEYS, PRESETS
from tagnet.registry import MODELS, load_model_families, register_model

_HEAD_OPTIONS = [p for p in inspect.signature(TAGHead).parameters
                 if p not in ("grid", "num_classes", "in_channels")]

#: The head's token width when the backbone is wider (ResNet-50 style trunks give 2048).
HEAD_WIDTH = 512


def build_tagnet(
    backbone: str,
    *,
    num_classes: int = 400,
    num_frames: int = 32,
    img_size: int = 112,
    backbone_weights: str | None = None,
    backbone_kwargs: dict | None = None,
    ablation: str | None = None,
    freeze: str | int | None = None,
    **head_kwargs,
) -> TAGNet:
    """A :class:`TAGNet` on a registered backbone; the head's grid follows the input size.

    Args:
        backbone (str): a name from :func:`tagnet.backbones.list_backbones`.
        num_classes (int): classes (400).
        num_frames (int), img_size (int): input clip size (32 x 112 x 112).
        backbone_weights (str, optional): a local checkpoint file for the backbone.
        backbone_kwargs (dict, optional): passed to the backbone builder.
        ablation (str, optional): a row of the paper's Table 4
            (``"B"``, ``"B+TE"``, ``"B+TE+IF-FC"``, ``"B+TE+TAT"``, ``"full"``).
        freeze (str or int, optional): ``"backbone"``, ``"bn"`` (BatchNorm statistics
            only) or ``n`` (all but the last ``n`` stages); see
            :func:`tagnet.backbones.freeze_backbone`.
        **head_kwargs: :class:`~tagnet.head.TAGHead` options (ffn_dim, topology, K, ...).

    A backbone wider than :data:`HEAD_WIDTH` (512; ResNet-50-style trunks give
    2048 channels) gets the head's learned input adapter, a ``Linear(C, 512)`` on
    every token (a 1x1x1 convolution), unless ``embed_dim`` says otherwise.
    Narrower backbones keep their width (the tiny CPU backbone stays tiny).
    With ``backbone="features"`` the model takes token grids instead of clips.
    """
    unknown = sorted(set(head_kwargs) - set(_HEAD_OPTIONS))
    if unknown:
        raise ValueError(
            f"unknown option(s) {unknown} for a TAG-Head model; valid: num_classes, num_frames, "
            f"img_size, backbone_weights, backbone_kwargs, ablation, freeze, "
            f"{', '.join(_HEAD_OPTIONS)}"
        )
    if ablation is not None:
        if ablation not in ABLATIONS:
            raise ValueError(f"ablation {ablation!r} is unknown; known: {', '.join(ABLATIONS)}")
        for key, value in ABLATIONS[ablation].items():
            if key in head_kwargs and head_kwargs[key] != value:
                raise ValueError(
                    f"ablation {ablation!r} sets {key}={value!r}, which conflicts with "
                    f"{key}={head_kwargs[key]!r}; drop one of them"
                )
        head_kwargs = {**head_kwargs, **ABLATIONS[ablation]}
    trunk = create_backbone(backbone, weights=backbone_weights, **(backbone_kwargs or {}))
    freeze_backbone(trunk, freeze)
    grid = trunk.output_grid(num_frames, img_size, img_size)
    if head_kwargs.get("embed_dim") is None and trunk.out_channels > HEAD_WIDTH:
        head_kwargs["embed_dim"] = HEAD_WIDTH
    head = TAGHead(grid, num_classes, in_channels=trunk.out_channels, **head_kwargs)
    return TAGNet(trunk, head, num_frames=num_frames, img_size=img_size)


def _builder(arch: str) -> Callable[..., nn.Module]:
    load_model_families()  # the other families (tagnet.registry.MODEL_FAMILIES)
    if arch in MODELS:
        return MODELS.get(arch)
    if arch.startswith("tag_") and arch[4:] in list_backbones():
        def build(**kwargs):
            return build_tagnet(arch[4:], **kwargs)
        return build
    raise ValueError(f"model {arch!r} is unknown; known: {', '.join(list_models())}")


def create_model(arch: str, *, preset: str | None = None, **overrides) -> nn.Module:
    """Build a model by name, optionally from a released per-dataset preset.

    ``tag_<backbone>`` exists for every registered backbone. A ``preset``
    (``"gym99"``, ``"gym288"``, ``"haa500"``) fixes classes, frames and FFN width
    exactly as the authors' released code; overriding one of those with another
    value raises (drop the preset instead). Other model families (``atr_*``) take
    the preset's classes and frames only. Overrides that are ``None`` are
    ignored, so a command line can pass every flag.

    Example:
        >>> model = create_model("tag_r2plus1d_34", preset="gym99")
        >>> model.head.grid, model.head.encoder.layers[0].linear1.out_features
        (TokenGrid(T=8, H=7, W=7), 1024)
    """
    overrides = {k: v for k, v in overrides.items() if v is not None}
    classes = overrides.get("num_classes", 0)
    if isinstance(classes, bool) or not isinstance(classes, int) or classes < 0:
        raise ValueError(f"num_classes must be an int >= 0 (0 builds a feature extractor without "
                         f"classifier), got {classes!r}")
    builder = _builder(arch)
    kwargs = dict(overrides)
    if preset is not None:
        if preset not in PRESETS:
            raise ValueError(f"preset {preset!r} is unknown; known: {', '.join(PRESETS)}")
        for key, value in PRESETS[preset].items():
            if key in overrides and overrides[key] != value:
                raise ValueError(
                    f"preset {preset!r} sets {key}={value!r} (the released configuration), "
                    f"which conflicts with {key}={overrides[key]!r}; drop the preset to change it"
                )
        values = PRESETS[preset]
        if not arch.startswith("tag_"):  # e.g. ATR models have no TAG-Head FFN
            values = {k: v for k, v in values.items() if k not in HEAD_PRESET_KEYS}
        kwargs = {**values, **overrides}
    model = builder(**kwargs)
    model.config = {"arch": arch, "preset": preset, **overrides}
    model.input_config = model_input_config(arch, preset)  # mean, std, size, weights source
    return model


def list_models() -> list[str]:
    """Registered model names, including ``tag_<backbone>`` for every backbone."""
    load_model_families()
    return sorted(set(MODELS.names()) | {f"tag_{b}" for b in list_backbones()})


__all__ = ["MODELS", "register_model", "build_tagnet", "create_model", "list_models",
           "HEAD_WIDTH"]
