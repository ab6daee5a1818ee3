import subprocess
import sys

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tagnet.graphs import (
    TokenGrid,
    Topology,
    degree_preserving_rewire,
    get_topology,
    random_temporal,
    random_typed,
    rewire_typed,
)
from tagnet.graphs.testing import assert_valid_edge_index, grids

REFERENCES = ["tag", "tag_directed", "tag_window:2", "tag_directed:2", "lattice"]


def pairs(ei):
    return set(map(tuple, ei.t().tolist()))


def by_type(topology, grid):
    ei, et = get_topology(topology).edges(grid)
    return [ei[:, et == i] for i in range(get_topology(topology).num_edge_types)]


def degrees(ei, N):
    return torch.bincount(ei[0], minlength=N), torch.bincount(ei[1], minlength=N)


# ---- random_temporal: time-aligned -> any link between the same frames ----------------------

def test_random_temporal_literal():
    # two sites per frame: the only cycle of 2 sites swaps them, whatever the seed
    intra, temporal = by_type("random_temporal", "2x1x2")
    assert get_topology("random_temporal").edge_types == ("intra_frame",
                                                          "random_temporal(temporal)")
    assert intra.t().tolist() == [[0, 1], [1, 0], [2, 3], [3, 2]]  # kept
    assert temporal.t().tolist() == [[0, 3], [1, 2], [3, 0], [2, 1]]  # was 0-2, 1-3
    _, fwd, bwd = by_type("random_temporal:tag_directed,seed=5", "3x1x2")
    assert fwd.t().tolist() == [[0, 3], [1, 2], [2, 5], [3, 4]]
    assert bwd.t().tolist() == [[3, 0], [2, 1], [5, 2], [4, 3]]
    # one site per frame: nothing to rewire, the control is the reference
    assert torch.equal(get_topology("random_temporal").edges("3x1x1")[0],
                       get_topology("tag").edges("3x1x1")[0])


@settings(max_examples=25, deadline=None)
@given(grid=grids(max_T=4, max_H=3, max_W=3), ref=st.sampled_from(REFERENCES),
       seed=st.integers(0, 3))
def test_random_temporal_keeps_counts_frames_and_degrees(grid, ref, seed):
    N, P, frame = grid.num_nodes, grid.num_sites, grid.frame()
    reference = by_type(ref, grid)
    control = by_type(get_topology(f"random_temporal:{ref},seed={seed}"), grid)
    assert [c.size(1) for c in control] == [r.size(1) for r in reference]  # per type
    for r, c, edge_set in zip(reference, control, get_topology(ref).edge_sets, strict=True):
        assert_valid_edge_index(c, grid, symmetric=bool(edge_set.symmetric))
        assert torch.equal(frame[c], frame[r])  # every edge keeps its frames, in order
        assert all(torch.equal(a, b) for a, b in zip(degrees(c, N), degrees(r, N), strict=True))
        cross = frame[r[0]] != frame[r[1]]
        assert torch.equal(c[:, ~cross], r[:, ~cross])  # edges within a frame are kept
        if P >= 2:  # no link stays time-aligned
            assert not (grid.site()[c[0]] == grid.site()[c[1]])[cross].any()
    if ref in ("tag", "tag_directed"):  # only neighbouring frames, all inside tag_dense
        dense = pairs(get_topology("tag_dense").edges(grid)[0])
        assert pairs(torch.cat(control, 1)) <= dense
    if ref.startswith("tag_directed"):  # backward stays the reverse of forward
        assert pairs(control[2]) == pairs(control[1].flip(0))


def test_tag_dense_links_all_sites_of_neighbouring_frames():
    # 3 frames x 2 sites: the clique, then every (t, p) -> (t +- 1, q)
    grid = TokenGrid(3, 1, 2)
    ei, et = get_topology("tag_dense").edges(grid)
    assert get_topology("tag_dense").edge_types == ("intra_frame", "temporal_dense")
    assert et.bincount().tolist() == [3 * 2 * 1, 2 * 2 * 2 * 2]
    frame = grid.frame()
    expected = {(a, b) for a in range(6) for b in range(6) if abs(frame[a] - frame[b]) == 1}
    assert pairs(ei[:, et == 1]) == expected
    assert pairs(get_topology("tag").edges(grid)[0]) <= pairs(ei)


def test_random_temporal_of_tag_dense_is_tag_dense():
    # all sites of neighbouring frames are linked already: no alignment to take away
    grid = TokenGrid(3, 2, 2)
    assert pairs(get_topology("random_temporal:tag_dense").edges(grid)[0]) == \
        pairs(get_topology("tag_dense").edges(grid)[0])


# ---- random_typed: degree-preserving rewiring of the whole graph, type by type ---------------

@settings(max_examples=25, deadline=None)
@given(grid=grids(max_T=4, max_H=3, max_W=3), ref=st.sampled_from(REFERENCES + ["tag_dense"]),
       seed=st.integers(0, 3))
