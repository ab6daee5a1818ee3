"""What every backbone declares: its channels and strides, so the token grid is known."""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from torch import Tensor, nn

from tagnet.graphs import TokenGrid
from tagnet.weights import load_state_dict_file


class VideoBackbone(nn.Module):
    r"""Base class of tagnet backbones: ``(B, 3, T, H, W) -> (B, C, T', H', W')``.

    Subclasses set ``out_channels`` and ``stage_strides``: one ``(t, h, w)``
    stride per down-sampling stage, each a convolution or pooling with
    "same"-style padding, so a stage of stride ``s`` maps ``n`` to
    :math:`\lceil n / s \rceil`. A stage without padding (an I3D-style
    ``MaxPool3d((2, 1, 1))``) maps ``n`` to :math:`\lfloor n / s \rfloor`
    instead; ``stage_ceil_mode`` marks those with ``False``, as ``ceil_mode`` does
    in ``nn.MaxPool3d``. :meth:`output_grid` then gives the token grid of an input
    size without running the network.

    ``stage_names`` lists the attributes holding the network's stages in order
    (``stem``, ``layer1``, ...), for freezing all but the last stages.
    """

    out_channels: int = 0
    in_channels: int = 3
    stage_strides: Sequence[tuple[int, int, int]] = ()
    stage_ceil_mode: Sequence[bool] | None = None
    stage_names: Sequence[str] = ()

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
        ceil = self.stage_ceil_mode or [True] * len(self.stage_strides)
        for st, up in zip(self.stage_strides, ceil, strict=True):
            size = [(math.ceil if up else math.floor)(n / s) for n, s in zip(size, st, strict=True)]
        if min(size) < 1:
            raise ValueError(
                f"an input of {num_frames}x{height}x{width or height} (frames x height x width) "
                f"is too small for {type(self).__name__} (stride {'x'.join(map(str, self.stride))}"
                "); use more frames or a larger crop"
            )
        return TokenGrid(*size)

    def stages(self) -> list[tuple[str, nn.Module]]:
        """``(name, module)`` of each stage, input side first."""
        return [(name, getattr(self, name)) for name in self.stage_names]

    def check_input(self, x: Tensor) -> None:
        """Raise a clear error unless ``x`` is ``(B, in_channels, T, H, W)``."""
        if x.dim() != 5 or x.size(1) != self.in_channels:
            raise ValueError(
                f"{type(self).__name__} expects input of shape (B, {self.in_channels}, T, H, W), "
                f"got {tuple(x.shape)}"
                + ("; a (B, T, H, W, 3) uint8 clip needs the dataset transforms first"
                   if self.in_channels == 3 else "")
            )

    def load_weights(self, path: str | Path, strict: bool = True) -> None:
        """Load a checkpoint from a local file (see :func:`load_state_dict_file`).

        The file's keys go through :meth:`convert_state_dict` (the public layouts'
        key maps); then every key is checked, and a missing, unexpected or
        mis-shaped key raises an error that names it.
        """
        self.load_pretrained(load_state_dict_file(path), strict=strict, source=f"'{path}'")

    def load_pretrained(self, state: dict[str, Tensor], strict: bool = True,
                        assign: bool = False, source: str = "the state dict") -> None:
        """Load a public checkpoint's state dict (in any layout :meth:`convert_state_dict` knows).

        ``assign=True`` takes the tensors as they are (no copy), which also fills a
        backbone built on the meta device.
        """
        state = self.convert_state_dict(state)
        if strict:
            check_state_dict(self, state, source=source)
        self.load_state_dict(state, strict=strict, assign=assign)

    def convert_state_dict(self, state: dict[str, Tensor]) -> dict[str, Tensor]:
        """Map a public checkpoint's keys to this module's (identity by default)."""
        return state


def check_state_dict(module: nn.Module, state: dict[str, Tensor], source: str = "state dict"
                     ) -> None:
    """Raise ``KeyError`` naming the keys of ``state`` that do not fit ``module``.

    BatchNorm's ``num_batches_tracked`` may be absent (older checkpoints omit it).
    """
    own = module.state_dict()
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}"
              for k, v in state.items() if k in own and tuple(v.shape) != tuple(own[k].shape)]
    problems = []
    for what, keys in (("missing keys", missing), ("unexpected keys", unexpected),
                       ("shape mismatches", shapes)):
        if keys:
            more = f" ... (+{len(keys) - 6} more)" if len(keys) > 6 else ""
            problems.append(f"{len(keys)} {what}: {', '.join(keys[:6])}{more}")
    if problems:
        raise KeyError(
            f"{source} does not fit {type(module).__name__}: " + "; ".join(problems)
            + ". Check that the checkpoint is for this architecture (see the builder's docstring "
            "for the layouts it accepts)"
        )
