import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tagnet.graphs import (
    FunctionEdgeSet,
    TokenGrid,
    Topology,
    degree_preserving_rewire,
    get_edge_set,
    get_topology,
    list_topologies,
    parse_topology,
)
from tagnet.graphs.testing import (
    assert_propagation_matches_dense,
    assert_valid_edge_index,
    grids,
)


def edges(name, grid, **params):
    return get_edge_set(name, **params)(TokenGrid.parse(grid)).t().tolist()


def test_spatial_grid_literal():
    # 1x2x2: sites 0 1 / 2 3
    assert edges("spatial_grid", "1x2x2") == [
        [0, 1], [0, 2], [1, 0], [1, 3], [2, 0], [2, 3], [3, 1], [3, 2]]
    assert edges("spatial_grid", "1x2x2", neighbours=8) == [
        [0, 1], [0, 2], [0, 3], [1, 0], [1, 2], [1, 3], [2, 0], [2, 1], [2, 3], [3, 0], [3, 1],
        [3, 2]]
    # two frames of a 1x3 row: the second frame is offset by P = 3
    assert edges("spatial_grid", "2x1x3") == [
        [0, 1], [1, 0], [1, 2], [2, 1], [3, 4], [4, 3], [4, 5], [5, 4]]
    with pytest.raises(ValueError, match="neighbours=4 or 8, got 6"):
        edges("spatial_grid", "1x2x2", neighbours=6)


def test_temporal_window_literal():
    # 3 frames of one site: d = 1 forward, reverse, then d = 2 forward, reverse
    assert edges("temporal_window", "3x1x1", k=2) == [
        [0, 1], [1, 2], [1, 0], [2, 1], [0, 2], [2, 0]]
    assert edges("temporal_window", "3x1x1", k=9) == edges("temporal_window", "3x1x1", k=2)
    assert edges("temporal_window", "1x2x2", k=3) == []
    with pytest.raises(ValueError, match="k >= 1, got k=0"):
        edges("temporal_window", "3x1x1", k=0)


def test_temporal_dense_literal():
    # 3 frames of 2 sites: nodes (0,1), (2,3), (4,5)
    assert edges("temporal_dense", "3x1x2") == [
        [0, 2], [0, 3], [1, 2], [1, 3], [2, 4], [2, 5], [3, 4], [3, 5],
        [2, 0], [3, 0], [2, 1], [3, 1], [4, 2], [5, 2], [4, 3], [5, 3]]


def test_global_literal():
    assert edges("global", "1x1x3") == [[0, 1], [0, 2], [1, 0], [1, 2], [2, 0], [2, 1]]
    assert edges("global", "2x1x1") == [[0, 1], [1, 0]]


def check_simple_symmetric(ei, grid):
    assert_valid_edge_index(ei, grid, symmetric=True)
    return set(map(tuple, ei.t().tolist()))


@settings(max_examples=30, deadline=None)
@given(grid=grids(), k=st.integers(1, 4))
def test_counts_by_formula_and_structure(grid, k):
    T, H, W, P, N = grid.T, grid.H, grid.W, grid.num_sites, grid.num_nodes
    t, h, w = grid.coords(torch.arange(N))

    ei = get_edge_set("spatial_grid")(grid)
    check_simple_symmetric(ei, grid)
    assert ei.size(1) == T * 2 * (H * (W - 1) + (H - 1) * W)
    assert torch.equal(t[ei[0]], t[ei[1]])
    assert ((h[ei[0]] - h[ei[1]]).abs() + (w[ei[0]] - w[ei[1]]).abs() == 1).all()

    ei = get_edge_set("spatial_grid", neighbours=8)(grid)
    check_simple_symmetric(ei, grid)
    assert ei.size(1) == T * (2 * (H * (W - 1) + (H - 1) * W) + 4 * (H - 1) * (W - 1))
    assert (torch.maximum((h[ei[0]] - h[ei[1]]).abs(), (w[ei[0]] - w[ei[1]]).abs()) == 1).all()

    ei = get_edge_set("temporal_window", k=k)(grid)
    check_simple_symmetric(ei, grid)
    assert ei.size(1) == sum(2 * (T - d) * P for d in range(1, min(k, T - 1) + 1))
    dt = (t[ei[0]] - t[ei[1]]).abs()
    assert ((dt >= 1) & (dt <= k)).all()
    assert torch.equal(grid.site()[ei[0]], grid.site()[ei[1]])

    dense = get_edge_set("temporal_dense")(grid)
    pairs = check_simple_symmetric(dense, grid)
    assert dense.size(1) == 2 * (T - 1) * P * P
    assert ((t[dense[0]] - t[dense[1]]).abs() == 1).all()
    assert set(map(tuple, get_edge_set("temporal")(grid).t().tolist())) <= pairs

    ei = get_edge_set("global")(grid)
    check_simple_symmetric(ei, grid)
    assert ei.size(1) == N * (N - 1)


@settings(max_examples=20, deadline=None)
@given(grid=grids())
def test_temporal_window_one_is_temporal(grid):
    assert torch.equal(get_edge_set("temporal_window", k=1)(grid), get_edge_set("temporal")(grid))


@pytest.mark.parametrize("reference,grid,max_overlap", [
    ("tag", "4x3x3", 0.5), ("lattice", "3x3x4", 0.3), ("tag_dense", "4x2x2", 0.9)])
