"""What every backbone declares: its channels and strides, so the token grid is known."""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from tagnet.graphs import TokenGrid


class VideoBackbone(nn.Module):
    """Base class of tagnet backbones: ``(B, 3, T, H, W) -> (B, C, T', H', W')``.

    Subclasses set ``out_channels`` and ``stage_strides``: one ``(t, h, w)``
    stride per down-sampling stage, each a convolution or pooling with
    "same"-style padding, so a stage of stride ``s`` maps ``n`` to ``ceil(n / s)``.
    :meth:`output_grid` then gives the token grid of an input size without
    running the network.
    """

    out_channels: int = 0
    stage_strides: Sequence[tuple[int, int, int]] = ()

    @property
    def stride(self) -> tuple[int, int, int]:
        """Overall ``(temporal, height, width)`` stride."""
        s = [1, 1, 1]
        for st in self.stage_strides:
            s = [a * b for a, b in zip(s, st, strict=True)]
        return tuple(s)

    def output_grid(self, num_frames: int, height: int, width: int | None = None) -> TokenGrid:
        """The token grid for an input of ``num_frames x height x width``."""
        size = [num_frames, height, height if width is None else width]
        for st in self.stage_strides:
            size = [math.ceil(n / s) for n, s in zip(size, st, strict=True)]
        return TokenGrid(*size)

    def load_weights(self, path: str | Path, strict: bool = True) -> None:
        """Load a checkpoint from a local file (see :func:`load_state_dict_file`)."""
        state = load_state_dict_file(path)
        self.load_state_dict(self.convert_state_dict(state), strict=strict)

    def convert_state_dict(self, state: dict[str, Tensor]) -> dict[str, Tensor]:
        """Map a public checkpoint's keys to this module's (identity by default)."""
        return state


def load_state_dict_file(path: str | Path) -> dict[str, Tensor]:
    """Read a state dict from a local ``.pth``/``.pt`` file; tagnet never downloads.

    Unwraps the usual containers (``state_dict``, ``model_state``, ``model``).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"weights file '{path}' does not exist; tagnet never downloads weights: "
            "download the checkpoint yourself and pass its local path"
        )
    state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model_state", "model"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    if not isinstance(state, dict):
        raise ValueError(f"'{path}' holds a {type(state).__name__}, not a state dict")
    return state
