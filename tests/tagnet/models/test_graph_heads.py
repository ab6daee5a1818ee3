"""Heads in which the topology can change the prediction: readouts, operators, masked attention."""
import pytest
import torch
from torch_geometric.data import Batch, Data

from tagnet import TAGHead
from tagnet.graphs import TokenGrid, batch_graphs, get_topology, list_topologies
from tagnet.models.readouts import list_readouts
from tagnet.propagation import (
    GraphAttentionMask,
    GraphOperator,
    GraphPropagation,
    allowed_pairs,
    list_operators,
)

GRID = TokenGrid(3, 3, 3)
C = 16
NEW_READOUTS = ["attention", "max", "frame_temporal"]
NEW_OPERATORS = ["gatv2", "rgcn", "transformer"]


def make_head(grid=GRID, seed=0, **kw):
    torch.manual_seed(seed)
    kw = {"num_layers": 1, "num_heads": 2, "ffn_dim": 32, "dropout": 0.0, **kw}
    return TAGHead(grid, num_classes=5, in_channels=C, **kw).eval()


def tokens(B=2, grid=GRID, seed=1):
    return torch.randn(B, grid.num_nodes, C, generator=torch.Generator().manual_seed(seed))


def rel_diff(a, b):
    return ((a - b).norm() / b.norm()).item()


def test_registries_list_the_choices():
    assert list_readouts() == ["mean", "attention", "max", "frame_temporal"]
    assert list_operators() == ["appnp", "gatv2", "rgcn", "transformer"]


# ---- the released head is untouched ------------------------------------------------------

def test_default_head_keys_and_logits_are_the_released_ones():
    head = make_head()
    assert list(head.state_dict()) == [
        "pos_embed.weight", "encoder.layers.0.self_attn.in_proj_weight",
        "encoder.layers.0.self_attn.in_proj_bias", "encoder.layers.0.self_attn.out_proj.weight",
        "encoder.layers.0.self_attn.out_proj.bias", "encoder.layers.0.linear1.weight",
        "encoder.layers.0.linear1.bias", "encoder.layers.0.linear2.weight",
        "encoder.layers.0.linear2.bias", "encoder.layers.0.norm1.weight",
        "encoder.layers.0.norm1.bias", "encoder.layers.0.norm2.weight",
        "encoder.layers.0.norm2.bias", "norm.weight", "norm.bias", "fc.weight", "fc.bias"]
    assert isinstance(head.propagation, GraphPropagation) and head.operator is None
    x = tokens()
    z = head.encoder(head.pos_embed(x))  # the released pipeline, written out
    z = GraphPropagation("tag", K=2, alpha=0.1)(z, GRID).mean(dim=1)
    assert torch.equal(head(x), head.fc(head.norm(z)))


def test_mean_appnp_on_a_regular_graph_ignores_the_topology():
    # tag at T'=2 is regular (one temporal neighbour each); intra_frame is regular at any T'
    for grid, topology in [(TokenGrid(2, 3, 3), "tag"), (GRID, "intra_frame")]:
        x = tokens(grid=grid)
        ref = make_head(grid, topology="none")(x)
        torch.testing.assert_close(make_head(grid, topology=topology)(x), ref,
                                   rtol=1e-5, atol=1e-5)


# ---- the graph matters ---------------------------------------------------------------------

@pytest.mark.parametrize("readout", NEW_READOUTS)
def test_each_new_readout_lets_the_topology_change_the_logits(readout):
    grid = TokenGrid(2, 3, 3)  # regular: under the mean readout the graph would cancel
    x = tokens(grid=grid)
    tag, none = make_head(grid, topology="tag", readout=readout), \
        make_head(grid, topology="none", readout=readout)
    assert all(torch.equal(a, b) for a, b in zip(tag.state_dict().values(),
                                                 none.state_dict().values(), strict=True))
    assert rel_diff(tag(x), none(x)) > 1e-3


@pytest.mark.parametrize("operator", NEW_OPERATORS)
def test_each_operator_lets_the_topology_change_the_logits(operator):
    x = tokens()
    a, b = make_head(topology="tag", operator=operator), \
        make_head(topology="tag_dense", operator=operator)
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert rel_diff(a(x), b(x)) > 1e-3


def test_attention_topology_lets_the_topology_change_the_logits():
    x = tokens()
    a, b = make_head(attention_topology="tag"), make_head(attention_topology="tag_dense")
    assert rel_diff(a(x), b(x)) > 1e-3


