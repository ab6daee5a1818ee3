"""GATv2 in edge chunks (issue 28): PyG's GATv2Conv results, far less memory kept for backward."""
import copy

import pytest
import torch

from tagnet.graphs import TokenGrid, batch_graphs, get_topology, list_topologies
from tagnet.propagation import GraphOperator
from tagnet.propagation.gatv2 import chunk_edges, gatv2_chunked

TOL = {torch.float32: dict(rtol=1e-5, atol=1e-5), torch.float64: dict(rtol=1e-10, atol=1e-10)}


def pair(topology, dim=8, heads=2, layers=1, dtype=torch.float64, **kw):
    """The chunked operator and a copy that runs PyG's layer, same weights."""
    torch.manual_seed(0)
    op = GraphOperator(topology, dim, "gatv2", num_layers=layers, heads=heads,
                       method="chunked", **kw).to(dtype)
    ref = copy.deepcopy(op)
    for layer in ref.layers:
        layer.method = "pyg"
    return op, ref


@pytest.mark.parametrize("grid", [TokenGrid(3, 3, 3), TokenGrid(1, 2, 5), TokenGrid(4, 2, 3)],
                         ids=str)
def test_chunked_gatv2_equals_pyg_on_every_topology(grid):
    """float64 on every topology, float32 on two; forward and the gradients of tokens and
    every parameter; chunks of 7 edges cross targets, so one target spans several chunks."""
    cases = [(n, torch.float64) for n in list_topologies()] + \
        [("tag", torch.float32), ("lattice", torch.float32)]
    for name, dtype in cases:
        if get_topology(name).dynamic and grid.num_nodes <= 8:
            continue  # knn_feature's k=8 needs more tokens
        op, ref = pair(name, dtype=dtype, chunk_size=7)
        assert op.state_dict().keys() == ref.state_dict().keys()
        x = torch.randn(2, grid.num_nodes, 8, dtype=dtype, requires_grad=True)
        out, expected = op(x, grid), ref(x, grid)
        torch.testing.assert_close(out, expected, **TOL[dtype])
        g = torch.randn_like(out)
        for a, b in zip(torch.autograd.grad(out, [x, *op.parameters()], g),
                        torch.autograd.grad(expected, [x, *ref.parameters()], g), strict=True):
            torch.testing.assert_close(a, b, **TOL[dtype])


def test_the_functional_form_takes_conv_options():
    from torch_geometric.nn import GATv2Conv

    torch.manual_seed(0)
    grid = TokenGrid(2, 2, 3)
    ei, et = get_topology("tag").edges(grid)
    embed = torch.randn(2, 4, dtype=torch.float64)
    x = torch.randn(grid.num_nodes, 6, dtype=torch.float64)
    for kw in (dict(concat=False), dict(residual=True), dict(share_weights=True),
               dict(bias=False)):
        conv = GATv2Conv(6, 3, heads=2, edge_dim=4, **kw).double()
        torch.testing.assert_close(gatv2_chunked(conv, x, ei, et, embed, chunk_size=5),
                                   conv(x, ei, edge_attr=embed[et]), **TOL[torch.float64])
    with pytest.raises(ValueError, match="fill_value='mean'"):
        gatv2_chunked(GATv2Conv(6, 3, edge_dim=4, fill_value=0.0), x, ei, et, embed)


def saved_bytes(fn) -> tuple[int, int]:
    """Bytes of the distinct storages autograd saves during ``fn()``, and the largest one."""
    storages = {}

    def pack(t):
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(storages.values()), max(storages.values())


