r"""Encoder self-attention restricted to a topology's edges (plus each token itself).

With :math:`\mathcal N(i)` the sources of the edges into token :math:`i`, masked
attention computes

.. math::
    \mathrm{Attn}(Q, K, V)_i = \sum_{j \in \mathcal N(i) \cup \{i\}}
    \mathrm{softmax}_j\!\Big(\frac{q_i^\top k_j}{\sqrt d}\Big) v_j,

so the graph shapes the non-linear computation itself, not only a linear
smoothing after it. The ``global`` topology (every pair) gives the ordinary
encoder; ``none`` leaves each token attending to itself only.

Static topologies use one ``(N, N)`` mask per (grid, device), built from the
cached edge template of :func:`tagnet.graphs.batching.edge_template`;
data-dependent ones build a mask per clip from the encoder's input tokens.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from tagnet.graphs import TokenGrid, batch_graphs, get_topology
from tagnet.graphs.batching import edge_template


def allowed_pairs(grid: TokenGrid, topology, tokens: Tensor | None = None,
                  device=None) -> Tensor:
    """Boolean ``allowed[i, j]``: token ``i`` may attend to token ``j`` (an edge ``j -> i``
    or ``i == j``).

    Returns ``(N, N)`` for a static topology, ``(B, N, N)`` for a data-dependent one
    (then ``tokens`` ``(B, N, C)`` are required).
    """
    grid, topology = TokenGrid.parse(grid), get_topology(topology)
    N = grid.num_nodes
    if topology.dynamic:
        if tokens is None:
            raise ValueError(f"topology {topology.name!r} builds edges from the tokens; "
                             "pass tokens to build its attention mask")
        B = tokens.size(0)
        graph = batch_graphs(tokens, grid, topology)
        src, dst = graph.edge_index
        allowed = torch.zeros(B, N, N, dtype=torch.bool, device=tokens.device)
        allowed[dst // N, dst % N, src % N] = True
        allowed[:, torch.arange(N), torch.arange(N)] = True
        return allowed
    edge_index, _ = edge_template(grid, topology)  # built on the CPU (also for meta tensors)
    allowed = torch.eye(N, dtype=torch.bool)
    allowed[edge_index[1], edge_index[0]] = True
    return allowed.to(device)


class GraphAttentionMask(nn.Module):
    r"""The encoder's attention mask for a topology on the grid the head is built for.

    Called with the encoder's input tokens, returns the mask that
    :class:`torch.nn.TransformerEncoder` takes (``True`` = may *not* attend):
    ``(N, N)`` for a static topology (built once per device), ``(B \cdot heads, N, N)``
    for a data-dependent one. It holds no parameters and no state-dict entries.

    Args:
        topology (str or Topology): the graph that restricts attention.
        grid (TokenGrid): the token grid the head is built for.
        num_heads (int): the encoder's attention heads.
    """

    def __init__(self, topology, grid: TokenGrid, num_heads: int) -> None:
        super().__init__()
        self.topology = get_topology(topology)
        self.grid = TokenGrid.parse(grid)
        self.num_heads = num_heads
        self._static: dict[tuple, Tensor] = {}

    def forward(self, x: Tensor, grid: TokenGrid) -> Tensor:
        grid = TokenGrid.parse(grid)
        if grid != self.grid or x.size(1) != grid.num_nodes:
            raise ValueError(
                f"attention_topology {self.topology.name!r} was built for grid {self.grid}, but "
                f"the tokens ({tuple(x.shape)}) come from grid {grid}; call "
                "model.resize_grid(grid) to rebuild it for the new grid"
            )
        if self.topology.dynamic:
            blocked = ~allowed_pairs(grid, self.topology, x.detach())
            return blocked.repeat_interleave(self.num_heads, dim=0)  # (B*heads, N, N)
        key = (grid, x.device)
        if key not in self._static:
            self._static[key] = ~allowed_pairs(grid, self.topology, device=x.device)
        return self._static[key]

    def resize(self, grid: TokenGrid) -> None:
        self.grid = TokenGrid.parse(grid)

    def extra_repr(self) -> str:
        return f"topology={self.topology.name!r}, grid={self.grid}"


__all__ = ["GraphAttentionMask", "allowed_pairs"]
