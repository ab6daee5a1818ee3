"""tagnet.graphs: token grids, typed edge sets, topologies and batched PyG graphs.

Depends on torch and torch_geometric only.
"""
from .batching import batch_graphs, edge_template, edge_weight_from_types, tile_edges
from .edge_sets import (
    EdgeSet,
    FunctionEdgeSet,
    get_edge_set,
    intra_frame,
    list_edge_sets,
    no_edges,
    register_edge_set,
    temporal,
)
from .grid import TokenGrid
from .registry import Registry
from .topology import Topology, get_topology, list_topologies, register_topology

__all__ = [
    "TokenGrid", "EdgeSet", "FunctionEdgeSet", "register_edge_set", "get_edge_set",
    "list_edge_sets", "intra_frame", "temporal", "no_edges", "Topology", "register_topology",
    "get_topology", "list_topologies", "batch_graphs", "edge_template", "tile_edges",
    "edge_weight_from_types", "Registry",
]