# ---- each operator against PyG on Batch.from_data_list, and a dense closed form ------------

def _per_clip_batch(x, grid, topology):
    ei, et = get_topology(topology).edges(grid)
    return Batch.from_data_list([Data(x=xb, edge_index=ei, edge_type=et) for xb in x])


@pytest.mark.parametrize("operator", NEW_OPERATORS)
def test_operator_equals_pyg_on_from_data_list(operator):
    torch.manual_seed(0)
    op = GraphOperator("tag", C, operator, num_layers=2).eval()
    x = tokens(B=3)
    ref = _per_clip_batch(x, GRID, "tag")
    h = ref.x
    for layer, norm in zip(op.layers, op.norms, strict=True):
        if operator == "rgcn":
            out = layer.conv(h, ref.edge_index, ref.edge_type)
        else:
            out = layer.conv(h, ref.edge_index, edge_attr=layer.type_embed.weight[ref.edge_type])
        h = norm(h + out.relu())
    torch.testing.assert_close(op(x, GRID), h.view(3, GRID.num_nodes, C))


def test_rgcn_layer_equals_dense_relational_formula():
    torch.manual_seed(0)
    op = GraphOperator("tag", C, "rgcn").eval()
    conv, x = op.layers[0].conv, tokens(B=1)[0]
    ei, et = get_topology("tag").edges(GRID)
    N = GRID.num_nodes
    expected = x @ conv.root + conv.bias
    for r in range(2):
        A = torch.zeros(N, N)
        A[ei[1, et == r], ei[0, et == r]] = 1.0
        expected = expected + (A / A.sum(1, keepdim=True).clamp(min=1)) @ x @ conv.weight[r]
    torch.testing.assert_close(op(x[None], GRID)[0], op.norms[0](x + expected.relu()))


def test_gatv2_layer_equals_dense_attention_formula():
    torch.manual_seed(0)
    op = GraphOperator("temporal", C, "gatv2", heads=2).eval()
    conv, x = op.layers[0].conv, tokens(B=1)[0]
    ei, et = get_topology("temporal").edges(GRID)
    N, H, D = GRID.num_nodes, 2, C // 2
    e = op.layers[0].type_embed.weight[et]  # one type: self loops get the same (mean) embedding
    xs, xt = conv.lin_l(x).view(N, H, D), conv.lin_r(x).view(N, H, D)
    adj = torch.eye(N, dtype=torch.bool)
    adj[ei[1], ei[0]] = True
    edge = conv.lin_edge(e[:1]).view(H, D)
    z = torch.nn.functional.leaky_relu(xs[None] + xt[:, None] + edge, 0.2)  # (i, j, H, D)
    logits = (z * conv.att.view(1, 1, H, D)).sum(-1).masked_fill(~adj[..., None], float("-inf"))
    out = torch.einsum("ijh,jhd->ihd", logits.softmax(dim=1), xs).reshape(N, C) + conv.bias
    torch.testing.assert_close(op(x[None], GRID)[0], op.norms[0](x + out.relu()))


def test_transformer_layer_equals_dense_attention_formula():
    torch.manual_seed(0)
    op = GraphOperator("temporal", C, "transformer", heads=2).eval()
    conv, x = op.layers[0].conv, tokens(B=1)[0]
    ei, et = get_topology("temporal").edges(GRID)
    N, H, D = GRID.num_nodes, 2, C // 2
    e = conv.lin_edge(op.layers[0].type_embed.weight[0]).view(H, D)  # one edge type
    q = conv.lin_query(x).view(N, H, D)
    k, v = conv.lin_key(x).view(N, H, D) + e, conv.lin_value(x).view(N, H, D) + e
    adj = torch.zeros(N, N, dtype=torch.bool)
    adj[ei[1], ei[0]] = True  # every node has a time-aligned neighbour at T' = 3
    logits = torch.einsum("ihd,jhd->ijh", q, k) / D ** 0.5
    a = logits.masked_fill(~adj[..., None], float("-inf")).softmax(dim=1)
    out = torch.einsum("ijh,jhd->ihd", a, v).reshape(N, C) + conv.lin_skip(x)
    torch.testing.assert_close(op(x[None], GRID)[0], op.norms[0](x + out.relu()))


# ---- every topology, B=1, T'=1 -------------------------------------------------------------

