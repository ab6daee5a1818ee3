"""The token grid: where each node of a clip graph sits in space-time."""
from __future__ import annotations

import re
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class TokenGrid:
    r"""A ``T x H x W`` grid of video tokens with frame-major node ids.

    A backbone turns a clip into a feature map of shape ``(B, C, T, H, W)``;
    flattening it with ``x.flatten(2).transpose(1, 2)`` gives ``N = T * H * W``
    tokens per clip, and token ``(t, h, w)`` becomes node

    .. math::
        n = t \cdot HW + h \cdot W + w.

    Args:
        T (int): number of token frames (the backbone's temporal output size).
        H (int): token rows per frame.
        W (int): token columns per frame.

    Example:
        >>> grid = TokenGrid(2, 2, 2)
        >>> grid.num_nodes, grid.num_sites
        (8, 4)
        >>> grid.node_id(1, 0, 1)
        5
        >>> grid.coords(5)
        (1, 0, 1)
    """

    T: int
    H: int
    W: int

    def __post_init__(self) -> None:
        for name in ("T", "H", "W"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"TokenGrid.{name} must be a positive int, got {value!r} "
                    f"(grid {self.T!r}x{self.H!r}x{self.W!r})"
                )

    @property
    def num_sites(self) -> int:
        """Spatial sites per frame, ``P = H * W``."""
        return self.H * self.W

    @property
    def num_nodes(self) -> int:
        """Nodes per clip, ``N = T * H * W``."""
        return self.T * self.H * self.W

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.T, self.H, self.W)

    def __str__(self) -> str:
        return f"{self.T}x{self.H}x{self.W}"

    def node_id(self, t, h, w):
        """Node id of ``(t, h, w)``; works on ints and on integer tensors."""
        return t * self.num_sites + h * self.W + w

    def coords(self, node):
        """Inverse of :meth:`node_id`: ``(t, h, w)`` of a node id (int or tensor)."""
        t, rest = divmod(node, self.num_sites) if isinstance(node, int) else (
            torch.div(node, self.num_sites, rounding_mode="floor"), node % self.num_sites)
        if isinstance(rest, int):
            h, w = divmod(rest, self.W)
        else:
            h, w = torch.div(rest, self.W, rounding_mode="floor"), rest % self.W
        return t, h, w

    def frame(self, device: torch.device | str | None = None) -> Tensor:
        """Frame index ``t`` of every node, shape ``[N]``."""
        return torch.arange(self.T, device=device).repeat_interleave(self.num_sites)

    def site(self, device: torch.device | str | None = None) -> Tensor:
        """Spatial site ``p = h * W + w`` of every node, shape ``[N]``."""
        return torch.arange(self.num_sites, device=device).repeat(self.T)

    @classmethod
    def parse(cls, spec: str | TokenGrid | tuple[int, int, int]) -> TokenGrid:
        """Make a grid from ``"8x7x7"``, a ``(T, H, W)`` tuple, or a grid."""
        if isinstance(spec, TokenGrid):
            return spec
        if isinstance(spec, str):
            m = re.fullmatch(r"\s*(\d+)\s*[xX,]\s*(\d+)\s*[xX,]\s*(\d+)\s*", spec)
            if m is None:
                raise ValueError(f"grid {spec!r} is not of the form TxHxW, e.g. '8x7x7'")
            return cls(*(int(g) for g in m.groups()))
        if isinstance(spec, (tuple, list, torch.Size)) and len(spec) == 3:
            return cls(*(int(s) for s in spec))
        raise ValueError(f"cannot make a TokenGrid from {spec!r}; pass 'TxHxW' or (T, H, W)")

    @classmethod
    def from_feature_map(cls, x: Tensor) -> TokenGrid:
        """The grid of a backbone feature map of shape ``(B, C, T, H, W)``."""
        if x.dim() != 5:
            raise ValueError(f"expected a (B, C, T, H, W) feature map, got shape {tuple(x.shape)}")
        return cls(*(int(s) for s in x.shape[2:]))
