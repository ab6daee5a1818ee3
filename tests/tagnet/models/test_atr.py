"""The ATR block: closed forms of its parts, insertion into 2D/3D ResNets, the atr_* models."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from torchvision.models import resnet18, resnet50

from tagnet.backbones import create_backbone, list_backbones
from tagnet.graphs import TokenGrid
from tagnet.models.atr import ActionCentricReasoner, ActionRegionLocator, ATRBlock, TemporalReasoner
from tagnet.models.atr_models import (
    ATRAfterNorm,
    FrameResNet,
    build_atr_model,
    find_residual_stages,
    insert_atr,
)
from tagnet.models.factory import create_model


def randomise(module: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights and BatchNorm statistics everywhere, eval mode (so BN is a fixed map)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
        for m in module.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g))
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    return module.eval()


def conv_frame(conv: nn.Conv3d, x: torch.Tensor) -> torch.Tensor:
    """A (1, k, k) Conv3d applied to one frame (C, H, W) as the 2D convolution it is."""
    w = conv.weight[:, :, 0]
    return F.conv2d(x[None], w, conv.bias, padding=conv.padding[1:], groups=conv.groups)[0]


# ---------------------------------------------------------------- ARL


def test_locator_equals_explicit_formula_and_last_frame_difference_is_zero():
    torch.manual_seed(0)
    arl = randomise(ActionRegionLocator(6, 3))
    x = torch.randn(2, 6, 4, 5, 5)
    m = arl(x)
    assert m.shape == (2, 1, 4, 5, 5)
    for b in range(2):
        xr = [conv_frame(arl.reduce, x[b, :, t]) for t in range(4)]
        for t in range(4):
            # X_r(T+1) := X_r(T): the last frame's difference is zero
            diff = xr[t + 1] - xr[t] if t < 3 else torch.zeros_like(xr[t])
            motion = conv_frame(arl.condense, conv_frame(arl.motion, diff))
            appearance = conv_frame(arl.condense, conv_frame(arl.appearance, xr[t]))
            torch.testing.assert_close(m[b, :, t], motion + appearance)
    motion, appearance = arl.parts(x)
    # the last frame's motion term is the condense bias alone, a constant map
    torch.testing.assert_close(motion[:, :, -1], arl.condense.bias.expand(2, 5, 5)[:, None])
    assert not torch.allclose(motion[:, :, 0], motion[:, :, -1])


def test_single_frame_has_no_motion():
    arl = randomise(ActionRegionLocator(4, 2))
    motion, _ = arl.parts(torch.randn(1, 4, 1, 3, 3))
    assert torch.equal(motion, arl.condense.bias.view(1, 1, 1, 1, 1).expand(1, 1, 1, 3, 3))


def test_condense_weights_are_one_shared_parameter():
    arl = ActionRegionLocator(8, 2)
    names = [n for n, _ in arl.named_parameters()]
    assert names == ["reduce.weight", "motion.weight", "appearance.weight",
                     "condense.weight", "condense.bias"]
    assert sum(p.numel() for p in arl.parameters()) == 8 * 2 + 2 * 2 * 9 + 2 + 1
    # the shared weight's gradient is the sum of the gradients of two separate copies
    randomise(arl)
    x = torch.randn(1, 8, 3, 4, 4)
    arl(x).square().sum().backward()
    c1, c2 = (nn.Conv3d(2, 1, 1) for _ in range(2))
    for c in (c1, c2):
        c.load_state_dict(arl.condense.state_dict())
    xr = arl.reduce(x).detach()
    diff = torch.cat([xr[:, :, 1:] - xr[:, :, :-1], torch.zeros_like(xr[:, :, :1])], 2)
    (c1(arl.motion(diff)) + c2(arl.appearance(xr))).square().sum().backward()
    torch.testing.assert_close(arl.condense.weight.grad, c1.weight.grad + c2.weight.grad)
    assert not torch.allclose(c1.weight.grad, c2.weight.grad)


# ---------------------------------------------------------------- EAR


def test_channel_taps_reasoner_equals_explicit_formula():
    # taps="channel" (per-channel taps, a depth-wise Conv1d) was the default until the
    # paper's shared taps became it; this is the former default's check, unchanged
    torch.manual_seed(0)
    reasoner = TemporalReasoner(2, 3, k=1, taps="channel")
    v = torch.randn(1, 3, 2)  # (B, T, C)
    taps, W, b = reasoner.temporal.weight[:, 0], reasoner.channel.weight, reasoner.channel.bias
    expected = []
    for t in range(3):
        h = torch.zeros(2)
        for j in (-1, 0, 1):
            if 0 <= t + j < 3:  # v_s = 0 outside the clip
                h = h + taps[:, j + 1] * v[0, t + j]
        expected.append(W @ h + b)
    torch.testing.assert_close(reasoner(v)[0], torch.stack(expected))
    assert sum(p.numel() for p in reasoner.parameters()) == 2 * 3 + 2 * 3 + 3


def test_stacked_reasoners_are_joined_by_layernorm_relu():
    ear = ActionCentricReasoner(4, 2, k=2, num_reasoners=3)
    assert [(r.channel.down.in_features, r.channel.down.out_features, r.channel.up.out_features)
            for r in ear.reasoners] == [(4, 2, 4)] * 3  # each reasoner C -> C/r -> C
    stack = ActionCentricReasoner(4, 2, k=2, num_reasoners=3, reasoner_widths="stack")
    assert [(r.channel.in_features, r.channel.out_features) for r in stack.reasoners] == \
        [(4, 2), (2, 2), (2, 4)]  # the former reading: the stack is one bottleneck
    assert [tuple(r.taps.shape) for r in ear.reasoners] == [(5,)] * 3  # shared: 2k+1 scalars
    randomise(ear)
    v = torch.randn(2, 5, 4)
    r1, r2, r3 = ear.reasoners
    ln1, ln2 = ear.norms
    expected = r3(torch.relu(ln2(r2(torch.relu(ln1(r1(v)))))))
    torch.testing.assert_close(ear.reason(v), expected)


def test_aggregation_weights_sum_to_one_per_frame():
    block = randomise(ATRBlock(16, reduction=4))
    x = torch.randn(2, 16, 3, 4, 5)
    a = block.aggregation_weights(x)
    assert a.shape == (2, 3, 4, 5)
    torch.testing.assert_close(a.sum(dim=(2, 3)), torch.ones(2, 3))
    assert (a > 0).all() and a.std() > 0.01  # a real distribution, not the uniform one


def test_block_equals_explicit_formula():
    block = randomise(ATRBlock(16, reduction=4, min_channels=1))
    x = torch.randn(2, 16, 3, 4, 4)
    m = block.locator(x)[:, 0]  # (B, T, H, W)
    a = m.flatten(2).softmax(-1)
    v = torch.einsum("bcts,bts->btc", x.flatten(3), a)
    bn = block.reasoner.bn
    r = (block.reasoner.reason(v) - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps)
    r = (r * bn.weight + bn.bias).permute(0, 2, 1)[..., None, None]  # (B, C, T, 1, 1)
    g = torch.sigmoid(m)[:, None]  # (B, 1, T, H, W)
    gain = block.reasoner.map_gain.view(1, 16, 1, 1, 1)
    # "add" (the default): D = BN(r) + gamma * sigmoid(M), a sum of the two modules' outputs
    torch.testing.assert_close(block(x), x + r + gain * g)
    # "gate" (tagnet's former "add"): D = BN(r) * sigmoid(M); same weights, no map gain
    gate = ATRBlock(16, reduction=4, min_channels=1, distribution="gate")
    state = {k: v for k, v in block.state_dict().items() if k != "reasoner.map_gain"}
    gate.load_state_dict(state)
    gate.eval()
    torch.testing.assert_close(gate(x), x + r * g)
    scale = ATRBlock(16, reduction=4, min_channels=1, distribution="scale")
    scale.load_state_dict(state)
    scale.eval()
    torch.testing.assert_close(scale(x), x + x * r * g)


def test_atr_sim_is_global_average_pooling_plus_broadcast():
    sim = randomise(ATRBlock(16, reduction=4, locator=False))
    assert sim.locator is None
    x = torch.randn(2, 16, 3, 4, 5)
    v = x.mean(dim=(3, 4)).transpose(1, 2)  # (B, T, C)
    r = sim.reasoner.bn(sim.reasoner.reason(v).transpose(1, 2))  # (B, C, T)
    torch.testing.assert_close(sim(x), x + r[..., None, None].expand_as(x))
    torch.testing.assert_close(sim.aggregation_weights(x), torch.full((2, 3, 4, 5), 1 / 20))
    # a locator whose map is a constant 2b gives uniform weights and the gate sigmoid(2b)
    full = randomise(ATRBlock(16, reduction=4, locator=True, distribution="gate"))
    full.reasoner.load_state_dict(sim.reasoner.state_dict())
    with torch.no_grad():
        full.locator.condense.weight.zero_()
        full.locator.condense.bias.fill_(0.3)
    torch.testing.assert_close(full(x) - x, torch.sigmoid(torch.tensor(0.6)) * (sim(x) - x))


def test_block_is_identity_at_init_and_folded_input_matches():
    x = torch.randn(2, 16, 4, 3, 3)
    assert torch.equal(ATRBlock(16).eval()(x), x)
    block = randomise(ATRBlock(16, reduction=4))
    y = block(x)
    assert y.shape == x.shape and not torch.allclose(y, x)
    folded = x.transpose(1, 2).reshape(8, 16, 3, 3)  # (B*T, C, H, W), clip-major
    torch.testing.assert_close(block(folded, num_frames=4),
                               y.transpose(1, 2).reshape(8, 16, 3, 3))
    with pytest.raises(ValueError, match="num_frames=T"):
        block(folded, num_frames=3)
    with pytest.raises(ValueError, match=r"expects \(B, 16, T, H, W\)"):
        block(torch.randn(1, 8, 2, 3, 3))


def test_reduction_guard_and_argument_checks():
    assert ATRBlock(512).hidden == 32
    assert ATRBlock(32).hidden == 8  # 32 // 16 = 2 is raised to min(C, 8)
    assert ATRBlock(4).hidden == 4
    tiny = ATRBlock(4, reduction=16, min_channels=1)
    assert tiny.hidden == 1 and tiny(torch.randn(1, 4, 2, 3, 3)).shape == (1, 4, 2, 3, 3)
    for bad in (dict(reduction=0), dict(k=-1), dict(num_reasoners=0), dict(min_channels=0)):
        with pytest.raises(ValueError, match=f"{next(iter(bad))} must be an integer"):
            ATRBlock(8, **bad)
    with pytest.raises(ValueError,
                       match="distribution 'mul' is unknown; known: add, gate, scale"):
        ATRBlock(8, distribution="mul")
    assert repr(ATRBlock(64)).startswith(
        "ATRBlock(\n  channels=64, reduction=16, hidden=8, k=1, num_reasoners=2, "
        "reasoner_widths='bottleneck', reasoner='efficient', ear_taps='shared', "
        "locator_cues='both', aggregation='action', distribution='add', "
        "distribution_map='action'\n")


def atr_macs(block: ATRBlock, B: int, T: int, H: int, W: int) -> int:
    """Closed-form multiply-adds of an ATR block (with the locator, two reasoners)."""
    C, h, taps = block.channels, block.hidden, 2 * block.k + 1
    N = B * T * H * W
    return (N * C * h + 2 * N * h * 9 + 2 * N * h  # ARL: reduce, two depth-wise, condense x2
            + N * C  # aggregation
            + 2 * B * T * (C * taps + C * h + h * C))  # 2 reasoners: taps, C -> C/r -> C


def atr_param_count(block: ATRBlock) -> int:
    """Closed-form parameters of a default ATR block (locator, two shared-tap reasoners, add)."""
    C, h, taps = block.channels, block.hidden, 2 * block.k + 1
    return (C * h + 2 * h * 9 + h + 1  # ARL: reduce, two depth-wise, condense (+ bias)
            + 2 * (taps + C * h + h * C + C)  # 2 reasoners: shared taps, C -> C/r -> C
            + 2 * C  # LayerNorm (at width C)
            + 2 * C + C)  # BatchNorm, map gain


def test_flop_counter_counts_every_multiply_add():
    block = ATRBlock(16, reduction=4, k=1, min_channels=1)
    with FlopCounterMode(display=False) as counter:
        block(torch.randn(2, 16, 3, 4, 5))
    assert counter.get_total_flops() == 2 * atr_macs(block, 2, 3, 4, 5)  # 2 FLOPs per MAC


def test_complexity_report_shows_the_atr_overhead():
    from tagnet.complexity import complexity_report

    model = create_model("atr_r2plus1d_tiny", num_frames=16)
    plain = create_model("atr_r2plus1d_tiny", num_frames=16, stages=())
    assert plain.atr_blocks() == []
    shapes = []
    for block in model.atr_blocks():
        block.register_forward_hook(lambda m, args, out: shapes.append((m, args[0].shape)))
    with_atr = complexity_report(model, timing=False)
    without = complexity_report(plain, timing=False)
    atr_params = sum(p.numel() for b in model.atr_blocks() for p in b.parameters())
    # every reasoner C -> C/r -> C with shared taps (3 scalars), the add form's map gain (C
    # per block); the former widths (one bottleneck over the stack) gave 6,821, the former
    # default (those widths, per-channel taps, gate) 7,323
    assert atr_params == sum(atr_param_count(b) for b in model.atr_blocks()) == 11005
    assert with_atr.params["total"] - without.params["total"] == atr_params
    assert [s for _, s in shapes] == [(1, 32, 8, 28, 28), (1, 64, 4, 14, 14), (1, 128, 2, 7, 7)]
    expected = sum(atr_macs(m, *(s[:1] + s[2:])) for m, s in shapes)
    assert with_atr.macs["total"] - without.macs["total"] == expected
    # the blocks are their own part, out of the backbone's count
    assert with_atr.params["atr"] == atr_params and "atr" not in without.params
    assert with_atr.macs["atr"] == expected and "atr" not in without.macs
    for part in ("backbone", "classifier"):
        assert with_atr.params[part] == without.params[part]
    assert with_atr.macs["backbone"] == without.macs["backbone"]


def test_complexity_command_lists_the_atr_part(capsys):
    from tagnet.cli import main

    assert main(["complexity", "--arch", "atr_r2plus1d_tiny", "--frames", "16",
                 "--no-timing"]) == 0
    out = capsys.readouterr().out
    assert "atr                   11,005" in out and "ATR blocks 0.004" in out
    assert "positional" not in out and "token grid" not in out  # no TAG-Head in this model


# ---------------------------------------------------------------- insertion


def test_insert_into_3d_resnet_keeps_outputs_at_init():
    torch.manual_seed(0)
    trunk = create_backbone("r2plus1d_tiny").eval()
    x = torch.randn(2, 3, 8, 32, 32)
    before = trunk(x)
    names = insert_atr(trunk)
    assert names == ["layer2.0.conv2.1", "layer3.0.conv2.1", "layer4.0.conv2.1"]
    assert [trunk.get_submodule(n).atr.channels for n in names] == [32, 64, 128]
    assert torch.equal(trunk.eval()(x), before)
    for block in (m for m in trunk.modules() if isinstance(m, ATRBlock)):
        randomise(block)
    after = trunk(x)
    assert after.shape == before.shape == (2, 128, 1, 2, 2)
    assert not torch.allclose(after, before)
    with pytest.raises(ValueError, match="already holds an ATR block"):
        insert_atr(trunk)


def test_insert_chosen_stages_and_errors():
    trunk = create_backbone("r2plus1d_tiny")
    assert [len(s) for s in find_residual_stages(trunk)] == [1, 1, 1, 1]
    assert insert_atr(trunk, stages=[4, 1]) == ["layer1.0.conv2.1", "layer4.0.conv2.1"]
    with pytest.raises(ValueError, match="block 'layer4.0' already holds an ATR block"):
        insert_atr(trunk)  # stages 2-4: refused before touching stages 2 and 3
    assert isinstance(trunk.layer2[0].conv2[1], nn.BatchNorm3d)
    exposed = _ExposedBlock(4, by_name=True)
    exposed.last_norm = "body.2"
    with pytest.raises(ValueError, match="'0.body.2' is a Conv3d, not a norm layer"):
        insert_atr(nn.Sequential(exposed))
    with pytest.raises(ValueError, match=r"stages \[5\] do not exist: .* numbered 1..4"):
        insert_atr(create_backbone("r2plus1d_tiny"), stages=(5,))
    with pytest.raises(ValueError, match="has no residual blocks"):
        insert_atr(nn.Sequential(nn.Conv2d(3, 3, 1), nn.BatchNorm2d(3)))


def test_frame_resnet_equals_torchvision_per_frame_and_loads_its_weights():
    reference = resnet18().eval()
    trunk = FrameResNet(resnet18()).eval()
    missing = trunk.load_state_dict(trunk.convert_state_dict(reference.state_dict()))
    assert not missing.missing_keys and not missing.unexpected_keys
    video = torch.randn(2, 3, 3, 32, 32)
    features = nn.Sequential(*list(reference.children())[:-2])
    expected = torch.stack([features(video[:, :, t]) for t in range(3)], dim=2)
    torch.testing.assert_close(trunk(video), expected)
    for size in (32, 50, 71):  # the declared strides give the real output grid
        out = trunk(torch.randn(1, 3, 2, size, size))
        assert trunk.output_grid(2, size, size) == TokenGrid.from_feature_map(out)


def test_insert_into_2d_resnet_frame_by_frame():
    trunk = FrameResNet(resnet18())
    names = insert_atr(trunk, reduction=4)
    assert names == ["layer2.0.bn2", "layer2.1.bn2", "layer3.0.bn2", "layer3.1.bn2",
                     "layer4.0.bn2", "layer4.1.bn2"]
    for block in (m for m in trunk.modules() if isinstance(m, ATRBlock)):
        randomise(block)
    trunk.eval().double()  # float64: 20 layers of float32 rounding would blur the comparison
    video = torch.randn(2, 3, 4, 64, 64, dtype=torch.float64)
    out = trunk(video)
    assert out.shape == (2, 512, 4, 2, 2)
    assert all(m.num_frames == 4 for m in trunk.modules() if isinstance(m, ATRAfterNorm))
    # clips stay separate (the block unfolds T correctly) ...
    torch.testing.assert_close(torch.cat([trunk(video[:1]), trunk(video[1:])]), out)
    # ... and frames interact: reversing time does not just reverse the output
    assert not torch.allclose(trunk(video.flip(2)).flip(2), out, atol=1e-4)
    bottleneck = FrameResNet(resnet50())
    assert insert_atr(bottleneck)[:2] == ["layer2.0.bn3", "layer2.1.bn3"]


class _Bottleneck(nn.Module):  # pytorchvideo's BottleneckBlock layout
    def __init__(self, c_in, c_mid, c_out):
        super().__init__()
        self.conv_a, self.norm_a = nn.Conv3d(c_in, c_mid, 1), nn.BatchNorm3d(c_mid)
        self.conv_b, self.norm_b = nn.Conv3d(c_mid, c_mid, 3, padding=1), nn.BatchNorm3d(c_mid)
        self.conv_c, self.norm_c = nn.Conv3d(c_mid, c_out, 1), nn.BatchNorm3d(c_out)

    def forward(self, x):
        x = torch.relu(self.norm_a(self.conv_a(x)))
        return self.norm_c(self.conv_c(torch.relu(self.norm_b(self.conv_b(x)))))


class _ResBlock(nn.Module):  # pytorchvideo's ResBlock: branch1 shortcut + branch2
    def __init__(self, c_in, c_out):
        super().__init__()
        self.branch1_conv, self.branch1_norm = nn.Conv3d(c_in, c_out, 1), nn.BatchNorm3d(c_out)
        self.branch2 = _Bottleneck(c_in, 4, c_out)

    def forward(self, x):
        return torch.relu(self.branch1_norm(self.branch1_conv(x)) + self.branch2(x))


class _ExposedBlock(nn.Module):  # any block that names its last norm
    def __init__(self, c, by_name):
        super().__init__()
        self.body = nn.Sequential(nn.Conv3d(c, c, 1), nn.BatchNorm3d(c), nn.Conv3d(c, c, 1),
                                  nn.BatchNorm3d(c))
        self.last_norm = "body.3" if by_name else self.body[3]

    def forward(self, x):
        return torch.relu(x + self.body(x))


def test_insert_into_pytorchvideo_style_and_exposed_blocks():
    stages = [nn.ModuleDict(dict(res_blocks=nn.ModuleList([_ResBlock(8, 8), _ResBlock(8, 8)])))
              for _ in range(3)]
    net = nn.Module()
    net.blocks = nn.ModuleList(stages + [nn.Sequential(_ExposedBlock(8, True),
                                                       _ExposedBlock(8, False))])
    assert find_residual_stages(net) == [
        [f"blocks.{s}.res_blocks.{b}" for b in range(2)] for s in range(3)
    ] + [["blocks.3.0", "blocks.3.1"]]
    assert insert_atr(net, stages=(2, 4), reduction=2) == [
        "blocks.1.res_blocks.0.branch2.norm_c", "blocks.1.res_blocks.1.branch2.norm_c",
        "blocks.3.0.body.3", "blocks.3.1.body.3"]
    x = torch.randn(1, 8, 3, 4, 4)
    for stage in net.blocks[:3]:
        for block in stage["res_blocks"]:
            x = block(x)
    assert net.blocks[3](x).shape == (1, 8, 3, 4, 4)


# ---------------------------------------------------------------- models

ARCHS = {"atr_r2plus1d_tiny": (3, 128), "atr_r2plus1d_18": (6, 512),
         "atr_tsn_r50": (13, 2048), "atr_slow_r50": (13, 2048)}


@pytest.mark.parametrize("arch", list(ARCHS))
def test_registered_models(arch):
    if arch == "atr_slow_r50" and "slow_r50" not in list_backbones():
        # registers "slow_r50" if tagnet.backbones does not import the module itself yet
        pytest.importorskip("tagnet.backbones.slow", reason="no slow_r50 backbone (issue 4)")
    torch.manual_seed(0)
    model = create_model(arch, num_classes=5, num_frames=8, img_size=32).eval()
    n_blocks, channels = ARCHS[arch]
    assert len(model.atr_blocks()) == n_blocks
    video = torch.randn(2, 3, 8, 32, 32)
    with torch.no_grad():
        features = model.forward_features(video)
        assert features.shape == (2, channels)
        torch.testing.assert_close(model(video), model.fc(features))
        assert torch.equal(model.forward_head(features, pre_logits=True), features)
    model.reset_classifier(7)
    assert model(video).shape == (2, 7)
    assert model.config == {"arch": arch, "preset": None, "num_classes": 5, "num_frames": 8,
                            "img_size": 32}


def test_model_options_and_errors(tmp_path):
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['ffn_dim'\] for an ATR "
                                         r"model; valid: num_classes, num_frames"):
        create_model("atr_r2plus1d_tiny", ffn_dim=512)
    model = create_model("atr_r2plus1d_tiny", stages=(4,), locator=False, k=2,
                         distribution="scale")
    (block,) = model.atr_blocks()
    assert block.locator is None and block.k == 2 and block.reasoner.distribution == "scale"
    # backbone weights are loaded before the insertion, under the backbone's own names
    trunk = randomise(create_backbone("r2plus1d_tiny"))
    torch.save(trunk.state_dict(), tmp_path / "tiny.pth")
    model = build_atr_model("r2plus1d_tiny", backbone_weights=str(tmp_path / "tiny.pth"))
    torch.testing.assert_close(model.backbone.layer4[0].conv2[1].norm.weight,
                               trunk.layer4[0].conv2[1].weight)


def moving_squares(n_per_class: int = 4, frames: int = 8, size: int = 32, seed: int = 0):
    """Clips of a bright 8x8 square moving 2 px per frame; class 0 right, class 1 left."""
    g = torch.Generator().manual_seed(seed)
    clips, labels = torch.zeros(2 * n_per_class, 3, frames, size, size), []
    for i in range(2 * n_per_class):
        label = i % 2
        y = int(torch.randint(0, size - 8, (1,), generator=g))
        x0 = int(torch.randint(0, size - 8 - 2 * frames, (1,), generator=g))
        for t in range(frames):
            x = x0 + 2 * t if label == 0 else x0 + 2 * (frames - 1 - t)
            clips[i, :, t, y:y + 8, x:x + 8] = 1.0
        labels.append(label)
    return clips - 0.1, torch.tensor(labels)


def test_short_training_run_lowers_the_loss():
    torch.manual_seed(0)
    clips, labels = moving_squares()
    model = create_model("atr_r2plus1d_tiny", num_classes=2, num_frames=8, img_size=32)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(20):
        loss = F.cross_entropy(model(clips), labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses
    # the ATR blocks learnt too: their zero-initialised BatchNorm scales moved
    assert all(b.reasoner.bn.weight.abs().sum() > 0 for b in model.atr_blocks())
