"""``protocol=release``: every key the authors' release fixes, per dataset (a table test)."""
import json
import os
import sys

import pytest

from tagnet.config import load_config
from tagnet.models.presets import PRESETS, RELEASED_TRAINING
from tagnet.protocols import RELEASE_LISTS, protocol_deviations, protocol_settings

sys.path.insert(0, os.path.dirname(__file__))
from toy_run import toy_config, toy_data  # noqa: E402

#: The release, read off PAPER.md section 3 and the authors' README / train.py, written out
#: by hand: per dataset (train list, val list, test list, test split, frames, epochs,
#: allow_test_selection, reported checkpoint).
CLAIMS = {
    "gym99": ("gym99train_filtered.csv", "gym99val_filtered.csv", "gym99val_filtered.csv",
              "val", 64, 60, True, "best"),
    "gym288": ("FineGym288_train.csv", "FineGym288_val.csv", "FineGym288_val.csv",
               "val", 64, 60, True, "last"),
    "haa500": ("haa500train.csv", "haa500val.csv", "haa500test.csv",
               "test", 32, 80, False, "best"),
}
SAME_FOR_ALL = {
    ("model", "arch"): "tag_r2plus1d_34", ("data", "dataset"): "csv",
    ("data", "sampling"): "uniform", ("data", "frame_count"): "list",
    ("data", "img_size"): 112, ("data", "short_side"): 128,
    ("data", "train_transform"): "release", ("data", "crop_scale"): [0.5, 1.0],
    ("data", "flip"): 0.5, ("data", "mean"): [0.45] * 3, ("data", "std"): [0.225] * 3,
    ("train", "optimizer"): "adam", ("train", "lr"): 1e-5, ("train", "batch_size"): 8,
    ("train", "scheduler"): "cosine", ("train", "weight_decay"): 0.0,
    ("train", "min_lr"): 0.0, ("train", "warmup_epochs"): 0, ("train", "select_on"): "val",
    ("eval", "num_clips"): 1, ("eval", "num_crops"): 1,
}


@pytest.mark.parametrize("dataset", list(CLAIMS))
def test_release_protocol_sets_each_key_it_claims(dataset):
    train, val, test, test_split, frames, epochs, allow, ckpt = CLAIMS[dataset]
    cfg = load_config(dataset, ["protocol=release", "data.root=/data/videos"])
    assert cfg.protocol == "release"
    assert (cfg.data.train_list, cfg.data.val_list, cfg.data.test_list) == (
        f"/data/videos/{train}", f"/data/videos/{val}", f"/data/videos/{test}")
    assert (cfg.data.val_split, cfg.data.test_split) == ("val", test_split)
    assert (cfg.data.num_frames, cfg.train.epochs) == (frames, epochs)
    assert cfg.train.allow_test_selection is allow and cfg.eval.checkpoint == ckpt
    assert cfg.model.preset == dataset
    for (section, key), value in SAME_FOR_ALL.items():
        assert getattr(getattr(cfg, section), key) == value, f"{section}.{key}"
    # the table agrees with the presets and the released training settings
    released = RELEASED_TRAINING[dataset]
    assert (cfg.train.epochs, cfg.train.batch_size, cfg.train.lr, cfg.train.optimizer,
            cfg.train.scheduler) == (released["epochs"], released["batch_size"],
                                     released["lr"], released["optimizer"],
                                     released["scheduler"])
    assert cfg.data.num_frames == PRESETS[dataset]["num_frames"]
    assert RELEASE_LISTS[dataset] == (train, val, test)
    # every key the protocol claims is set, and nothing differs from it
    for key, value in protocol_settings("release", cfg.to_dict()).items():
        section, name = key.split(".")
        assert getattr(getattr(cfg, section), name) == value, key
    assert protocol_deviations(cfg.to_dict()) == {}


def test_finegym_release_selects_on_its_test_list_only_with_the_explicit_opt_in():
    with pytest.raises(ValueError, match="selected on the clips it is tested on"):
        load_config("gym99", ["protocol=release", "train.allow_test_selection=false"])
    cfg = load_config("haa500", ["protocol=release"])  # val and test lists differ
    assert cfg.data.val_list != cfg.data.test_list


def test_overrides_win_and_the_record_names_what_differs(tmp_path):
    cfg = load_config("gym99", ["train.epochs=2", "protocol=release",
                                f"data.annotation_dir={tmp_path}"])
    assert cfg.train.epochs == 2 and cfg.data.train_list == str(tmp_path /
                                                                "gym99train_filtered.csv")
    assert protocol_deviations(cfg.to_dict()) == {"train.epochs": {"protocol": 60, "run": 2}}
    (tmp_path / "mine.yaml").write_text("protocol: release\nmodel: {preset: gym288}\n"
                                        "data: {version: gym288}\n")
    assert load_config(tmp_path / "mine.yaml").eval.checkpoint == "last"
    assert protocol_deviations(load_config("gym99").to_dict()) == {}  # no protocol
    with pytest.raises(ValueError, match="protocol=release is the authors' protocol for "
                                         "gym99, gym288, haa500, but this config names none"):
        load_config("demo", ["protocol=release"])
    with pytest.raises(ValueError, match="protocol='paper' is not one of release"):
        load_config("gym99", ["protocol=paper"])


def test_the_run_record_says_which_protocol_and_checkpoint_produced_the_number(tmp_path):
    from tagnet.train.run import train

    out = tmp_path / "run"
    cfg = toy_config(str(out), "train.epochs=2", "eval.checkpoint=last")
    result = train(cfg, data=toy_data())
    metrics = json.loads((out / "test" / "metrics.json").read_text())
    assert metrics["protocol"] == "tagnet" and metrics["protocol_deviations"] == {}
    assert metrics["checkpoint"] == str(out / "last.pth") and metrics["epoch"] == 2  # 1-based
    assert result["test"]["top1"] == metrics["top1"]
    with pytest.raises(ValueError, match="eval.checkpoint='final' is not one of best, last"):
        load_config("demo", ["eval.checkpoint=final"])


def test_an_atr_run_record_names_its_distribution_form(tmp_path):
    from tagnet.train.run import train

    out = tmp_path / "atr"
    cfg = toy_config(str(out), "train.epochs=1", "model.arch=atr_r2plus1d_tiny",
                     "model.kwargs={backbone_kwargs: {widths: [8, 8, 16, 16], stem_mid: 4}, "
                     "distribution: gate}")
    train(cfg, data=toy_data())
    atr = json.loads((out / "test" / "metrics.json").read_text())["atr"]
    assert atr["blocks"] == ["layer2.0", "layer3.0", "layer4.0"]
    assert atr["options"]["distribution"] == "gate"
    assert atr["options"]["reasoner_widths"] == "bottleneck"
