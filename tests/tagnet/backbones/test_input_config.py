"""Per-backbone input settings reach the transforms (issue 17, item 2)."""
import argparse

import pytest
import torch

from tagnet import create_model
from tagnet.backbones.pretrained import (
    KINETICS_MEAN,
    KINETICS_STD,
    RELEASE_MEAN,
    RELEASE_STD,
    model_input_config,
)
from tagnet.config import load_config
from tagnet.data import transform_for

KINETICS = ((0.43216, 0.394666, 0.37645), (0.22803, 0.22145, 0.216989))


def test_the_table_chooses_with_the_backbone_and_presets_keep_the_release():
    assert (KINETICS_MEAN, KINETICS_STD) == KINETICS
    assert (RELEASE_MEAN, RELEASE_STD) == ((0.45,) * 3, (0.225,) * 3)
    for arch in ("tag_r2plus1d_18", "tag_r3d_18", "tag_mc3_18", "atr_r2plus1d_18"):
        inp = model_input_config(arch)
        assert (inp.mean, inp.std) == KINETICS and "torchvision" in inp.weights, arch
    for arch in ("tag_r2plus1d_34", "tag_r2plus1d_tiny", "tag_slow_r50", "tag_features"):
        inp = model_input_config(arch)
        assert (inp.mean, inp.std) == (RELEASE_MEAN, RELEASE_STD), arch
    for preset in ("gym99", "gym288", "haa500"):
        inp = model_input_config("tag_r2plus1d_18", preset)
        assert (inp.mean, inp.std) == (RELEASE_MEAN, RELEASE_STD)
    inp = model_input_config("tag_r2plus1d_18", mean=[0.5, 0.4, 0.3], std=[1, 1, 1])
    assert (inp.mean, inp.std) == ((0.5, 0.4, 0.3), (1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match=r"data.std=\[0.2, 0.0, 0.2\] must be 3 finite"):
        model_input_config("tag_r2plus1d_18", std=[0.2, 0, 0.2])
    with pytest.raises(ValueError, match=r"data.mean=\[0.5\] must be 3 finite"):
        model_input_config("tag_r2plus1d_18", mean=[0.5])
    model = create_model("tag_r2plus1d_tiny", num_classes=2, num_frames=8, img_size=32)
    assert model.input_config == model_input_config("tag_r2plus1d_tiny")


def _clip(value=(200, 100, 50)):
    return torch.tensor(value, dtype=torch.uint8).expand(8, 40, 40, 3).contiguous()


def _expected(mean, std, value=(200, 100, 50)):
    return [(v / 255 - m) / s for v, m, s in zip(value, mean, std, strict=True)]


@pytest.mark.parametrize("overrides,mean,std", [
    (["model.arch=tag_r2plus1d_18"], *KINETICS),
    (["model.arch=tag_r2plus1d_34"], RELEASE_MEAN, RELEASE_STD),
    (["model.arch=tag_r2plus1d_18", "model.preset=gym99"], RELEASE_MEAN, RELEASE_STD),
    (["model.arch=tag_r2plus1d_18", "data.mean=[0.1, 0.2, 0.3]", "data.std=[0.5, 0.5, 0.5]"],
     (0.1, 0.2, 0.3), (0.5, 0.5, 0.5)),
])
def test_the_constants_reach_every_transform(overrides, mean, std):
    cfg = load_config(None, ["data.img_size=32", "data.short_side=40", *overrides])
    clip = _clip()
    for transform in (transform_for(cfg, train=True), transform_for(cfg, train=False)):
        out = transform(clip)  # (3, T, 32, 32)
        assert out.shape == (3, 8, 32, 32)
        got = out.mean(dim=(1, 2, 3)).tolist()
        assert got == pytest.approx(_expected(mean, std), abs=1e-5)
    cfg.set("eval.num_crops", 3)
    crops = transform_for(cfg, train=False)(clip)  # (3 crops, 3, T, 32, 32)
    assert crops.shape == (3, 3, 8, 32, 32)
    per_channel = crops.transpose(0, 1).flatten(1).mean(1)
    assert per_channel.tolist() == pytest.approx(_expected(mean, std), abs=1e-5)


def test_extract_and_predict_normalise_as_the_backbone_expects(tmp_path):
    from tagnet.commands.extract import build_dataset
    from tagnet.datasets.finesynth import write_mp4
    from tagnet.datasets.synth import render
    from tagnet.datasets.transforms import test_transform
    from tagnet.inference import clip_tensor

    (tmp_path / "a").mkdir()
    video = tmp_path / "a" / "x.mp4"
    write_mp4(video, render(0, seed=0, num_frames=8, size=32))
    args = argparse.Namespace(backbone="r2plus1d_18", dataset="folder", root=str(tmp_path),
                              frames=8, size=32, resize=32, on_error="raise")
    from tagnet.datasets.csv_dataset import VideoFolderDataset
    kinetics = VideoFolderDataset(tmp_path, num_frames=8, transform=test_transform(
        32, resize=32, mean=KINETICS[0], std=KINETICS[1]))[0][0]
    release = VideoFolderDataset(tmp_path, num_frames=8,
                                 transform=test_transform(32, resize=32))[0][0]
    assert not torch.allclose(kinetics, release)
    assert torch.equal(build_dataset(args)[0][0], kinetics)
    common = ["data.num_frames=8", "data.img_size=32", "data.short_side=32"]
    got = clip_tensor(str(video), load_config(None, ["model.arch=tag_r2plus1d_18", *common]))
    plain = clip_tensor(str(video), load_config(None, ["model.arch=tag_r2plus1d_34", *common]))
    mean, std = (torch.tensor(v).view(3, 1, 1, 1) for v in KINETICS)
    torch.testing.assert_close(got, (plain * 0.225 + 0.45 - mean) / std, rtol=0, atol=1e-5)


def test_complexity_and_print_config_show_the_settings(capsys):
    from tagnet.cli import main

    assert main(["complexity", "--arch", "tag_r2plus1d_18", "--no-timing", "--classes", "5",
                 "--frames", "16"]) == 0
    assert ("input         mean (0.43216, 0.394666, 0.37645), std (0.22803, 0.22145, "
            "0.216989); pretrained on 16x112x112, weights: torchvision Kinetics-400"
            ) in capsys.readouterr().out
    assert main(["train", "--config", "gym99", "model.arch=tag_r2plus1d_18",
                 "--print-config"]) == 0
    out = capsys.readouterr().out
    assert "mean:\n  - 0.45\n  - 0.45\n  - 0.45\n  std:\n  - 0.225" in out
    assert out.rstrip().endswith("weights: torchvision Kinetics-400")
