"""Clean topology controls (issue 24) and graph-only heads whose symmetries fix their ceilings
(issue 25): same initial weights across topology swaps, site-only positional codes, and the
invariances of a head in which the clip graph is the only path across time."""
import pytest
import torch
from test_graph_heads import C, make_head  # the same folder: pytest puts it on sys.path
from test_graph_heads import tokens as graph_heads_tokens

import tagnet
from tagnet.config import load_config
from tagnet.graphs import TokenGrid
from tagnet.models.positional import (
    SitePositionalEncoding,
    SpaceTimePositionalEncoding,
    resolve_pos_embed,
)
from tagnet.train.sweeps import equal_edge_types, sweep_variants

GRID = TokenGrid(4, 2, 3)  # non-square, 4 frames
OPERATORS = ["appnp", "gatv2", "rgcn", "transformer"]
READOUTS = ["mean", "max", "attention", "frame_temporal"]
CONTROLS = ["tag", "none", "random", "random_typed:tag", "tag_dense", "random_temporal:tag"]


def head(seed=0, grid=GRID, **kw):
    return make_head(grid, seed, **kw)


def tokens(B=3, grid=GRID, seed=1):
    return graph_heads_tokens(B, grid, seed)


def same_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# ---- clean controls ------------------------------------------------------------------------

@pytest.mark.parametrize("readout", READOUTS)
@pytest.mark.parametrize("operator", OPERATORS)
def test_a_topology_swap_keeps_every_initial_weight(operator, readout):
    """Same seed, only the topology changed: bit-identical initial parameters. PyG operators
    get the largest edge-type count of the swap (3: tag_directed), as sweeps give them."""
    extra = {} if operator == "appnp" else {"operator_kwargs": {"num_edge_types": 3}}
    heads = [head(operator=operator, readout=readout, topology=t, **extra)
             for t in CONTROLS + ["tag_directed"]]
    for other in heads[1:]:
        assert same_state(heads[0], other)


@pytest.mark.parametrize("operator", OPERATORS[1:])
def test_without_padding_only_the_operator_differs_and_only_across_type_counts(operator):
    tag, dense, none = (head(operator=operator, topology=t) for t in ("tag", "tag_dense", "none"))
    assert same_state(tag, dense)  # both 2 edge types: same shapes, same values
    st, sn = tag.state_dict(), none.state_dict()
    differ = {k for k in st if st[k].shape != sn[k].shape or not torch.equal(st[k], sn[k])}
    assert differ and all(k.startswith("operator.") for k in differ)


def test_the_operator_draws_leave_the_rest_of_the_model_alone():
    """The operator's generator is forked: the readout, norm and classifier get the same
    values with any operator, and the global stream after the head is the same."""
    heads = []
    after = []
    for op in OPERATORS:
        heads.append(head(operator=op, readout="attention"))
        after.append(torch.rand(3))
    for h in heads[1:]:
        for name in ("readout", "norm", "fc", "encoder", "pos_embed"):
            assert same_state(getattr(h, name), getattr(heads[0], name))
    assert all(torch.equal(a, after[0]) for a in after)


def test_a_sweep_pads_operator_heads_to_one_edge_type_count():
    cfg = load_config("headroom", ["model.kwargs.operator=gatv2"])
    variants = equal_edge_types(cfg, sweep_variants("topology", ["none", "tag", "tag_directed"]))
    assert all(v.overrides[-1] == "model.kwargs.operator_kwargs.num_edge_types=3"
               for v in variants)
    appnp = load_config("headroom")
    plain = sweep_variants("topology", ["none", "tag"])
    assert equal_edge_types(appnp, plain) == plain  # APPNP keeps no per-type weights
    same = sweep_variants("topology", ["tag", "tag_dense"])
    assert equal_edge_types(cfg, same) == same  # the counts agree already


def test_a_padded_operator_computes_what_the_unpadded_one_does():
    """Extra relation types never occur: with the same weights for the types that occur,
    the padded and unpadded operators give the same tokens."""
    for op in ("gatv2", "rgcn", "transformer"):
        small = head(operator=op, topology="tag")
        big = head(operator=op, topology="tag", operator_kwargs={"num_edge_types": 3})
        sd = big.state_dict()
        for k, v in small.state_dict().items():
            sd[k] = torch.cat([v, sd[k][v.shape[0]:]]) if v.shape != sd[k].shape else v
        big.load_state_dict(sd)
        x = tokens()
        with torch.no_grad():
            torch.testing.assert_close(big(x), small(x), rtol=1e-5, atol=1e-6)


# ---- positional codes ----------------------------------------------------------------------

def test_pos_embed_values():
    assert [resolve_pos_embed(v) for v in (True, "spacetime", "site", False, None, "none")] == \
        ["spacetime", "spacetime", "site", "none", "none", "none"]
    with pytest.raises(ValueError, match="pos_embed 'time' is unknown; known: True/'spacetime'"):
        resolve_pos_embed("time")
    assert isinstance(head(pos_embed=True).pos_embed, SpaceTimePositionalEncoding)
    assert head(pos_embed="none").pos_embed is None


