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
from .topology import (
    Topology,
    get_topology,
    list_topologies,
    list_topology_families,
    parse_topology,
    register_topology,
    register_topology_family,
)

__all__ = [
    "TokenGrid", "EdgeSet", "FunctionEdgeSet", "register_edge_set", "get_edge_set",
    "list_edge_sets", "intra_frame", "temporal", "no_edges", "Topology", "register_topology",
    "get_topology", "list_topologies", "batch_graphs", "edge_template", "tile_edges",
    "edge_weight_from_types", "Registry", "parse_topology", "register_topology_family",
    "list_topology_families",
]

# The topology lab: alternative, directed and data-dependent edge sets, controls at equal
# typing, diagnostics. Importing these modules registers their edge sets and topologies.
from .alternatives import (  # noqa: E402
    global_edges,
    random_edges,
    spatial_grid,
    temporal_dense,
    temporal_window,
)
from .controls import random_temporal, random_typed  # noqa: E402
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
from .directed import tag_directed, temporal_backward, temporal_directed, temporal_forward  # noqa: E402,E501
from .dynamic import KNNFeature, SimilarityAligned  # noqa: E402
from .rewire import degree_preserving_rewire, rewire_temporal, rewire_typed  # noqa: E402
from .symmetry import TimeSymmetry, time_symmetry  # noqa: E402

__all__ += [
    "spatial_grid", "temporal_window", "temporal_dense", "global_edges", "random_edges",
    "degree_preserving_rewire", "KNNFeature", "SimilarityAligned",
    "EdgeTypeStats", "Spectrum", "OversmoothingCurves", "edge_stats", "normalized_adjacency",
    "spectrum", "step_shares", "frame_mass", "pooling_weights", "dirichlet_energy",
    "mean_pairwise_cosine", "oversmoothing_curves", "summarize", "TimeSymmetry",
    "time_symmetry",
]
__all__ += [
    "temporal_forward", "temporal_backward", "temporal_directed", "tag_directed",
    "random_temporal", "random_typed", "rewire_temporal", "rewire_typed",
]
