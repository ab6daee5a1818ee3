import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tagnet.graphs import TokenGrid, get_edge_set, get_topology, list_edge_sets
from tagnet.graphs.testing import assert_valid_edge_index, grids

GRID = TokenGrid(2, 2, 2)  # nodes 0-3 in frame 0, 4-7 in frame 1


def edge_list(name, grid=GRID):
    return get_edge_set(name)(grid).t().tolist()


def test_intra_frame_literal():
    assert edge_list("intra_frame") == [
        [0, 1], [0, 2], [0, 3], [1, 0], [1, 2], [1, 3], [2, 0], [2, 1], [2, 3], [3, 0], [3, 1],
        [3, 2], [4, 5], [4, 6], [4, 7], [5, 4], [5, 6], [5, 7], [6, 4], [6, 5], [6, 7], [7, 4],
        [7, 5], [7, 6],
    ]


def test_temporal_literal():
    assert edge_list("temporal") == [
        [0, 4], [1, 5], [2, 6], [3, 7], [4, 0], [5, 1], [6, 2], [7, 3],
    ]


def test_none_literal():
    assert edge_list("none") == []
    assert get_edge_set("none")(GRID).shape == (2, 0)


def test_single_frame_has_no_temporal_edges():
    assert get_edge_set("temporal")(TokenGrid(1, 3, 3)).shape == (2, 0)
    assert get_edge_set("intra_frame")(TokenGrid(1, 1, 1)).shape == (2, 0)


@settings(max_examples=40, deadline=None)
@given(grid=grids())
def test_counts_symmetry_and_no_self_loops(grid):
    T, P = grid.T, grid.num_sites
    intra = get_edge_set("intra_frame")(grid)
    temp = get_edge_set("temporal")(grid)
    assert intra.size(1) == T * P * (P - 1)
    assert temp.size(1) == 2 * (T - 1) * P
    for ei in (intra, temp):  # long, in range, no self loops, no duplicates, symmetric
        assert_valid_edge_index(ei, grid, symmetric=True)
    frame = grid.frame()
    assert torch.equal(frame[intra[0]], frame[intra[1]])
    assert ((frame[temp[0]] - frame[temp[1]]).abs() == 1).all()
    assert torch.equal(grid.site()[temp[0]], grid.site()[temp[1]])


@settings(max_examples=30, deadline=None)
@given(grid=st.builds(TokenGrid, st.integers(2, 6), st.integers(1, 4), st.integers(1, 4)))
def test_degree_with_self_loop(grid):
    ei, _ = get_topology("tag").edges(grid)
    degree = torch.bincount(ei[1], minlength=grid.num_nodes) + 1
    P = grid.num_sites
    expected = torch.full((grid.T,), P + 2)
    expected[0] = expected[-1] = P + 1
    assert torch.equal(degree, expected.repeat_interleave(P))


def test_unknown_edge_set_lists_choices():
    with pytest.raises(ValueError, match="edge set 'intra' is unknown; known: .*intra_frame"):
        get_edge_set("intra")
    assert {"intra_frame", "temporal", "none"} <= set(list_edge_sets())
