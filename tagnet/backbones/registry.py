"""The backbone registry."""
from __future__ import annotations

from collections.abc import Callable

from tagnet.graphs import Registry

from .base import VideoBackbone

BACKBONES: Registry[Callable[..., VideoBackbone]] = Registry("backbone")


def register_backbone(name: str | None = None):
    """Decorator registering a backbone builder ``fn(*, weights=None, **kw) -> VideoBackbone``."""
    return BACKBONES.decorator(name)


def create_backbone(name: str, *, weights: str | None = None, **kwargs) -> VideoBackbone:
    """Build a registered backbone, loading ``weights`` (a local file) when given.

    Keyword arguments that are ``None`` are dropped, so a command line can pass
    every option and the builder keeps its own defaults.
    """
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    model = BACKBONES.get(name)(**kwargs)
    if weights is not None:
        model.load_weights(weights)
    return model


def list_backbones() -> list[str]:
    """Names of the registered backbones."""
    return BACKBONES.names()
