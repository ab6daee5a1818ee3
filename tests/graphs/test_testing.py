import re

import pytest
import torch

from tagnet.cli import main
from tagnet.graphs import (
    EdgeSet,
    TokenGrid,
    Topology,
    get_edge_set,
    list_edge_sets,
    list_topologies,
)
from tagnet.graphs.testing import (
    DEFAULT_GRIDS,
    assert_batch_equivalent,
    assert_propagation_matches_dense,
    assert_valid_edge_index,
    assert_valid_edge_set,
    assert_valid_topology,
    contract,
    dense_propagation,
)


def temporal(grid):
    return get_edge_set("temporal")(grid)


def self_loop(grid):  # node 0 -> node 0 on top of the time-aligned edges
    return torch.cat([temporal(grid), torch.zeros(2, 1, dtype=torch.long)], 1)


def out_of_range(grid):
    return torch.cat([temporal(grid), torch.tensor([[0], [grid.num_nodes]])], 1)


def duplicate(grid):
    ei = temporal(grid)
    return torch.cat([ei, ei[:, :1]], 1)


def forward_only(grid):  # the first half of temporal: t -> t + 1 only
    ei = temporal(grid)
    return ei[:, : ei.size(1) // 2]


def float_ids(grid):
    return temporal(grid).float()


def three_rows(grid):
    return torch.zeros(3, 1, dtype=torch.long)


class Flaky(EdgeSet):
    """Alternates between two different edge lists."""

    name = "flaky"

    def __init__(self):
        self.calls = 0

    def build(self, grid, x=None):
        self.calls += 1
        ei = temporal(grid)
        return ei if self.calls % 2 else ei.flip(1)


def looped(grid):  # right edges, built with a Python loop over nodes
    P, pairs = grid.num_sites, []
    for n in range((grid.T - 1) * P):
        pairs += [(n, n + P), (n + P, n)]
    return torch.tensor(pairs, dtype=torch.long).reshape(-1, 2).t()


@pytest.mark.parametrize("edge_set,symmetric,defect", [
    (self_loop, None, r"grid 1x2x3: self loop at edge 0 \(0 -> 0\), node 0 = \(t, h, w\)"),
    (out_of_range, None, r"grid 1x2x3: edge 0 \(0 -> 6\) has a node id out of range \[0, 6\)"),
    (duplicate, None, r"grid 4x1x1: duplicate edge: edge 6 \(0 -> 1\) repeats edge 0"),
    (forward_only, True, r"grid 4x1x1: edge 0 \(0 -> 1\) has no reverse edge \(1 -> 0\)"),
    (float_ids, None, r"grid 1x2x3: dtype torch.float32; expected torch.long"),
    (three_rows, None, r"grid 1x2x3: wrong shape \(3, 1\); expected \[2, E\]"),
    (Flaky(), None, r"'flaky' on grid 4x1x1: not deterministic: a second call on the same grid "
                    r"returned different edges, first at edge 0 \(0 -> 1\) vs edge 0 \(3 -> 2\)"),
    (looped, None, r"grids 2x4x3 and 2x10x10: built with a Python loop over nodes"),
], ids=["self_loop", "out_of_range", "duplicate", "no_reverse", "float", "shape", "flaky",
        "loop"])
def test_each_defect_is_named_with_grid_and_edge(edge_set, symmetric, defect):
    with pytest.raises(AssertionError, match=defect):
        assert_valid_edge_set(edge_set, symmetric=symmetric)
    assert_valid_edge_set(temporal, symmetric=True)  # the edges they spoil are fine


def test_defects_of_a_topology_name_the_topology():
    # the same defects reached through a topology: the message names both
    for fn, defect in ((self_loop, "self loop"), (forward_only, "no reverse edge"),
                       (duplicate, "duplicate edge"), (float_ids, "dtype torch.float32")):
        fn.symmetric = True
        try:
            with pytest.raises(AssertionError, match=rf"edge set '{fn.__name__}' of topology "
                                                     rf"'intra_frame\+{fn.__name__}' on grid "
                                                     rf".*{defect}"):
                assert_valid_topology(["intra_frame", _function_edge_set(fn)])
        finally:
            del fn.symmetric
    # Topology itself refuses bad weights; a subclass that computes its own still gets caught
    with pytest.raises(ValueError, match="must be finite positive numbers"):
        Topology(["intra_frame", "temporal"], weights=[1.0, -1.0])

    class OwnWeights(Topology):
        def type_weights(self):
            return torch.tensor([1.0, -1.0])

    with pytest.raises(AssertionError, match=r"per-type weights \[1.0, -1.0\] must be 2 positive"):
        assert_valid_topology(OwnWeights(["intra_frame", "temporal"]))


def _function_edge_set(fn):
    from tagnet.graphs import FunctionEdgeSet

    return FunctionEdgeSet(fn.__name__, fn)


class MislabelledTopology(Topology):
    """Swaps the type ids of its two edge sets."""

    def edges(self, grid):
        ei, et = super().edges(grid)
        return ei, 1 - et


class OneBatch(EdgeSet):
    """A data-dependent edge set that joins clip 0 to clip 1 (wrong batching)."""

    name, dynamic = "cross_clip", True

    def build(self, grid, x=None):
        N = grid.num_nodes
        return torch.tensor([[0, N], [N, 0]]) if len(x) > 1 else torch.empty(2, 0).long()


def test_topology_and_batch_defects():
    with pytest.raises(AssertionError, match=r"topology 'x' on grid 1x2x3: the 30 edges of type 0 "
                                             r"are not the 0 edges of edge set 0 \('temporal'\): "
                                             r"edge type must be the position of the edge set; "
                                             r"first stray edge 0 \(0 -> 1\)"):
        assert_valid_topology(MislabelledTopology(["temporal", "intra_frame"], name="x"))
    with pytest.raises(AssertionError, match=r"edge set 'cross_clip' of topology .* on grid "
                                             r"1x2x3: edge 0 \(0 -> 6\) joins two clips"):
        assert_valid_topology(["temporal", OneBatch()])
    with pytest.raises(AssertionError, match=r"topology 'temporal\+cross_clip' on grid 2x2x2, "
                                             r"batch of 3: .*edges"):
        assert_batch_equivalent(Topology(["temporal", OneBatch()]), "2x2x2")


def test_propagation_check_fails_on_a_wrong_method(monkeypatch):
    import tagnet.propagation as propagation

    original = propagation.propagate

    def off_by_a_bit(x, *args, method="auto", **kwargs):
        out = original(x, *args, method=method, **kwargs)
        return out + 1e-6 if method == "pyg-edge" else out

    monkeypatch.setattr(propagation, "propagate", off_by_a_bit)
    with pytest.raises(AssertionError, match=r"topology 'tag' on grid 3x2x3: propagation method "
                                             r"'pyg-edge' .* differs from the dense closed form "
                                             r"at node 0 = \(t, h, w\) \(0, 0, 0\)"):
        assert_propagation_matches_dense("tag", "3x2x3")
    assert_propagation_matches_dense("tag", "3x2x3", method="pyg-csr")


def test_default_grids_cover_the_corner_cases():
    assert any(g.T == 1 for g in DEFAULT_GRIDS)
    assert any(g.num_sites == 1 for g in DEFAULT_GRIDS)
    assert any(g.H != g.W for g in DEFAULT_GRIDS)


@pytest.mark.parametrize("name", list_edge_sets())
def test_every_registered_edge_set_passes(name):
    assert_valid_edge_set(name)


@pytest.mark.parametrize("name", list_topologies())
def test_every_registered_topology_passes(name):
    # the loop check ran on every edge set above; batching: tests/graphs/test_batching.py
    assert_valid_topology(name, vectorised=False)
    assert_propagation_matches_dense(name, "3x2x3", K=3, alpha=0.2)


def test_registered_edge_sets_declare_symmetry():
    # the declarations are what makes the symmetry check run on them
    directed = {n for n in list_edge_sets() if not get_edge_set(n).symmetric}
    assert directed == {"knn_feature", "temporal_forward", "temporal_backward"}
    assert get_edge_set("temporal_forward").symmetric is False  # declared, not just unset


@pytest.mark.parametrize("name", ["temporal_forward", "temporal_backward"])
def test_directed_edge_sets_pass_as_directed_and_fail_as_symmetric(name):
    assert_valid_edge_set(name)  # symmetric=False, as declared
    assert_valid_edge_set(name, symmetric=False)
    first = "(0 -> 1) has no reverse edge (1 -> 0)" if name == "temporal_forward" else \
        "(1 -> 0) has no reverse edge (0 -> 1)"
    with pytest.raises(AssertionError, match=rf"edge set '{name}' on grid 4x1x1: edge 0 "
                                             rf"{re.escape(first)} though the edge set is "
                                             "declared symmetric"):
        assert_valid_edge_set(name, symmetric=True)
    # declared symmetric at registration, the same builder fails every check that reads it
    from tagnet.graphs.directed import _forward

    def declared_symmetric(grid):
        return _forward(grid, 1) if name == "temporal_forward" else _forward(grid, 1).flip(0)

    declared_symmetric.symmetric = True
    with pytest.raises(AssertionError, match="declared symmetric"):
        assert_valid_edge_set(declared_symmetric)
    with pytest.raises(AssertionError, match="declared symmetric"):
        assert_valid_topology(["intra_frame", declared_symmetric], vectorised=False)


def test_dense_propagation_is_the_closed_form():
    # a path 0 - 1 plus an isolated node 2: A = D^-1/2 (M + I) D^-1/2 by hand
    ei = torch.tensor([[0, 1], [1, 0]])
    x = torch.tensor([[1.0], [0.0], [5.0]], dtype=torch.float64)
    A = torch.tensor([[0.5, 0.5, 0], [0.5, 0.5, 0], [0, 0, 1]], dtype=torch.float64)
    expected = 0.5 * (A @ x) + 0.5 * x
    torch.testing.assert_close(dense_propagation(x, ei, None, 1, 0.5), expected)
    assert dense_propagation(x, ei, None, 1, 0.5)[:, 0].tolist() == pytest.approx([0.75, 0.25, 5.0])


def test_edge_index_helper_on_a_batch():
    grid = TokenGrid(2, 1, 1)
    assert_valid_edge_index(torch.tensor([[0, 1, 2, 3], [1, 0, 3, 2]]), grid, symmetric=True,
                            batch_size=2)
    with pytest.raises(AssertionError, match=r"edge 0 \(1 -> 2\) joins two clips: node 1 = "
                                             r".*clip 1 node 0"):
        assert_valid_edge_index(torch.tensor([[1], [2]]), grid, batch_size=2)


def test_contract_names_and_the_cli(capsys):
    assert [n for n, _ in contract("tag")] == ["topology", "batching", "propagation"]
    assert [n for n, _ in contract(self_loop)] == ["edge set"]
    assert main(["topology", "check", "temporal", "--grids", "1x2x3", "3x1x2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == ["PASS  temporal  topology", "PASS  temporal  batching",
                   "PASS  temporal  propagation", "3 passed, 0 failed"]
    assert main(["topology", "check", f"{__name__}:self_loop"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"FAIL  {__name__}:self_loop  edge set: edge set 'self_loop' on "
                             "grid 1x2x3: self loop at edge 0 (0 -> 0)")
    assert out[1] == "0 passed, 1 failed"
    assert main(["topology", "check", "no.such.module:x"]) == 1
    assert "cannot import module 'no.such.module'" in capsys.readouterr().err
    assert main(["topology", "check", "tag", "--import", "no_such_topos"]) == 1
    assert "'no_such_topos' given to --import" in capsys.readouterr().err
    assert main(["topology", "tag", "temporal"]) == 1
    assert "unexpected argument 'temporal' after 'tag'" in capsys.readouterr().err
    # the existing usage is unchanged
    assert main(["topology", "temporal", "--grid", "2x1x1", "--json"]) == 0


def test_hypothesis_strategies():
    from hypothesis import given, settings

    from tagnet.graphs.testing import grids, token_batches

    seen = []

    @settings(max_examples=5, deadline=None)
    @given(grid=grids(max_T=3, max_H=2, max_W=3))
    def check(grid):
        assert 1 <= grid.T <= 3 and 1 <= grid.H <= 2 and 1 <= grid.W <= 3
        seen.append(grid)

    check()
    assert seen

    @settings(max_examples=5, deadline=None)
    @given(x=token_batches("2x1x2", max_batch=2, max_channels=3))
    def check_tokens(x):
        assert x.dtype == torch.float32 and x.shape[1] == 4
        assert 1 <= x.shape[0] <= 2 and 1 <= x.shape[2] <= 3

    check_tokens()


def test_strategies_without_hypothesis_say_what_to_install(monkeypatch):
    import sys

    from tagnet.graphs.testing import grids

    monkeypatch.setitem(sys.modules, "hypothesis", None)
    with pytest.raises(ImportError, match="pip install hypothesis"):
        grids()
