import pytest

from tagnet.graphs.edge_sets import EDGE_SETS
from tagnet.graphs.topology import TOPOLOGIES

pytest_plugins = ["pytester"]

USER_MODULE = """
import torch
from tagnet.graphs import register_edge_set, register_topology


@register_edge_set("user_skip2", symmetric=True)
def skip2(grid):  # same site, two frames apart, both directions
    n = torch.arange(max(grid.T - 2, 0) * grid.num_sites)
    far = n + 2 * grid.num_sites
    return torch.stack([torch.cat([n, far]), torch.cat([far, n])])


@register_edge_set("user_loops", symmetric=True)
def loops(grid):  # every node to itself: a defect
    n = torch.arange(grid.num_nodes)
    return torch.stack([n, n])


register_topology("user_tag_skip2", ["intra_frame", "temporal", "user_skip2"])
"""


@pytest.fixture
def user_module(pytester):
    pytester.makepyfile(user_topos=USER_MODULE)
    pytester.syspathinsert()
    yield "user_topos"
    for registry, name in ((TOPOLOGIES, "user_tag_skip2"), (EDGE_SETS, "user_skip2"),
                           (EDGE_SETS, "user_loops")):
        if name in registry:
            registry.unregister(name)


def test_user_module_good_and_bad_edge_sets(pytester, user_module):
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--tagnet-topologies",
                                          user_module, "-k", "user_", "-rf")
    result.assert_outcomes(passed=4, failed=1)  # 1 edge set + 3 topology checks, 1 bad edge set
    result.stdout.fnmatch_lines([
        f"tagnet topology contract on every registered topology and edge set (after importing "
        f"{user_module})",
        "*collected * items / * deselected / 5 selected*",
        "edge set 'user_loops' on grid 1x2x3: self loop at edge 0 (0 -> 0), node 0 = *",
        "FAILED tagnet-topologies::edge_set[[]user_loops[]] - *",
    ])


def test_one_item_per_topology_and_check(pytester):
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--tagnet-topologies",
                                          "--collect-only", "-q")
    lines = set(result.outlines)
    assert {"tagnet-topologies::edge_set[intra_frame]",
            "tagnet-topologies::topology[tag]::topology",
            "tagnet-topologies::topology[tag]::batching",
            "tagnet-topologies::topology[tag]::propagation"} <= lines
    assert sum(line.startswith("tagnet-topologies::") for line in lines) == \
        len(EDGE_SETS) + 3 * len(TOPOLOGIES)


def test_without_the_option_the_plugin_adds_nothing(pytester):
    pytester.makepyfile(test_plain="def test_one():\n    pass\n")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-v")
    result.assert_outcomes(passed=1)
    assert [line for line in result.outlines if "::" in line] == [
        "test_plain.py::test_one PASSED                                           [100%]"]
    # no report header either (the header lines may name a checkout path holding "tagnet")
    assert not any("topology contract" in line for line in result.outlines)


def test_fixtures(pytester):
    pytester.makepyfile(test_fixtures="""
        import pytest
        from tagnet.graphs import TokenGrid


        def test_defaults(token_grid, tagnet_topology):
            assert token_grid == TokenGrid(3, 2, 3)
            assert tagnet_topology.name == "tag"


        @pytest.mark.parametrize("token_grid", ["1x1x2", (2, 1, 1)], indirect=True)
        @pytest.mark.parametrize("tagnet_topology", ["temporal", "intra_frame+temporal_window:k=2"],
                                 indirect=True)
        def test_indirect(token_grid, tagnet_topology):
            assert token_grid.num_nodes == 2
            assert tagnet_topology.edge_types[0] in ("temporal", "intra_frame")
    """)
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=5)


def test_bad_module_is_a_usage_error(pytester):
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--tagnet-topologies",
                                          "no_such_topos")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "cannot import 'no_such_topos'" in "\n".join(result.errlines)
