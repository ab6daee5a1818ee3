"""Bad graph input is refused with the culprit named (issue 16, item 12)."""
import math

import pytest
import torch

import tagnet
from tagnet.graphs import FunctionEdgeSet, TokenGrid, Topology, batch_graphs, get_topology
from tagnet.graphs import topology as topology_module
from tagnet.graphs.edge_sets import EdgeSet
from tagnet.propagation import GraphPropagation, propagate


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 0.0, -1.0])
def test_non_finite_or_non_positive_edge_weights_are_refused(bad):
    with pytest.raises(ValueError, match=r"must be 2 finite positive numbers.*intra_frame"):
        GraphPropagation("tag", edge_weights=[1.0, bad])
    with pytest.raises(ValueError, match=r"must be finite positive numbers"):
        propagate(torch.randn(1, 8, 2), "2x2x2", "tag", edge_weights=[bad, 1.0])
    with pytest.raises(ValueError, match=r"weights .* must be finite positive numbers"):
        Topology(["intra_frame", "temporal"], weights=[bad, 1.0])


def _shifted(grid):
    """A buggy custom edge set: its last id is one past the last node."""
    n = torch.arange(grid.num_nodes)
    return torch.stack([n, n + 1])


def test_out_of_range_ids_of_a_custom_edge_set_are_refused_naming_it():
    topology = Topology(["intra_frame", FunctionEdgeSet("shifted", _shifted)])
    with pytest.raises(ValueError, match=r"edge set 'shifted' returned node ids in \[0, 8\] on "
                                         r"grid 2x2x2, which has 8 nodes"):
        topology.edges("2x2x2")
    with pytest.raises(ValueError, match="edge set 'shifted'"):
        batch_graphs(torch.randn(2, 8, 3), "2x2x2", topology)
    negative = Topology([FunctionEdgeSet("negative", lambda grid: torch.tensor([[-1], [0]]))])
    with pytest.raises(ValueError, match=r"'negative' returned node ids in \[-1, 0\]"):
        negative.edges("1x1x2")


class _Overflow(EdgeSet):
    """A data-dependent edge set that forgets the per-clip offsets' upper bound."""

    name, dynamic = "overflow", True

    def build(self, grid, x=None):
        B, N = x.shape[:2]
        return torch.tensor([[0], [B * N]])


def test_out_of_range_ids_of_a_dynamic_edge_set_are_refused_naming_it():
    with pytest.raises(ValueError, match=r"edge set 'overflow' returned node ids in \[0, 16\] "
                                         r"on 2 clips of grid 2x2x2"):
        batch_graphs(torch.randn(2, 8, 3), "2x2x2", Topology(["temporal", _Overflow()]))


@pytest.mark.parametrize("topology", ["tag", "none"])
def test_batch_graphs_of_zero_clips_is_an_empty_batch(topology):
    batch = batch_graphs(torch.randn(0, 12, 5), "3x2x2", topology)
    assert batch.num_graphs == 0 and batch.num_nodes == 0
    assert batch.x.shape == (0, 5) and batch.edge_index.shape == (2, 0)
    assert batch.edge_type.numel() == 0 and batch.ptr.tolist() == [0]
    assert batch.to_data_list() == []


def test_negative_num_classes_is_refused_and_zero_is_a_feature_extractor():
    with pytest.raises(ValueError, match=r"num_classes must be an int >= 0 .*got -1"):
        tagnet.create_model("tag_r2plus1d_tiny", num_classes=-1, num_frames=8)
    model = tagnet.create_model("tag_r2plus1d_tiny", num_classes=0, num_frames=8, img_size=32)
    assert model(torch.randn(1, 3, 8, 32, 32)).shape == (1, model.head.embed_dim)


def test_a_grid_over_the_edge_memory_budget_fails_before_allocating(monkeypatch):
    grid = TokenGrid(4, 30, 30)  # 4 * 900 * 899 + 2 * 3 * 900 = 3,241,800 edges, 24 bytes each
    assert get_topology("tag").num_edges(grid) == 3_241_800
    monkeypatch.setattr(topology_module, "EDGE_MEMORY_BUDGET", 64 << 20)
    built = []
    spy = FunctionEdgeSet("intra_frame", lambda g: built.append(g) or torch.empty(2, 0))
    spy.fn.num_edges = lambda g: g.T * g.num_sites * (g.num_sites - 1)
    with pytest.raises(MemoryError, match=r"3,236,400 edges, about 0.07 GiB .* budget of 0.06 "
                                          r"GiB"):
        Topology([spy]).edges(grid)
    assert built == []  # refused before the builder ran
    with pytest.raises(MemoryError, match=r"topology 'tag' on grid 4x30x30 would hold "
                                          r"3,241,800 edges"):
        Topology(["intra_frame", "temporal"], name="tag").edges(grid)
    monkeypatch.setenv("TAGNET_EDGE_MEMORY_BUDGET", str(1 << 30))  # the variable overrides
    assert Topology(["temporal"]).edges(grid)[0].shape == (2, 5400)
    small = Topology(["temporal"])
    monkeypatch.setenv("TAGNET_EDGE_MEMORY_BUDGET", str(5400 * 24 * 2))
    with pytest.raises(MemoryError, match=r"3 clips of topology 'temporal' on grid 4x30x30 "
                                          r"would hold 16,200 edges"):
        batch_graphs(torch.randn(3, grid.num_nodes, 1), grid, small)
