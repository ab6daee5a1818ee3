"""Reasoner widths (every reasoner C -> C/r -> C) and ER vs GR costs, against closed forms."""
import pytest
import torch

from tagnet.complexity import compare_reasoners, example_input
from tagnet.models.atr import ActionCentricReasoner, ATRBlock
from tagnet.models.factory import create_model


def reasoner_params(ear: ActionCentricReasoner) -> int:
    return sum(p.numel() for p in ear.reasoners.parameters())


@pytest.mark.parametrize("n", [1, 2, 3])
def test_er_and_gr_parameters_follow_the_bottleneck_widths(n):
    C, h, k = 64, 4, 1
    taps = 2 * k + 1
    er = ActionCentricReasoner(C, h, k, n)
    # each reasoner: 2k+1 shared taps, W_down (h x C, no bias), W_up (C x h) + bias C
    assert reasoner_params(er) == n * (taps + 2 * C * h + C)
    assert sum(p.numel() for p in er.norms.parameters()) == (n - 1) * 2 * C  # LN at width C
    channel = ActionCentricReasoner(C, h, k, n, ear_taps="channel")
    assert reasoner_params(channel) == n * (C * taps + 2 * C * h + C)
    # GR: theta, phi C -> C (the reference's full width, no bias) and the same transform
    gr = ActionCentricReasoner(C, h, k, n, reasoner="graph")
    assert reasoner_params(gr) == n * (2 * C * C + 2 * C * h + C)
    # ER x n is n times ER x 1: the stacking comparison is at a fixed width per reasoner
    one = ActionCentricReasoner(C, h, k, 1)
    assert reasoner_params(er) == n * reasoner_params(one)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_the_former_stack_widths_stay_one_switch_away(n):
    C, h, taps = 64, 4, 3
    stack = ActionCentricReasoner(C, h, 1, n, reasoner_widths="stack")
    # C -> h -> ... -> h -> C, one Linear per reasoner; one reasoner is C -> C
    expected = C * C + C if n == 1 else (C * h + h) + (n - 2) * (h * h + h) + (h * C + C)
    assert reasoner_params(stack) == n * taps + expected
    gr = ActionCentricReasoner(C, h, 1, n, reasoner="graph", reasoner_widths="stack")
    assert all(r.embed == h for r in gr.reasoners)  # d = C/r in the former reading
    with pytest.raises(ValueError, match="reasoner_widths 'wide' is unknown; known: "
                                         "bottleneck, stack"):
        ATRBlock(16, reasoner_widths="wide")


def test_bottleneck_reasoner_is_a_rank_h_linear_map_after_the_taps():
    torch.manual_seed(0)
    ear = ActionCentricReasoner(6, 2, k=1, num_reasoners=1)
    r = ear.reasoners[0]
    v = torch.randn(2, 5, 6)
    A = r.relation(v)[0]  # (T, T) banded
    W = r.channel.up.weight @ r.channel.down.weight  # (C, C), rank 2
    assert torch.linalg.matrix_rank(W) == 2
    expected = torch.einsum("ts,bsc->btc", A, v) @ W.T + r.channel.up.bias
    torch.testing.assert_close(ear.reason(v), expected)


def test_compare_reasoners_measures_both_kinds_against_the_closed_form():
    """ATR-sim, one block (ATR's Table 2 setting): the blocks' multiply-adds are the reasoners'."""
    model = create_model("atr_r2plus1d_tiny", num_frames=8, img_size=32, stages=["S5"],
                         locator=False)
    (block,) = model.atr_blocks()
    C, h = block.channels, block.hidden  # 128, 8
    out = compare_reasoners(model, example_input(model))
    er, gr = out["efficient"], out["graph"]
    # per frame vector and reasoner: ER 3 taps x C + C h + h C; GR theta, phi 2 C^2, the
    # scores and the weighted sum 2 T C, and the same C h + h C
    shapes = []  # the frames the block sees
    block.register_forward_hook(lambda m, a, o: shapes.append(a[0].shape))
    model.eval()(example_input(model))
    t_out = shapes[0][2]
    assert er["macs"] == 2 * t_out * (3 * C + 2 * C * h)
    assert gr["macs"] == 2 * t_out * (2 * C * C + 2 * t_out * C + 2 * C * h)
    assert er["block_macs"] == er["macs"] and gr["block_macs"] == gr["macs"]  # sim: no locator
    assert er["params"] == 2 * (3 + 2 * C * h + C) and gr["params"] == 2 * (2 * C * C
                                                                            + 2 * C * h + C)
    assert out["reasoner_saving"] == pytest.approx(1 - er["macs"] / gr["macs"])
    assert model.atr_blocks()[0].reasoner.reasoner_kind == "efficient"  # the model is untouched
    assert compare_reasoners(create_model("tsm_r50", num_frames=2, img_size=32),
                             torch.zeros(1, 3, 2, 32, 32)) == {}


def test_complexity_command_prints_er_vs_gr(capsys):
    from tagnet.cli import main

    assert main(["complexity", "--arch", "atr_r2plus1d_tiny", "--frames", "8", "--no-timing",
                 "-O", "stages=[S5]", "-O", "locator=false"]) == 0
    out = capsys.readouterr().out
    assert "ATR reasoners ER" in out and "% less)" in out and "ATR blocks    with ER" in out