def test_chunked_gatv2_keeps_no_per_edge_activation_for_backward():
    """Memory accounting on 2 clips of 2x4x4 tokens, tag (E = 2 * 512 edges), C = 64, 4 heads:
    PyG keeps several E x C tensors; the chunked path keeps node tensors and E x heads logits.
    Peak memory of the pass follows: what is saved is what lives until backward."""
    grid, C = TokenGrid(2, 4, 4), 64
    op, ref = pair("tag", dim=C, heads=4, dtype=torch.float32)
    x = torch.randn(2, grid.num_nodes, C, requires_grad=True)
    E = batch_graphs(x, grid, "tag").edge_index.size(1) + x.size(0) * grid.num_nodes  # + loops
    chunked, largest = saved_bytes(lambda: op(x, grid).sum().backward())
    pyg, _ = saved_bytes(lambda: ref(x, grid).sum().backward())
    assert chunked * 4 <= pyg, (chunked, pyg)
    assert largest < E * C * 4  # no saved tensor holds a value per edge and channel


def test_chunk_size():
    assert chunk_edges(512, 4) == (16 << 20) // 2048
    assert chunk_edges(512, 4, chunk_size=100) == 100
    with pytest.raises(ValueError, match="chunk_size must be >= 1 edge, got 0"):
        chunk_edges(8, 4, 0)
    with pytest.raises(ValueError, match="operator 'gatv2' method 'fast' is unknown; known: "
                                         "auto, chunked, pyg"):
        GraphOperator("tag", 8, "gatv2", method="fast")


def test_chunked_gatv2_under_torch_compile_and_export():
    """torch.compile: the chunks run eagerly behind a graph break (same values and gradients);
    torch.export: 'auto' traces the PyG layer (a Python loop over edge chunks cannot be),
    an explicit 'chunked' says so."""
    grid = TokenGrid(2, 3, 3)
    op, _ = pair("tag", dim=16, heads=2, dtype=torch.float32)
    x = torch.randn(2, grid.num_nodes, 16, requires_grad=True)
    ref = op(x, grid)
    torch._dynamo.reset()
    out = torch.compile(op, backend="eager")(x, grid)
    torch.testing.assert_close(out, ref, rtol=0, atol=0)
    torch.testing.assert_close(torch.autograd.grad(out.sum(), x)[0],
                               torch.autograd.grad(ref.sum(), x)[0], rtol=0, atol=0)

    class Wrap(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.op = op

        def forward(self, x):
            return self.op(x, grid)

    with pytest.raises(ValueError, match="'chunked' cannot be exported or traced"):
        torch.export.export(Wrap().eval(), (x.detach(),))
    op.layers[0].method = "auto"
    program = torch.export.export(Wrap().eval(), (x.detach(),))
    torch.testing.assert_close(program.module()(x.detach()), ref.detach(), rtol=1e-5, atol=1e-5)


def test_auto_takes_pyg_on_graphs_that_fit_one_chunk():
    grid = TokenGrid(2, 3, 3)  # 2 clips: 2 * (144 + 18) edges and loops
    torch.manual_seed(0)
    small = GraphOperator("tag", 8, "gatv2", heads=2, chunk_size=400)
    big = copy.deepcopy(small)
    big.layers[0].chunk_size = 100
    calls = []
    handle = torch.nn.modules.module.register_module_forward_hook(
        lambda m, i, o: calls.append(type(m).__name__))
    try:
        x = torch.randn(2, grid.num_nodes, 8)
        a = small(x, grid)
        pyg_calls, calls[:] = list(calls), []
        b = big(x, grid)
    finally:
        handle.remove()
    assert "GATv2Conv" in pyg_calls and "GATv2Conv" not in calls  # chunks call no conv forward
    torch.testing.assert_close(a, b)


def test_chunked_gatv2_built_for_more_edge_types_than_its_topology():
    grid = TokenGrid(2, 2, 3)
    op, ref = pair("intra_frame", num_edge_types=3, chunk_size=5)
    x = torch.randn(2, grid.num_nodes, 8, dtype=torch.float64, requires_grad=True)
    out, expected = op(x, grid), ref(x, grid)
    torch.testing.assert_close(out, expected, **TOL[torch.float64])
    for a, b in zip(torch.autograd.grad(out.sum(), [x, *op.parameters()]),
                    torch.autograd.grad(expected.sum(), [x, *ref.parameters()]), strict=True):
        torch.testing.assert_close(a, b, **TOL[torch.float64])