def test_random_control_keeps_every_degree(reference, grid, max_overlap):
    grid = TokenGrid.parse(grid)
    ref, _ = get_topology(reference).edges(grid)
    rnd = get_edge_set("random", reference=reference)(grid)
    pairs = check_simple_symmetric(rnd, grid)
    assert rnd.size(1) == ref.size(1)
    N = grid.num_nodes
    for row in (0, 1):  # in- and out-degree of every node, hence the same degree sequence
        degree = torch.bincount(rnd[row], minlength=N)
        assert torch.equal(degree, torch.bincount(ref[row], minlength=N))
    # rewired, not the reference again (a random graph of this density overlaps by ~ density)
    overlap = len(pairs & set(map(tuple, ref.t().tolist()))) / len(pairs)
    assert overlap < max_overlap


def test_random_control_is_seeded():
    grid = TokenGrid(4, 3, 3)
    a = get_edge_set("random")(grid)
    assert torch.equal(a, get_edge_set("random", seed=0)(grid))
    assert not torch.equal(a, get_edge_set("random", seed=1)(grid))
    ei, et = get_topology("random").edges(grid)
    assert torch.equal(ei, a) and et.unique().tolist() == [0]


def test_random_control_rejects_directed_reference():
    def forward_in_time(grid):
        return get_edge_set("temporal")(grid)[:, : (grid.T - 1) * grid.num_sites]

    directed = Topology([FunctionEdgeSet("forward", forward_in_time)])
    with pytest.raises(ValueError, match="not symmetric"):
        get_edge_set("random", reference=directed)(TokenGrid(3, 2, 2))


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 12), density=st.floats(0.1, 0.9), seed=st.integers(0, 10 ** 6))
def test_rewire_preserves_degrees_of_any_simple_graph(n, density, seed):
    g = torch.Generator().manual_seed(seed)
    upper = torch.triu(torch.rand(n, n, generator=g) < density, diagonal=1)
    adj = upper | upper.T
    ei = adj.nonzero().t()
    out = degree_preserving_rewire(ei, n, rounds=5, generator=g)
    out_adj = torch.zeros(n, n, dtype=torch.bool)
    out_adj[out[0], out[1]] = True
    assert out.size(1) == ei.size(1) == int(out_adj.sum())  # no duplicates
    assert torch.equal(out_adj, out_adj.T) and not out_adj.diagonal().any()
    assert torch.equal(out_adj.sum(0), adj.sum(0))


def test_registered_topologies():
    names = set(list_topologies())
    assert {"spatial_grid", "lattice", "tag_window", "tag_dense", "temporal_dense", "global",
            "random", "knn", "tag_knn", "tag_aligned"} <= names
    assert get_topology("tag_window").edge_types == ("intra_frame", "temporal_window")
    assert get_topology("tag_window").edge_sets[1].params == {"k": 2}
    assert get_topology("lattice").edges("2x2x2")[1].bincount().tolist() == [16, 8]


@pytest.mark.parametrize("name", ["spatial_grid", "lattice", "tag_window", "tag_dense",
                                  "temporal_dense", "global", "random"])
def test_static_topologies_propagate_like_the_dense_closed_form(name):
    weights = [0.5 + i for i in range(get_topology(name).num_edge_types)]
    assert_propagation_matches_dense(name, "3x2x2", K=3, alpha=0.2, edge_weights=weights)


def test_parse_topology():
    assert parse_topology("tag") is get_topology("tag")
    topo = parse_topology("intra_frame+temporal_window:k=2")
    assert topo.name == "intra_frame+temporal_window:k=2"
    assert topo.edges("3x2x2")[1].bincount().tolist() == [36, 24]
    topo = parse_topology(" tag + spatial_grid : neighbours=8 ")
    assert topo.edge_types == ("intra_frame", "temporal", "spatial_grid")
    assert topo.edge_sets[2].params == {"neighbours": 8}
    topo = parse_topology("random:reference=tag_dense,seed=3")
    assert topo.edge_sets[0].params == {"reference": "tag_dense", "seed": 3}
    dyn = parse_topology("intra_frame+similarity_aligned:k=2,radius=2,metric=euclidean")
    assert (dyn.edge_sets[1].k, dyn.edge_sets[1].radius, dyn.edge_sets[1].metric) == \
        (2, 2, "euclidean")


def test_parse_topology_errors_name_the_fix():
    with pytest.raises(ValueError, match=r"'tga' is unknown; topologies: tag, .*edge sets"):
        parse_topology("tga")
    with pytest.raises(ValueError, match=r"'temporal_window' in .* takes parameters \(k\)"):
        parse_topology("intra_frame+temporal_window:K=2")
    with pytest.raises(ValueError, match=r"'temporal_window' takes parameters \(k\); too many"):
        parse_topology("temporal_window:2,3")
    with pytest.raises(ValueError, match="positional value '3' after a KEY=VALUE"):
        parse_topology("random:seed=1,3")
    with pytest.raises(ValueError, match="'k' given twice"):
        parse_topology("temporal_window:k=1,k=2")
    with pytest.raises(ValueError, match=r"'tag' in 'tag:2\+temporal' takes no parameters"):
        parse_topology("tag:2+temporal")
    with pytest.raises(ValueError, match="empty part"):
        parse_topology("tag+")
    with pytest.raises(ValueError, match="'knn_feature'.*unexpected keyword"):
        parse_topology("knn_feature:kk=2")
    with pytest.raises(ValueError, match="distinct"):
        parse_topology("temporal+temporal")


@settings(max_examples=20, deadline=None)
@given(grid=grids(), k=st.integers(1, 3))
def test_counts_known_before_building_are_exact(grid, k):
    for spec in ("spatial_grid", "spatial_grid:neighbours=8", f"temporal_window:{k}",
                 "temporal_dense", "global", "random:tag_dense", f"tag_directed:{k}",
                 "random_temporal:tag_window", "random_typed:lattice"):
        topology = get_topology(spec)
        assert topology.num_edges(grid) == topology.edges(grid)[0].size(1), spec
