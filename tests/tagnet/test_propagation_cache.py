import pytest
import torch
from torch_geometric.nn import APPNP

from tagnet.graphs import TokenGrid, Topology, batch_graphs, get_topology, list_topologies
from tagnet.graphs.edge_sets import EdgeSet, FunctionEdgeSet
from tagnet.models.head import TAGHead
from tagnet.propagation import GraphPropagation, appnp_dense_reference, graph_cache
from tagnet.propagation.functional import METHODS, propagate, resolve_method

EXACT = ("pyg", "pyg-edge", "pyg-csr", "structured", "dense")


class SignLinks(EdgeSet):
    """A data-dependent edge set: links node 0 of each clip to node 1 when x[0, 0] > 0."""

    name, dynamic = "sign_links", True

    def build(self, grid, x=None):
        B, N = x.shape[:2]
        keep = (x[:, 0, 0] > 0).nonzero().flatten() * N
        return torch.cat([torch.stack([keep, keep + 1]), torch.stack([keep + 1, keep])], 1)


def window2(grid):
    """Links two frames apart: what an edge set such as temporal_window(2) adds."""
    n = torch.arange(max(grid.T - 2, 0) * grid.num_sites)
    return torch.stack([torch.cat([n, n + 2 * grid.num_sites]),
                        torch.cat([n + 2 * grid.num_sites, n])])


def reference(x, grid, topology, K, alpha, weights):
    """The uncached path: batch_graphs + PyG APPNP(normalize=True)."""
    batch = batch_graphs(x, grid, topology)
    edge_weight = torch.as_tensor(weights, dtype=x.dtype)[batch.edge_type]
    return APPNP(K, alpha)(batch.x, batch.edge_index, edge_weight).view_as(x)


def test_auto_picks_structured_exactly_when_it_applies():
    for name in ("tag", "intra_frame", "temporal", "none"):
        assert resolve_method("auto", name) == "structured"
    assert resolve_method("auto", Topology(["temporal", "intra_frame"])) == "structured"
    custom = Topology(["intra_frame", FunctionEdgeSet("window2", window2)])
    assert resolve_method("auto", custom) == "pyg-csr"
    lookalike = Topology([FunctionEdgeSet("temporal", window2)])  # same name, other edges
    assert resolve_method("auto", lookalike) == "pyg-csr"
    dynamic = Topology(["intra_frame", SignLinks()])
    assert resolve_method("auto", dynamic) == "pyg-edge"
    assert resolve_method("auto", custom, torch.float16) == "pyg-edge"  # no half CSR on CPU
    assert GraphPropagation(custom, propagation="auto").resolved_method() == "pyg-csr"
    assert GraphPropagation("tag", propagation="auto").resolved_method() == "structured"


def test_bad_choices_raise_with_the_fix():
    custom = Topology(["intra_frame", FunctionEdgeSet("window2", window2)])
    with pytest.raises(ValueError, match=r"'structured' cannot run topology .*'pyg' or 'auto'"):
        GraphPropagation(custom, propagation="structured")
    with pytest.raises(ValueError, match=r"needs a static topology"):
        resolve_method("pyg-csr", Topology([SignLinks()]))
    with pytest.raises(ValueError, match=r"'sparse' is unknown; known: " + ", ".join(METHODS)):
        TAGHead("2x2x2", 3, in_channels=8, num_heads=2, propagation="sparse")


@pytest.mark.parametrize("method", EXACT)
@pytest.mark.parametrize("topology,weights", [("tag", [0.5, 2.0]), ("intra_frame", [1.0]),
                                              ("temporal", [3.0])])
def test_every_method_equals_the_uncached_pyg_path(method, topology, weights):
    grid = TokenGrid(3, 2, 2)
    x = torch.randn(3, grid.num_nodes, 4, dtype=torch.float64)
    out = propagate(x, grid, topology, K=3, alpha=0.2, method=method, edge_weights=weights)
    torch.testing.assert_close(out, reference(x, grid, topology, 3, 0.2, weights),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", list_topologies())
def test_auto_is_exact_on_every_registered_topology(name):
    # edge sets added later (temporal_window, knn, ...) must fall back to PyG, not be
    # mistaken for the structured graph: the numbers tell
    grid, topology = TokenGrid(3, 2, 2), get_topology(name)
    x = torch.randn(2, grid.num_nodes, 4, dtype=torch.float64)
    weights = [1.0 + i for i in range(topology.num_edge_types)]
    out = propagate(x, grid, topology, K=2, alpha=0.1, method="auto", edge_weights=weights)
    torch.testing.assert_close(out, reference(x, grid, topology, 2, 0.1, weights),
                               rtol=1e-12, atol=1e-12)


def test_custom_and_dynamic_topologies_run_on_pyg():
    grid = TokenGrid(4, 2, 1)
    custom = Topology(["intra_frame", FunctionEdgeSet("window2", window2)], weights=[1.0, 0.5])
    x = torch.randn(2, grid.num_nodes, 3, dtype=torch.float64)
    x[0, 0, 0], x[1, 0, 0] = 1.0, -1.0
    for topology in (custom, Topology(["temporal", SignLinks()], weights=[1.0, 4.0])):
        expected = reference(x, grid, topology, 2, 0.1, topology.weights)
        out = GraphPropagation(topology, K=2, propagation="auto").double()(x, grid)
        torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)
    dense = appnp_dense_reference(x[0], *custom.edges(grid)[:1], None, 2, 0.1)
    torch.testing.assert_close(propagate(x, grid, Topology(custom.edge_sets), method="dense")[0],
                               dense, rtol=1e-12, atol=1e-12)


