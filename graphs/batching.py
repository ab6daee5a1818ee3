"""Batching clip graphs into one PyG :class:`~torch_geometric.data.Batch`."""
from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import Batch

from .caching import LRUCache, is_tracing
from .grid import TokenGrid
from .topology import check_edge_budget, check_node_ids, get_topology

#: Per-clip edge templates, one per (grid, topology, device); the least recently used go first.
TEMPLATES = LRUCache(32, "edge templates")
TEMPLATE_BUILDS = {"count": 0}  # how many templates were built (tests and benchmarks read it)


def edge_template(grid: TokenGrid, topology, device=None) -> tuple[Tensor, Tensor]:
    """The static edges of one clip on ``device``, built once per (grid, topology, device).

    Returns ``(edge_index [2, E], edge_type [E])``. The last :data:`TEMPLATES`
    ``.max_entries`` templates are kept; nothing is kept while a tracer runs
    (:func:`~tagnet.graphs.caching.is_tracing`).
    """
    topology = get_topology(topology)
    device = torch.device(device) if device is not None else torch.device("cpu")
    grid = TokenGrid.parse(grid)

    def build():
        edge_index, edge_type = topology.edges(grid)
        TEMPLATE_BUILDS["count"] += 1
        return edge_index.to(device), edge_type.to(device)

    return TEMPLATES.get((grid, topology, device), build)  # the key holds the topology alive


def tile_edges(edge_index: Tensor, num_nodes: int, batch_size: int) -> Tensor:
    """Repeat one clip's ``edge_index`` for ``batch_size`` clips of ``num_nodes`` nodes.

    Clip ``b``'s copy is offset by ``b * num_nodes``; the result equals the
    ``edge_index`` of ``Batch.from_data_list`` over identical clip graphs.
    """
    E = edge_index.size(1)
    offset = (torch.arange(batch_size, device=edge_index.device) * num_nodes).repeat_interleave(E)
    return edge_index.repeat(1, batch_size) + offset


def batch_graphs(tokens: Tensor, grid: TokenGrid | str | tuple, topology="tag") -> Batch:
    r"""Batch the clip graphs of ``tokens`` into one :class:`~torch_geometric.data.Batch`.

    Static edges come from a cached per-clip template tiled by offsets (no
    Python loop over clips). Data-dependent edge sets are built from ``tokens``.

    Args:
        tokens (Tensor): token features, shape ``(B, N, C)`` with ``N = T*H*W``
            in frame-major order.
        grid (TokenGrid): the token grid.
        topology (str or Topology): the graph (default ``"tag"``).

    Returns:
        Batch with ``x [B*N, C]``, ``edge_index [2, E]``, ``edge_type [E]``,
        ``batch [B*N]``, ``ptr [B+1]`` and ``frame [B*N]`` (the frame id of each
        node; named so that batching does not shift it). For static topologies
        it equals ``Batch.from_data_list`` of the per-clip ``Data`` objects, and
        ``to_data_list()`` recovers them.

    Example:
        >>> tokens = torch.randn(4, 8 * 7 * 7, 512)
        >>> batch_graphs(tokens, TokenGrid(8, 7, 7), "tag")
        DataBatch(x=[1568, 512], edge_index=[2, 78008], edge_type=[78008], frame=[1568], batch=[1568], ptr=[5])
    """  # noqa: E501
    grid = TokenGrid.parse(grid)
    topology = get_topology(topology)
    if tokens.dim() != 3 or tokens.size(1) != grid.num_nodes:
        raise ValueError(
            f"tokens of shape {tuple(tokens.shape)} do not match grid {grid} "
            f"(expected (B, {grid.num_nodes}, C))"
        )
    B, N, _ = tokens.shape
    device = tokens.device
    index_parts, type_parts = [], []
    static, type_ids = topology.static_part()
    if static.num_edge_types:
        ei, et = edge_template(grid, static, device)
        if static is not topology:  # type ids of the static subset -> ids in the topology
            et = type_ids.to(device)[et]
        check_edge_budget(ei.size(1) * B, f"{B} clips of topology {topology.name!r} on grid {grid}")
        index_parts.append(tile_edges(ei, N, B))
        type_parts.append(et.repeat(B))
    for type_id, edge_set in enumerate(topology.edge_sets):
        if edge_set.dynamic:
            ei = edge_set(grid, tokens).to(device)
            if not is_tracing(tokens):
                check_node_ids(ei, B * N, edge_set, f"{B} clips of grid {grid} (offset b * N)")
            index_parts.append(ei)
            type_parts.append(torch.full((ei.size(1),), type_id, dtype=torch.long, device=device))
    edge_index = torch.cat(index_parts, dim=1)
    edge_type = torch.cat(type_parts)

    batch = Batch(
        x=tokens.reshape(B * N, tokens.size(2)),
        edge_index=edge_index,
        edge_type=edge_type,
        frame=grid.frame(device).repeat(B),
        batch=torch.arange(B, device=device).repeat_interleave(N),
        ptr=torch.arange(B + 1, device=device) * N,
    )
    if not topology.dynamic:  # bookkeeping that lets to_data_list() split the batch
        E = edge_index.size(1) // B if B else 0
        node_slices = torch.arange(B + 1) * N
        edge_slices = torch.arange(B + 1) * E
        zeros = torch.zeros(B, dtype=torch.long)
        batch._slice_dict = {"x": node_slices, "edge_index": edge_slices,
                             "edge_type": edge_slices, "frame": node_slices}
        batch._inc_dict = {"x": zeros, "edge_index": node_slices[:-1],
                           "edge_type": zeros, "frame": zeros}
    batch._num_graphs = B
    return batch


def edge_weight_from_types(edge_type: Tensor, type_weights: Tensor) -> Tensor:
    """Per-edge weights ``type_weights[edge_type]`` (APPNP takes one scalar per edge)."""
    return type_weights.to(edge_type.device)[edge_type]
