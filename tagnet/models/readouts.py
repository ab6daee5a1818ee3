r"""Readouts: how a clip's refined node features become one clip vector.

Every readout maps node features ``(B, N, C)`` in frame-major order on a
:class:`~tagnet.graphs.TokenGrid` to clip features ``(B, C)``.

=================  =========================================================  ==========
readout            clip feature :math:`z`                                     parameters
=================  =========================================================  ==========
``mean``           :math:`\frac1N \sum_i h_i` (released)                      none
``max``            :math:`\max_i h_i` per channel                             none
``attention``      :math:`\sum_i \mathrm{softmax}_i(q^\top W_k h_i/\sqrt C)\,h_i`  ``C^2 + 2C``
``frame_temporal`` GRU over the per-frame means :math:`\bar h_1..\bar h_{T'}`  ``6C^2 + 7C``
=================  =========================================================  ==========

Why more than the mean: the released head mean-pools right after a linear APPNP,
so on a regular graph with symmetric normalisation the pooled feature does not
depend on the graph at all (:mod:`tagnet.propagation`). Any readout that is not
a fixed uniform average over the nodes lets the topology change the prediction.

Example:
    >>> readout = resolve_readout("attention", 64, TokenGrid(4, 2, 2))
    >>> readout(torch.randn(3, 16, 64), TokenGrid(4, 2, 2)).shape
    torch.Size([3, 64])
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from tagnet.graphs import Registry, TokenGrid

#: Readout builders ``fn(dim, grid) -> nn.Module`` by name.
READOUTS: Registry[Callable[[int, TokenGrid], nn.Module]] = Registry("readout")


class MeanReadout(nn.Module):
    r"""The released readout: :math:`z = \frac{1}{N} \sum_{i=1}^{N} h_i`.

    Shapes:
        - input: ``(B, N, C)``; output: ``(B, C)``.
    """

    def forward(self, x: Tensor, grid: TokenGrid | None = None) -> Tensor:
        return x.mean(dim=1)


class MaxReadout(nn.Module):
    r"""Channel-wise max over the nodes: :math:`z_c = \max_{i} h_{i,c}`.

    Shapes:
        - input: ``(B, N, C)``; output: ``(B, C)``.
    """

    def forward(self, x: Tensor, grid: TokenGrid | None = None) -> Tensor:
        return x.amax(dim=1)


class AttentionReadout(nn.Module):
    r"""Attention pooling with one learned query (a single-seed PMA, as in Set Transformer).

    .. math::
        a_i = \mathrm{softmax}_i\!\left(\frac{q^\top W_k h_i + b_k^\top q}{\sqrt{C}}\right),
        \qquad z = \sum_{i=1}^{N} a_i h_i.

    The values are the node features themselves, so :math:`z` stays in the span
    of the nodes and the classifier after it sees what the mean readout would
    give when the weights are uniform (:math:`q = 0`). The query is initialised
    from :math:`\mathcal N(0, 1)` so that a fresh model already weighs nodes
    unequally.

    Args:
        dim (int): channels ``C``.

    Shapes:
        - input: ``(B, N, C)``; output: ``(B, C)``.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.key = nn.Linear(dim, dim)
        self.query = nn.Parameter(torch.empty(dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.key.reset_parameters()
        nn.init.normal_(self.query)

    def weights(self, x: Tensor) -> Tensor:
        """Attention weights ``(B, N)`` over the nodes (they sum to 1 per clip)."""
        return (self.key(x) @ self.query / math.sqrt(self.dim)).softmax(dim=1)

    def forward(self, x: Tensor, grid: TokenGrid | None = None) -> Tensor:
        return torch.einsum("bn,bnc->bc", self.weights(x), x)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class FrameTemporalReadout(nn.Module):
    r"""Mean per frame, then a GRU over the frames in temporal order.

    .. math::
        \bar h_t = \frac{1}{H'W'} \sum_{p} h_{t,p}, \qquad
        s_t = \mathrm{GRU}(\bar h_t, s_{t-1}),\ s_0 = 0, \qquad
        z = \bar h + s_{T'},

    with :math:`\bar h = \frac{1}{T'}\sum_t \bar h_t` (the released mean, kept as a
    residual so the readout starts close to it). The GRU sees the frames in
    order, so reversing or shuffling the frames changes :math:`z`, and so does any
    graph that moves information between frames.

    Args:
        dim (int): channels ``C``.

    Shapes:
        - input: ``(B, N, C)`` with ``N = T' H' W'`` frame-major, and the grid;
          output: ``(B, C)``.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.gru = nn.GRU(dim, dim, batch_first=True)

    def reset_parameters(self) -> None:
        self.gru.reset_parameters()

    def forward(self, x: Tensor, grid: TokenGrid) -> Tensor:
        B, N, C = x.shape
        frames = x.reshape(B, grid.T, grid.H * grid.W, C).mean(dim=2)  # (B, T', C)
        _, last = self.gru(frames)  # (1, B, C)
        return frames.mean(dim=1) + last[0]

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


READOUTS.register("mean", lambda dim, grid: MeanReadout())
READOUTS.register("attention", lambda dim, grid: AttentionReadout(dim))
READOUTS.register("max", lambda dim, grid: MaxReadout())
READOUTS.register("frame_temporal", lambda dim, grid: FrameTemporalReadout(dim))


def register_readout(name: str, builder: Callable[[int, TokenGrid], nn.Module]) -> None:
    """Register ``builder(dim, grid) -> module`` whose ``forward(x, grid)`` maps
    ``(B, N, C)`` to ``(B, C)``; then ``TAGHead(..., readout=name)`` uses it."""
    READOUTS.register(name, builder)


def list_readouts() -> list[str]:
    """Registered readout names (``"mean"`` is the released one)."""
    return READOUTS.names()


def resolve_readout(readout: str | nn.Module, dim: int, grid: TokenGrid) -> nn.Module:
    """A readout module from a registered name (unknown names list the choices);
    a module passes through."""
    if isinstance(readout, nn.Module):
        return readout
    return READOUTS.get(readout)(dim, TokenGrid.parse(grid))


__all__ = ["READOUTS", "MeanReadout", "MaxReadout", "AttentionReadout", "FrameTemporalReadout",
           "register_readout", "list_readouts", "resolve_readout"]
