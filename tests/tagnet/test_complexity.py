"""Complexity report: closed-form parameter and multiply-add counts, and the command."""
import json

import pytest
import torch

from tagnet import TAGHead, TAGNet, create_backbone, create_model
from tagnet.cli import main
from tagnet.complexity import count_macs, count_parameters, example_input, propagation_macs

# a 2x2x2 grid of 16-channel tokens: N = 8, E = 24 intra-frame + 8 time-aligned edges
TINY = dict(num_classes=3, num_frames=2, img_size=2, ffn_dim=32,
            backbone_kwargs=dict(channels=16, stride=(1, 1, 1)))


def _encoder_layer_params(d, f):
    return (d * 3 * d + 3 * d) + (d * d + d) + (d * f + f) + (f * d + d) + 4 * d


def test_parameter_counts_closed_form():
    model = create_model("tag_features", **TINY)
    assert count_parameters(model) == {
        "backbone": 0, "positional": 8 * 16, "encoder": 2 * _encoder_layer_params(16, 32),
        "propagation": 0, "classifier": 2 * 16 + 16 * 3 + 3,
        "total": 8 * 16 + 2 * _encoder_layer_params(16, 32) + 2 * 16 + 16 * 3 + 3}
    learned = create_model("tag_features", learn_edge_weights=True, **TINY)
    assert count_parameters(learned)["propagation"] == 2  # one weight per edge type


def test_wide_backbones_get_the_512_adapter_counted_in_encoder():
    # the features backbone shaped like slow_r50: 2048 channels, stride 1x32x32
    model = create_model("tag_features", backbone_kwargs={"source": "slow_r50"},
                         num_classes=10, num_frames=8, img_size=64, ffn_dim=1024)
    assert model.head.embed_dim == 512 and model.head.proj.in_features == 2048
    p = count_parameters(model)
    assert p["encoder"] == 2048 * 512 + 512 + 2 * _encoder_layer_params(512, 1024)
    assert p["positional"] == 8 * 2 * 2 * 512
    assert p["total"] == sum(p.numel() for p in model.parameters())


def test_propagation_macs_are_exact():
    # each of K = 2 steps: E' C (A H, E' = E + N with self loops) + N C ((1 - alpha) .)
    # + N C (+ alpha H0)
    E1 = 32 + 8
    assert propagation_macs(8, 32, 16, K=2) == 2 * (E1 * 16 + 2 * 8 * 16) == 1792
    model = create_model("tag_features", **TINY).eval()
    x = example_input(model, batch_size=3)
    before = model(x)
    macs = count_macs(model, x)
    assert macs["propagation"] == 3 * 1792 and macs["backbone"] == 0
    torch.testing.assert_close(model(x), before)  # the real propagation is back
    assert count_macs(create_model("tag_features", topology="none", **TINY),
                      x)["propagation"] == 0


def test_head_macs_closed_form():
    N, d, f, K = 8, 16, 32, 3
    layer = N * d * 3 * d + 2 * N * N * d + N * d * d + 2 * N * d * f  # qkv, attention, out, FFN
    model = create_model("tag_features", **TINY)
    assert count_macs(model, example_input(model))["head"] == 2 * layer + d * K


def test_r2plus1d_34_backbone_macs_at_32x112():
    with torch.device("meta"):  # shapes only: no weights, no compute
        trunk = create_backbone("r2plus1d_34")
    head = TAGHead(trunk.output_grid(32, 112), 500, 512, ffn_dim=512)
    model = TAGNet(trunk, head, num_frames=32, img_size=112).to("meta")
    macs = count_macs(model, example_input(model, device="meta"))
    assert macs["backbone"] == 152_355_510_272  # the paper's 153.4 G minus a ~1 G head
    assert count_parameters(model)["backbone"] == 63_491_975


def test_command_json_keys(capsys):
    args = ["complexity", "--arch", "tag_r2plus1d_tiny", "--frames", "8", "--size", "32",
            "--classes", "4", "--ffn", "64", "--runs", "2", "--warmup", "0", "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"params", "gmacs", "latency_ms", "peak_mem_mb"}
    assert list(out["params"]) == ["backbone", "positional", "encoder", "propagation",
                                   "classifier", "total"]
    assert out["params"]["classifier"] == 2 * 128 + 128 * 4 + 4
    assert out["gmacs"] > 0 and out["latency_ms"] > 0 and out["peak_mem_mb"] > 0


def test_command_table_and_preset_conflict(capsys):
    assert main(["complexity", "--arch", "tag_r2plus1d_tiny", "--preset", "haa500",
                 "--no-timing"]) == 0
    text = capsys.readouterr().out
    assert "token grid 4x7x7" in text and "GMACs" in text and "latency" not in text
    assert main(["complexity", "--arch", "tag_r2plus1d_tiny", "--preset", "haa500",
                 "--classes", "7", "--no-timing"]) == 1
    assert "preset 'haa500' sets num_classes=500" in capsys.readouterr().err


def test_command_options_may_name_a_flags_key_but_not_contradict_it(capsys):
    args = ["complexity", "--arch", "tag_r2plus1d_tiny", "--frames", "8", "--size", "32",
            "--classes", "4", "--no-timing", "--json"]
    assert main(args + ["--ffn", "64"]) == 0
    flag = json.loads(capsys.readouterr().out)
    assert main(args + ["-O", "ffn_dim=64"]) == 0  # was: "multiple values for ffn_dim"
    assert json.loads(capsys.readouterr().out) == flag
    assert main(args + ["--ffn", "64", "-O", "ffn_dim=64"]) == 0
    assert main(args + ["--ffn", "32", "-O", "ffn_dim=64"]) == 1
    assert "--option ffn_dim=64 contradicts --ffn 32" in capsys.readouterr().err


def test_example_input_needs_a_size():
    with pytest.raises(ValueError, match="does not say its input size"):
        example_input(torch.nn.Linear(2, 2))
