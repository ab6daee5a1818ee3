"""Construction ceilings: the closed forms, which rows get which, and the twins on real
benchmark tokens getting the same logits from a random-weight head that the ceiling says is
blind to them."""
import pytest
import torch

from tagnet.backbones import TokenShardDataset
from tagnet.config import load_config
from tagnet.models.factory import build_model
from tagnet.train.ceilings import group_ceiling, row_ceiling, time_free
from tagnet.train.headroom import make_headroom

GRAPH_ONLY = ["model.kwargs.graph_only=true", "model.kwargs.operator=gatv2",
              "model.kwargs.readout=max"]
PATHS = dict(order=[(0, 1, 2, 3), (4, 5), (6, 7)], reversal=[(0, 1), (2, 3), (4, 5), (6, 7)])


def test_group_ceiling_closed_forms():
    assert group_ceiling(PATHS["order"], 8) == 3 / 8
    assert group_ceiling(PATHS["reversal"], 8) == 4 / 8
    assert group_ceiling([(2, 3)], 4) == 3 / 4  # SiteSynth: two classes without a reverse twin
    assert group_ceiling([], 5) == 1.0


@pytest.mark.parametrize("overrides,top1,invariance", [
    (["model.kwargs.ablation=B"], 3 / 8, "frame order"),
    (["model.kwargs.ablation=B+TE"], 1.0, None),
    (GRAPH_ONLY + ["model.kwargs.topology=intra_frame"], 3 / 8, "frame order"),
    (GRAPH_ONLY + ["model.kwargs.topology=none"], 3 / 8, "frame order"),
    (GRAPH_ONLY + ["model.kwargs.topology=tag"], 4 / 8, "time reversal"),
    (GRAPH_ONLY + ["model.kwargs.topology=tag_window:2"], 4 / 8, "time reversal"),
    (GRAPH_ONLY + ["model.kwargs.topology=tag_dense"], 4 / 8, "time reversal"),
    (GRAPH_ONLY + ["model.kwargs.topology=tag_directed"], 1.0, None),
    (GRAPH_ONLY + ["model.kwargs.topology=random_temporal:tag"], 1.0, None),
    (GRAPH_ONLY + ["model.kwargs.topology=tag_aligned"], 1.0, None),
])
def test_rows_get_the_ceiling_of_their_symmetry(overrides, top1, invariance):
    ceiling = row_ceiling(load_config("headroom", overrides), PATHS["order"], PATHS["reversal"],
                          8)
    assert (ceiling.top1, ceiling.invariance) == (top1, invariance), ceiling.reason


def test_no_ceiling_under_camera_motion_or_with_a_path_across_time_outside_the_graph():
    pan = load_config("headroom_pan", GRAPH_ONLY + ["model.kwargs.topology=intra_frame"])
    assert row_ceiling(pan, PATHS["order"], PATHS["reversal"], 8).reason.startswith("camera")
    assert time_free(load_config("headroom", ["model.kwargs.topology=intra_frame"])) == \
        "its positional encoding has a time code"
    cfg = load_config("headroom", ["model.kwargs.pos_embed=site",
                                   "model.kwargs.attention_topology=intra_frame",
                                   "model.kwargs.readout=frame_temporal"])
    assert "reads the frames in order" in time_free(cfg)


@pytest.fixture(scope="module")
def paths_tokens(tmp_path_factory):
    bench = make_headroom(tmp_path_factory.mktemp("paths"), clips_per_class=4, progress=False)
    ds = TokenShardDataset(bench.root / "val")
    return bench, torch.stack([ds[i][0] for i in range(len(ds))]), [ds[i][1] for i in range(8)]


@pytest.mark.parametrize("topology,pairs", [("intra_frame", "order"), ("tag", "reversal")])
def test_twins_get_the_same_logits_where_the_ceiling_says_so(paths_tokens, topology, pairs):
    bench, tokens, labels = paths_tokens
    assert labels == list(range(8))  # one val clip per class, same seed: a set of twins
    cfg = load_config("headroom", GRAPH_ONLY + [f"model.kwargs.topology={topology}"])
    torch.manual_seed(0)
    model = build_model(cfg, 8, load_weights=False).double().eval()
    with torch.no_grad():
        logits = model(tokens.double())
    groups = bench.order_pairs if pairs == "order" else bench.reversal_pairs
    for group in groups:
        for c in group[1:]:
            torch.testing.assert_close(logits[c], logits[group[0]], rtol=1e-9, atol=1e-9)
    # and the head is not blind to everything: the groups themselves differ
    assert (logits[0] - logits[4]).abs().max() > 1e-3


def test_directed_edges_tell_the_reversal_twins_apart(paths_tokens):
    _, tokens, _ = paths_tokens
    cfg = load_config("headroom", GRAPH_ONLY + ["model.kwargs.topology=tag_directed"])
    torch.manual_seed(0)
    model = build_model(cfg, 8, load_weights=False).double().eval()
    with torch.no_grad():
        logits = model(tokens.double())
    assert (logits[0] - logits[1]).abs().max() > 1e-3
