"""Attention whose cost follows the edges (issue 28): plans, the structured path against the
dense masked reference and PyG's TransformerConv, fallbacks, FlexAttention's mask, tracing."""
import copy
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tagnet.graphs import TokenGrid, get_topology, list_topologies
from tagnet.propagation import (
    GraphOperator,
    GraphTransformerEncoder,
    allowed_pairs,
    attention_plan,
    resolve_attention,
    sparse_attention,
)
from tagnet.propagation.sparse_attention import flex_attention_topology

STATIC = [n for n in list_topologies() if not get_topology(n).dynamic]


def cases(grid):
    """Every static topology in float64 (1e-10); in float32 (1e-5) every one on the non-square
    grid, four on the others (the suite's time)."""
    f32 = STATIC if grid.H != grid.W and grid.T > 1 else ["tag", "lattice", "tag_dense", "global"]
    return [(n, torch.float64) for n in STATIC] + [(n, torch.float32) for n in f32]
# a cube, one frame (no temporal edges at all) and a non-square grid
GRIDS = [TokenGrid(3, 3, 3), TokenGrid(1, 2, 3), TokenGrid(4, 2, 3)]
TOL = {torch.float32: dict(rtol=1e-5, atol=1e-5), torch.float64: dict(rtol=1e-10, atol=1e-10)}


def grads(out, inputs, seed=0):
    g = torch.randn(out.shape, dtype=out.dtype, generator=torch.Generator().manual_seed(seed))
    return torch.autograd.grad(out, inputs, g)


def assert_same(a, b, dtype, inputs_a, inputs_b):
    """Outputs and the gradients of every input equal within the dtype's tolerance."""
    torch.testing.assert_close(a, b, **TOL[dtype])
    for ga, gb in zip(grads(a, inputs_a), grads(b, inputs_b), strict=True):
        torch.testing.assert_close(ga, gb, **TOL[dtype])


# ---- plans -----------------------------------------------------------------------------------

def test_plan_of_tag_on_a_2x2x2_grid_is_one_block_per_frame_and_the_temporal_band():
    plan = attention_plan("2x2x2", "tag")  # encoder: edges plus self, a set
    assert (plan.width, plan.degree, plan.full, plan.diagonal) == (1, 1, False, True)
    assert plan.frames.tolist() == [[0], [1]] and plan.block_mask is None
    assert plan.nbr.tolist() == [[4], [5], [6], [7], [0], [1], [2], [3]]
    typed = attention_plan("2x2x2", "tag", "typed")  # TransformerConv: no self loops, types
    assert typed.block_mask[0].int().tolist() == [[0, 1, 1, 1], [1, 0, 1, 1], [1, 1, 0, 1],
                                                  [1, 1, 1, 0]]
    assert typed.block_type.tolist() == [[0], [0]] and typed.nbr_type.flatten().tolist() == [1] * 8


@pytest.mark.parametrize("grid", GRIDS, ids=str)
def test_plan_keys_are_the_allowed_pairs(grid):
    """Blocks and neighbours together hold each allowed pair exactly once."""
    N, P = grid.num_nodes, grid.num_sites
    for name in STATIC:
        plan = attention_plan(grid, name)
        count = torch.zeros(N, N, dtype=torch.long)
        for t in range(grid.T):
            for w in range(plan.width):
                mask = (plan.block_mask[t] if plan.block_mask is not None else
                        torch.ones(P, plan.width * P, dtype=torch.bool))[:, w * P:(w + 1) * P]
                f = plan.frames[t, w]
                count[t * P:(t + 1) * P, f * P:(f + 1) * P] += mask.long()
        for d in range(plan.degree):
            valid = torch.ones(N, dtype=torch.bool) if plan.nbr_valid is None \
                else plan.nbr_valid[:, d]
            count[torch.arange(N)[valid], plan.nbr[valid, d]] += 1
        assert torch.equal(count, allowed_pairs(grid, name).long()), name
        assert plan.keys_per_query <= N


def test_intra_frame_costs_follow_the_edges_not_n_squared():
    for T in (8, 64):
        plan = attention_plan(TokenGrid(T, 7, 7), "tag")
        assert (plan.width, plan.degree, plan.keys_per_query) == (1, 2, 51)  # not T * 49
    assert attention_plan("4x2x2", "global").full


# ---- the structured path against the dense masked computation --------------------------------

@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("grid", GRIDS, ids=str)
def test_structured_attention_equals_the_dense_mask(grid, dtype):
    gen = torch.Generator().manual_seed(0)
    for name in STATIC:
        q, k, v = (torch.randn(2, 2, grid.num_nodes, 8, dtype=dtype, generator=gen)
                   .requires_grad_() for _ in range(3))
        out = sparse_attention(q, k, v, attention_plan(grid, name))
        ref = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed_pairs(grid, name))
        assert_same(out, ref, dtype, (q, k, v), (q, k, v))


def make_encoder(topology, grid, method, norm_first=False, dtype=torch.float64, seed=0):
    torch.manual_seed(seed)
    layer = nn.TransformerEncoderLayer(16, 2, 24, dropout=0.3, batch_first=True,
                                       norm_first=norm_first)
    return GraphTransformerEncoder(layer, 2, topology, grid, method).to(dtype).eval()


