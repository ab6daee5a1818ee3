"""Learnable space-time positional encoding."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tagnet.graphs import TokenGrid


class SpaceTimePositionalEncoding(nn.Module):
    r"""One learnable vector per token: :math:`z_{t,p} = x_{t,p} + e_{t,p}`.

    The table holds ``T * H * W * C`` parameters, stored as ``weight`` of shape
    ``(1, N, C)`` in frame-major token order (the released code's
    ``pos_embedding``, initialised from a standard normal).

    A model trained on one grid can run on another (more frames, a larger crop)
    after :meth:`resize`, which interpolates the table trilinearly over
    ``(T, H, W)``. Feeding tokens of another grid without resizing raises.

    Args:
        grid (TokenGrid): the token grid.
        dim (int): token channels ``C``.
        init_std (float): standard deviation of the normal initialisation (1.0).

    Shapes:
        - input: ``(B, N, C)``; output: ``(B, N, C)``.
    """

    def __init__(self, grid: TokenGrid, dim: int, init_std: float = 1.0) -> None:
        super().__init__()
        self.grid = TokenGrid.parse(grid)
        self.dim = dim
        self.init_std = init_std
        self.weight = nn.Parameter(torch.empty(1, self.grid.num_nodes, dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.weight, std=self.init_std)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 3 or x.size(1) != self.grid.num_nodes or x.size(2) != self.dim:
            raise ValueError(
                f"tokens of shape {tuple(x.shape)} do not fit the positional encoding of "
                f"grid {self.grid} (expected (B, {self.grid.num_nodes}, {self.dim})); "
                "call model.resize_grid(new_grid) to interpolate it to another grid"
            )
        return x + self.weight

    def interpolate(self, grid: TokenGrid) -> Tensor:
        """The table trilinearly interpolated to ``grid``, shape ``(1, N', C)``."""
        grid = TokenGrid.parse(grid)
        if grid == self.grid:
            return self.weight
        T, H, W = self.grid.shape
        table = self.weight.reshape(1, T, H, W, self.dim).permute(0, 4, 1, 2, 3)  # (1,C,T,H,W)
        table = F.interpolate(table, size=grid.shape, mode="trilinear", align_corners=False)
        return table.permute(0, 2, 3, 4, 1).reshape(1, grid.num_nodes, self.dim)

    @torch.no_grad()
    def resize(self, grid: TokenGrid) -> None:
        """Replace the table by its interpolation to ``grid`` (in place)."""
        grid = TokenGrid.parse(grid)
        self.weight = nn.Parameter(self.interpolate(grid).detach().clone())
        self.grid = grid

    def extra_repr(self) -> str:
        return f"grid={self.grid}, dim={self.dim}"
