r"""Learnable positional encodings: one vector per (time, site) token, or per site only.

==============================  ===================================  =========================
``pos_embed``                   module                               a token's code says
==============================  ===================================  =========================
``"spacetime"`` / ``True``      :class:`SpaceTimePositionalEncoding`  its frame and site,
(released)                                                           :math:`e_{t,p}`
``"site"``                      :class:`SitePositionalEncoding`      its site only, :math:`e_p`
``"none"`` / ``False``          (no module)                          nothing
==============================  ===================================  =========================

With ``"site"`` or ``"none"`` no token carries a time code, so a head whose encoder attends
within frames only can learn the order of frames through the clip graph's temporal edges
alone (the graph-only heads of :mod:`tagnet.models.head`).
"""
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


class SitePositionalEncoding(nn.Module):
    r"""One learnable vector per site, shared by all frames: :math:`z_{t,p} = x_{t,p} + e_p`.

    The table holds ``H * W * C`` parameters, stored as ``weight`` of shape ``(1, P, C)``
    (site order ``h * W + w``), initialised from a normal of std ``init_std``. Tokens of
    every frame get the same code, so nothing in it tells frames apart: a permutation of
    the frames permutes the encoded tokens the same way.

    Args:
        grid (TokenGrid): the token grid (its ``T`` may change freely).
        dim (int): token channels ``C``.
        init_std (float): standard deviation of the normal initialisation (1.0).

    Shapes:
        - input: ``(B, N, C)`` with ``N = T * P``; output: ``(B, N, C)``.
    """

    def __init__(self, grid: TokenGrid, dim: int, init_std: float = 1.0) -> None:
        super().__init__()
        self.grid = TokenGrid.parse(grid)
        self.dim = dim
        self.init_std = init_std
        self.weight = nn.Parameter(torch.empty(1, self.grid.num_sites, dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.weight, std=self.init_std)

    def forward(self, x: Tensor) -> Tensor:
        P = self.grid.num_sites
        if x.dim() != 3 or x.size(1) % P or x.size(2) != self.dim:
            raise ValueError(
                f"tokens of shape {tuple(x.shape)} do not fit the site encoding of grid "
                f"{self.grid} (expected (B, T*{P}, {self.dim})); call model.resize_grid(new_grid) "
                "for another spatial size")
        B, N, C = x.shape
        return (x.view(B, N // P, P, C) + self.weight.unsqueeze(1)).view(B, N, C)

    @torch.no_grad()
    def resize(self, grid: TokenGrid) -> None:
        """Interpolate the table bilinearly to ``grid``'s sites (in place); frames are free."""
        grid = TokenGrid.parse(grid)
        if (grid.H, grid.W) != (self.grid.H, self.grid.W):
            table = self.weight.reshape(1, self.grid.H, self.grid.W, self.dim).permute(0, 3, 1, 2)
            table = F.interpolate(table, size=(grid.H, grid.W), mode="bilinear",
                                  align_corners=False)
            self.weight = nn.Parameter(
                table.permute(0, 2, 3, 1).reshape(1, grid.num_sites, self.dim).clone())
        self.grid = grid

    def extra_repr(self) -> str:
        return f"grid={self.grid}, dim={self.dim}, sites={self.grid.num_sites}"


#: ``pos_embed`` values and the encoding each builds (``None``: no encoding).
POS_EMBEDS = {"spacetime": SpaceTimePositionalEncoding, "site": SitePositionalEncoding,
              "none": None}


def resolve_pos_embed(pos_embed) -> str:
    """``True``/``"spacetime"`` -> ``"spacetime"``, ``False``/``None``/``"none"`` -> ``"none"``,
    ``"site"`` -> ``"site"``; anything else raises, listing the choices."""
    if pos_embed is True:
        return "spacetime"
    if pos_embed is False or pos_embed is None:
        return "none"
    if isinstance(pos_embed, str) and pos_embed in POS_EMBEDS:
        return pos_embed
    raise ValueError(f"pos_embed {pos_embed!r} is unknown; known: True/'spacetime' (one code per "
                     "frame and site, released), 'site' (one per site, shared by all frames), "
                     "False/'none'")


def build_pos_embed(pos_embed, grid: TokenGrid, dim: int, init_std: float = 1.0
                    ) -> nn.Module | None:
    """The positional encoding ``pos_embed`` names (:func:`resolve_pos_embed`), or ``None``."""
    cls = POS_EMBEDS[resolve_pos_embed(pos_embed)]
    return None if cls is None else cls(grid, dim, init_std)


__all__ = ["SpaceTimePositionalEncoding", "SitePositionalEncoding", "POS_EMBEDS",
           "resolve_pos_embed", "build_pos_embed"]