def test_random_typed_keeps_counts_and_degrees_per_type(grid, ref, seed):
    N = grid.num_nodes
    reference = by_type(ref, grid)
    control = by_type(get_topology(f"random_typed:{ref},seed={seed}"), grid)
    assert [c.size(1) for c in control] == [r.size(1) for r in reference]
    for r, c, edge_set in zip(reference, control, get_topology(ref).edge_sets, strict=True):
        assert_valid_edge_index(c, grid, symmetric=bool(edge_set.symmetric))
        assert all(torch.equal(a, b) for a, b in zip(degrees(c, N), degrees(r, N), strict=True))
    union = torch.cat(control, 1)
    assert_valid_edge_index(union, grid)  # the types stay disjoint: no duplicate in the union
    if ref.startswith("tag_directed"):
        assert pairs(control[2]) == pairs(control[1].flip(0))


@pytest.mark.parametrize("ref,grid", [("tag", "4x3x3"), ("tag_directed", "8x4x4")])
def test_random_typed_rewires(ref, grid):
    grid = TokenGrid.parse(grid)
    reference, control = by_type(ref, grid), by_type(f"random_typed:{ref}", grid)
    # the clique spreads across frames; the temporal links leave their sites
    overlap = [len(pairs(r) & pairs(c)) / r.size(1) for r, c in zip(reference, control,
                                                                     strict=True)]
    assert overlap[0] < 0.5 and max(overlap[1:]) < 0.1, overlap
    frame = grid.frame()
    assert (frame[control[0][0]] != frame[control[0][1]]).float().mean() > 0.5


def test_controls_are_seeded_and_keep_weights():
    grid = TokenGrid(4, 3, 3)
    for family in ("random_typed", "random_temporal"):
        a = get_topology(family).edges(grid)[0]
        assert torch.equal(a, get_topology(f"{family}:tag").edges(grid)[0])
        assert torch.equal(a, get_topology(f"{family}:reference=tag,seed=0").edges(grid)[0])
        assert torch.equal(a, get_topology(f"{family}:tag,seed=0").edges(grid)[0])
        assert not torch.equal(a, get_topology(f"{family}:tag,seed=1").edges(grid)[0])
    weighted = Topology(["intra_frame", "temporal"], weights=[1.0, 3.0])
    assert random_temporal(weighted).weights == random_typed(weighted, seed=2).weights == (1.0, 3.0)
    assert random_typed(weighted, seed=2).name == "random_typed:intra_frame+temporal,seed=2"
    with pytest.raises(ValueError, match="static reference.*'tag_aligned'.*similarity_aligned"):
        get_topology("random_temporal:tag_aligned")


def test_controls_are_the_same_in_every_process():
    # a fresh interpreter, another global seed and other thread counts draw the same edges
    names = ["random_typed:tag_directed", "random_temporal:tag_window:3,seed=4", "random"]
    code = ("import torch; torch.manual_seed(123);"
            "from tagnet.graphs import Topology, get_topology;"
            "print([[Topology(get_topology(n).edge_sets).edges('5x3x3')[0].sum(0).tolist()"
            f" for n in {names!r}] for t in (1, 2) if torch.set_num_threads(t) is None])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    here = [get_topology(n).edges("5x3x3")[0].sum(0).tolist() for n in names]
    assert out == str([here, here]) + "\n"


# ---- the rewiring algorithms on any graph ----------------------------------------------------

@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 10), density=st.floats(0.1, 0.8), seed=st.integers(0, 10 ** 6),
       oriented=st.booleans())
def test_directed_rewire_keeps_in_and_out_degrees(n, density, seed, oriented):
    g = torch.Generator().manual_seed(seed)
    adj = (torch.rand(n, n, generator=g) < density) & ~torch.eye(n, dtype=torch.bool)
    if oriented:  # no edge together with its reverse
        adj = torch.triu(adj, 1)
    ei = adj.nonzero().t()
    forbidden = torch.tensor([[0], [1]]) if not adj[0, 1] and not adj[1, 0] else None
    out = degree_preserving_rewire(ei, n, rounds=5, generator=g, directed=True, oriented=oriented,
                                   forbidden=forbidden)
    out_adj = torch.zeros(n, n, dtype=torch.bool)
    out_adj[out[0], out[1]] = True
    assert out.size(1) == ei.size(1) == int(out_adj.sum()) and not out_adj.diagonal().any()
    assert torch.equal(out_adj.sum(0), adj.sum(0)) and torch.equal(out_adj.sum(1), adj.sum(1))
    if oriented:
        assert not (out_adj & out_adj.T).any()
    if forbidden is not None:  # directed: that edge only; oriented: either direction
        assert not out_adj[0, 1] and not (oriented and out_adj[1, 0])


def test_rewire_typed_pairs_a_type_with_its_reverse():
    # type 1 is the reverse of type 0; type 2 is symmetric
    ei = torch.tensor([[0, 1, 2, 3, 1, 2, 3, 4, 0, 4],
                       [1, 2, 3, 4, 0, 1, 2, 3, 4, 0]])
    et = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1, 2, 2])
    parts = rewire_typed(ei, et, 5, 3, rounds=10, seed=1)
    assert [p.size(1) for p in parts] == [4, 4, 2]
    assert pairs(parts[1]) == pairs(parts[0].flip(0))
    assert pairs(parts[2]) == pairs(parts[2].flip(0))
    union = torch.cat(parts, 1)
    assert len(pairs(union)) == 10 and not (union[0] == union[1]).any()
