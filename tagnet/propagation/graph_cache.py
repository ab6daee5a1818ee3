r"""Normalised batched clip graphs for PyG's APPNP, built once and reused.

APPNP's ``gcn_norm`` turns the clip graph :math:`M` into
:math:`A = \tilde D^{-1/2}(M + I)\tilde D^{-1/2}`. For a static topology
:math:`A` depends only on the grid, the topology and the per-type weights, and
every clip of a batch has the same :math:`A`, so the batched graph is one clip's
graph tiled by node offsets. This module computes it once per (grid, topology,
batch size, device, dtype, weights, layout) and keeps the last
:data:`MAX_ENTRIES` in an LRU cache; :data:`BUILDS` counts the builds. While a
tracer runs (``torch.compile``, ``torch.export``, fake tensors) graphs are built
and not kept (:func:`tagnet.graphs.caching.is_tracing`), so no eager call ever
reads a tensor a tracer made.

Layouts: ``"edge"`` gives ``(edge_index [2, B(E+N)], edge_weight [B(E+N)])``
for message passing; ``"csr"`` gives a ``torch.sparse_csr`` matrix
:math:`A_{ij}` = weight of edge :math:`j \to i` (PyG's ``adj_t``) and ``None``.
With learnable weights (a tensor that requires grad) only the index structure
is cached and the normalised values are recomputed, differentiably, per call.
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
from torch import Tensor
from torch_geometric.utils import scatter

from tagnet.graphs import TokenGrid, get_topology, tile_edges
from tagnet.graphs.batching import edge_template
from tagnet.graphs.caching import LRUCache
from tagnet.graphs.topology import check_edge_budget

LAYOUTS = ("edge", "csr", "dense")
MAX_ENTRIES = 16
#: Builds so far, per kind (tests and benchmarks read it).
BUILDS = {"clip": 0, "index": 0, "graph": 0}
_CLIPS = LRUCache(MAX_ENTRIES, "clip graphs")
_LRU = LRUCache(MAX_ENTRIES, "normalised batched graphs")


def clear_cache() -> None:
    """Drop every cached graph (the build counters keep counting)."""
    _CLIPS.clear()
    _LRU.clear()


def as_weight_tensor(weights, dtype, device) -> Tensor:
    """Per-type weights as a tensor; a tensor keeps its autograd history."""
    if isinstance(weights, Tensor):
        return weights.to(device=device, dtype=dtype)
    return torch.tensor(weights, dtype=dtype, device=device)


def _lru(key: tuple, build):
    def build_normal():
        with torch.inference_mode(False):  # a cached inference tensor could not be saved
            return build()

    return _LRU.get(key, build_normal)


def clip_graph(grid: TokenGrid, topology, device=None) -> tuple[Tensor, Tensor]:
    """One clip's edges followed by its ``N`` self loops, and their types.

    Returns ``(edge_index [2, E + N], edge_type [E + N])``; self loops get the
    type id ``num_edge_types`` (weight 1, as ``gcn_norm`` adds them).
    """
    grid, topology = TokenGrid.parse(grid), get_topology(topology)
    device = torch.device(device or "cpu")
    if topology.dynamic:
        raise ValueError(f"topology {topology.name!r} is data-dependent; its graphs are "
                         "built per batch and cannot be cached")

    def build():
        edge_index, edge_type = edge_template(grid, topology, device)
        BUILDS["clip"] += 1
        with torch.inference_mode(False):
            loops = torch.arange(grid.num_nodes, device=device)
            return (torch.cat([edge_index, loops.expand(2, -1)], dim=1),
                    torch.cat([edge_type, torch.full_like(loops, topology.num_edge_types)]))

    return _CLIPS.get((grid, topology, device), build)


def gcn_edge_weight(edge_index: Tensor, edge_type: Tensor, type_weights: Tensor,
                    num_nodes: int) -> Tensor:
    r"""``gcn_norm``'s weights :math:`d_i^{-1/2} w_{ji} d_j^{-1/2}` for typed edges with loops.

    ``type_weights`` has one entry per edge type; the loop type (the last id) weighs 1.
    """
    w = torch.cat([type_weights, type_weights.new_ones(1)])[edge_type]
    src, dst = edge_index
    deg = scatter(w, dst, 0, dim_size=num_nodes, reduce="sum")
    dinv = deg.pow(-0.5).masked_fill(deg == 0, 0.0)
    return dinv[src] * w * dinv[dst]


def _index(grid: TokenGrid, topology, batch_size: int, device, layout: str):
    """Cached index structure of the batched graph: tiled edges, CSR pointers, or nothing."""
    def build():
        BUILDS["index"] += 1
        edge_index, _ = clip_graph(grid, topology, device)
        N = grid.num_nodes
        if layout == "dense":
            return (edge_index[1], edge_index[0]), None
        check_edge_budget(edge_index.size(1) * batch_size,
                          f"{batch_size} clips of topology {topology.name!r} on grid {grid}")
        tiled = tile_edges(edge_index, N, batch_size)
        if layout == "edge":
            return tiled, None
        src, dst = tiled  # CSR rows are targets: A @ x sums the messages
        perm = torch.argsort(dst * (N * batch_size) + src)
        crow = torch.zeros(N * batch_size + 1, dtype=torch.long, device=device)
        crow[1:] = torch.bincount(dst, minlength=N * batch_size).cumsum(0)
        return (crow, src[perm]), perm

    return _lru((grid, topology, batch_size, device, layout, "index"), build)


def gcn_graph(grid: TokenGrid | str | tuple, topology, batch_size: int, *, device=None,
              dtype: torch.dtype = torch.float32,
              type_weights: Tensor | Sequence[float] | None = None, layout: str = "edge"):
    """The normalised graph of ``batch_size`` clips for ``APPNP(normalize=False)``.

    Args:
        grid, topology: the clip graph (a static topology).
        batch_size (int): clips in the batch.
        device, dtype: where and in which precision the weights live.
        type_weights (Tensor or sequence of float, optional): per-type weights
            (default: the topology's); a tensor that requires grad is not cached.
        layout (str): ``"edge"``, ``"csr"`` or ``"dense"`` (one clip's ``[N, N]`` matrix).

    Returns:
        ``(edge_index, edge_weight)``, ``(csr_adj_t, None)`` or ``(dense_A, None)``.
    """
    grid, topology = TokenGrid.parse(grid), get_topology(topology)
    if layout not in LAYOUTS:
        raise ValueError(f"layout {layout!r} is unknown; known: {', '.join(LAYOUTS)}")
    device = torch.device(device or "cpu")
    if layout == "dense":
        batch_size = 1  # one clip's matrix serves every clip
    if type_weights is None:
        type_weights = topology.weights or (1.0,) * topology.num_edge_types
    learn = isinstance(type_weights, Tensor) and type_weights.requires_grad
    if not learn:
        type_weights = tuple(float(w) for w in (
            type_weights.tolist() if isinstance(type_weights, Tensor) else type_weights))

    def build():
        BUILDS["graph"] += 1
        index, perm = _index(grid, topology, batch_size, device, layout)
        edge_index, edge_type = clip_graph(grid, topology, device)
        w = as_weight_tensor(type_weights, dtype, device)
        norm = gcn_edge_weight(edge_index, edge_type, w, grid.num_nodes)
        if layout == "dense":
            N = grid.num_nodes
            return norm.new_zeros(N, N).index_put(index, norm, accumulate=True), None
        norm = norm.repeat(batch_size)
        if layout == "edge":
            return index, norm
        size = (grid.num_nodes * batch_size,) * 2
        with warnings.catch_warnings():  # "sparse CSR support is in beta"
            warnings.simplefilter("ignore", UserWarning)
            adj_t = torch.sparse_csr_tensor(*index, norm[perm], size=size,
                                            check_invariants=False)
        return adj_t, None

    if learn:
        return build()
    key = (grid, topology, batch_size, device, dtype, type_weights, layout)
    return _lru(key, build)


def cache_info() -> dict:
    """Entries held and builds so far."""
    return {"clips": len(_CLIPS), "entries": len(_LRU), "max_entries": MAX_ENTRIES, **BUILDS}


__all__ = ["gcn_graph", "clip_graph", "gcn_edge_weight", "clear_cache", "cache_info", "BUILDS",
           "LAYOUTS"]
