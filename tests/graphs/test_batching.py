import pytest
import torch

from tagnet.graphs import Topology, batch_graphs, list_topologies, tile_edges
from tagnet.graphs.batching import TEMPLATE_BUILDS
from tagnet.graphs.testing import assert_batch_equivalent


@pytest.mark.parametrize("topology", list_topologies())
@pytest.mark.parametrize("B", [1, 3])
def test_equals_from_data_list(topology, B):
    # x, edge_index, edge_type, frame, batch, ptr and to_data_list(); per-clip graphs for the
    # data-dependent ones
    assert_batch_equivalent(topology, "3x2x3", batch_size=B)


def test_frame_is_not_shifted_by_batching():
    batch = batch_graphs(torch.randn(2, 8, 1), "2x2x2")
    assert batch.frame.tolist() == [0, 0, 0, 0, 1, 1, 1, 1] * 2


def test_template_is_built_once_per_grid_topology_device():
    topo = Topology(["intra_frame", "temporal"])
    before = TEMPLATE_BUILDS["count"]
    for B in (1, 2, 5):
        batch_graphs(torch.randn(B, 12, 4), "3x2x2", topo)
    assert TEMPLATE_BUILDS["count"] == before + 1
    batch_graphs(torch.randn(1, 8, 4), "2x2x2", topo)
    assert TEMPLATE_BUILDS["count"] == before + 2


def test_tile_edges_offsets():
    ei = torch.tensor([[0, 1], [1, 0]])
    assert tile_edges(ei, 2, 3).tolist() == [[0, 1, 2, 3, 4, 5], [1, 0, 3, 2, 5, 4]]


def test_shape_mismatch_names_grid():
    with pytest.raises(ValueError, match=r"do not match grid 2x2x2 \(expected \(B, 8, C\)\)"):
        batch_graphs(torch.randn(2, 9, 4), "2x2x2")
