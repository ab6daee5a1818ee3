"""Evaluation never substitutes clips: a clip that cannot be decoded is left out and reported.

The split is FineSynth's val list (2 clips of each of 8 classes) with three clips replaced by
an empty file, random bytes and an audio-only mp4, as in the issue's reproduction.
"""
import csv
import json
import shutil
from collections import Counter

import av
import numpy as np
import pytest
import torch

import tagnet
from tagnet.data import collate
from tagnet.datasets import FineGym, VideoDecodeError, make_finesynth
from tagnet.datasets.base import SkippedClip, VideoDataset, without_substitution
from tagnet.datasets.transforms import test_transform
from tagnet.eval.evaluate import evaluate
from tagnet.train.data import RunData
from tagnet.train.run import train


def _audio_only_mp4(path):
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=16000)
        for i in range(4):
            frame = av.AudioFrame.from_ndarray(np.zeros((2, 1024), np.float32), format="fltp",
                                               layout="stereo")
            frame.sample_rate, frame.pts = 16000, i * 1024
            out.mux(stream.encode(frame))
        out.mux(stream.encode())


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    """FineSynth with 16 val clips, 3 of them replaced; ``(synth, bad paths -> label)``."""
    root = tmp_path_factory.mktemp("fs_broken")
    synth = make_finesynth(root, num_classes=8, clips_per_class=4, num_frames=8, size=32,
                           val_fraction=0.5, progress=False)
    video = {i: root / "subactions" / f"{i}.mp4" for i, _ in synth.train + synth.val}
    (bad_empty, y0), (bad_random, y1), (bad_audio, y2) = synth.val[0], synth.val[5], synth.val[9]
    video[bad_empty].write_bytes(b"")
    video[bad_random].write_bytes(np.random.default_rng(0).bytes(4096))
    _audio_only_mp4(video[bad_audio])
    bad = {str(video[bad_empty]): y0, str(video[bad_random]): y1, str(video[bad_audio]): y2}
    return synth, bad


def _model():
    torch.manual_seed(0)
    return tagnet.create_model("tag_r2plus1d_tiny", num_classes=8, num_frames=8, img_size=32,
                               backbone_kwargs={"widths": [8, 8, 16, 16], "stem_mid": 4},
                               ffn_dim=32, num_heads=2).eval()


def _val(synth, on_error="skip"):
    return FineGym(synth.root, version="finesynth", split="val", num_frames=8, short_side=None,
                   transform=test_transform(32, resize=None), on_error=on_error)


@pytest.mark.parametrize("num_workers,batch_size", [(0, 4), (2, 3)])
def test_bad_clips_left_out_not_substituted(broken, tmp_path, num_workers, batch_size):
    synth, bad = broken
    model, ds = _model(), _val(synth)
    metrics, preds = evaluate(model, ds, synth.classes, out_dir=tmp_path, batch_size=batch_size,
                              num_workers=num_workers, topk=(1, 5))
    good = [(p, y) for p, y in ds.samples if p not in bad]
    assert len(ds) == 16 and len(good) == 13
    assert metrics["num_samples"] == 13 and metrics["num_skipped"] == 3
    assert preds.paths == [p for p, _ in good] and preds.indices.tolist() == [
        i for i, (p, _) in enumerate(ds.samples) if p not in bad]
    assert {r["path"] for r in metrics["skipped"]} == set(bad)
    reasons = {r["path"]: r["reason"] for r in metrics["skipped"]}
    assert "no video stream" in reasons[[p for p in bad if bad[p] == synth.val[9][1]][0]]

    # the same numbers as a dataset holding only the 13 good clips
    ref_ds = VideoDataset(good, synth.classes, num_frames=8, short_side=None,
                          transform=test_transform(32, resize=None))
    ref, ref_preds = evaluate(model, ref_ds, synth.classes, batch_size=4, topk=(1, 5))
    torch.testing.assert_close(preds.scores, ref_preds.scores)
    assert all(metrics[k] == ref[k] for k in ("top1", "top5", "mca", "num_samples"))

    with open(tmp_path / "per_class.csv") as f:
        support = {int(r["class_id"]): int(r["support"]) for r in csv.DictReader(f)}
    expected = Counter(y for _, y in good)
    assert support == {c: expected[c] for c in range(8)}
    assert sorted(support.values()) == [1, 1, 1, 2, 2, 2, 2, 2]
    with open(tmp_path / "predictions.csv") as f:
        listed = [r["path"] for r in csv.DictReader(f)]
    assert listed == [p for p, _ in good]  # each scored clip once, no bad one
    report = json.loads((tmp_path / "metrics.json").read_text())
    assert report["num_samples"] == 13 and len(report["skipped"]) == 3


def test_on_error_raise_fails_fast(broken):
    synth, bad = broken
    with pytest.raises(VideoDecodeError, match="no decodable frames|cannot open|empty|0 B"):
        evaluate(_model(), _val(synth, "raise"), synth.classes, batch_size=4)


