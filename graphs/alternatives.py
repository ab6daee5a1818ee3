"""Alternative static edge sets and the topologies made from them.

The paper's graph joins an intra-frame clique with time-aligned links. The
edge sets here vary one side at a time, so that a topology ablation isolates
one assumption:

.. code-block:: text

    spatial_grid(n)      4- or 8-neighbour lattice inside each frame     (local vs clique)
    temporal_window(k)   same site, 1 <= |dt| <= k                        (longer time links)
    temporal_dense       every site of t <-> every site of t +- 1         (is alignment needed?)
    global               all ordered pairs of the clip                    (no structure)
    random(reference)    degree-preserving rewiring of a reference graph  (a control, one type;
                         typed controls: tagnet.graphs.controls)

Naming, for configs (``model.kwargs.topology=...``) and the command line: an
edge-set name is a one-type topology of those edges alone (``temporal_window:2``,
like ``temporal``); the ``tag_*`` names add the intra-frame clique first
(``tag_window:k`` = ``intra_frame+temporal_window:k``, ``tag_dense``, and
``tag_directed:k`` in :mod:`tagnet.graphs.directed`). Where the graph is the only
path across time (an encoder attending within frames), use the ``tag_*`` forms.
``tag_window`` alone keeps its old meaning, ``k = 2``.

All builders are vectorised, return ``[2, E]`` long tensors with source in
row 0, and never add self loops. :func:`~tagnet.graphs.topology.parse_topology`
(re-exported here) turns a string such as ``"intra_frame+temporal_window:2"`` into
a :class:`Topology`; ``tag_window:k`` is the clique plus ``temporal_window(k)``.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .edge_sets import get_edge_set, register_edge_set
from .grid import TokenGrid
from .rewire import degree_preserving_rewire
from .topology import get_topology, parse_topology, register_topology, register_topology_family

_OFFSETS = {
    4: [(-1, 0), (0, -1), (0, 1), (1, 0)],
    8: [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)],
}


def _per_frame(src: Tensor, dst: Tensor, grid: TokenGrid) -> Tensor:
    """Repeat site-level edges ``src -> dst`` in every frame (frame-major node ids)."""
    offset = (torch.arange(grid.T) * grid.num_sites).unsqueeze(1)  # (T, 1)
    return torch.stack([(src.unsqueeze(0) + offset).flatten(),
                        (dst.unsqueeze(0) + offset).flatten()])


@register_edge_set("spatial_grid", symmetric=True)
def spatial_grid(grid: TokenGrid, neighbours: int = 4) -> Tensor:
    r"""Lattice edges inside each frame: 4-neighbour (von Neumann) or 8-neighbour (Moore).

    :math:`(t,h,w) \to (t,h+\delta_h,w+\delta_w)` for the in-bounds offsets,
    ordered by frame, source, then target. Per frame there are
    :math:`2[H(W-1) + (H-1)W]` edges, plus :math:`4(H-1)(W-1)` diagonals for 8.

    Example:
        >>> spatial_grid(TokenGrid(1, 1, 3)).t().tolist()
        [[0, 1], [1, 0], [1, 2], [2, 1]]
    """
    if neighbours not in _OFFSETS:
        raise ValueError(f"spatial_grid takes neighbours=4 or 8, got {neighbours!r}")
    off = torch.tensor(_OFFSETS[neighbours])  # (O, 2)
    h = torch.arange(grid.H).repeat_interleave(grid.W).unsqueeze(1)  # (P, 1)
    w = torch.arange(grid.W).repeat(grid.H).unsqueeze(1)
    nh, nw = h + off[:, 0], w + off[:, 1]  # (P, O)
    valid = (nh >= 0) & (nh < grid.H) & (nw >= 0) & (nw < grid.W)
    src = torch.arange(grid.num_sites).unsqueeze(1).expand_as(nh)[valid]
    return _per_frame(src, (nh * grid.W + nw)[valid], grid)


@register_edge_set("temporal_window", symmetric=True)
def temporal_window(grid: TokenGrid, k: int = 1) -> Tensor:
    r"""Same site, frames up to ``k`` apart: :math:`(t,p) \leftrightarrow (t+d,p)`, :math:`1 \le d \le k`.

    For each ``d`` the forward edges come first, then their reverses, so ``k=1``
    equals :func:`~tagnet.graphs.edge_sets.temporal` edge for edge. Count:
    :math:`\sum_{d=1}^{\min(k, T-1)} 2 (T-d) P`.
    """  # noqa: E501
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"temporal_window needs an integer k >= 1, got k={k!r}")
    P, parts = grid.num_sites, []
    for d in range(1, min(k, grid.T - 1) + 1):
        n = torch.arange((grid.T - d) * P)
        parts.append(torch.stack([torch.cat([n, n + d * P]), torch.cat([n + d * P, n])]))
    return torch.cat(parts, dim=1) if parts else torch.empty(2, 0, dtype=torch.long)


@register_edge_set("temporal_dense", symmetric=True)
def temporal_dense(grid: TokenGrid) -> Tensor:
    r"""Every site of frame ``t`` to every site of frames ``t - 1`` and ``t + 1``.

    The alignment-free counterpart of the time-aligned edges, and a superset of
    them: :math:`2 (T-1) P^2` edges, forward ``(t,p) -> (t+1,q)`` first.
    """
    P = grid.num_sites
    src = torch.arange((grid.T - 1) * P).repeat_interleave(P)
    next_frame = (torch.div(src, P, rounding_mode="floor") + 1) * P
    dst = next_frame + torch.arange(P).repeat((grid.T - 1) * P)
    return torch.stack([torch.cat([src, dst]), torch.cat([dst, src])])


@register_edge_set("global", symmetric=True)
def global_edges(grid: TokenGrid) -> Tensor:
    """All ordered pairs of distinct nodes of the clip: ``N * (N - 1)`` edges."""
    n = torch.arange(grid.num_nodes)
    src, dst = n.repeat_interleave(grid.num_nodes), n.repeat(grid.num_nodes)
    keep = src != dst
    return torch.stack([src[keep], dst[keep]])


@register_edge_set("random", symmetric=True)
def random_edges(grid: TokenGrid, reference: str = "tag", seed: int = 0,
                 rounds: int = 20) -> Tensor:
    """A random graph with the same edge count and per-node degrees as ``reference``.

    The control for topology ablations: :func:`degree_preserving_rewire` of the
    reference's (static, symmetric) graph, deterministic for a given ``seed``.
    Duplicate edges of the reference (two edge sets holding the same pair) count once.
    """
    ref = get_topology(reference)
    edge_index, _ = ref.edges(grid)
    N = grid.num_nodes
    keys = torch.unique(edge_index[0] * N + edge_index[1])
    edge_index = torch.stack([torch.div(keys, N, rounding_mode="floor"), keys % N])
    if (edge_index[0] == edge_index[1]).any():
        raise ValueError(f"reference topology {ref.name!r} has self loops; the random "
                         "control rewires simple graphs only")
    if not torch.equal(keys, torch.unique(edge_index[1] * N + edge_index[0])):
        raise ValueError(f"reference topology {ref.name!r} is not symmetric on grid {grid}; "
                         "the random control keeps undirected degrees, so use a symmetric one")
    generator = torch.Generator().manual_seed(int(seed))
    return degree_preserving_rewire(edge_index, N, rounds, generator)


# edge counts known before building: Topology.edges checks them against the memory budget,
# `tagnet topology` against its size limit
spatial_grid.num_edges = lambda grid, neighbours=4: grid.T * (
    2 * (grid.H * (grid.W - 1) + (grid.H - 1) * grid.W)
    + (4 * (grid.H - 1) * (grid.W - 1) if neighbours == 8 else 0))
temporal_window.num_edges = lambda grid, k=1: sum(
    2 * (grid.T - d) * grid.num_sites for d in range(1, min(k, grid.T - 1) + 1))
temporal_dense.num_edges = lambda grid: 2 * (grid.T - 1) * grid.num_sites ** 2
global_edges.num_edges = lambda grid: grid.num_nodes * (grid.num_nodes - 1)
# the reference's count: exact unless two of its edge sets share edges (then an upper bound)
random_edges.num_edges = lambda grid, reference="tag", seed=0, rounds=20: get_topology(
    reference).num_edges(grid)

register_topology("spatial_grid", ["spatial_grid"])
register_topology("lattice", ["spatial_grid", "temporal"])


@register_topology_family("tag_window")
def tag_window(k: int = 2) -> list:
    """``tag_window:k``: the intra-frame clique and same-site links up to ``k`` frames apart."""
    return ["intra_frame", get_edge_set("temporal_window", k=k)]


register_topology("tag_dense", ["intra_frame", "temporal_dense"])
register_topology("temporal_dense", ["temporal_dense"])
register_topology("global", ["global"])
register_topology("random", ["random"])

__all__ = ["spatial_grid", "temporal_window", "temporal_dense", "global_edges",
           "degree_preserving_rewire", "random_edges", "tag_window", "parse_topology"]
