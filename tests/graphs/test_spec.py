import doctest

import pytest
import torch

from tagnet.graphs import (
    Topology,
    get_topology,
    list_topologies,
    list_topology_families,
    parse_topology,
    register_topology_family,
)
from tagnet.graphs.spec import split_spec
from tagnet.graphs.topology import FAMILIES, TOPOLOGIES


def same_edges(a, b, grid="3x2x2"):
    ea, ta = get_topology(a).edges(grid)
    eb, tb = get_topology(b).edges(grid)
    return torch.equal(ea, eb) and torch.equal(ta, tb)


def test_split_spec():
    parts = split_spec(" tag + random_temporal : tag_window:3 , seed = 2 + knn_feature:k=4")
    assert [(p.name, p.args, p.kwargs) for p in parts] == [
        ("tag", (), {}), ("random_temporal", ("tag_window:3",), {"seed": 2}),
        ("knn_feature", (), {"k": 4})]
    assert split_spec("x:0.5,true,a=false,b=text")[0].args == (0.5, True)
    assert split_spec("x:0.5,true,a=false,b=text")[0].kwargs == {"a": False, "b": "text"}


def test_positional_values_bind_in_order():
    assert same_edges("temporal_window:2", "temporal_window:k=2")
    assert same_edges("tag_window:3", "intra_frame+temporal_window:k=3")
    assert same_edges("random:tag_dense,seed=3", "random:reference=tag_dense,seed=3")
    assert parse_topology("knn_feature:4").edge_sets[0].k == 4
    # the edge sets' own names and parameters are what a spec gives
    topo = get_topology("intra_frame+temporal_window:2")
    assert topo.name == "intra_frame+temporal_window:2"
    assert topo.edge_sets[1].params == {"k": 2}


def test_get_topology_takes_every_name_a_config_can_give():
    # model.kwargs.topology=... reaches get_topology as a string
    for name, types in (("temporal_window:2", ("temporal_window",)),
                        ("tag_window:2", ("intra_frame", "temporal_window")),
                        ("tag_directed:2", ("intra_frame", "temporal_forward",
                                            "temporal_backward")),
                        ("random_typed:tag_directed,seed=1", ("random_typed(intra_frame)",
                                                              "random_typed(temporal_forward)",
                                                              "random_typed(temporal_backward)")),
                        ("random_temporal:tag", ("intra_frame", "random_temporal(temporal)")),
                        ("temporal_forward", ("temporal_forward",))):
        assert get_topology(name).edge_types == types, name
    # the old names keep working, the registered objects included
    assert get_topology("tag_window").edge_sets[1].params == {"k": 2}
    assert same_edges("tag_window", "tag_window:2")
    assert get_topology("random") is TOPOLOGIES.get("random")
    with pytest.raises(ValueError, match="topology 'tga' is unknown; known: tag, intra_frame"):
        get_topology("tga")
    with pytest.raises(ValueError, match=r"'tga' in 'tag\+tga' is unknown; topologies: tag, "
                                         ".*parametrised topologies: .*tag_directed:k"):
        get_topology("tag+tga")


def test_families_are_registered_with_their_defaults():
    assert {"tag_window", "tag_directed", "temporal_directed", "random_temporal",
            "random_typed"} <= set(list_topology_families())
    assert set(list_topology_families()) <= set(list_topologies())

    @register_topology_family("test_family")
    def test_family(k: int, weight: float = 2.0):  # no default for k: no default topology
        return Topology(["intra_frame", "temporal"], weights=[1.0, weight])

    try:
        assert "test_family" not in list_topologies()
        topo = get_topology("test_family:1,weight=3")
        assert topo.name == "test_family:1,weight=3" and topo.weights == (1.0, 3.0)
        # a spec that joins parts keeps the weights, ones for the parts without
        assert get_topology("test_family:1+spatial_grid").weights == (1.0, 2.0, 1.0)
        with pytest.raises(ValueError, match=r"takes parameters \(k, weight\); missing a required"):
            get_topology("test_family")
    finally:
        FAMILIES.unregister("test_family")


@pytest.mark.parametrize("module", ["spec", "topology", "directed", "controls", "registry"])
def test_docstring_examples_run(module):
    import importlib

    mod = importlib.import_module(f"tagnet.graphs.{module}")
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_a_spec_gives_one_object_until_a_registry_changes():
    from tagnet.graphs import register_edge_set
    from tagnet.graphs.edge_sets import EDGE_SETS

    a = get_topology("random_typed:tag_directed,seed=1")
    assert get_topology("random_typed:tag_directed,seed=1") is a  # edges built once
    assert get_topology(" random_typed:tag_directed,seed=1 ") is a
    assert get_topology("random_typed:tag_directed,seed=2") is not a
    before = EDGE_SETS.version

    @register_edge_set("test_version_bump")
    def bump(grid):
        return torch.empty(2, 0, dtype=torch.long)

    try:
        assert EDGE_SETS.version == before + 1
        b = get_topology("random_typed:tag_directed,seed=1")
        assert b is not a and torch.equal(b.edges("3x2x2")[0], a.edges("3x2x2")[0])
    finally:
        EDGE_SETS.unregister("test_version_bump")
    assert EDGE_SETS.version == before + 2


def test_family_names_cannot_be_taken_twice():
    with pytest.raises(ValueError, match="'tag' is already registered"):
        register_topology_family("tag", lambda k=1: ["intra_frame"])
    assert "tag" not in list_topology_families()
