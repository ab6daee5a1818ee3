import pytest
import torch

from tagnet.graphs import TokenGrid, get_topology
from tagnet.graphs.testing import dense_propagation
from tagnet.propagation import GraphPropagation


def dense_appnp(x, grid, topology, weights, K, alpha):
    """H <- (1-a) D^-1/2 (M+I) D^-1/2 H + a H0, built densely from the edge list."""
    edge_index, edge_type = get_topology(topology).edges(grid)
    w = torch.tensor(weights, dtype=x.dtype)[edge_type]
    return dense_propagation(x, edge_index, w, K, alpha)


@pytest.mark.parametrize("topology", ["tag", "intra_frame", "temporal"])
@pytest.mark.parametrize("K,alpha", [(2, 0.1), (5, 0.3), (1, 0.0)])
def test_appnp_equals_closed_form(topology, K, alpha):
    grid = TokenGrid(3, 2, 2)
    x = torch.randn(2, grid.num_nodes, 4, dtype=torch.float64)
    prop = GraphPropagation(topology, K=K, alpha=alpha)
    expected = dense_appnp(x, grid, topology, [1.0, 1.0], K, alpha)
    torch.testing.assert_close(prop(x, grid), expected)


def test_per_type_weights_enter_as_edge_weight():
    grid = TokenGrid(3, 2, 1)
    x = torch.randn(2, grid.num_nodes, 3, dtype=torch.float64)
    prop = GraphPropagation("tag", K=3, alpha=0.2, edge_weights=[0.5, 2.0])
    expected = dense_appnp(x, grid, "tag", [0.5, 2.0], 3, 0.2)
    torch.testing.assert_close(prop(x, grid), expected)
    unweighted = GraphPropagation("tag", K=3, alpha=0.2)(x, grid)
    assert not torch.allclose(unweighted, expected)


def test_learnable_weights_get_gradients():
    grid = TokenGrid(2, 2, 2)
    prop = GraphPropagation("tag", edge_weights=[1.0, 3.0], learn_edge_weights=True)
    torch.testing.assert_close(prop.type_weights(), torch.tensor([1.0, 3.0]))
    prop(torch.randn(2, 8, 4), grid).pow(2).sum().backward()
    assert prop.log_edge_weight.grad is not None and prop.log_edge_weight.grad.abs().sum() > 0


def test_alpha_one_returns_input_and_none_is_identity():
    grid = TokenGrid(2, 2, 2)
    x = torch.randn(3, 8, 4)
    torch.testing.assert_close(GraphPropagation("tag", alpha=1.0)(x, grid), x)
    assert GraphPropagation("none")(x, grid) is x
    # the shortcut for "none" is what PyG computes on an edgeless graph
    from torch_geometric.nn import APPNP
    out = APPNP(K=2, alpha=0.1)(x.reshape(-1, 4), torch.empty(2, 0, dtype=torch.long))
    torch.testing.assert_close(out, x.reshape(-1, 4))


def test_bad_arguments():
    with pytest.raises(ValueError, match="2 finite positive numbers"):
        GraphPropagation("tag", edge_weights=[1.0])
    with pytest.raises(ValueError, match="K >= 0"):
        GraphPropagation("tag", K=-1)


def test_repr():
    assert repr(GraphPropagation("tag")).splitlines()[0] == \
        "GraphPropagation("
    assert "topology='tag', K=2, alpha=0.1" in repr(GraphPropagation("tag"))
