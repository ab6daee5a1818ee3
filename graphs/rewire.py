r"""Randomised rewiring of edge lists: the algorithms behind the topology controls.

Pure, vectorised functions on ``edge_index`` tensors (the loops run over swap
rounds, edge types or frame offsets, never over nodes):

.. code-block:: text

    degree_preserving_rewire   double edge swaps; undirected, directed or oriented
    rewire_typed               the above per edge type, types kept disjoint
    site_cycles                one random cycle of the sites per frame pair
    rewire_temporal            edges between frames moved to random sites of the same frames

:mod:`tagnet.graphs.controls` builds the ``random_typed`` and ``random_temporal``
topologies from them; ``random`` (:mod:`tagnet.graphs.alternatives`) uses the first.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .grid import TokenGrid


def degree_preserving_rewire(edge_index: Tensor, num_nodes: int, rounds: int = 20,
                             generator: torch.Generator | None = None, *,
                             directed: bool = False, oriented: bool = False,
                             forbidden: Tensor | None = None) -> Tensor:
    r"""Randomise a simple graph keeping every node's degree (double edge swaps).

    Each round pairs up the edges at random and proposes, for every pair
    :math:`a \to b,\ c \to d`, the swap to :math:`a \to d,\ c \to b` (undirected:
    :math:`\{a,b\}, \{c,d\} \to \{a,d\}, \{c,b\}`, the second edge flipped with
    probability 1/2). Swaps that would create a self loop, an edge already
    present, an edge in ``forbidden`` or an edge proposed twice are rejected, so
    the result stays simple and every degree (in- and out-degree when
    ``directed``) is unchanged (Maslov & Sneppen, 2002). All swaps of a round
    run at once.

    Args:
        edge_index (Tensor): ``[2, E]``; undirected: both directions of every edge.
        num_nodes (int): number of nodes.
        rounds (int): swap rounds; each attempts one swap per two edges.
        generator (torch.Generator, optional): source of randomness.
        directed (bool): rewire as a directed graph.
        oriented (bool): with ``directed``, never create an edge whose reverse is
            present (or forbidden): for a type whose reverse is another type.
        forbidden (Tensor, optional): ``[2, F]`` edges the result must not hold
            (either direction, unless ``directed`` and not ``oriented``).

    Returns:
        The rewired edges (undirected: both directions), sorted by (source, target).
    """
    N = num_nodes
    if directed:
        u, v = edge_index[0].clone(), edge_index[1].clone()
    else:
        u, v = edge_index[:, edge_index[0] < edge_index[1]]
        u, v = u.clone(), v.clone()
    canonical = not directed or oriented

    def key(x: Tensor, y: Tensor) -> Tensor:
        return torch.minimum(x, y) * N + torch.maximum(x, y) if canonical else x * N + y

    banned = None if forbidden is None or forbidden.numel() == 0 else key(*forbidden)
    E, half = u.numel(), u.numel() // 2
    for _ in range(rounds if half else 0):
        perm = torch.randperm(E, generator=generator)
        i, j = perm[:half], perm[half:2 * half]
        a, b = u[i], v[i]
        if directed:
            c, d = u[j], v[j]
        else:
            flip = torch.rand(half, generator=generator) < 0.5
            c, d = torch.where(flip, v[j], u[j]), torch.where(flip, u[j], v[j])
        k1, k2 = key(a, d), key(c, b)
        ok = (a != d) & (c != b) & (k1 != k2)
        existing = key(u, v)
        ok &= ~torch.isin(k1, existing) & ~torch.isin(k2, existing)
        if banned is not None:
            ok &= ~torch.isin(k1, banned) & ~torch.isin(k2, banned)
        keys = torch.cat([k1[ok], k2[ok]])
        _, inverse, counts = torch.unique(keys, return_inverse=True, return_counts=True)
        clash = counts[inverse] > 1
        ok_idx = ok.nonzero().flatten()
        ok[ok_idx[clash[:ok_idx.numel()] | clash[ok_idx.numel():]]] = False
        if directed:
            v[i[ok]], v[j[ok]] = d[ok], b[ok]
        else:
            u[i[ok]], v[i[ok]] = torch.minimum(a, d)[ok], torch.maximum(a, d)[ok]
            u[j[ok]], v[j[ok]] = torch.minimum(c, b)[ok], torch.maximum(c, b)[ok]
    src, dst = (u, v) if directed else (torch.cat([u, v]), torch.cat([v, u]))
    order = torch.argsort(src * N + dst)
    return torch.stack([src[order], dst[order]])


def _sorted_keys(edge_index: Tensor, N: int) -> Tensor:
    return (edge_index[0] * N + edge_index[1]).sort().values


def rewire_typed(edge_index: Tensor, edge_type: Tensor, num_nodes: int, num_types: int,
                 rounds: int = 20, seed: int = 0) -> list[Tensor]:
    """Degree-preserving rewiring of each edge type (see :func:`random_typed`).

    Types are rewired in order, each against the current edges of all the
    others, so the result keeps the types disjoint.

    Returns:
        One ``[2, E_i]`` edge list per type, with ``E_i`` the reference's count.
    """
    g, N = torch.Generator().manual_seed(int(seed)), num_nodes
    out = [edge_index[:, edge_type == i] for i in range(num_types)]
    keys = [_sorted_keys(p, N) for p in out]
    symmetric = [torch.equal(k, _sorted_keys(p.flip(0), N)) for k, p in zip(keys, out, strict=True)]
    follows: dict[int, int] = {}  # type j -> earlier type i whose reverse it is
    for j in range(num_types):
        for i in range(j):
            if (not symmetric[i] and i not in follows and i not in follows.values()
                    and out[j].size(1) and torch.equal(keys[j], _sorted_keys(out[i].flip(0), N))):
                follows[j] = i
                break
    for i in range(num_types):
        if i in follows:
            continue  # set with its leader
        partner = [j for j, lead in follows.items() if lead == i]
        others = [out[j] for j in range(num_types) if j != i and j not in partner]
        forbidden = torch.cat(others, dim=1) if others else None
        out[i] = degree_preserving_rewire(out[i], N, rounds, g, directed=not symmetric[i],
                                          oriented=bool(partner), forbidden=forbidden)
        for j in partner:
            out[j] = out[i].flip(0)
    return out


def site_cycles(grid: TokenGrid, max_offset: int, seed: int = 0) -> Tensor:
    """Random cycles of the sites, one per frame pair ``(t, t + d)``: ``[max_offset, T, P]``.

    Entry ``[d - 1, t, q]`` is where site ``q`` of frame ``t + d`` moves. Offsets
    are drawn in order ``d = 1, 2, ...``, so the cycles of an offset do not
    depend on ``max_offset``. A cycle through all ``P`` sites has no fixed point
    when ``P >= 2``.
    """
    g, cycles = torch.Generator().manual_seed(int(seed)), []
    for _ in range(max_offset):  # a loop over offsets, never over nodes
        order = torch.rand(grid.T, grid.num_sites, generator=g, dtype=torch.float64)
        order = order.argsort(dim=1, stable=True)  # a uniform random order of the sites
        cycles.append(torch.empty_like(order).scatter_(1, order, order.roll(-1, dims=1)))
    return torch.stack(cycles) if cycles else torch.empty(0, grid.T, grid.num_sites,
                                                           dtype=torch.long)


def rewire_temporal(edge_index: Tensor, grid: TokenGrid, seed: int = 0) -> Tensor:
    r"""Move the later endpoint of every edge between two frames to a random site.

    An edge between frames :math:`t < t'` (either direction) has its endpoint
    :math:`(t', q)` replaced by :math:`(t', \pi_{t, t'}(q))` with
    :math:`\pi` from :func:`site_cycles`; edges within a frame are unchanged.
    Edges keep their order, frames and direction, and one bijection per frame
    pair keeps the edge list simple and a symmetric one symmetric.
    """
    P = grid.num_sites
    frame = torch.div(edge_index, P, rounding_mode="floor")  # [2, E]
    lo, hi = frame.min(0).values, frame.max(0).values
    cross = hi > lo
    if not bool(cross.any()):
        return edge_index.clone()
    cycles = site_cycles(grid, int((hi - lo).max()), seed)
    later_is_dst = frame[1] > frame[0]
    later = torch.where(later_is_dst, edge_index[1], edge_index[0])
    moved = hi * P + cycles[(hi - lo - 1).clamp(min=0), lo, later % P]
    out = edge_index.clone()
    out[1] = torch.where(cross & later_is_dst, moved, edge_index[1])
    out[0] = torch.where(cross & ~later_is_dst, moved, edge_index[0])
    return out


__all__ = ["degree_preserving_rewire", "rewire_typed", "site_cycles", "rewire_temporal"]
