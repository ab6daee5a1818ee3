"""Models from configs and checkpoints, with the configured freezing."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from tagnet.config import Config


def build_model(cfg: Config, num_classes: int, *, load_weights: bool = True) -> nn.Module:
    """``create_model`` from the ``model`` and ``data`` sections of a config.

    The model is built for ``data.num_frames`` x ``data.img_size`` clips. With
    ``load_weights`` the backbone weights (``model.backbone_weights``) and full
    initial weights (``model.weights``: a tagnet or an official TAG-Head state
    dict) are loaded from their local files. ``model.freeze`` is applied last.
    """
    from tagnet.factory import create_model

    m = cfg.model
    if m.num_classes is not None and m.num_classes != num_classes:
        raise ValueError(f"model.num_classes={m.num_classes} but the dataset has "
                         f"{num_classes} classes; drop model.num_classes to use the dataset's")
    model = create_model(
        m.arch, preset=m.preset, num_classes=num_classes, num_frames=cfg.data.num_frames,
        img_size=cfg.data.img_size,
        backbone_weights=m.backbone_weights if load_weights else None, **m.kwargs)
    if load_weights and m.weights:
        load_initial_weights(model, m.weights)
    apply_freeze(model, m.freeze)
    return model


def apply_freeze(model: nn.Module, mode: str | None) -> list[str]:
    """Freeze ``model.backbone`` as :func:`tagnet.backbones.freeze.freeze_backbone` says."""
    if mode in (None, "none"):
        return []
    from tagnet.backbones.freeze import freeze_backbone

    backbone = getattr(model, "backbone", None)
    if backbone is None:
        raise ValueError(f"model.freeze={mode!r}, but {type(model).__name__} has no "
                         "'backbone' attribute to freeze")
    return freeze_backbone(backbone, mode)


def load_initial_weights(model: nn.Module, path: str | Path) -> None:
    """Load a whole-model state dict: tagnet's, a tagnet checkpoint's, or the authors'."""
    from tagnet.backbones import load_state_dict_file
    from tagnet.convert import convert_official_state_dict

    state = load_state_dict_file(path)
    if "pos_embedding" in state or any(k.startswith("classifier.") for k in state):
        state = convert_official_state_dict(state)
    model.load_state_dict(state)


def load_model(checkpoint: str | Path, device: str | torch.device = "cpu"
               ) -> tuple[nn.Module, dict]:
    """Rebuild the model of a ``tagnet train`` checkpoint and load its weights.

    Returns ``(model in eval mode, checkpoint dict)``; the dict has ``config``
    and ``class_names``. Weight files named in the config are not needed.
    """
    from tagnet.train.checkpoint import load_checkpoint

    ckpt = load_checkpoint(checkpoint)
    cfg = Config.from_dict(ckpt["config"], where=f"checkpoint {checkpoint}")
    model = build_model(cfg, len(ckpt["class_names"]), load_weights=False)
    model.load_state_dict(ckpt["model"])
    return model.to(device).eval(), ckpt


__all__ = ["build_model", "load_model", "apply_freeze", "load_initial_weights"]
