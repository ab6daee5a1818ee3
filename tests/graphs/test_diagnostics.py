"""Diagnostics against values worked out by hand on the 2x2x2 grid.

TAG-Head's graph on T=2, H=W=2 is K4 x K2 (a clique per frame, one time link
per site): every node has 3 intra + 1 temporal neighbours, degree 5 with the
self loop, so A = (M + I) / 5. Eigenvalues of M are {3,-1,-1,-1} + {1,-1}:
4, 2, 0 (x3), -2 (x3), hence those of A are 1, 3/5, 1/5 (x3), -1/5 (x3).
"""
import pytest
import torch
from torch_geometric.nn import APPNP

from tagnet.graphs import (
    TokenGrid,
    dirichlet_energy,
    edge_stats,
    frame_mass,
    get_topology,
    mean_pairwise_cosine,
    normalized_adjacency,
    oversmoothing_curves,
    pooling_weights,
    spectrum,
    step_shares,
    summarize,
)
from tagnet.graphs.diagnostics import gcn_degree, offset_shares, propagate
from tagnet.propagation import GraphPropagation

GRID = TokenGrid(2, 2, 2)
F64 = torch.float64


def test_edge_stats_by_hand():
    rows = edge_stats("tag", GRID)
    assert [(r.name, r.edges, r.in_degree, r.out_degree) for r in rows] == [
        ("intra_frame", 24, (3, 3, 3), (3, 3, 3)),
        ("temporal", 8, (1, 1, 1), (1, 1, 1)),
        ("total", 32, (4, 4, 4), (4, 4, 4)),
    ]
    assert all(r.symmetric and r.self_loops == 0 and r.duplicates == 0 for r in rows)
    # temporal + temporal_dense hold the time-aligned pairs twice; knn is directed
    dup = edge_stats("temporal+temporal_dense", GRID)[-1]
    assert dup.duplicates == 8 and dup.edges == 8 + 32
    knn = edge_stats("knn_feature:k=2", GRID, tokens=torch.randn(3, 8, 4))
    assert knn[0].edges == 16 and knn[0].in_degree == (2, 2, 2)


def test_adjacency_and_degree_by_hand():
    J, I2, I4 = torch.ones(4, 4, dtype=F64), torch.eye(2, dtype=F64), torch.eye(4, dtype=F64)
    M = torch.kron(I2, J - I4) + torch.kron(torch.ones(2, 2, dtype=F64) - I2, I4)
    ei, _ = get_topology("tag").edges(GRID)
    torch.testing.assert_close(normalized_adjacency(ei, 8), (M + torch.eye(8, dtype=F64)) / 5)
    assert gcn_degree("tag", GRID).tolist() == [5.0] * 8
    assert gcn_degree("tag", GRID, edge_weights=[1.0, 3.0]).tolist() == [7.0] * 8


def test_spectrum_by_hand():
    s = spectrum("tag", GRID)
    expected = torch.tensor([1, 3, 1, 1, 1, -1, -1, -1], dtype=F64) / torch.tensor(
        [1, 5, 5, 5, 5, 5, 5, 5], dtype=F64)
    torch.testing.assert_close(s.eigenvalues, expected)
    assert s.gap == pytest.approx(0.4) and s.components == 1 and s.symmetric
    # two frames without time links: two components, no gap
    s = spectrum("intra_frame", GRID)
    assert s.components == 2 and s.gap == pytest.approx(0.0, abs=1e-12)
    assert spectrum("none", GRID).components == 8
    # directed kNN graph 1->0, 0->1, 1->2, 2->3 (see test_dynamic): real parts, one component
    x = torch.tensor([0.0, 1.0, 3.0, 7.0]).view(1, 4, 1)
    s = spectrum("knn_feature:k=1,metric=euclidean", "1x1x4", tokens=x)
    assert not s.symmetric and s.components == 1 and s.eigenvalues.dtype == F64


def test_step_shares_by_hand():
    torch.testing.assert_close(step_shares("tag", GRID),
                               torch.tensor([[0.2, 0.6, 0.2]], dtype=F64).expand(8, 3))


def test_paper_graph_step_is_48_of_51_in_frame():
    s = summarize("tag", "8x7x7")
    self_, same, other = (torch.tensor(p, dtype=F64) for p in s["step"]["per_frame"])
    # inner frames: 48 intra neighbours, 2 time links and the self loop, all of degree 51
    torch.testing.assert_close(same[2:6], torch.full((4,), 48 / 51, dtype=F64))
    torch.testing.assert_close(other[2:6], torch.full((4,), 2 / 51, dtype=F64))
    torch.testing.assert_close(self_[2:6], torch.full((4,), 1 / 51, dtype=F64))
    assert s["degree"]["per_frame"] == [50.0] + [51.0] * 6 + [50.0]
    assert s["edges"][-1]["edges"] == 19502


def test_frame_mass_by_hand():
    # K=1: Pi = 0.9 A + 0.1 I -> own frame 0.9 * 4/5 + 0.1
    torch.testing.assert_close(frame_mass("tag", GRID, K=1, alpha=0.1)[:, 0][:4],
                               torch.full((4,), 0.82, dtype=F64))
    # K=2: Pi = 0.81 A^2 + 0.09 A + 0.1 I; two lazy steps stay with (4/5)^2 + (1/5)^2 = 17/25
    own = 0.81 * 17 / 25 + 0.09 * 4 / 5 + 0.1
    mass = frame_mass("tag", GRID, K=2, alpha=0.1)
    torch.testing.assert_close(mass, torch.tensor([[own, 1 - own]] * 4 + [[1 - own, own]] * 4,
                                                  dtype=F64))
    torch.testing.assert_close(offset_shares(mass, GRID), torch.tensor([own, 1 - own], dtype=F64))
    torch.testing.assert_close(frame_mass("tag", GRID, K=0)[:, 0],
                               torch.tensor([1.0] * 4 + [0.0] * 4, dtype=F64))


