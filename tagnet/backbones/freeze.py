"""Freezing controls: the whole backbone, BatchNorm statistics only, or all but the last stages.

Three settings cover the usual fine-tuning regimes:

* ``"backbone"``: no backbone parameter trains and every BatchNorm keeps its
  running statistics (the transfer-learning setting; the ``features`` backbone
  makes it cheap);
* ``"bn"``: every parameter trains but BatchNorm layers normalise with their
  stored statistics and never update them (small batches, e.g. 8 clips of 64
  frames per GPU, make batch statistics noisy);
* an integer ``n``: stages before the last ``n`` (in ``backbone.stage_names``
  order: ``stem``, ``layer1``, ...) are frozen as in ``"backbone"``; the last
  ``n`` train normally. ``0`` equals ``"backbone"``.

Frozen statistics survive ``model.train()``: the BatchNorm modules are switched
to a subclass whose ``train()`` keeps them in eval mode (their state dict is
unchanged). Apply freezing after ``nn.SyncBatchNorm.convert_sync_batchnorm``,
which replaces BatchNorm modules.
"""
from __future__ import annotations

from torch import nn

from .base import VideoBackbone


class _FrozenStats:
    """Mixin: ``train(mode)`` leaves the module in eval mode (running statistics frozen)."""

    def train(self, mode: bool = True):
        return super().train(False)


class FrozenStatsBatchNorm1d(_FrozenStats, nn.BatchNorm1d):
    pass


class FrozenStatsBatchNorm2d(_FrozenStats, nn.BatchNorm2d):
    pass


class FrozenStatsBatchNorm3d(_FrozenStats, nn.BatchNorm3d):
    pass


_FROZEN = {nn.BatchNorm1d: FrozenStatsBatchNorm1d, nn.BatchNorm2d: FrozenStatsBatchNorm2d,
           nn.BatchNorm3d: FrozenStatsBatchNorm3d}
_THAWED = {v: k for k, v in _FROZEN.items()}


def freeze_bn_stats(module: nn.Module) -> int:
    """Keep every BatchNorm in ``module`` on its running statistics; returns how many.

    Affine parameters still train. Raises for other BatchNorm types
    (``SyncBatchNorm``, custom subclasses), naming them.
    """
    count = 0
    for name, m in module.named_modules():
        if type(m) in _FROZEN:
            m.__class__ = _FROZEN[type(m)]
            m.eval()
        elif isinstance(m, nn.modules.batchnorm._BatchNorm) and type(m) not in _THAWED:
            raise TypeError(
                f"cannot freeze the statistics of {name!r} ({type(m).__name__}); only "
                "BatchNorm1d/2d/3d are supported: freeze before converting to SyncBatchNorm"
            )
        count += isinstance(m, nn.modules.batchnorm._BatchNorm)
    return count


def unfreeze_bn_stats(module: nn.Module) -> None:
    """Undo :func:`freeze_bn_stats`; the modules follow ``module.training`` again."""
    for m in module.modules():
        if type(m) in _THAWED:
            m.__class__ = _THAWED[type(m)]
            m.train(module.training)


def freeze_module(module: nn.Module) -> None:
    """No parameter of ``module`` trains, and its BatchNorm statistics stay fixed."""
    for p in module.parameters():
        p.requires_grad_(False)
    freeze_bn_stats(module)


def unfreeze(module: nn.Module) -> None:
    """Every parameter of ``module`` trains and BatchNorm statistics update again."""
    for p in module.parameters():
        p.requires_grad_(True)
    unfreeze_bn_stats(module)


def freeze_backbone(backbone: VideoBackbone, mode: str | int | None) -> list[str]:
    """Apply a freezing setting to ``backbone``; returns the frozen stages' names.

    Args:
        backbone (VideoBackbone): the trunk.
        mode: ``None`` or ``"none"`` (train everything), ``"backbone"`` (freeze it all),
            ``"bn"`` (BatchNorm statistics only), or an int ``n`` / digit string: freeze
            all but the last ``n`` stages.

    Example:
        >>> trunk = create_backbone("r2plus1d_tiny")  # doctest: +SKIP
        >>> freeze_backbone(trunk, 1)  # doctest: +SKIP
        ['stem', 'layer1', 'layer2', 'layer3']
    """
    if mode is None or mode == "none":
        return []
    if mode == "bn":
        freeze_bn_stats(backbone)
        return []
    if mode == "backbone":
        freeze_module(backbone)
        return [name for name, _ in backbone.stages()] or [type(backbone).__name__]
    if isinstance(mode, str) and mode.isdigit():
        mode = int(mode)
    if isinstance(mode, bool) or not isinstance(mode, int) or mode < 0:
        raise ValueError(
            f"freeze={mode!r} is not a freezing setting; use 'none', 'backbone', 'bn', or an "
            "int n >= 0 (freeze all but the last n stages)"
        )
    stages = backbone.stages()
    if not stages:
        raise ValueError(f"{type(backbone).__name__} declares no stages; freeze='backbone' "
                         "or 'bn' work, freezing all but the last n stages does not")
    if mode > len(stages):
        raise ValueError(f"freeze={mode}: {type(backbone).__name__} has only {len(stages)} "
                         f"stages ({', '.join(n for n, _ in stages)})")
    frozen = stages[:len(stages) - mode]
    for _, stage in frozen:
        freeze_module(stage)
    return [name for name, _ in frozen]
