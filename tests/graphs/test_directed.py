import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tagnet.graphs import TokenGrid, get_edge_set, get_topology
from tagnet.graphs.testing import assert_valid_edge_index, grids


def edges(name, grid, **params):
    return get_edge_set(name, **params)(TokenGrid.parse(grid)).t().tolist()


def pairs(ei):
    return set(map(tuple, ei.t().tolist()))


def test_forward_and_backward_literal():
    # 3 frames of 2 sites: nodes (0, 1), (2, 3), (4, 5)
    assert edges("temporal_forward", "3x1x2") == [[0, 2], [1, 3], [2, 4], [3, 5]]
    assert edges("temporal_backward", "3x1x2") == [[2, 0], [3, 1], [4, 2], [5, 3]]
    assert edges("temporal_forward", "3x1x2", k=2) == [[0, 2], [1, 3], [2, 4], [3, 5],
                                                       [0, 4], [1, 5]]
    assert edges("temporal_backward", "3x1x2", k=2) == [[2, 0], [3, 1], [4, 2], [5, 3],
                                                        [4, 0], [5, 1]]
    assert edges("temporal_forward", "1x2x2") == [] == edges("temporal_backward", "1x2x2", k=3)
    with pytest.raises(ValueError, match="k >= 1, got k=0"):
        edges("temporal_forward", "3x1x1", k=0)


def test_tag_directed_literal_on_2x2x2():
    ei, et = get_topology("tag_directed").edges("2x2x2")
    assert get_topology("tag_directed").edge_types == (
        "intra_frame", "temporal_forward", "temporal_backward")
    assert et.tolist() == [0] * 24 + [1] * 4 + [2] * 4
    assert ei[:, et == 1].t().tolist() == [[0, 4], [1, 5], [2, 6], [3, 7]]
    assert ei[:, et == 2].t().tolist() == [[4, 0], [5, 1], [6, 2], [7, 3]]
    assert torch.equal(ei[:, et == 0], get_edge_set("intra_frame")(TokenGrid(2, 2, 2)))
    assert get_topology("temporal_directed").edges("2x2x2")[1].tolist() == [0] * 4 + [1] * 4


@settings(max_examples=30, deadline=None)
@given(grid=grids(), k=st.integers(1, 4))
def test_counts_by_formula_and_structure(grid, k):
    T, P = grid.T, grid.num_sites
    t, site = grid.frame(), grid.site()
    fwd = get_edge_set("temporal_forward", k=k)(grid)
    bwd = get_edge_set("temporal_backward", k=k)(grid)
    count = sum((T - d) * P for d in range(1, min(k, T - 1) + 1))
    assert fwd.size(1) == bwd.size(1) == count == get_edge_set("temporal_forward", k=k).num_edges(
        grid)
    assert_valid_edge_index(fwd, grid)  # simple, no self loops; not symmetric
    dt = t[fwd[1]] - t[fwd[0]]
    assert ((dt >= 1) & (dt <= k)).all() and torch.equal(site[fwd[0]], site[fwd[1]])
    assert torch.equal(bwd, fwd.flip(0))
    assert not pairs(fwd) & pairs(bwd)  # no edge and its reverse in one type
    # the two directions together are the undirected window, the paper's TAT for k = 1
    assert pairs(fwd) | pairs(bwd) == pairs(get_edge_set("temporal_window", k=k)(grid))
    ei, et = get_topology(f"tag_directed:{k}").edges(grid)
    assert et.bincount(minlength=3).tolist() == [T * P * (P - 1), count, count]


@settings(max_examples=20, deadline=None)
@given(grid=grids(min_nodes=2))
def test_time_reversal_swaps_the_two_types(grid):
    # reversing the frames maps tag onto itself but forward edges onto backward ones:
    # the reason a typed operator on tag_directed can see the direction of time
    T, P = grid.T, grid.num_sites
    reverse = (T - 1 - grid.frame()) * P + grid.site()  # node -> its node in the reversed clip
    ei, et = get_topology("tag_directed").edges(grid)
    moved = reverse[ei]
    for i, j in ((0, 0), (1, 2), (2, 1)):
        assert pairs(moved[:, et == i]) == pairs(ei[:, et == j])
    tag, _ = get_topology("tag").edges(grid)
    assert pairs(reverse[tag]) == pairs(tag) == pairs(ei)


def test_spec_names():
    for a, b in (("tag_directed:2", "tag_directed:k=2"),
                 ("tag_directed:2", "intra_frame+temporal_forward:2+temporal_backward:k=2"),
                 ("tag_directed", "tag_directed:1"), ("temporal_directed:3",
                                                      "temporal_forward:3+temporal_backward:3")):
        ea, ta = get_topology(a).edges("4x2x1")
        eb, tb = get_topology(b).edges("4x2x1")
        assert torch.equal(ea, eb) and torch.equal(ta, tb), (a, b)
    assert get_topology("tag_directed:2").name == "tag_directed:2"
    assert get_topology("tag_directed") is get_topology("tag_directed")  # registered default
    with pytest.raises(ValueError, match=r"topology 'tag_directed' takes parameters \(k\)"):
        get_topology("tag_directed:k=2,j=3")
