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

# Topology lab (issue 8): alternative and data-dependent edge sets, diagnostics.
from .alternatives import (  # noqa: E402
    degree_preserving_rewire,
    global_edges,
    parse_topology,
    random_edges,
    spatial_grid,
    temporal_dense,
    temporal_window,
)
from .diagnostics import (  # noqa: E402
    EdgeTypeStats,
    OversmoothingCurves,
    Spectrum,
    dirichlet_energy,
    edge_stats,
    frame_mass,
    mean_pairwise_cosine,
    normalized_adjacency,
    oversmoothing_curves,
    pooling_weights,
    spectrum,
    step_shares,
    summarize,
)
from .dynamic import KNNFeature, SimilarityAligned  # noqa: E402

__all__ += [
    "spatial_grid", "temporal_window", "temporal_dense", "global_edges", "random_edges",
    "degree_preserving_rewire", "parse_topology", "KNNFeature", "SimilarityAligned",
    "EdgeTypeStats", "Spectrum", "OversmoothingCurves", "edge_stats", "normalized_adjacency",
    "spectrum", "step_shares", "frame_mass", "pooling_weights", "dirichlet_energy",
    "mean_pairwise_cosine", "oversmoothing_curves", "summarize",
]