def test_template_and_normalisation_are_built_once():
    graph_cache.clear_cache()
    grid, topology = TokenGrid(2, 2, 2), Topology(["intra_frame", "temporal"])
    prop = GraphPropagation(topology, propagation="pyg")
    before = dict(graph_cache.BUILDS)
    for _ in range(3):
        prop(torch.randn(4, grid.num_nodes, 3), grid)
    assert graph_cache.BUILDS["clip"] == before["clip"] + 1
    assert graph_cache.BUILDS["graph"] == before["graph"] + 1
    prop(torch.randn(1, grid.num_nodes, 3), grid)  # the last, partial batch: one more graph
    prop(torch.randn(4, grid.num_nodes, 3, dtype=torch.float64), grid)  # another dtype
    assert graph_cache.BUILDS["clip"] == before["clip"] + 1
    assert graph_cache.BUILDS["graph"] == before["graph"] + 3
    learned = GraphPropagation(topology, learn_edge_weights=True, propagation="pyg")
    for _ in range(2):  # learnable weights: the index is cached, the values are not
        learned(torch.randn(4, grid.num_nodes, 3), grid)
    assert graph_cache.BUILDS["graph"] == before["graph"] + 5
    assert graph_cache.BUILDS["index"] == before["index"] + 2
    assert graph_cache.cache_info()["entries"] <= graph_cache.MAX_ENTRIES


def test_cache_built_under_inference_mode_serves_training():
    graph_cache.clear_cache()
    grid, prop = TokenGrid(2, 2, 2), GraphPropagation("tag", propagation="pyg")
    with torch.inference_mode():
        prop(torch.randn(2, grid.num_nodes, 3), grid)
    for method in ("pyg-edge", "pyg-csr", "structured"):
        prop.method = method
        with torch.inference_mode():
            prop(torch.randn(2, grid.num_nodes, 3), grid)
        x = torch.randn(2, grid.num_nodes, 3, requires_grad=True)
        prop(x, grid).sum().backward()
        assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize("method", EXACT)
def test_results_do_not_depend_on_the_batch_size(method):
    grid = TokenGrid(3, 2, 2)
    x = torch.randn(5, grid.num_nodes, 6)
    whole = propagate(x, grid, "tag", K=4, method=method)
    parts = torch.cat([propagate(x[:3], grid, "tag", K=4, method=method),
                       propagate(x[3:], grid, "tag", K=4, method=method)])  # 3 + partial 2
    torch.testing.assert_close(parts, whole, rtol=0, atol=1e-6)


def test_head_propagation_choice_keeps_weights_and_results():
    torch.manual_seed(0)
    kwargs = dict(in_channels=8, num_heads=2, ffn_dim=16, dropout=0.0)
    pyg = TAGHead("2x2x2", 5, **kwargs).eval()
    auto = TAGHead("2x2x2", 5, propagation="auto", **kwargs).eval()
    assert pyg.state_dict().keys() == auto.state_dict().keys()
    auto.load_state_dict(pyg.state_dict(), strict=True)
    x = torch.randn(3, 8, 2, 2, 2)
    torch.testing.assert_close(auto(x), pyg(x), rtol=1e-5, atol=1e-5)
    assert auto.propagation.resolved_method() == "structured"


def test_default_module_is_unchanged_outside():
    prop = GraphPropagation()
    assert list(prop.state_dict()) == []
    assert repr(prop) == ("GraphPropagation(\n  topology='tag', K=2, alpha=0.1\n"
                          "  (appnp): APPNP(K=2, alpha=0.1)\n)")
    assert GraphPropagation().method == "auto"  # the default, not shown
    assert "propagation='pyg'" in repr(GraphPropagation(propagation="pyg"))
    assert list(GraphPropagation(learn_edge_weights=True).state_dict()) == ["log_edge_weight"]


def test_gcn_edge_weight_on_a_path():
    # 0 - 1 - 2 with loops: degrees 2, 3, 2; weight of 0 -> 1 is 1 / sqrt(2 * 3)
    ei = torch.tensor([[0, 1, 1, 2, 0, 1, 2], [1, 0, 2, 1, 0, 1, 2]])
    et = torch.tensor([0, 0, 0, 0, 1, 1, 1])
    w = graph_cache.gcn_edge_weight(ei, et, torch.ones(1, dtype=torch.float64), 3)
    s6 = 6 ** -0.5
    torch.testing.assert_close(w, torch.tensor([s6, s6, s6, s6, 0.5, 1 / 3, 0.5],
                                               dtype=torch.float64))