@pytest.mark.parametrize("grid", GRIDS, ids=str)
def test_graph_encoder_structured_equals_the_dense_reference(grid):
    """Eval mode (attention dropout off): forward and the gradients of tokens and parameters,
    post-norm and pre-norm layers alternately."""
    for i, (name, dtype) in enumerate(cases(grid)):
        ref = make_encoder(name, grid, "dense", norm_first=bool(i % 2), dtype=dtype)
        enc = make_encoder(name, grid, "structured", norm_first=bool(i % 2), dtype=dtype)
        assert enc.state_dict().keys() == ref.state_dict().keys()
        x = torch.randn(2, grid.num_nodes, 16, dtype=dtype, requires_grad=True)
        assert_same(enc(x), ref(x), dtype, [x, *enc.parameters()], [x, *ref.parameters()])


def test_global_topology_is_the_ordinary_encoder_exactly():
    enc = make_encoder("global", TokenGrid(2, 2, 3), "structured", dtype=torch.float32)
    plain = nn.TransformerEncoder(copy.deepcopy(enc.layers[0]), 2, enable_nested_tensor=False)
    plain.load_state_dict(enc.state_dict())
    x = torch.randn(3, 12, 16)
    assert torch.equal(enc(x), plain(x))


def test_attention_dropout_is_inverted_dropout_on_the_allowed_weights():
    """The mean over many dropout draws is the eval-mode output (weights scaled by 1/(1-p));
    dropped weights stay dropped (no renormalisation), as in scaled_dot_product_attention."""
    grid = TokenGrid(2, 2, 2)
    plan = attention_plan(grid, "tag")
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 1, 8, 4, dtype=torch.float64, generator=gen).expand(4000, -1, -1, -1)
               for _ in range(3))  # 4000 clips: independent draws in one call
    torch.manual_seed(0)
    draws = sparse_attention(q, k, v, plan, dropout_p=0.5)
    exact = sparse_attention(q[:1], k[:1], v[:1], plan)
    torch.testing.assert_close(draws.mean(0, keepdim=True), exact, rtol=0, atol=0.05)
    assert (draws - exact).abs().max() > 0.1  # the draws do differ


# ---- the typed plan: PyG's TransformerConv ---------------------------------------------------

@pytest.mark.parametrize("grid", GRIDS, ids=str)
def test_transformer_operator_structured_equals_pyg(grid):
    for name, dtype in cases(grid):
        torch.manual_seed(0)
        ref = GraphOperator(name, 8, "transformer", num_layers=2, heads=2).to(dtype)
        op = copy.deepcopy(ref)
        for layer in ref.layers:
            layer.method = "pyg"
        assert op.layers[0].method == "auto" and op.layers[0].runs_on_grid(name)
        x = torch.randn(2, grid.num_nodes, 8, dtype=dtype, requires_grad=True)
        assert_same(op(x, grid), ref(x, grid), dtype, [x, *op.parameters()],
                    [x, *ref.parameters()])


def test_transformer_without_incoming_edges_is_zero_plus_skip_as_in_pyg():
    grid = TokenGrid(1, 2, 2)  # "temporal" on one frame: no edge at all
    torch.manual_seed(0)
    op = GraphOperator("temporal", 8, "transformer", heads=2).double()
    layer, x = op.layers[0], torch.randn(1, 4, 8, dtype=torch.float64)
    expected = op.norms[0](x + layer.conv.lin_skip(x).relu())
    torch.testing.assert_close(op(x, grid), expected)


# ---- data-dependent topologies: the reference path -------------------------------------------

def test_a_data_dependent_topology_runs_the_reference_with_the_same_result():
    grid = TokenGrid(2, 3, 3)
    x = torch.randn(2, grid.num_nodes, 16, dtype=torch.float64)
    auto, dense = make_encoder("tag_knn", grid, "auto"), make_encoder("tag_knn", grid, "dense")
    assert auto.resolved_method(x) == "dense"
    assert torch.equal(auto(x), dense(x))
    torch.manual_seed(0)
    op = GraphOperator("tag_knn", 16, "transformer", heads=2).double()
    ref = copy.deepcopy(op)
    ref.layers[0].method = "pyg"
    assert not op.layers[0].runs_on_grid("tag_knn")
    assert torch.equal(op(x, grid), ref(x, grid))
    with pytest.raises(ValueError, match="'structured' needs a static topology; 'tag_knn'"):
        make_encoder("tag_knn", grid, "structured")
    op.layers[0].method = "structured"
    with pytest.raises(ValueError, match="'structured' needs a static topology; 'tag_knn'"):
        op(x, grid)


