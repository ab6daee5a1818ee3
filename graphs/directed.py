r"""Directed time: same-site links forward and backward in time as two edge types.

Undirected temporal edges are symmetric in time. When the graph is the only
path across frames (a site-only positional code or none, encoder attention
within frames) reversing the frame order maps the ``tag`` graph onto itself,
so such a head gives the same logits for a clip and its reverse. Typing the
links by direction breaks that symmetry, because reversal swaps the two types:

.. code-block:: text

    edge set                 edges, 1 <= d <= k                      symmetric
    temporal_forward(k)      (t, p) -> (t + d, p)   past to future   no
    temporal_backward(k)     (t, p) -> (t - d, p)   future to past   no

    topology                 edge types (in type-id order)
    tag_directed[:k]         intra_frame, temporal_forward(k), temporal_backward(k)   k = 1
    temporal_directed[:k]    temporal_forward(k), temporal_backward(k)                k = 1

Edges run from source (row 0) to target (row 1), as PyG's messages flow: a
forward edge brings the token of frame ``t`` to frame ``t + d``. Each edge set
holds :math:`\sum_{d=1}^{\min(k, T-1)} (T-d) P` edges, ordered by ``d`` then by
source, and ``temporal_backward`` is ``temporal_forward`` with its rows swapped,
so the union of the two is ``temporal_window(k)`` (``temporal`` for ``k = 1``).
An operator that reads edge types (R-GCN, GATv2 or TransformerConv with type
embeddings) or different per-type APPNP weights sees the direction; APPNP with
equal weights sees the undirected graph.

Example:
    >>> from tagnet.graphs import TokenGrid, get_topology
    >>> temporal_forward(TokenGrid(3, 1, 1)).t().tolist()
    [[0, 1], [1, 2]]
    >>> get_topology("tag_directed:2").edges("3x1x1")[1].tolist()
    [1, 1, 1, 2, 2, 2]
"""
from __future__ import annotations

import torch
from torch import Tensor

from .edge_sets import get_edge_set, register_edge_set
from .grid import TokenGrid
from .topology import register_topology_family


def _check_k(k, name: str) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"{name} needs an integer k >= 1, got k={k!r}")


def _forward(grid: TokenGrid, k: int) -> Tensor:
    P, parts = grid.num_sites, []
    for d in range(1, min(k, grid.T - 1) + 1):  # a loop over offsets, never over nodes
        n = torch.arange((grid.T - d) * P)
        parts.append(torch.stack([n, n + d * P]))
    return torch.cat(parts, dim=1) if parts else torch.empty(2, 0, dtype=torch.long)


@register_edge_set("temporal_forward", symmetric=False)
def temporal_forward(grid: TokenGrid, k: int = 1) -> Tensor:
    r"""Same site, forward in time: :math:`(t, p) \to (t + d, p)` for :math:`1 \le d \le k`."""
    _check_k(k, "temporal_forward")
    return _forward(grid, k)


@register_edge_set("temporal_backward", symmetric=False)
def temporal_backward(grid: TokenGrid, k: int = 1) -> Tensor:
    r"""Same site, backward in time: :math:`(t, p) \to (t - d, p)` for :math:`1 \le d \le k`."""
    _check_k(k, "temporal_backward")
    return _forward(grid, k).flip(0)


def _count(grid: TokenGrid, k: int = 1) -> int:
    return sum((grid.T - d) * grid.num_sites for d in range(1, min(k, grid.T - 1) + 1))


temporal_forward.num_edges = temporal_backward.num_edges = _count


@register_topology_family("temporal_directed")
def temporal_directed(k: int = 1) -> list:
    """``temporal_directed:k``: forward and backward same-site links, two edge types."""
    return [get_edge_set("temporal_forward", k=k), get_edge_set("temporal_backward", k=k)]


@register_topology_family("tag_directed")
def tag_directed(k: int = 1) -> list:
    """``tag_directed:k``: the intra-frame clique, then forward and backward links (3 types)."""
    return ["intra_frame", *temporal_directed(k)]


__all__ = ["temporal_forward", "temporal_backward", "temporal_directed", "tag_directed"]