@pytest.mark.parametrize("operator", NEW_OPERATORS)
def test_operators_run_on_every_topology_at_b1_and_t1(operator):
    grid = TokenGrid(1, 3, 3)  # 9 nodes: enough for knn_feature's k=8
    x = tokens(B=1, grid=grid)
    for name in list_topologies():
        out = GraphOperator(name, C, operator)(x, grid)
        assert out.shape == x.shape and torch.isfinite(out).all(), name
    out = GraphOperator("tag_aligned", C, operator)(tokens(B=2), GRID)  # dynamic, T' > 1
    assert out.shape == (2, GRID.num_nodes, C)


@pytest.mark.parametrize("readout", NEW_READOUTS)
def test_readouts_at_b1_and_t1(readout):
    for grid in (TokenGrid(1, 3, 3), GRID):
        out = make_head(grid, readout=readout)(tokens(B=1, grid=grid))
        assert out.shape == (1, 5) and torch.isfinite(out).all()


def test_attention_topology_on_every_topology():
    grid = TokenGrid(2, 3, 3)
    for name in list_topologies():
        out = make_head(grid, attention_topology=name)(tokens(B=1, grid=grid))
        assert out.shape == (1, 5) and torch.isfinite(out).all(), name


def test_frame_temporal_readout_reads_frame_order():
    torch.manual_seed(0)
    head = make_head(readout="frame_temporal")
    x = tokens().view(2, GRID.T, -1, C)
    feats = head.readout(x.flatten(1, 2), GRID)
    flipped = head.readout(x.flip(1).flatten(1, 2), GRID)
    assert rel_diff(flipped, feats) > 1e-3
    frames = x.mean(2)
    _, last = head.readout.gru(frames)
    torch.testing.assert_close(feats, frames.mean(1) + last[0])


def test_attention_readout_formula_and_mean_limit():
    head = make_head(readout="attention")
    ro, x = head.readout, tokens()
    a = (ro.key(x) @ ro.query / C ** 0.5).softmax(1)
    torch.testing.assert_close(ro(x, GRID), (a[..., None] * x).sum(1))
    with torch.no_grad():
        ro.query.zero_()
    torch.testing.assert_close(ro(x, GRID), x.mean(1))


# ---- masked attention ----------------------------------------------------------------------

def test_global_attention_topology_is_the_ordinary_encoder():
    x = tokens()
    assert not GraphAttentionMask("global", GRID, 2)(x, GRID).any()
    assert torch.equal(make_head(attention_topology="global")(x), make_head()(x))


def test_none_attention_topology_attends_to_self_only():
    head = make_head(topology="none", attention_topology="none")
    x = tokens()
    layer = head.encoder.layers[0]
    z = head.pos_embed(x)
    Wv, bv = layer.self_attn.in_proj_weight[2 * C:], layer.self_attn.in_proj_bias[2 * C:]
    sa = layer.self_attn.out_proj(z @ Wv.T + bv)  # softmax over {i} alone is 1
    z = layer.norm1(z + sa)
    z = layer.norm2(z + layer.linear2(layer.linear1(z).relu()))
    torch.testing.assert_close(head.forward_tokens(x), z)


def test_attention_mask_is_edges_plus_self_and_dynamic_masks_are_per_clip():
    grid = TokenGrid(2, 2, 2)
    allowed = allowed_pairs(grid, "temporal")
    assert allowed.int().tolist() == (torch.eye(8) + torch.eye(8).roll(4, 1)).int().tolist()
    x = tokens(B=2, grid=TokenGrid(2, 3, 3))
    topo = get_topology("tag_aligned")
    masks = allowed_pairs(TokenGrid(2, 3, 3), topo, x)
    for b in range(2):  # each clip's graph built alone
        graph = batch_graphs(x[b:b + 1], TokenGrid(2, 3, 3), topo)
        expected = torch.eye(18, dtype=torch.bool)
        expected[graph.edge_index[1], graph.edge_index[0]] = True
        assert torch.equal(masks[b], expected)


# ---- training-relevant properties ----------------------------------------------------------

@pytest.mark.parametrize("operator,readout", [("gatv2", "attention"), ("rgcn", "frame_temporal"),
                                              ("transformer", "max")])
def test_gradients_reach_every_new_parameter_and_state_dict_round_trips(operator, readout):
    head = make_head(operator=operator, readout=readout, attention_topology="tag").train()
    head(tokens()).logsumexp(1).sum().backward()
    for name, p in head.named_parameters():
        if name.startswith(("operator.", "readout.")):
            assert p.grad is not None and p.grad.abs().sum() > 0, name
    other = make_head(seed=1, operator=operator, readout=readout, attention_topology="tag")
    other.load_state_dict(head.state_dict(), strict=True)
    head.eval()
    assert torch.equal(other(tokens()), head(tokens()))


