"""Optimiser and learning-rate schedule from a :class:`~tagnet.config.TrainConfig`."""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

from tagnet.config import TrainConfig


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Trainable parameters in two groups: decayed weights, and the rest.

    Biases, normalisation weights (every 1-D parameter) and the positional
    encoding table are not decayed, the usual choice for Transformer heads.
    Frozen parameters (``requires_grad=False``) are left out.
    """
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if p.ndim <= 1 or "pos_embed" in name:
            no_decay.append(p)
        else:
            decay.append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """``adam`` (released: lr 1e-5, no weight decay), ``adamw`` or ``sgd`` (Nesterov)."""
    groups = param_groups(model, cfg.weight_decay)
    if not any(g["params"] for g in groups):
        raise ValueError("the model has no trainable parameters; unfreeze something "
                         "(model.freeze=null, or a number of stages)")
    if cfg.optimizer == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr, betas=tuple(cfg.betas))
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr, betas=tuple(cfg.betas))
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=True)
    raise ValueError(f"optimizer {cfg.optimizer!r} is unknown; known: adam, adamw, sgd")


def lr_factor(epoch: int, cfg: TrainConfig) -> float:
    r"""Multiplier of the base lr during ``epoch`` (0-based).

    Linear warm-up over ``warmup_epochs``, then cosine annealing to ``min_lr``:

    .. math::
        \eta_e = \eta_{min} + (\eta - \eta_{min})\,\tfrac12\left(1 + \cos\frac{\pi (e - w)}
        {E - w}\right),

    which for ``w = 0`` is PyTorch's ``CosineAnnealingLR(T_max=E)`` stepped per
    epoch, as in the released code.
    """
    if cfg.scheduler == "none":
        return 1.0
    if epoch < cfg.warmup_epochs:
        return (epoch + 1) / (cfg.warmup_epochs + 1)
    span = max(cfg.epochs - cfg.warmup_epochs, 1)
    floor = cfg.min_lr / cfg.lr if cfg.lr > 0 else 0.0
    cosine = 0.5 * (1.0 + math.cos(math.pi * (epoch - cfg.warmup_epochs) / span))
    return floor + (1.0 - floor) * cosine


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig) -> LambdaLR:
    """A per-epoch schedule (:func:`lr_factor`); its state dict holds only numbers."""
    if cfg.scheduler not in ("cosine", "none"):
        raise ValueError(f"scheduler {cfg.scheduler!r} is unknown; known: cosine, none")
    return LambdaLR(optimizer, lambda epoch: lr_factor(epoch, cfg))


__all__ = ["build_optimizer", "build_scheduler", "param_groups", "lr_factor"]
