"""The second benchmark with headroom (SiteSynth, ``benchmark="sites"``): its tokens keep the
twin properties the generator builds in, its manifest names the twins and the time reverses,
and the sitesynth config builds it without touching PathSynth's cache."""
import json

import pytest
import torch

from tagnet.backbones import TokenShardDataset
from tagnet.config import load_config
from tagnet.datasets.synth_sites import CLASSES, order_groups, reversal_pairs
from tagnet.models.factory import create_model
from tagnet.train.experiment import order_chance, prepare_synthetic
from tagnet.train.headroom import MANIFEST, make_headroom


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    return make_headroom(tmp_path_factory.mktemp("sites"), clips_per_class=4, progress=False,
                         benchmark="sites")


def val_tokens(bench):
    ds = TokenShardDataset(bench.root / "val")
    assert ds.grid.shape == (8, 4, 4) and len(ds) == 4  # 1 val clip per class
    assert [ds[i][1] for i in range(4)] == [0, 1, 2, 3]
    return torch.stack([ds[i][0] for i in range(4)])  # (classes, 64, T, 4, 4)


def test_the_headroom_describes_sitesynth(bench):
    assert (bench.version, bench.classes) == ("sitesynth", [n for n, _, _ in CLASSES])
    assert bench.order_pairs == order_groups() == [(0, 1), (2, 3)]
    assert bench.reversal_pairs == reversal_pairs() == [(2, 3)]
    manifest = json.loads((bench.root / MANIFEST).read_text())
    assert manifest["order_groups"] == [[0, 1], [2, 3]]
    assert manifest["reversal_pairs"] == [[2, 3]]
    assert manifest["params"]["benchmark"] == "sites"
    assert TokenShardDataset(bench.root / "train").info["dataset"] == "sitesynth"
    assert order_chance(bench.order_pairs) == 0.5  # the order-blind ceiling


def test_twins_get_the_same_frame_tokens_and_row_b_the_same_pooled_features(bench):
    tokens = val_tokens(bench)
    for group in order_groups():  # the same token frames, in another order
        a, b = (sorted(tokens[c].unbind(1), key=lambda f: f.sum().item()) for c in group)
        assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
        assert not torch.equal(tokens[group[0]], tokens[group[1]])
        torch.testing.assert_close(tokens[group[0]].double().mean((1, 2, 3)),
                                   tokens[group[1]].double().mean((1, 2, 3)),
                                   rtol=1e-12, atol=1e-12)
    for a, b in reversal_pairs():  # time reverses, token for token
        assert torch.equal(tokens[b], tokens[a].flip(1))
    model = create_model("tag_features", ablation="B", num_classes=4, num_frames=8, img_size=32,
                         backbone_kwargs={"source": "framewise_tiny"}).double().eval()
    pooled = model.forward_features(tokens.double())
    for a, b in order_groups():
        torch.testing.assert_close(pooled[a], pooled[b], rtol=1e-13, atol=1e-13)
    assert not torch.allclose(pooled[0], pooled[2])  # discs vs lamps: B can tell the groups


def test_the_cache_is_reused_and_keyed_by_the_benchmark(bench, tmp_path):
    again = make_headroom(bench.root, clips_per_class=4, progress=False, benchmark="sites")
    assert not again.generated and again.reversal_pairs == [(2, 3)]
    # PathSynth in the same folder is another cache: regenerated, with its own manifest
    paths = make_headroom(tmp_path, clips_per_class=4, progress=False)
    assert paths.reversal_pairs == [(0, 1), (2, 3), (4, 5), (6, 7)] and paths.version == "pathsynth"
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    assert manifest["reversal_pairs"] == [[0, 1], [2, 3], [4, 5], [6, 7]]
    assert "benchmark" not in manifest["params"] and manifest["params"]["render"] == 2
    sites = make_headroom(tmp_path, clips_per_class=4, progress=False, benchmark="sites")
    assert sites.generated


def test_the_sitesynth_config_builds_the_benchmark(tmp_path):
    cfg = load_config("sitesynth")
    assert cfg.data.synth["benchmark"] == "sites" and cfg.model.arch == "tag_features"
    assert cfg.data.root != load_config("headroom").data.root  # its own cache
    keys = ("epochs", "batch_size", "lr", "optimizer", "weight_decay", "scheduler")
    assert {k: getattr(cfg.train, k) for k in keys} == \
        {k: getattr(load_config("headroom").train, k) for k in keys}
    cfg = load_config("sitesynth", [f"data.root={tmp_path}", "data.synth.clips_per_class=4"])
    synth = prepare_synthetic(cfg, progress=False)
    assert (cfg.data.dataset, cfg.data.version) == ("tokens", "sitesynth")
    assert synth.classes == [n for n, _, _ in CLASSES] and synth.order_pairs == [(0, 1), (2, 3)]
    info = TokenShardDataset(tmp_path / "train").info
    assert (info["backbone"], info["channels"], info["grid"]) == ("framewise_tiny", 64,
                                                                  [8, 4, 4])
    model = create_model(cfg.model.arch, num_classes=4, num_frames=8, img_size=32,
                         **cfg.model.kwargs)
    assert model.head.grid.shape == (8, 4, 4)


def test_bad_benchmark_names_the_choices(tmp_path):
    with pytest.raises(ValueError, match="benchmark 'site' is unknown; known: paths, sites"):
        make_headroom(tmp_path, benchmark="site")