def test_propagate_equals_pyg_appnp():
    grid = TokenGrid(3, 2, 3)
    ei, et = get_topology("lattice").edges(grid)
    w = torch.tensor([0.5, 2.0], dtype=F64)[et]
    x = torch.randn(grid.num_nodes, 5, dtype=F64)
    expected = APPNP(K=4, alpha=0.2)(x, ei, w)
    torch.testing.assert_close(propagate(x, ei, grid.num_nodes, 4, 0.2, w), expected)
    A = normalized_adjacency(ei, grid.num_nodes, w)
    transposed = propagate(x, ei, grid.num_nodes, 1, 0.0, w, transpose=True)
    torch.testing.assert_close(transposed, A.T @ x)


def test_pooling_weights():
    # regular graph, symmetric normalisation: propagation leaves the mean unchanged
    torch.testing.assert_close(pooling_weights("tag", GRID, K=2), torch.ones(8, dtype=F64))
    grid = TokenGrid(3, 2, 2)
    omega = pooling_weights("tag", grid, K=3, alpha=0.2)
    assert not torch.allclose(omega, torch.ones_like(omega))
    x = torch.randn(2, grid.num_nodes, 4, dtype=F64)
    pooled = GraphPropagation("tag", K=3, alpha=0.2)(x, grid).mean(1)
    torch.testing.assert_close(pooled, torch.einsum("n,bnc->bc", omega, x) / grid.num_nodes)


def test_dirichlet_energy_by_hand():
    ei, _ = get_topology("tag").edges(GRID)
    # +1 on frame 0, -1 on frame 1: only the 8 time links differ, each by (2 / sqrt 5)^2
    x = torch.tensor([1.0] * 4 + [-1.0] * 4, dtype=F64).unsqueeze(1)
    assert float(dirichlet_energy(x, ei)) == pytest.approx(3.2)
    assert float(dirichlet_energy(torch.ones(8, 3, dtype=F64), ei)) == pytest.approx(0.0)
    grid = TokenGrid(3, 2, 2)  # irregular: the zero-energy state is x ~ sqrt(degree)
    ei, _ = get_topology("tag").edges(grid)
    deg = gcn_degree("tag", grid)
    assert float(dirichlet_energy(deg.sqrt().unsqueeze(1), ei)) == pytest.approx(0.0, abs=1e-12)
    y = torch.randn(grid.num_nodes, 3, dtype=F64)
    A = normalized_adjacency(ei, grid.num_nodes)
    expected = torch.trace(y.T @ (torch.eye(grid.num_nodes, dtype=F64) - A) @ y)
    torch.testing.assert_close(dirichlet_energy(y, ei), expected)


def test_mean_pairwise_cosine():
    x = torch.tensor([1.0] * 4 + [-1.0] * 4).view(1, 8, 1)
    # 24 same-frame ordered pairs at +1, 32 cross-frame pairs at -1
    torch.testing.assert_close(mean_pairwise_cosine(x), torch.tensor([-1 / 7]))
    y = torch.randn(2, 6, 4, dtype=F64)
    yn = torch.nn.functional.normalize(y, dim=-1)
    sim = yn @ yn.transpose(1, 2)
    expected = (sim.sum((1, 2)) - 6) / 30
    torch.testing.assert_close(mean_pairwise_cosine(y), expected)


def test_oversmoothing_curves_match_the_model():
    grid = TokenGrid(3, 2, 2)
    x = torch.randn(2, grid.num_nodes, 4, dtype=F64)
    curves = oversmoothing_curves(x, grid, "tag", Ks=(0, 1, 3), alphas=(0.0, 0.3, 1.0))
    ei, _ = get_topology("tag").edges(grid)
    batch_ei = torch.cat([ei, ei + grid.num_nodes], 1)
    n = 2 * grid.num_nodes
    for a, alpha in enumerate((0.0, 0.3, 1.0)):
        for j, K in enumerate((0, 1, 3)):
            h = GraphPropagation("tag", K=K, alpha=alpha)(x, grid)
            energy = dirichlet_energy(h.reshape(n, 4), batch_ei) / n
            torch.testing.assert_close(curves.energy[a, j], energy)
            torch.testing.assert_close(curves.cosine[a, j], mean_pairwise_cosine(h).mean())
    torch.testing.assert_close(curves.energy_ratio[2], torch.ones(3, dtype=F64))  # alpha = 1
    assert (curves.energy_ratio[0].diff() < 0).all()  # alpha = 0 only smooths


def test_summarize_tag_2x2x2():
    s = summarize("tag", GRID, K=2, alpha=0.1)
    assert s["edge_types"] == ["intra_frame", "temporal"] and not s["dynamic"]
    assert s["spectrum"]["gap"] == pytest.approx(0.4)
    assert s["step"]["same_frame"] == pytest.approx(0.6)
    assert s["appnp"]["own_frame"] == pytest.approx(0.7228)
    assert s["pooling"]["min"] == pytest.approx(1.0) and s["pooling"]["max"] == pytest.approx(1.0)
    d = summarize("tag_aligned", "3x2x2", tokens=torch.randn(1, 12, 4))
    assert d["dynamic"] and d["edges"][1]["name"] == "similarity_aligned"
    with pytest.raises(ValueError, match="data-dependent; pass tokens"):
        summarize("tag_aligned", "3x2x2")
