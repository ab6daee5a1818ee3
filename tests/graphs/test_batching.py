import pytest
import torch
from torch_geometric.data import Batch, Data

from tagnet.graphs import TokenGrid, Topology, batch_graphs, get_topology, tile_edges
from tagnet.graphs.batching import TEMPLATE_BUILDS


@pytest.mark.parametrize("topology", ["tag", "intra_frame", "temporal", "none"])
@pytest.mark.parametrize("B", [1, 3])
def test_equals_from_data_list(topology, B):
    grid = TokenGrid(3, 2, 2)
    tokens = torch.randn(B, grid.num_nodes, 5)
    batch = batch_graphs(tokens, grid, topology)
    edge_index, edge_type = get_topology(topology).edges(grid)
    ref = Batch.from_data_list([
        Data(x=tokens[b], edge_index=edge_index, edge_type=edge_type, frame=grid.frame())
        for b in range(B)
    ])
    assert batch.num_graphs == ref.num_graphs == B
    for key in ("x", "edge_index", "edge_type", "frame", "batch", "ptr"):
        assert torch.equal(batch[key], ref[key]), key
    # the bookkeeping is right too: splitting gives back the clips
    for b, data in enumerate(batch.to_data_list()):
        assert torch.equal(data.x, tokens[b])
        assert torch.equal(data.edge_index, edge_index)
        assert torch.equal(data.frame, grid.frame())


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