def test_without_substitution_copies_and_collate_drops(broken):
    synth, bad = broken
    ds = _val(synth)
    view = without_substitution(torch.utils.data.Subset(ds, [0, 1]))
    assert ds.substitute and not view.dataset.substitute  # the argument is unchanged
    item = view[0]
    assert isinstance(item, SkippedClip) and item.path in bad and item.index == 0
    served = ds[0]  # the training path still substitutes, with the skip in meta
    assert served[2]["index"] == 1 and served[2]["skipped"].startswith(item.path + "\t")
    clips, labels, meta = collate([item, view[1]])
    assert clips.shape[0] == 1 and labels.tolist() == [ds.samples[1][1]]
    assert meta["left_out"] == [tuple(item)] and meta["index"] == [1]
    clips, labels, meta = collate([item])
    assert clips.numel() == 0 and labels.numel() == 0 and len(meta["left_out"]) == 1


def test_training_logs_each_substitution(broken, tmp_path):
    """Training may substitute; log.jsonl gets one 'skip' record per clip with its reason,
    and the test report of the run leaves the bad val clips out."""
    synth, bad = broken
    from tagnet.config import load_config

    bad_train = synth.root / "subactions" / f"{synth.train[2][0]}.mp4"
    saved = tmp_path / "saved.mp4"
    shutil.copyfile(bad_train, saved)
    bad_train.write_bytes(b"not a video")
    try:
        kw = dict(num_frames=8, short_side=None, on_error="skip")
        train_set = FineGym(synth.root, version="finesynth", split="train",
                            transform=test_transform(32, resize=None), **kw)
        val = _val(synth)
        cfg = load_config(None, [
            "model.arch=tag_r2plus1d_tiny",
            "model.kwargs={backbone_kwargs: {widths: [8, 8, 16, 16], stem_mid: 4}, "
            "ffn_dim: 32, num_heads: 2}", "data.num_frames=8", "data.img_size=32",
            "data.num_workers=0", "train.epochs=1", "train.batch_size=8", "train.progress=false",
            "eval.batch_size=8", f"output_dir={tmp_path / 'run'}"])
        train(cfg, data=RunData(train_set, val, val, synth.classes, "val", "val"))
    finally:
        shutil.copyfile(saved, bad_train)
    with open(tmp_path / "run" / "log.jsonl") as f:
        records = [json.loads(line) for line in f]
    skips = [r for r in records if r["kind"] == "skip"]
    assert [(r["split"], r["path"]) for r in skips if r["split"] == "train"] == [
        ("train", str(bad_train))]
    assert {r["path"] for r in skips if r["split"] == "val"} == set(bad)
    assert all(r["reason"] for r in skips)
    epoch = next(r for r in records if r["kind"] == "epoch")
    assert epoch["val_num_samples"] == 13 and epoch["val_num_skipped"] == 3
    report = json.loads((tmp_path / "run" / "test" / "metrics.json").read_text())
    assert report["num_samples"] == 13 and {r["path"] for r in report["skipped"]} == set(bad)

    # `tagnet eval` of two checkpoints: results.md and stdout list the skipped clips
    from tagnet.cli import main

    best = str(tmp_path / "run" / "best.pth")
    assert main(["eval", "-k", best, best, f"data.root={synth.root}", "data.version=finesynth",
                 "data.on_error=skip", "-o", str(tmp_path / "cmp"), "eval.topk=[1]"]) == 0
    text = (tmp_path / "cmp" / "results.md").read_text()
    assert "(13 videos, 1 view each)" in text
    assert text.count("3 clips left out (not scored, not counted in n)") == 2
    assert all(text.count(f"- `{p}`: ") == 2 for p in bad)
    with open(tmp_path / "cmp" / "run" / "predictions.csv") as f:
        assert len(list(csv.DictReader(f))) == 13


def test_gather_orders_uneven_shards_by_dataset_index(monkeypatch):
    """Two ranks held 0, 2, 4 and 1, 3, 5 of six clips; rank 0 could not decode clip 2 and
    rank 1 clip 5. The gathered predictions are clips 0, 1, 3, 4 in dataset order."""
    from tagnet.distributed import DistInfo
    from tagnet.eval import inference
    from tagnet.eval.inference import Predictions

    def shard(indices, skipped):
        idx = torch.tensor(indices)
        return Predictions(scores=torch.stack([idx.float(), -idx.float()], 1), labels=idx % 2,
                           loss=0.0, features=idx.float()[:, None],
                           paths=[f"v{i}" for i in indices], indices=idx, skipped=skipped)

    ranks = [shard([0, 4], [("v2", "no video stream")]), shard([1, 3], [("v5", "empty file")])]

    def all_gather_object(parts, obj):
        for r, p in enumerate(ranks):
            parts[r] = (p.scores, p.labels, p.features, p.paths, p.indices, p.skipped)

    monkeypatch.setattr(torch.distributed, "all_gather_object", all_gather_object)
    out = inference._gather(ranks[0], DistInfo(rank=0, world_size=2))
    assert out.indices.tolist() == [0, 1, 3, 4] and out.paths == ["v0", "v1", "v3", "v4"]
    assert out.scores[:, 0].tolist() == [0, 1, 3, 4] and out.labels.tolist() == [0, 1, 1, 0]
    assert out.features.flatten().tolist() == [0, 1, 3, 4]
    assert out.skipped == [("v2", "no video stream"), ("v5", "empty file")]
