import pytest
import torch

from tagnet.graphs import (
    EdgeSet,
    TokenGrid,
    Topology,
    get_topology,
    list_topologies,
    register_edge_set,
    register_topology,
)
from tagnet.graphs.edge_sets import EDGE_SETS
from tagnet.graphs.topology import TOPOLOGIES


def test_registered_topologies_and_types():
    assert {"tag", "intra_frame", "temporal", "none"} <= set(list_topologies())
    tag = get_topology("tag")
    assert tag.edge_types == ("intra_frame", "temporal")
    edge_index, edge_type = tag.edges(TokenGrid(2, 2, 2))
    assert edge_type.tolist() == [0] * 24 + [1] * 8
    assert edge_index.shape == (2, 32)
    assert get_topology("none").edges("2x2x2")[0].shape == (2, 0)


def test_paper_edge_counts():
    for T, counts in ((8, [18816, 686]), (4, [9408, 294])):
        _, edge_type = get_topology("tag").edges(TokenGrid(T, 7, 7))
        assert edge_type.bincount().tolist() == counts


def test_edges_are_cached_per_grid():
    tag = get_topology("tag")
    assert tag.edges("3x2x2")[0] is tag.edges(TokenGrid(3, 2, 2))[0]


def test_resolver_passes_objects_and_lists():
    topo = Topology(["temporal", "intra_frame"], weights=[2.0, 0.5])
    assert get_topology(topo) is topo
    assert topo.edge_types == ("temporal", "intra_frame")
    assert topo.type_weights().tolist() == [2.0, 0.5]
    assert get_topology(["intra_frame"]).edge_types == ("intra_frame",)
    both = get_topology("intra_frame") + "temporal"
    assert both.edge_types == get_topology("tag").edge_types


def test_unknown_topology_lists_choices():
    with pytest.raises(ValueError, match="topology 'tga' is unknown; known: tag, intra_frame"):
        get_topology("tga")


def test_duplicate_registration_raises():
    with pytest.raises(ValueError, match="already registered"):
        register_topology("tag", ["intra_frame"])
    with pytest.raises(ValueError, match="already registered"):
        register_edge_set("temporal", lambda grid: torch.empty(2, 0, dtype=torch.long))


def test_bad_weights_and_duplicate_types():
    with pytest.raises(ValueError, match="2 edge types .* 1 weights"):
        Topology(["intra_frame", "temporal"], weights=[1.0])
    with pytest.raises(ValueError, match="distinct"):
        Topology(["temporal", "temporal"])


def test_user_defined_edge_set_and_topology_in_a_few_lines():
    @register_edge_set("test_skip2")
    def skip2(grid):  # same site, two frames apart, both directions
        n = torch.arange(max(grid.T - 2, 0) * grid.num_sites)
        return torch.stack([torch.cat([n, n + 2 * grid.num_sites]),
                            torch.cat([n + 2 * grid.num_sites, n])])

    try:
        topo = register_topology("test_tag_skip2", ["intra_frame", "temporal", "test_skip2"])
        assert get_topology("test_tag_skip2") is topo
        edge_index, edge_type = topo.edges(TokenGrid(3, 1, 1))
        assert edge_index[:, edge_type == 2].t().tolist() == [[0, 2], [2, 0]]
        assert edge_index[:, edge_type == 1].t().tolist() == [[0, 1], [1, 2], [1, 0], [2, 1]]
    finally:
        TOPOLOGIES.unregister("test_tag_skip2")
        EDGE_SETS.unregister("test_skip2")


def test_edge_set_subclass_and_shape_check():
    class Broken(EdgeSet):
        name = "broken"

        def build(self, grid, x=None):
            return torch.zeros(3, 1)

    with pytest.raises(ValueError, match="broken.*\\[2, E\\]"):
        Topology([Broken()]).edges("1x1x1")
