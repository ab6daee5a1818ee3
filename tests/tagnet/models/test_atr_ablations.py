"""ATR's ablation switches (the paper's Tables 1-4): each against its formula on a tiny input."""
import ast
import inspect

import pytest
import torch
from test_atr import randomise  # the same folder: pytest puts it on sys.path
from torch import nn
from torchvision.models import resnet18

import tagnet.models.atr_models
import tagnet.models.factory
from tagnet.backbones.frame_resnet import ShiftConv2d, temporal_shift, tsm_resnet
from tagnet.models.atr import (
    ActionCentricReasoner,
    ATRBlock,
    GraphReasoner,
    TemporalReasoner,
    banded,
    row_js_divergence,
)
from tagnet.models.atr_models import FrameResNet, describe_blocks, insert_atr, resolve_blocks
from tagnet.models.factory import create_model, list_models


def bn_eval(bn: nn.BatchNorm1d, r: torch.Tensor) -> torch.Tensor:
    """BatchNorm in eval mode over the channel axis of ``r`` (B, T, C) -> (B, C, T, 1, 1)."""
    out = (r - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * bn.weight + bn.bias
    return out.permute(0, 2, 1)[..., None, None]


# ---------------------------------------------------------------- reasoners (Table 2)


def test_banded_matrix_literal():
    assert banded(torch.tensor([1.0, 2.0, 3.0]), 4).tolist() == [
        [2, 3, 0, 0], [1, 2, 3, 0], [0, 1, 2, 3], [0, 0, 1, 2]]
    assert banded(torch.tensor([5.0]), 2).tolist() == [[5, 0], [0, 5]]  # k = 0


def test_shared_taps_equal_a_hand_built_banded_matrix_product():
    torch.manual_seed(0)
    reasoner = TemporalReasoner(3, 2, k=2, taps="shared")
    assert [n for n, _ in reasoner.named_parameters()] == ["taps", "channel.weight",
                                                            "channel.bias"]
    w = reasoner.taps.detach()  # w_j = taps[j + k], j = -2..2: 5 scalars for all channels
    T = 6
    A = torch.zeros(T, T)
    for t in range(T):
        for s in range(T):
            if abs(s - t) <= 2:
                A[t, s] = w[s - t + 2]
    v = torch.randn(2, T, 3)
    expected = reasoner.channel(torch.einsum("ts,bsc->btc", A, v))
    torch.testing.assert_close(reasoner(v), expected)
    torch.testing.assert_close(reasoner.relation(v), A.expand(2, T, T))
    # per-channel taps: channel c uses its own band; the relation shown is their mean
    channel = TemporalReasoner(3, 2, k=1, taps="channel")
    taps = channel.temporal.weight.detach()[:, 0]  # (C, 3)
    per = torch.stack([banded(taps[c], T) for c in range(3)])  # (C, T, T)
    expected = channel.channel(torch.einsum("cts,bsc->btc", per, v))
    torch.testing.assert_close(channel(v), expected)
    torch.testing.assert_close(channel.relation(v)[0], per.mean(0))


def test_graph_reasoner_is_one_gcn_step_on_a_softmax_adjacency():
    torch.manual_seed(0)
    gr = GraphReasoner(4, 3, embed=2)
    v = torch.randn(2, 5, 4)
    theta, phi = v @ gr.theta.weight.T, v @ gr.phi.weight.T  # (B, T, 2)
    A = torch.empty(2, 5, 5)
    for b in range(2):
        for t in range(5):
            scores = torch.stack([theta[b, t] @ phi[b, s] for s in range(5)]) / 2 ** 0.5
            A[b, t] = scores.exp() / scores.exp().sum()
    torch.testing.assert_close(gr.relation(v), A)
    torch.testing.assert_close(gr(v), (A @ v) @ gr.channel.weight.T + gr.channel.bias)
    # instance-specific: another clip gets another graph (the efficient reasoner's does not)
    assert not torch.allclose(gr.relation(v)[0], gr.relation(v)[1])


@pytest.mark.parametrize("kind", ["efficient", "graph"])
@pytest.mark.parametrize("n", [1, 3])
def test_num_reasoners_stacks_n_joined_by_layernorm_relu(kind, n):
    ear = randomise(ActionCentricReasoner(8, 4, num_reasoners=n, reasoner=kind))
    cls = TemporalReasoner if kind == "efficient" else GraphReasoner
    assert len(ear.reasoners) == n and all(isinstance(r, cls) for r in ear.reasoners)
    assert [(r.channel.down.out_features, r.channel.up.out_features)
            for r in ear.reasoners] == [(4, 8)] * n  # every reasoner C -> C/r -> C
    v = torch.randn(2, 3, 8)
    expected = ear.reasoners[0](v)
    for norm, reasoner in zip(ear.norms, ear.reasoners[1:], strict=True):
        expected = reasoner(torch.relu(norm(expected)))
    torch.testing.assert_close(ear.reason(v), expected)


# ---------------------------------------------------------------- locator, AFA (Table 3)


@pytest.mark.parametrize("cues", ["appearance", "motion"])
def test_one_cue_locator_keeps_that_term_only(cues):
    both = randomise(ATRBlock(16, reduction=4))
    one = ATRBlock(16, reduction=4, locator_cues=cues)
    missing = one.load_state_dict(both.state_dict(), strict=False)
    other = "motion" if cues == "appearance" else "appearance"
    assert missing.unexpected_keys == [f"locator.{other}.weight"] and not missing.missing_keys
    one.eval()
    x = torch.randn(2, 16, 3, 4, 4)
    motion, appearance = both.locator.parts(x)
    torch.testing.assert_close(one.locator(x), motion if cues == "motion" else appearance)
    assert getattr(one.locator, other) is None


def test_uniform_aggregation_is_the_spatial_mean_and_keeps_the_distribution_map():
    block = randomise(ATRBlock(16, reduction=4, aggregation="uniform", distribution="gate"))
    x = torch.randn(2, 16, 3, 4, 5)
    v = x.mean(dim=(3, 4)).transpose(1, 2)
    r = bn_eval(block.reasoner.bn, block.reasoner.reason(v))
    g = torch.sigmoid(block.locator(x))
    torch.testing.assert_close(block(x), x + r * g)
    torch.testing.assert_close(block.aggregation_weights(x), torch.full((2, 3, 4, 5), 1 / 20))


# ---------------------------------------------------------------- distribution (Table 4)


def test_uniform_distribution_drops_the_map_from_every_form():
    x = torch.randn(2, 16, 3, 4, 4)
    for form in ("add", "gate", "scale"):
        block = randomise(ATRBlock(16, reduction=4, distribution=form,
                                   distribution_map="uniform"))
        assert block.reasoner.map_gain is None
        m = block.locator(x)[:, 0]
        v = torch.einsum("bcts,bts->btc", x.flatten(3), m.flatten(2).softmax(-1))
        r = bn_eval(block.reasoner.bn, block.reasoner.reason(v))
        torch.testing.assert_close(block(x), x + (x * r if form == "scale" else r.expand_as(x)))


def test_add_form_keeps_the_two_modules_gradients_independent():
    """dD/dM = gamma sigmoid'(M) for "add" (free of r); "gate" gives dD/dM = BN(r) sigmoid'(M)."""
    torch.manual_seed(0)
    x = torch.randn(2, 8, 3, 4, 4)
    grads = {}
    for form in ("add", "gate"):
        block = randomise(ATRBlock(8, reduction=2, distribution=form, aggregation="uniform"))
        m = block.locator(x).detach().requires_grad_()
        d = block.reasoner(x, m)
        d.sum().backward()
        r = bn_eval(block.reasoner.bn, block.reasoner.reason(x.mean((3, 4)).transpose(1, 2)))
        s = torch.sigmoid(m.detach())
        if form == "add":
            gamma = block.reasoner.map_gain.detach().view(1, -1, 1, 1, 1)
            torch.testing.assert_close(m.grad, (gamma * s * (1 - s)).sum(1, keepdim=True))
        else:
            torch.testing.assert_close(m.grad, (r * s * (1 - s)).sum(1, keepdim=True))
        grads[form] = m.grad
    # with the zero-initialised BN (r-hat = 0) the gate form starves the locator
    fresh = ATRBlock(8, reduction=2, distribution="gate", aggregation="uniform",
                     zero_init=True).eval()
    m = fresh.locator(x).detach().requires_grad_()
    fresh.reasoner(x, m).sum().backward()
    assert torch.equal(m.grad, torch.zeros_like(m))


def test_fresh_blocks_are_the_identity_in_every_form():
    x = torch.randn(1, 16, 3, 4, 4)
    for options in (dict(), dict(distribution="gate"), dict(distribution="scale"),
                    dict(reasoner="graph"), dict(locator_cues="motion"), dict(locator=False)):
        assert torch.equal(ATRBlock(16, **options).eval()(x), x), options


def test_contradicting_switches_raise_with_the_reason():
    cases = [
        (dict(locator=False, aggregation="action"), "locator=False .* aggregation='action'"),
        (dict(locator=False, distribution_map="action"), "distribution_map='action' reads it"),
        (dict(locator=False, locator_cues="motion"), "builds no locator"),
        (dict(aggregation="uniform", distribution_map="uniform", locator_cues="both"),
         "never read it \\(that is ATR-sim\\)"),
        (dict(aggregation="uniform", distribution_map="uniform", locator=True),
         "locator=True asks for an actionness map"),
        (dict(reasoner="graph", ear_taps="shared"), "reasoner='graph' has none"),
        (dict(reasoner="gcn"), "reasoner 'gcn' is unknown; known: efficient, graph"),
        (dict(ear_taps="per"), "ear_taps 'per' is unknown; known: shared, channel"),
        (dict(locator_cues="flow"), "locator_cues 'flow' is unknown; known: both, appearance"),
        (dict(aggregation="max"), "aggregation 'max' is unknown; known: action, uniform"),
    ]
    for options, message in cases:
        with pytest.raises(ValueError, match=message):
            ATRBlock(8, **options)
    # both uniform without a locator asked for is ATR-sim, built without one
    assert ATRBlock(8, aggregation="uniform", distribution_map="uniform").locator is None


# ---------------------------------------------------------------- insertion (Table 1)


def test_resolve_blocks_reads_stages_paper_notation_and_names():
    trunk = FrameResNet(resnet18())
    assert resolve_blocks(trunk, "S5-2") == ["layer4.1"]
    assert resolve_blocks(trunk, ["layer4.1", "S5-2", 4]) == ["layer4.0", "layer4.1"]
    assert resolve_blocks(trunk, ["S2", "layer3"]) == ["layer1.0", "layer1.1", "layer3.0",
                                                       "layer3.1"]
    assert resolve_blocks(trunk) == [f"layer{i}.{j}" for i in (2, 3, 4) for j in (0, 1)]
    assert describe_blocks(trunk)[-1] == "layer4.1 (S5-2)"
    listing = "FrameResNet's blocks: layer1.0 \\(S2-1\\), layer1.1 \\(S2-2\\), layer2.0"
    for bad, message in [("layer4.7", "'layer4.7' is not a residual block or stage"),
                         ("S5-3", "block 'S5-3' does not exist: S5 has 2 block"),
                         ("S1", "stage 'S1' does not exist \\(S1 is the stem\\)"),
                         ("S6", "stage 'S6' does not exist"), (0, "stages \\[0\\] do not exist"),
                         (2.5, "neither a stage number nor a block name")]:
        with pytest.raises(ValueError, match=message):
            resolve_blocks(trunk, [bad])
        with pytest.raises(ValueError, match=listing):
            resolve_blocks(trunk, [bad])


def test_single_block_insertion_touches_exactly_that_block():
    trunk = FrameResNet(resnet18())
    before = {k: v.clone() for k, v in trunk.state_dict().items()}
    assert insert_atr(trunk, "S5-2", reduction=4) == ["layer4.1.bn2"]
    after = trunk.state_dict()
    renamed = {k.replace("layer4.1.bn2.norm.", "layer4.1.bn2."): v for k, v in after.items()
               if ".atr." not in k}
    assert renamed.keys() == before.keys()
    assert all(torch.equal(renamed[k], before[k]) for k in before)
    assert {k.split(".atr.")[0] for k in after if ".atr." in k} == {"layer4.1.bn2"}
    atr_modules = [n for n, m in trunk.named_modules() if isinstance(m, ATRBlock)]
    assert atr_modules == ["layer4.1.bn2.atr"]
    model = create_model("atr_r2plus1d_tiny", stages=["layer3.0"], num_frames=8)
    assert len(model.atr_blocks()) == 1 and model.atr_blocks()[0].channels == 64


# ---------------------------------------------------------------- TSM (Table 5)


def test_temporal_shift_matches_a_hand_shifted_tensor():
    B, T, C = 2, 4, 16  # fold = 16 // 8 = 2 channels each way
    x = torch.randn(B * T, C, 3, 3)
    clip = x.view(B, T, C, 3, 3)
    expected = clip.clone()
    for b in range(B):
        for t in range(T):
            expected[b, t, 0:2] = clip[b, t + 1, 0:2] if t + 1 < T else 0  # from the future
            expected[b, t, 2:4] = clip[b, t - 1, 2:4] if t > 0 else 0  # from the past
    torch.testing.assert_close(temporal_shift(x, T), expected.view_as(x))
    with pytest.raises(ValueError, match="needs num_frames=T dividing 8"):
        temporal_shift(x, 3)


def test_tsm_trunk_shifts_before_each_blocks_first_conv_and_loads_resnet_weights():
    reference = randomise(resnet18())
    trunk = tsm_resnet(resnet18())
    trunk.load_state_dict(trunk.convert_state_dict(reference.state_dict()))
    trunk.eval()
    shifted = [n for n, m in trunk.named_modules() if isinstance(m, ShiftConv2d)]
    assert shifted == [f"layer{i}.{j}.conv1" for i in (1, 2, 3, 4) for j in (0, 1)]
    seen = {}
    trunk.layer3[1].conv1.register_forward_hook(lambda m, a, o: seen.update(x=a[0], y=o))
    video = torch.randn(2, 3, 4, 32, 32)
    out = trunk(video)
    conv = trunk.layer3[1].conv1
    plain = nn.functional.conv2d(temporal_shift(seen["x"], 4), conv.weight, None, conv.stride,
                                 conv.padding)
    torch.testing.assert_close(seen["y"], plain)
    # with a single frame the shift only zeroes 2/8 of the channels; clips stay separate
    torch.testing.assert_close(torch.cat([trunk(video[:1]), trunk(video[1:])]), out)
    plain_tsn = FrameResNet(reference).eval()
    assert not torch.allclose(plain_tsn(video), out, atol=1e-3)
    with pytest.raises(ValueError, match="shift_div must be an integer >= 2"):
        tsm_resnet(resnet18(), shift_div=1)


def test_tsm_models_are_registered():
    assert {"tsm_r50", "atr_tsm_r50"} <= set(list_models())
    plain = create_model("tsm_r50", num_classes=3, num_frames=2, img_size=32).eval()
    assert plain.atr_blocks() == [] and plain(torch.randn(1, 3, 2, 32, 32)).shape == (1, 3)
    with pytest.raises(ValueError, match="tsm_r50 is the TSM baseline without ATR blocks"):
        create_model("tsm_r50", reduction=8)


# ---------------------------------------------------------------- registry, models, sweep


def test_model_registry_does_not_import_the_atr_family():
    def imported(module) -> set[str]:
        tree = ast.parse(inspect.getsource(module))
        return {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | \
            {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}

    assert not any("atr" in m for m in imported(tagnet.models.factory))
    assert "tagnet.models.factory" not in imported(tagnet.models.atr_models)
    assert "atr_r2plus1d_tiny" in list_models()


def test_model_options_reach_every_block_and_old_option_name_works():
    model = create_model("atr_r2plus1d_tiny", num_frames=8, reasoner="graph", num_reasoners=1,
                         locator_cues="motion", distribution="gate")
    for block in model.atr_blocks():
        assert isinstance(block.reasoner.reasoners[0], GraphReasoner)
        assert len(block.reasoner.reasoners) == 1 and block.locator.cues == "motion"
    old = create_model("atr_r2plus1d_tiny", num_frames=8, n_reasoners=3)
    assert all(len(b.reasoner.reasoners) == 3 for b in old.atr_blocks())
    with pytest.raises(ValueError, match="uniform.* never read it"):
        create_model("atr_r2plus1d_tiny", stages=(), aggregation="uniform",
                     distribution_map="uniform", locator_cues="both")


def test_explain_gives_the_maps_and_relations_of_every_block():
    model = randomise(create_model("atr_r2plus1d_tiny", num_frames=8, num_classes=3,
                                   backbone_kwargs={"widths": [8, 8, 16, 16], "stem_mid": 4}))
    video = torch.randn(2, 3, 8, 32, 32)
    logits, records = model.explain_atr(video)
    torch.testing.assert_close(logits, model(video))
    assert list(records) == ["layer2.0", "layer3.0", "layer4.0"]
    shapes = {b: (tuple(r["actionness"].shape), tuple(r["relation"].shape))
              for b, r in records.items()}
    assert shapes == {"layer2.0": ((2, 4, 8, 8), (2, 4, 4)), "layer3.0": ((2, 2, 4, 4), (2, 2, 2)),
                      "layer4.0": ((2, 1, 2, 2), (2, 1, 1))}
    taps = model.atr_blocks()[0].reasoner.reasoners[0].taps
    torch.testing.assert_close(records["layer2.0"]["relation"][1], banded(taps, 4))


# ---------------------------------------------------------------- complexity, figures


def test_complexity_counts_the_taps_of_both_kinds(capsys):
    from tagnet.cli import main
    from tagnet.complexity import count_atr_parameters

    shared = count_atr_parameters(create_model("atr_r2plus1d_tiny"))
    channel = count_atr_parameters(create_model("atr_r2plus1d_tiny", ear_taps="channel"))
    assert shared["temporal relation"] == 3 * 2 * 3  # 3 blocks, 2 reasoners, 2k+1 = 3 taps
    # per-channel: 2 C (2k+1) per block (each reasoner's taps at width C), C = 32, 64, 128
    assert channel["temporal relation"] == sum(2 * c * 3 for c in (32, 64, 128)) == 1344
    assert {k: v for k, v in shared.items() if k != "temporal relation"} == \
        {k: v for k, v in channel.items() if k != "temporal relation"}
    assert count_atr_parameters(create_model("tsm_r50")) == {}
    assert main(["complexity", "--arch", "atr_r2plus1d_tiny", "--frames", "16", "--no-timing",
                 "-O", "ear_taps=channel", "-O", "stages=[S5]"]) == 0
    out = capsys.readouterr().out
    assert "ATR: locator" in out and "temporal relation 768" in out  # 2 * 128 * 3


def test_row_js_divergence_equals_a_hand_computation():
    from math import log2

    W = torch.tensor([[0.5, 0.5, 0.0],
                      [-1.0, 2.0, 1.0],  # magnitudes: (1, 2, 1) / 4
                      [0.0, 0.0, 3.0]])
    p = [[0.5, 0.5, 0.0], [0.25, 0.5, 0.25], [0.0, 0.0, 1.0]]

    def js(a, b):
        m = [(x + y) / 2 for x, y in zip(a, b, strict=True)]
        kl = lambda q: sum(x * log2(x / y) for x, y in zip(q, m, strict=True) if x > 0)  # noqa: E731
        return (kl(a) + kl(b)) / 2

    expected = torch.tensor([[js(p[t], p[u]) for u in range(3)] for t in range(3)])
    got = row_js_divergence(W)
    torch.testing.assert_close(got, expected)
    # by hand: rows 0 and 2 share no support, 1 bit; rows 0 and 1:
    # m = (3/8, 1/2, 1/8); KL(p0||m) = log2(4/3) / 2, KL(p1||m) = log2(2/3) / 4 + log2(2) / 4
    assert got[0, 2].item() == pytest.approx(1.0)
    assert got[0, 1].item() == pytest.approx((log2(4 / 3) / 2 + log2(2 / 3) / 4 + 0.25) / 2)
    assert torch.equal(got, got.T) and got.diagonal().abs().max() == 0
    batched = row_js_divergence(torch.stack([W, W.flip(0)]))  # (..., T, T) batches
    torch.testing.assert_close(batched[0], got)


def test_atr_maps_command_writes_the_documented_figures(tmp_path, capsys):
    from PIL import Image

    from tagnet.cli import main
    from tagnet.config import load_config
    from tagnet.data import build_dataset
    from tagnet.models.factory import build_model
    from tagnet.train.checkpoint import save_checkpoint
    from tagnet.train.experiment import prepare_synthetic

    cfg = load_config("demo", [
        f"data.root={tmp_path / 'synth'}", "data.synth={num_classes: 2, clips_per_class: 4, "
        "num_frames: 8, size: 32, seed: 0}", "data.num_frames=8", "data.img_size=32",
        "data.short_side=32", "model.arch=atr_r2plus1d_tiny",
        "model.kwargs={backbone_kwargs: {widths: [8, 8, 16, 16], stem_mid: 4}}"])
    prepare_synthetic(cfg, progress=False)
    classes = list(build_dataset(cfg, cfg.data.test_split, train=False).classes)
    model = randomise(build_model(cfg, len(classes)))
    ckpt = save_checkpoint({"config": cfg.to_dict(), "model": model.state_dict(),
                            "class_names": classes, "epoch": 0}, tmp_path / "run" / "best.pth")
    assert main(["atr", "maps", "-k", str(ckpt.parent), "-n", "2"]) == 0
    out = tmp_path / "run" / "atr_maps"
    assert sorted(p.name for p in out.iterdir()) == ["clip000.png", "clip001.png", "js.png",
                                                     "maps.pt", "relation.png"]
    # 8 frames -> blocks of 4, 2, 1 frames: (1 + 3) rows x 4 columns of 96 px; 3 panels
    assert Image.open(out / "clip000.png").size == (4 * 96, 4 * 96)
    assert Image.open(out / "relation.png").size == (3 * 300, 300)
    assert Image.open(out / "js.png").size == (3 * 300, 300)
    maps = torch.load(out / "maps.pt", weights_only=True)
    assert maps["blocks"] == ["layer2.0", "layer3.0", "layer4.0"]
    assert tuple(maps["actionness"]["layer2.0"].shape) == (2, 4, 8, 8)
    taps = model.atr_blocks()[0].reasoner.reasoners[0].taps.detach()
    torch.testing.assert_close(maps["relation"]["layer2.0"], banded(taps, 4))
    js = row_js_divergence(banded(taps, 4))  # shared taps: the same W for every clip
    torch.testing.assert_close(maps["js"]["layer2.0"], js)
    assert maps["js_mean"]["layer2.0"] == pytest.approx(float(js.sum() / 12))
    printed = capsys.readouterr().out
    assert "2 clip(s) of split 'val', 3 ATR block(s)" in printed
    assert f"JS divergence between the rows of W (bits, mean over t != u): layer2.0 " \
           f"{maps['js_mean']['layer2.0']:.4f}" in printed
    plain = tmp_path / "plain.pth"
    cfg.override(["model.arch=tag_r2plus1d_tiny", "model.kwargs={backbone_kwargs: "
                  "{widths: [8, 8, 16, 16], stem_mid: 4}, ffn_dim: 16, num_heads: 2}"])
    save_checkpoint({"config": cfg.to_dict(), "model": build_model(cfg, 2).state_dict(),
                     "class_names": classes, "epoch": 0}, plain)
    assert main(["atr", "maps", "-k", str(plain)]) == 1
    assert "without ATR blocks; tagnet atr maps needs an atr_* model" in capsys.readouterr().err


def test_former_default_is_channel_taps_with_the_gate_form():
    """A block saved before shared taps and the new add form loads into these options."""
    former = ["locator.reduce.weight", "locator.motion.weight", "locator.appearance.weight",
              "locator.condense.weight", "locator.condense.bias",
              "reasoner.reasoners.0.temporal.weight", "reasoner.reasoners.0.channel.weight",
              "reasoner.reasoners.0.channel.bias", "reasoner.reasoners.1.temporal.weight",
              "reasoner.reasoners.1.channel.weight", "reasoner.reasoners.1.channel.bias",
              "reasoner.norms.0.weight", "reasoner.norms.0.bias", "reasoner.bn.weight",
              "reasoner.bn.bias", "reasoner.bn.running_mean", "reasoner.bn.running_var",
              "reasoner.bn.num_batches_tracked"]
    block = ATRBlock(16, reduction=4, ear_taps="channel", distribution="gate",
                     reasoner_widths="stack")
    assert list(block.state_dict()) == former
    new = list(ATRBlock(16, reduction=4, reasoner_widths="stack").state_dict())
    assert [k for k in new if k not in former] == ["reasoner.map_gain",
                                                   "reasoner.reasoners.0.taps",
                                                   "reasoner.reasoners.1.taps"]
