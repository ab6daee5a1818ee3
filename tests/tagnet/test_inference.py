"""The Python ways in (``tagnet.load_run``, ``tagnet.inference``) against the CLI that wraps
them, on a tiny trained run and real H.264 clips (issue 27)."""
import json
import sys
from pathlib import Path

import pytest
import torch

import tagnet
from tagnet.cli import main
from tagnet.inference import model_config, predict, predict_videos

sys.path.insert(0, str(Path(__file__).parent / "train"))
from toy_run import toy_config, toy_data  # noqa: E402


def same_top(a: list[dict], b: list[dict]) -> bool:
    """The same classes in the same order with the same probabilities up to float rounding
    (a batch of 2 and of 1 sum in another order)."""
    return [t["class"] for t in a] == [t["class"] for t in b] and \
        [t["name"] for t in a] == [t["name"] for t in b] and \
        [t["prob"] for t in a] == pytest.approx([t["prob"] for t in b], abs=1e-6)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A toy run trained for 2 epochs, the model as it ended, and two encoded clips."""
    import tagnet.train.run as run_mod
    from tagnet.datasets.finesynth import write_mp4
    from tagnet.datasets.synth import render

    root = tmp_path_factory.mktemp("run")
    held = {}
    build = run_mod.build_model

    def keep(*args, **kwargs):
        held["model"] = build(*args, **kwargs)
        return held["model"]

    run_mod.build_model = keep
    try:
        run_mod.train(toy_config(str(root / "r")), data=toy_data(), evaluate_test=False)
    finally:
        run_mod.build_model = build
    clips = []
    for label in (0, 1):
        path = root / f"clip{label}.mp4"
        write_mp4(path, render(label, seed=label, num_frames=24, size=32), fps=8)
        clips.append(path)
    return root / "r", held["model"].eval(), clips


def test_load_run_gives_the_trained_model(run):
    run_dir, trained, _ = run
    model = tagnet.load_run(run_dir, checkpoint="last.pth")
    x = torch.randn(3, 3, 8, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(model(x), trained(x))
    assert model.class_names == ["left", "right", "still"] and not model.training
    assert model.run_config.data.num_frames == 8
    best = tagnet.load_run(run_dir)  # best.pth by default
    assert best.class_names == model.class_names


def test_load_run_names_a_missing_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        tagnet.load_run(tmp_path / "nothing")


def test_predict_matches_the_cli_and_the_model(run, tmp_path):
    run_dir, _, clips = run
    model = tagnet.load_run(run_dir)
    out = tmp_path / "preds.json"
    assert main(["predict", *map(str, clips), "-k", str(run_dir), "--topk", "2",
                 "--json", str(out)]) == 0
    cli = json.loads(out.read_text())
    api = [predict(model, clip, topk=2) for clip in clips]
    assert [r["path"] for r in cli] == [r["path"] for r in api] == list(map(str, clips))
    assert all(same_top(c["top"], a["top"]) for c, a in zip(cli, api, strict=True))
    assert predict_videos(clips, model, topk=2) == cli  # the CLI's batch of 2
    # and the probabilities are the model's on the clip as the run's config samples it
    from tagnet.inference import clip_tensor

    with torch.no_grad():
        probs = model(clip_tensor(clips[0], model.run_config)[None]).softmax(1)[0]
    top = probs.topk(2)
    assert [t["class"] for t in api[0]["top"]] == top.indices.tolist()
    assert [t["prob"] for t in api[0]["top"]] == pytest.approx(top.values.tolist(), abs=1e-6)
    assert api[0]["top"][0]["name"] == model.class_names[int(top.indices[0])]


def test_windows_match_the_cli(run, tmp_path):
    run_dir, _, clips = run
    model = tagnet.load_run(run_dir)
    assert main(["predict", str(clips[0]), "-k", str(run_dir), "--topk", "2", "--window", "1",
                 "--stride", "0.5", "--out-dir", str(tmp_path)]) == 0
    cli = json.loads((tmp_path / "clip0.windows.json").read_text())
    api = predict(model, clips[0], topk=2, window=1, stride=0.5)
    assert api["path"] == str(clips[0])
    assert [{k: v for k, v in w.items() if k != "top"} for w in api["windows"]] == \
        [{k: v for k, v in w.items() if k != "top"} for w in cli]
    assert all(same_top(a["top"], c["top"]) for a, c in zip(api["windows"], cli, strict=True))
    assert [w["start"] for w in api["windows"]] == [0, 0.5, 1.0, 1.5, 2.0]


def test_a_create_model_model_gets_its_backbones_input_settings():
    model = tagnet.create_model("tag_r2plus1d_18", num_classes=4, num_frames=8, img_size=32)
    cfg = model_config(model)
    assert (cfg.model.arch, cfg.data.num_frames, cfg.data.img_size) == ("tag_r2plus1d_18", 8, 32)
    from tagnet.backbones.pretrained import config_input

    assert config_input(cfg).mean == (0.43216, 0.394666, 0.37645)  # torchvision's Kinetics
    with pytest.raises(ValueError, match="pass cfg="):
        model_config(torch.nn.Linear(2, 2))


def test_an_undecodable_video_raises_in_predict_and_is_skipped_in_predict_videos(run, tmp_path,
                                                                                capsys):
    from tagnet.datasets import VideoDecodeError

    run_dir, _, clips = run
    model = tagnet.load_run(run_dir)
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    with pytest.raises(VideoDecodeError, match="bad.mp4"):
        predict(model, bad)
    out = predict_videos([bad, clips[0]], model, topk=1)
    assert [r["path"] for r in out] == [str(clips[0])]
    assert "skipping" in capsys.readouterr().out