def test_auto_picks_the_structured_path_where_it_is_cheaper():
    x = torch.zeros(1, 8, 4)
    assert resolve_attention("auto", "tag", "8x7x7", x) == "structured"
    assert resolve_attention("auto", "intra_frame", "64x7x7", x) == "structured"
    assert resolve_attention("auto", "global", "8x7x7", x) == "structured"  # the plain encoder
    assert resolve_attention("auto", "random", "2x2x2", x) == "dense"  # 8 tokens, ~5 neighbours
    with pytest.raises(ValueError, match="attention method 'sparse' is unknown; known: auto"):
        resolve_attention("sparse", "tag", "2x2x2")
    with pytest.raises(ValueError, match="'flex' has no attention dropout"):
        resolve_attention("flex", "tag", "2x2x2", x, dropout_p=0.1)
    from tagnet.propagation.sparse_attention import flex_available
    assert flex_available("cuda", 64) and not flex_available("cuda", 8)  # no GPU needed to ask
    assert not flex_available("cpu", 64) and not flex_available("cuda", 48)


def test_wrong_grid_names_both_grids():
    enc = make_encoder("tag", TokenGrid(3, 3, 3), "structured")
    with pytest.raises(ValueError, match=r"built for grid 3x3x3.*come from grid 2x3x3"):
        enc(torch.randn(1, 18, 16, dtype=torch.float64), TokenGrid(2, 3, 3))
    enc.resize(TokenGrid(2, 3, 3))
    assert enc(torch.randn(1, 18, 16, dtype=torch.float64)).shape == (1, 18, 16)


# ---- FlexAttention: its BlockMask selects the same keys --------------------------------------

@pytest.mark.parametrize("topology", ["tag", "intra_frame", "lattice"])
def test_flex_block_mask_gives_the_dense_result(topology):
    """On the CPU FlexAttention runs its unfused eager forward (no backward in torch 2.14):
    enough to check that the BlockMask built from the topology selects the allowed keys."""
    grid = TokenGrid(3, 2, 3)
    q, k, v = (torch.randn(2, 2, grid.num_nodes, 16) for _ in range(3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        out = flex_attention_topology(q, k, v, grid, topology)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed_pairs(grid, topology))
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


# ---- tracing: export and compile run the structured path -------------------------------------

def test_graph_encoder_and_transformer_operator_export_and_compile():
    grid = TokenGrid(3, 2, 3)  # not used elsewhere: its plan is built while tracing
    torch.manual_seed(0)

    class Both(nn.Module):
        def __init__(self):
            super().__init__()
            layer = nn.TransformerEncoderLayer(16, 2, 24, batch_first=True)
            self.encoder = GraphTransformerEncoder(layer, 1, "tag", grid)
            self.operator = GraphOperator("lattice", 16, "transformer", heads=2)

        def forward(self, x):
            return self.operator(self.encoder(x), grid)

    model = Both().eval()
    x = torch.randn(2, grid.num_nodes, 16)
    program = torch.export.export(model, (x,), dynamic_shapes=({0: torch.export.Dim("b")},))
    with torch.no_grad():
        for batch in (1, 3):
            xb = torch.randn(batch, grid.num_nodes, 16)
            torch.testing.assert_close(program.module()(xb), model(xb), rtol=1e-5, atol=1e-5)
    torch._dynamo.reset()
    explained = torch._dynamo.explain(model)(x)
    assert (explained.graph_count, explained.graph_break_count) == (1, 0), \
        explained.break_reasons
    with torch.no_grad():
        compiled = torch.compile(model, backend="eager", fullgraph=True)
        torch.testing.assert_close(compiled(x), model(x), rtol=1e-5, atol=1e-5)


# ---- the head: attention_topology runs the structured path by default -------------------------

def test_head_attention_topology_default_equals_the_dense_reference_and_loads_old_weights():
    from tagnet import TAGHead

    grid = TokenGrid(3, 2, 3)

    def head(**kw):
        torch.manual_seed(0)
        return TAGHead(grid, 5, in_channels=16, num_heads=2, ffn_dim=24, dropout=0.5,
                       attention_topology="tag", **kw).double().eval()

    auto, dense = head(), head(attention_method="dense")
    assert auto.encoder.resolved_method() == "structured"
    released = TAGHead(grid, 5, in_channels=16, num_heads=2, ffn_dim=24)
    assert list(auto.state_dict()) == list(released.state_dict())  # checkpoints load as before
    dense.load_state_dict(auto.state_dict(), strict=True)
    x = torch.randn(2, 16, *grid.shape, dtype=torch.float64, requires_grad=True)
    assert_same(auto(x), dense(x), torch.float64, [x, *auto.parameters()],
                [x, *dense.parameters()])


def test_transformer_built_for_more_edge_types_than_its_topology():
    """A control built with the reference's type count (extra types never occur) equals PyG."""
    grid = TokenGrid(2, 2, 3)
    torch.manual_seed(0)
    op = GraphOperator("intra_frame", 8, "transformer", heads=2, num_edge_types=3).double()
    ref = copy.deepcopy(op)
    ref.layers[0].method = "pyg"
    x = torch.randn(2, grid.num_nodes, 8, dtype=torch.float64, requires_grad=True)
    assert_same(op(x, grid), ref(x, grid), torch.float64, [x, *op.parameters()],
                [x, *ref.parameters()])