def test_site_code_is_shared_by_every_frame():
    enc = SitePositionalEncoding(GRID, C)
    assert enc.weight.shape == (1, GRID.num_sites, C)
    x = torch.zeros(2, GRID.num_nodes, C)
    out = enc(x).view(2, GRID.T, GRID.num_sites, C)
    for t in range(GRID.T):
        assert torch.equal(out[:, t], enc.weight.expand(2, -1, -1))
    # other frame counts need no resize; another spatial size interpolates
    assert enc(torch.zeros(1, 7 * GRID.num_sites, C)).shape == (1, 7 * GRID.num_sites, C)
    enc.resize(TokenGrid(4, 2, 3))
    assert enc.weight.shape == (1, 6, C)
    enc.resize(TokenGrid(4, 4, 6))
    assert enc.weight.shape == (1, 24, C)
    with pytest.raises(ValueError, match="do not fit the site encoding"):
        enc(torch.zeros(1, 25, C))


# ---- graph-only heads and their invariances --------------------------------------------------

GO = TokenGrid(5, 2, 2)  # create_model builds square grids: 5 frames of 16 x 16 px, stride 8


def graph_only(topology, seed=0, **kw):
    torch.manual_seed(seed)
    model = tagnet.create_model("tag_features", num_classes=5, num_frames=GO.T,
                                img_size=8 * GO.H, graph_only=True, topology=topology,
                                operator="gatv2", readout="max",
                                backbone_kwargs={"channels": C, "stride": (1, 8, 8)},
                                embed_dim=C, num_heads=2, ffn_dim=32, dropout=0.0, **kw)
    return model.eval()


def feature_map(seed=1, B=3):
    """Token grids ``(B, C, T, H, W)``, as the features backbone takes them."""
    return torch.randn(B, C, GO.T, GO.H, GO.W, generator=torch.Generator().manual_seed(seed))


def test_graph_only_sets_the_head_and_refuses_a_second_path_across_time():
    model = graph_only("tag")
    assert model.head.pos_embed.__class__ is SitePositionalEncoding
    assert model.head.attention_mask.topology.name == "intra_frame"
    with pytest.raises(ValueError, match="frame_temporal.*reads the frames in order"):
        tagnet.create_model("tag_features", num_classes=5, graph_only=True,
                            readout="frame_temporal", backbone_kwargs={"channels": C})
    with pytest.raises(ValueError, match="graph_only=True sets attention_topology='intra_frame'"):
        tagnet.create_model("tag_features", num_classes=5, graph_only=True,
                            attention_topology="tag", backbone_kwargs={"channels": C})
    with pytest.raises(ValueError, match="sets pos_embed=.site., which conflicts with pos_emb"):
        tagnet.create_model("tag_features", num_classes=5, graph_only=True, pos_embed=True,
                            backbone_kwargs={"channels": C})
    assert tagnet.create_model("tag_features", num_classes=5, graph_only=True, pos_embed="none",
                               backbone_kwargs={"channels": C}).head.pos_embed is None


def logits_under(model, x, order):
    with torch.no_grad():
        return model(x[:, :, order])


@pytest.mark.parametrize("topology", ["intra_frame", "none"])
def test_without_temporal_edges_the_frame_order_is_invisible(topology):
    model, x = graph_only(topology), feature_map()
    base = logits_under(model, x, torch.arange(GO.T))
    for seed in range(3):
        perm = torch.randperm(GO.T, generator=torch.Generator().manual_seed(seed))
        assert (logits_under(model, x, perm) - base).abs().max() <= 1e-5


@pytest.mark.parametrize("topology", ["tag", "tag_window:2", "tag_dense"])
def test_undirected_temporal_edges_cannot_see_the_direction_of_time(topology):
    model, x = graph_only(topology), feature_map()
    forward = logits_under(model, x, torch.arange(GO.T))
    assert (logits_under(model, x, torch.arange(GO.T).flip(0)) - forward).abs().max() <= 1e-5
    swap = torch.tensor([1, 0, 2, 3, 4])  # but they do see the order of the frames
    assert (logits_under(model, x, swap) - forward).abs().max() > 1e-3


@pytest.mark.parametrize("topology", ["tag_directed", "tag_directed:2"])
def test_directed_temporal_edges_see_the_direction_of_time(topology):
    model, x = graph_only(topology), feature_map()
    forward = logits_under(model, x, torch.arange(GO.T))
    assert (logits_under(model, x, torch.arange(GO.T).flip(0)) - forward).abs().max() > 1e-3


def test_a_space_time_code_breaks_the_invariances():
    """The controls of the tests above: with the released (t, p) table, neither holds."""
    model = tagnet.create_model("tag_features", num_classes=5, num_frames=GO.T,
                                img_size=8 * GO.H, topology="intra_frame", operator="gatv2",
                                readout="max", attention_topology="intra_frame",
                                backbone_kwargs={"channels": C, "stride": (1, 8, 8)},
                                embed_dim=C, num_heads=2, ffn_dim=32, dropout=0.0).eval()
    x = feature_map()
    forward = logits_under(model, x, torch.arange(GO.T))
    assert (logits_under(model, x, torch.arange(GO.T).flip(0)) - forward).abs().max() > 1e-3
