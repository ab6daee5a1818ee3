"""``create_model``: ``tag_<backbone>`` archs plus the models of :mod:`tagnet.models.registry`.

``MODELS`` and ``register_model`` are re-exported from :mod:`tagnet.models.registry`, where model
families register themselves without importing this module.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import nn

from tagnet.backbones import create_backbone, freeze_backbone, list_backbones
from tagnet.backbones.pretrained import model_input_config
from tagnet.config import Config, load_config
from tagnet.models.head import ABLATIONS, GRAPH_ONLY, TAGHead, check_graph_only
from tagnet.models.presets import HEAD_PRESET_KEYS, PRESETS
from tagnet.models.registry import MODELS, load_model_families, register_model
from tagnet.models.tagnet import TAGNet
from tagnet.weights import (
    classifier_rows,
    load_checkpoint,
    load_state_dict_file,
    load_weights,
    unwrap_state_dict,
)

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
    graph_only: bool = False,
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
        graph_only (bool): make the clip graph the only path across time
            (:data:`~tagnet.models.head.GRAPH_ONLY`: a site-only positional code and encoder
            attention inside each frame; the readout must ignore the node order). A value of
            those keys given explicitly must agree, or raises.
        freeze (str or int, optional): ``"backbone"``, ``"bn"`` (BatchNorm statistics
            only) or ``n`` (all but the last ``n`` stages); see
            :func:`tagnet.backbones.freeze_backbone`.
        **head_kwargs: :class:`~tagnet.models.head.TAGHead` options (ffn_dim, topology, K, ...).

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
            f"img_size, backbone_weights, backbone_kwargs, ablation, graph_only, freeze, "
            f"{', '.join(_HEAD_OPTIONS)}"
        )
    if ablation is not None:
        if ablation not in ABLATIONS:
            raise ValueError(f"ablation {ablation!r} is unknown; known: {', '.join(ABLATIONS)}")
        head_kwargs = _with_fixed(f"ablation {ablation!r}", ABLATIONS[ablation], head_kwargs,
                                  "drop one of them")
    if graph_only:
        if ablation is not None:
            raise ValueError(f"graph_only=True and ablation={ablation!r} both set the head; the "
                             "rows of Table 4 are heads with a global encoder: drop one")
        # no positional code and no encoder attention at all are graph-only too
        head_kwargs = _with_fixed("graph_only=True", GRAPH_ONLY, head_kwargs, "drop one of them",
                                  also={"pos_embed": (False, "none"),
                                        "attention_topology": ("none",)})
        check_graph_only(head_kwargs)
    trunk = create_backbone(backbone, weights=backbone_weights, **(backbone_kwargs or {}))
    freeze_backbone(trunk, freeze)
    grid = trunk.output_grid(num_frames, img_size, img_size)
    if head_kwargs.get("embed_dim") is None and trunk.out_channels > HEAD_WIDTH:
        head_kwargs["embed_dim"] = HEAD_WIDTH
    head = TAGHead(grid, num_classes, in_channels=trunk.out_channels, **head_kwargs)
    return TAGNet(trunk, head, num_frames=num_frames, img_size=img_size)


def _with_fixed(source: str, fixed: dict, given: dict, hint: str, *, also: dict | None = None,
                what_it_is: str = "") -> dict:
    """``given`` completed with the values ``source`` fixes; a given value that contradicts one
    (other than the alternatives ``also[key]`` allows) raises, naming both and ``hint``."""
    also = also or {}
    for key, value in fixed.items():
        if key in given and given[key] != value and given[key] not in also.get(key, ()):
            raise ValueError(f"{source} sets {key}={value!r}{what_it_is}, which conflicts with "
                             f"{key}={given[key]!r}; {hint}")
    return {**fixed, **given}


def _builder(arch: str) -> Callable[..., nn.Module]:
    load_model_families()  # the other families (tagnet.models.registry.MODEL_FAMILIES)
    if arch in MODELS:
        return MODELS.get(arch)
    if arch.startswith("tag_") and arch[4:] in list_backbones():
        def build(**kwargs):
            return build_tagnet(arch[4:], **kwargs)
        return build
    raise ValueError(f"model {arch!r} is unknown; known: {', '.join(list_models())}")


def create_model(arch: str, *, preset: str | None = None, weights: str | Path | dict | None = None,
                 **overrides) -> nn.Module:
    """Build a model by name, optionally from a released per-dataset preset and with weights.

    ``tag_<backbone>`` exists for every registered backbone. A ``preset``
    (``"gym99"``, ``"gym288"``, ``"haa500"``) fixes classes, frames and FFN width
    exactly as the authors' released code; overriding one of those with another
    value raises (drop the preset instead). Other model families (``atr_*``) take
    the preset's classes and frames only. Overrides that are ``None`` are
    ignored, so a command line can pass every flag.

    ``weights`` (a local file or a state dict) is loaded strictly through
    :func:`tagnet.weights.load_weights`: tagnet's layout or the authors' release, plain or
    wrapped (``model_state_dict``, ``state_dict``, ``model_state``, ``model``), with
    DataParallel's ``module.`` prefix, ``.pth`` or ``.safetensors``; NaN/inf tensors are
    refused. Without ``num_classes`` or a preset, the classes are the file's classifier
    rows. The layout found is ``model.weights_layout``.

    Example:
        >>> model = create_model("tag_r2plus1d_34", preset="gym99")
        >>> model.head.grid, model.head.encoder.layers[0].linear1.out_features
        (TokenGrid(T=8, H=7, W=7), 1024)
        >>> model = create_model("tag_r2plus1d_34", preset="gym99",
        ...                      weights="gym99_best.pth")  # doctest: +SKIP
    """
    overrides = {k: v for k, v in overrides.items() if v is not None}
    state = None
    if weights is not None:
        state = unwrap_state_dict(weights, "the state dict") if isinstance(weights, dict) \
            else load_state_dict_file(weights)
        if "num_classes" not in overrides and preset is None:  # a preset fixes the classes
            rows = classifier_rows(state)
            if rows is not None:
                overrides["num_classes"] = rows
    classes = overrides.get("num_classes", 0)
    if isinstance(classes, bool) or not isinstance(classes, int) or classes < 0:
        raise ValueError(f"num_classes must be an int >= 0 (0 builds a feature extractor without "
                         f"classifier), got {classes!r}")
    builder = _builder(arch)
    kwargs = dict(overrides)
    if preset is not None:
        if preset not in PRESETS:
            raise ValueError(f"preset {preset!r} is unknown; known: {', '.join(PRESETS)}")
        _with_fixed(f"preset {preset!r}", PRESETS[preset], overrides,
                    "drop the preset to change it", what_it_is=" (the released configuration)")
        values = PRESETS[preset]
        if not arch.startswith("tag_"):  # e.g. ATR models have no TAG-Head FFN
            values = {k: v for k, v in values.items() if k not in HEAD_PRESET_KEYS}
        kwargs = {**values, **overrides}
    model = builder(**kwargs)
    model.config = {"arch": arch, "preset": preset, **overrides}
    model.input_config = model_input_config(arch, preset)  # mean, std, size, weights source
    if state is not None:
        source = "the state dict" if isinstance(weights, dict) else f"'{weights}'"
        model.weights_layout = load_weights(model, state, source=source)
    return model


def list_models() -> list[str]:
    """Registered model names, including ``tag_<backbone>`` for every backbone."""
    load_model_families()
    return sorted(set(MODELS.names()) | {f"tag_{b}" for b in list_backbones()})


# ------------------------------------------------------------------ configs, runs, weights
def build_model(cfg: Config, num_classes: int, *, load_weights: bool = True) -> nn.Module:
    """``create_model`` from the ``model`` and ``data`` sections of a config.

    The model is built for ``data.num_frames`` x ``data.img_size`` clips. With
    ``load_weights`` the backbone weights (``model.backbone_weights``) and full
    initial weights (``model.weights``: any layout :func:`tagnet.weights.load_weights`
    reads) are loaded from their local files. ``model.freeze`` is applied last.
    """
    m = cfg.model
    if m.num_classes is not None and m.num_classes != num_classes:
        raise ValueError(f"model.num_classes={m.num_classes} but the dataset has "
                         f"{num_classes} classes; drop model.num_classes to use the dataset's")
    model = create_model(
        m.arch, preset=m.preset, num_classes=num_classes, num_frames=cfg.data.num_frames,
        img_size=cfg.data.img_size,
        backbone_weights=m.backbone_weights if load_weights else None,
        weights=m.weights if load_weights and m.weights else None, **m.kwargs)
    apply_freeze(model, m.freeze)
    return model


def apply_freeze(model: nn.Module, mode: str | None) -> list[str]:
    """Freeze ``model.backbone`` as :func:`tagnet.backbones.freeze.freeze_backbone` says."""
    if mode in (None, "none"):
        return []
    backbone = getattr(model, "backbone", None)
    if backbone is None:
        raise ValueError(f"model.freeze={mode!r}, but {type(model).__name__} has no "
                         "'backbone' attribute to freeze")
    return freeze_backbone(backbone, mode)


def load_run(path: str | Path, *, device: str | torch.device = "cpu",
             checkpoint: str = "best.pth") -> nn.Module:
    """Rebuild the model of a ``tagnet train`` run and load its weights, in one call.

    ``path`` is a run folder (its ``best.pth``, else ``last.pth``; ``checkpoint`` picks
    another file name) or a checkpoint file. The model comes back in eval mode on
    ``device`` with ``model.class_names`` (list of str) and ``model.run_config`` (the
    run's :class:`~tagnet.config.Config`); weight files named in the config are not needed.

    Example:
        >>> model = tagnet.load_run("runs/gym99")  # doctest: +SKIP
        >>> model.class_names[:2], model.run_config.data.num_frames  # doctest: +SKIP
    """
    path = Path(path)
    if path.is_dir():
        chosen = path / checkpoint
        path = chosen if chosen.is_file() or checkpoint != "best.pth" else path / "last.pth"
    ckpt = load_checkpoint(path)
    cfg = Config.from_dict(ckpt["config"], where=f"checkpoint {path}")
    model = build_model(cfg, len(ckpt["class_names"]), load_weights=False)
    model.load_state_dict(ckpt["model"])
    model.class_names = list(ckpt["class_names"])
    model.run_config = cfg
    return model.to(device).eval()


def model_from_weights(weights: str | Path, *, arch: str | None = None,
                       preset: str | None = None, config: str | None = None,
                       overrides: Sequence[str] = (), num_classes: int | None = None
                       ) -> tuple[nn.Module, Config, str]:
    """``(model in eval mode, config, layout)`` for a bare weights file and the model it is for.

    The model is ``config`` (a config name or file) with ``overrides``, then ``arch`` and
    ``preset``; a preset also sets its frames unless an override names
    ``data.num_frames``. The classes are ``num_classes`` (a dataset's), else the
    config's, the preset's, or the classifier rows of the file.
    """
    if config is None and arch is None and preset is None:
        raise ValueError("weights need the model they are for: an arch and preset, or a config")
    overrides = list(overrides)
    cfg = load_config(config, overrides)
    if arch:
        cfg.set("model.arch", arch)
    if preset:
        if preset not in PRESETS:
            raise ValueError(f"preset {preset!r} is unknown; known: {', '.join(PRESETS)}")
        cfg.set("model.preset", preset)
        if not any(o.startswith("data.num_frames=") for o in overrides):
            cfg.set("data.num_frames", PRESETS[preset]["num_frames"])
    state = load_state_dict_file(weights)
    classes = (num_classes or cfg.model.num_classes
               or PRESETS.get(cfg.model.preset or "", {}).get("num_classes")
               or classifier_rows(state))
    if classes is None:
        raise ValueError(f"cannot tell the number of classes of '{weights}' (no classifier "
                         "in the file): pass --num-classes")
    model = build_model(cfg, classes, load_weights=False)
    layout = load_weights(model, state, source=f"'{weights}'")
    return model.eval(), cfg, layout


__all__ = ["MODELS", "register_model", "build_tagnet", "create_model", "list_models",
           "HEAD_WIDTH", "build_model", "apply_freeze", "load_run", "model_from_weights"]