def test_create_model_takes_the_options():
    from tagnet import create_model

    model = create_model("tag_r2plus1d_tiny", num_classes=3, num_frames=4, img_size=32,
                         readout="max", operator="rgcn", operator_layers=2,
                         attention_topology="tag")
    assert len(model.head.operator.layers) == 2 and model.head.attention_mask is not None


# ---- bad input -----------------------------------------------------------------------------

def test_unknown_names_list_the_choices():
    with pytest.raises(ValueError, match="readout 'avg' is unknown; known: mean, attention, max"):
        make_head(readout="avg")
    with pytest.raises(ValueError, match="operator 'gat' is unknown; known: appnp, gatv2, rgcn"):
        make_head(operator="gat")


def test_relation_count_mismatch_says_which_and_why():
    with pytest.raises(ValueError, match=r"'rgcn' was built for 2 edge type\(s\).*'tag_directed' "
                                         r"has 3 \(intra_frame, temporal_forward, "
                                         r"temporal_backward\).*weights per edge type"):
        GraphOperator("tag_directed", C, "rgcn", num_edge_types=2)
    op = GraphOperator("tag", C, "rgcn")
    with pytest.raises(ValueError, match=r"built for 2 edge type.*'tag_knn' has 3"):
        make_head(topology="tag_knn", operator=op)
    assert make_head(topology="lattice", operator=op).operator.topology.name == "lattice"


def test_other_bad_options():
    with pytest.raises(ValueError, match="edge_weights .* belong to APPNP"):
        make_head(operator="gatv2", edge_weights=[1.0, 2.0])
    with pytest.raises(ValueError, match="heads=3"):
        make_head(operator="transformer", operator_kwargs={"heads": 3})
    with pytest.raises(ValueError, match=r"'rgcn' has no option\(s\) \['heads'\]; its options: "
                                         "num_bases, dropout"):
        make_head(operator="rgcn", operator_kwargs={"heads": 2})
    with pytest.raises(ValueError, match="num_layers=0 removes the encoder"):
        make_head(num_layers=0, attention_topology="tag")


def test_attention_topology_on_another_grid_names_both_grids():
    mask = GraphAttentionMask("tag", GRID, 2)
    with pytest.raises(ValueError, match=r"built for grid 3x3x3.*come from grid 2x3x3"):
        mask(tokens(grid=TokenGrid(2, 3, 3)), TokenGrid(2, 3, 3))
    head = make_head(attention_topology="tag")
    head.resize_grid(TokenGrid(2, 3, 3))
    assert head(tokens(grid=TokenGrid(2, 3, 3))).shape == (2, 5)


# ---- complexity: the new parts are their own entries ---------------------------------------

def test_complexity_counts_operator_and_readout_as_parts():
    from tagnet import create_model
    from tagnet.complexity import count_macs, count_parameters, example_input

    tiny = dict(num_classes=3, num_frames=2, img_size=2, ffn_dim=32,
                backbone_kwargs=dict(channels=16, stride=(1, 1, 1)))  # N = 8, E = 32, C = 16
    released = create_model("tag_features", **tiny)
    model = create_model("tag_features", operator="rgcn", readout="attention", **tiny)
    p = count_parameters(model)
    assert "operator" not in count_parameters(released) and "readout" not in \
        count_parameters(released)
    assert p["operator"] == 3 * 16 * 16 + 16 + 2 * 16  # root + 2 relations, bias, LayerNorm
    assert p["readout"] == 16 * 16 + 16 + 16  # key Linear + query
    assert p["total"] == sum(q.numel() for q in model.parameters())
    before = model.eval()(example_input(model))
    macs = count_macs(model, example_input(model))
    assert macs["operator"] == 3 * 8 * 16 * 16 + 32 * 16  # 3 matmuls of (8,16)x(16,16) + mean
    assert macs["readout"] == 8 * 16 * 16 + 8 * 16  # keys, then q.k
    assert macs["head"] == count_macs(released, example_input(released))["head"]
    assert macs["propagation"] == 0
    torch.testing.assert_close(model(example_input(model)), before)  # forward restored
    with torch.device("meta"):
        meta = create_model("tag_features", operator="gatv2", **tiny)
    assert count_macs(meta, example_input(meta, device="meta"))["operator"] == \
        count_macs(create_model("tag_features", operator="gatv2", **tiny),
                   example_input(meta))["operator"]
