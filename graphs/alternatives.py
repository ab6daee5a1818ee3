"""Alternative static edge sets and the topologies made from them.

The paper's graph joins an intra-frame clique with time-aligned links. The
edge sets here vary one side at a time, so that a topology ablation isolates
one assumption:

.. code-block:: text

    spatial_grid(n)      4- or 8-neighbour lattice inside each frame     (local vs clique)
    temporal_window(k)   same site, 1 <= |dt| <= k                        (longer time links)
    temporal_dense       every site of t <-> every site of t +- 1         (is alignment needed?)
    global               all ordered pairs of the clip                    (no structure)
    random(reference)    degree-preserving rewiring of a reference graph  (a control)

All builders are vectorised, return ``[2, E]`` long tensors with source in
row 0, and never add self loops. :func:`parse_topology` turns a string such as
``"intra_frame+temporal_window:k=2"`` into a :class:`Topology`.
"""
from __future__ import annotations

import inspect

import torch
from torch import Tensor

from .edge_sets import EDGE_SETS, EdgeSet, FunctionEdgeSet, get_edge_set, register_edge_set
from .grid import TokenGrid
from .topology import TOPOLOGIES, Topology, get_topology, register_topology

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


def degree_preserving_rewire(edge_index: Tensor, num_nodes: int, rounds: int = 20,
                             generator: torch.Generator | None = None) -> Tensor:
    r"""Randomise an undirected simple graph keeping every node's degree (double edge swaps).

    Each round pairs up the undirected edges at random and proposes, for every
    pair :math:`\{a,b\}, \{c,d\}`, the swap to :math:`\{a,d\}, \{c,b\}` (the
    second edge is flipped with probability 1/2). Swaps that would create a
    self loop, an edge already present, or an edge proposed twice are
    rejected, so the result stays simple and every degree is unchanged
    (Maslov & Sneppen, 2002). All swaps of a round run at once.

    Args:
        edge_index (Tensor): a symmetric edge list ``[2, E]`` (both directions).
        num_nodes (int): number of nodes.
        rounds (int): swap rounds; each attempts one swap per two undirected edges.
        generator (torch.Generator, optional): source of randomness.

    Returns:
        The rewired edges in both directions, sorted by (source, target).
    """
    u, v = edge_index[:, edge_index[0] < edge_index[1]]
    u, v = u.clone(), v.clone()
    E, half = u.numel(), u.numel() // 2
    for _ in range(rounds if half else 0):
        perm = torch.randperm(E, generator=generator)
        i, j = perm[:half], perm[half:2 * half]
        flip = torch.rand(half, generator=generator) < 0.5
        a, b = u[i], v[i]
        c, d = torch.where(flip, v[j], u[j]), torch.where(flip, u[j], v[j])
        k1 = torch.minimum(a, d) * num_nodes + torch.maximum(a, d)
        k2 = torch.minimum(c, b) * num_nodes + torch.maximum(c, b)
        ok = (a != d) & (c != b) & (k1 != k2)
        existing = u * num_nodes + v
        ok &= ~torch.isin(k1, existing) & ~torch.isin(k2, existing)
        keys = torch.cat([k1[ok], k2[ok]])
        uniq, inverse, counts = torch.unique(keys, return_inverse=True, return_counts=True)
        clash = counts[inverse] > 1
        ok_idx = ok.nonzero().flatten()
        ok[ok_idx[clash[:ok_idx.numel()] | clash[ok_idx.numel():]]] = False
        u[i[ok]], v[i[ok]] = torch.minimum(a, d)[ok], torch.maximum(a, d)[ok]
        u[j[ok]], v[j[ok]] = torch.minimum(c, b)[ok], torch.maximum(c, b)[ok]
    src, dst = torch.cat([u, v]), torch.cat([v, u])
    order = torch.argsort(src * num_nodes + dst)
    return torch.stack([src[order], dst[order]])


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


def _parse_value(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def _check_params(edge_set: EdgeSet, spec: str) -> None:
    if isinstance(edge_set, FunctionEdgeSet):
        try:
            inspect.signature(edge_set.fn).bind(None, **edge_set.params)
        except TypeError:
            names = list(inspect.signature(edge_set.fn).parameters)[1:]
            raise ValueError(
                f"edge set {edge_set.name!r} in {spec!r} takes parameters "
                f"({', '.join(names) or 'none'}); got {edge_set.params}") from None


def parse_topology(spec: str | Topology) -> Topology:
    """Make a topology from a string: a registered name or a ``+``-joined list of edge sets.

    Grammar: ``SPEC := PART ("+" PART)*``, ``PART := NAME [":" KEY=VALUE ("," KEY=VALUE)*]``.
    ``NAME`` is an edge set (with optional parameters) or a registered topology
    (its edge sets are spliced in). Values are read as int, float, true/false or text.

    Example:
        >>> parse_topology("intra_frame+temporal_window:k=2").edge_types
        ('intra_frame', 'temporal_window')
        >>> parse_topology("tag+knn_feature:k=4").edge_types
        ('intra_frame', 'temporal', 'knn_feature')
    """
    if isinstance(spec, Topology):
        return spec
    spec = spec.strip()
    if spec in TOPOLOGIES:
        return get_topology(spec)
    edge_sets: list[EdgeSet] = []
    for part in spec.split("+"):
        name, _, args = (s.strip() for s in part.partition(":"))
        params = {}
        for item in filter(None, (a.strip() for a in args.split(","))):
            key, eq, value = (s.strip() for s in item.partition("="))
            if not eq or not key:
                raise ValueError(f"parameter {item!r} in topology {spec!r} is not KEY=VALUE, "
                                 "e.g. 'temporal_window:k=2'")
            params[key] = _parse_value(value)
        if name in EDGE_SETS:
            try:
                edge_set = get_edge_set(name, **params)
            except TypeError as exc:
                raise ValueError(f"edge set {name!r} in {spec!r}: {exc}") from None
            _check_params(edge_set, spec)
            edge_sets.append(edge_set)
        elif name in TOPOLOGIES and not params:
            edge_sets.extend(get_topology(name).edge_sets)
        else:
            where = "" if name == spec else f" in {spec!r}"
            raise ValueError(
                f"topology or edge set {name!r}{where} is unknown; topologies: "
                f"{', '.join(TOPOLOGIES.names())}; edge sets (join with '+', parameters "
                f"after ':'): {', '.join(EDGE_SETS.names())}")
    return Topology(edge_sets, name=spec)


register_topology("spatial_grid", ["spatial_grid"])
register_topology("lattice", ["spatial_grid", "temporal"])
register_topology("tag_window", Topology(["intra_frame", get_edge_set("temporal_window", k=2)],
                                         name="tag_window"))
register_topology("tag_dense", ["intra_frame", "temporal_dense"])
register_topology("temporal_dense", ["temporal_dense"])
register_topology("global", ["global"])
register_topology("random", ["random"])
