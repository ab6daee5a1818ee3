"""The benchmark with headroom: twins share their frames exactly, so row B cannot tell them
apart; the named configs build it; bad options name the choices."""
import numpy as np
import pytest
import torch

from tagnet.backbones import TokenShardDataset
from tagnet.config import load_config
from tagnet.datasets.synth_paths import CLASSES, order_groups, render_paths, reversal_pairs
from tagnet.models.factory import create_model
from tagnet.train.experiment import prepare_synthetic
from tagnet.train.headroom import make_headroom


def frames_key(clip):
    return sorted(f.tobytes() for f in clip)


def test_groups_share_their_frames_pixel_for_pixel_and_differ_in_order():
    assert order_groups() == [(0, 1, 2, 3), (4, 5), (6, 7)]
    for group in order_groups():
        clips = [render_paths(c, 11) for c in group]
        assert all(frames_key(c) == frames_key(clips[0]) for c in clips)
        assert not any(np.array_equal(clips[0], c) for c in clips[1:])
    # the camera is applied after the reordering: twins no longer share their frames
    pan = [render_paths(c, 11, camera="pan") for c in (0, 1)]
    assert frames_key(pan[0]) != frames_key(pan[1])


def test_reversal_twins_are_exact_time_reverses():
    assert reversal_pairs() == [(0, 1), (2, 3), (4, 5), (6, 7)]
    assert [CLASSES[b][2] for _, b in reversal_pairs()] == \
        [CLASSES[a][2][::-1] for a, _ in reversal_pairs()]
    for seed in (3, 11):
        for a, b in reversal_pairs():
            assert np.array_equal(render_paths(b, seed), render_paths(a, seed)[::-1])
    # the camera moves after the reordering: under a pan the twins are no longer reverses
    pan = [render_paths(c, 3, camera="pan") for c in (0, 1)]
    assert not np.array_equal(pan[1], pan[0][::-1])


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    return make_headroom(tmp_path_factory.mktemp("headroom"), clips_per_class=4, progress=False)


def test_row_b_gets_the_same_pooled_features_for_twins(bench):
    ds = TokenShardDataset(bench.root / "val")
    assert ds.grid.shape == (8, 4, 4) and len(ds) == 8  # 1 val clip per class
    tokens = torch.stack([ds[i][0] for i in range(8)])       # (8, 64, T, 4, 4), class order
    assert [ds[i][1] for i in range(8)] == list(range(8))
    # frame-wise backbone: the token grids of twins are the same frames in another order
    for group in order_groups():
        blocks = [sorted(tokens[c].unbind(1), key=lambda b: b.sum().item()) for c in group]
        assert all(torch.equal(x, y) for b in blocks[1:] for x, y in zip(blocks[0], b,
                                                                          strict=True))
    model = create_model("tag_features", ablation="B", num_classes=8, num_frames=8, img_size=32,
                         backbone_kwargs={"source": "framewise_tiny"}).double().eval()
    pooled = model.forward_features(tokens.double())
    for group in order_groups():
        for c in group[1:]:
            torch.testing.assert_close(pooled[c], pooled[group[0]], rtol=1e-13, atol=1e-13)
    assert not torch.allclose(pooled[0], pooled[4])  # other groups differ


def test_the_cache_is_reused_and_keyed_by_the_parameters(bench):
    again = make_headroom(bench.root, clips_per_class=4, progress=False)
    assert not again.generated and again.order_pairs == [(0, 1, 2, 3), (4, 5), (6, 7)]
    assert again.reversal_pairs == [(0, 1), (2, 3), (4, 5), (6, 7)]
    stamp = (bench.root / "val" / "index.json").stat().st_mtime_ns
    other = make_headroom(bench.root, clips_per_class=4, seed=1, progress=False)
    assert other.generated and (bench.root / "val" / "index.json").stat().st_mtime_ns != stamp
    make_headroom(bench.root, clips_per_class=4, progress=False)  # back, for the other tests


def test_named_configs_build_the_framewise_variant(tmp_path):
    roots = set()
    for name, camera in (("headroom_pan", "pan"), ("headroom_shake", "shake"), ("headroom", None)):
        cfg = load_config(name)
        assert cfg.data.synth.get("camera") == camera and cfg.model.arch == "tag_features"
        roots.add(cfg.data.root)
    assert len(roots) == 3  # one cache folder per camera: sweeps never regenerate each other's
    cfg = load_config("headroom", [f"data.root={tmp_path}", "data.synth.clips_per_class=4"])
    synth = prepare_synthetic(cfg, progress=False)
    assert (cfg.data.dataset, synth.classes) == ("tokens", [n for n, _, _ in CLASSES])
    info = TokenShardDataset(tmp_path / "train").info
    assert info["backbone"] == "framewise_tiny"
    assert (info["channels"], info["grid"]) == (64, [8, 4, 4])
    model = create_model(cfg.model.arch, num_classes=8, num_frames=8, img_size=32,
                         **cfg.model.kwargs)
    assert model.head.grid.shape == (8, 4, 4)


def test_bad_options_name_the_choices(tmp_path):
    with pytest.raises(ValueError, match="benchmark 'video' is unknown; known: paths"):
        make_headroom(tmp_path, benchmark="video")
    with pytest.raises(ValueError, match="camera 'zoom' is unknown; known: None, pan, shake"):
        make_headroom(tmp_path, camera="zoom")
