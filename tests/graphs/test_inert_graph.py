"""The released head's graph under the mean readout: w = Pi_K^T 1, and when it is all ones."""
import pytest
import torch

from tagnet.graphs import TokenGrid, get_topology
from tagnet.graphs.diagnostics import (
    mean_readout_equivalence,
    normalized_adjacency,
    pooling_weights,
    type_edge_weight,
)

F64 = torch.float64


def dense_pi(topology, grid, K, alpha):
    """Pi_K = (1-a)^K A^K + a sum_{k<K} (1-a)^k A^k with a dense A."""
    ei, et = get_topology(topology).edges(grid)
    A = normalized_adjacency(ei, grid.num_nodes, type_edge_weight(topology, et))
    eye = torch.eye(grid.num_nodes, dtype=F64)
    pi, Ak = torch.zeros_like(A), eye
    for k in range(K):
        pi += alpha * (1 - alpha) ** k * Ak
        Ak = A @ Ak
    return pi + (1 - alpha) ** K * Ak


@pytest.mark.parametrize("seed", range(4))
def test_pooling_weights_equal_dense_pi_transpose_ones(seed):
    g = torch.Generator().manual_seed(seed)
    T, H, W, K = (int(v) for v in torch.randint(1, 5, (4,), generator=g))
    alpha = float(torch.rand((), generator=g))
    grid = TokenGrid(T, H, W)
    for topology in ("tag", "temporal", "spatial_grid", "lattice"):
        expected = dense_pi(topology, grid, K, alpha).T @ torch.ones(grid.num_nodes, dtype=F64)
        torch.testing.assert_close(pooling_weights(topology, grid, K, alpha), expected)


@pytest.mark.parametrize("topology, grid", [("intra_frame", "4x7x7"), ("intra_frame", "3x2x5"),
                                            ("tag", "2x7x7"), ("tag", "2x3x3")])
def test_regular_graphs_give_all_ones(topology, grid):
    w = pooling_weights(topology, grid, K=2, alpha=0.1)
    # 1 up to float64 rounding of 1/d summed d times (a few ulps)
    torch.testing.assert_close(w, torch.ones_like(w), rtol=0, atol=4e-15)
    eq = mean_readout_equivalence(topology, grid)
    assert eq.equivalent and eq.deviation == 0.0
    assert "EXACTLY equivalent to no graph" in eq.describe()


def test_temporal_alone_is_not_regular():
    w = pooling_weights("temporal", "4x7x7")
    assert (w - 1).abs().max() > 0.09  # end frames have one temporal neighbour, inner two
    eq = mean_readout_equivalence("temporal", "4x7x7")
    assert not eq.equivalent and "NOT equivalent" in eq.describe()


def test_the_papers_haa500_grid_is_within_tolerance_but_not_exact():
    eq = mean_readout_equivalence("tag", "4x7x7")
    assert 3.3e-4 < eq.deviation < 3.4e-4 and eq.equivalent
    assert not mean_readout_equivalence("tag", "4x7x7", tol=1e-4).equivalent


def test_dynamic_topologies_are_never_equivalent():
    tokens = torch.randn(1, 18, 8, generator=torch.Generator().manual_seed(0))
    eq = mean_readout_equivalence("similarity_aligned", "2x3x3", tokens=tokens)
    assert eq.dynamic and not eq.equivalent and "built from the tokens" in eq.describe()
