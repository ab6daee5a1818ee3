"""Input settings per backbone, like timm's pretrained configs: normalisation, input size and
where the weights come from.

A backbone's pretrained weights expect clips normalised as in their training. The
TAG-Head release normalises with mean 0.45 / std 0.225 per channel (its IG-65M
R(2+1)D-34 and pytorchvideo's Kinetics models use the same); torchvision's Kinetics-400
video models were trained with mean ``(0.43216, 0.394666, 0.37645)`` and std
``(0.22803, 0.22145, 0.216989)``.

=============  ==========================  =============  ================================
backbone       mean / std                  input (T x S)  weights
=============  ==========================  =============  ================================
r2plus1d_34    0.45 / 0.225 (release)      32 x 112       IG-65M (VMZ), the TAG release
r2plus1d_18    torchvision Kinetics        16 x 112       torchvision Kinetics-400
r3d_18         torchvision Kinetics        16 x 112       torchvision Kinetics-400
mc3_18         torchvision Kinetics        16 x 112       torchvision Kinetics-400
slow_r50       0.45 / 0.225                8 x 224        pytorchvideo Kinetics-400
i3d_r50        0.45 / 0.225                8 x 224        pytorchvideo Kinetics-400
csn_r101       0.45 / 0.225                32 x 224       pytorchvideo Kinetics-400
ir_csn_152     torchvision Kinetics        32 x 224       VMZ IG-65M / Kinetics
r2plus1d_tiny  0.45 / 0.225 (release)      16 x 112       none (random initialisation)
=============  ==========================  =============  ================================

The released presets (gym99, gym288, haa500) keep 0.45 / 0.225 whatever the
backbone; ``data.mean`` / ``data.std`` override everything.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

RELEASE_MEAN = (0.45, 0.45, 0.45)
RELEASE_STD = (0.225, 0.225, 0.225)
KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)


@dataclass(frozen=True)
class InputConfig:
    """How a backbone's weights expect their input.

    Args:
        mean, std (tuple of 3 floats): per-channel normalisation of ``[0, 1]`` RGB.
        num_frames (int), img_size (int): the clip size the weights were trained on.
        weights (str): where the pretrained weights come from.
    """

    mean: tuple[float, float, float] = RELEASE_MEAN
    std: tuple[float, float, float] = RELEASE_STD
    num_frames: int = 32
    img_size: int = 112
    weights: str = "none"

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def describe(self) -> str:
        def fmt(v):
            return ", ".join(f"{x:g}" for x in v)

        return (f"mean ({fmt(self.mean)}), std ({fmt(self.std)}); pretrained on "
                f"{self.num_frames}x{self.img_size}x{self.img_size}, weights: {self.weights}")


_TV = dict(mean=KINETICS_MEAN, std=KINETICS_STD, num_frames=16, img_size=112,
           weights="torchvision Kinetics-400")
_PTV = dict(num_frames=8, img_size=224, weights="pytorchvideo Kinetics-400")

#: Input settings per registered backbone (others get the release's settings).
INPUT_CONFIGS: dict[str, InputConfig] = {
    "r2plus1d_34": InputConfig(weights="IG-65M (VMZ layout), as in the TAG-Head release"),
    "r2plus1d_18": InputConfig(**_TV),
    "r3d_18": InputConfig(**_TV),
    "mc3_18": InputConfig(**_TV),
    "slow_r50": InputConfig(**_PTV),
    "i3d_r50": InputConfig(**_PTV),
    "csn_r101": InputConfig(**{**_PTV, "num_frames": 32}),
    "ir_csn_152": InputConfig(KINETICS_MEAN, KINETICS_STD, 32, 224, "VMZ IG-65M / Kinetics"),
    "r2plus1d_tiny": InputConfig(num_frames=16, weights="none (random initialisation)"),
}


def input_config(backbone: str | None) -> InputConfig:
    """The input settings of a backbone name (the release's for one not in the table)."""
    return INPUT_CONFIGS.get(backbone, InputConfig())


def _backbone_of(arch: str) -> str | None:
    from .registry import list_backbones

    names = list_backbones()
    if arch.startswith(("tag_", "atr_")) and arch[4:] in names:
        return arch[4:]
    return arch if arch in names else None


def _check(name: str, values) -> tuple[float, float, float]:
    values = tuple(float(v) for v in values)
    if len(values) != 3 or not all(math.isfinite(v) for v in values) or (
            name.endswith("std") and min(values) <= 0):
        raise ValueError(f"{name}={list(values)} must be 3 finite numbers, one per RGB channel"
                         + (", all positive" if name.endswith("std") else ""))
    return values


def model_input_config(arch: str, preset: str | None = None, *, mean=None,
                       std=None) -> InputConfig:
    """The input settings of a model: its backbone's, the release's under a preset, then
    ``mean`` / ``std`` (``data.mean`` / ``data.std``) where given.

    Example:
        >>> model_input_config("tag_r2plus1d_18").mean
        (0.43216, 0.394666, 0.37645)
        >>> model_input_config("tag_r2plus1d_18", preset="gym99").mean
        (0.45, 0.45, 0.45)
    """
    backbone = _backbone_of(arch)
    cfg = input_config(backbone) if backbone else InputConfig()
    if preset is not None:
        cfg = replace(cfg, mean=RELEASE_MEAN, std=RELEASE_STD)
    if mean is not None:
        cfg = replace(cfg, mean=_check("data.mean", mean))
    if std is not None:
        cfg = replace(cfg, std=_check("data.std", std))
    return cfg


def config_input(cfg) -> InputConfig:
    """:func:`model_input_config` of a run :class:`~tagnet.config.Config`."""
    return model_input_config(cfg.model.arch, cfg.model.preset, mean=cfg.data.mean,
                              std=cfg.data.std)


__all__ = ["InputConfig", "INPUT_CONFIGS", "input_config", "model_input_config",
           "config_input", "RELEASE_MEAN", "RELEASE_STD", "KINETICS_MEAN", "KINETICS_STD"]
