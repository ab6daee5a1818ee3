"""The features backbone: extracted token grids give the full model's logits."""
import json

import av
import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from tagnet import create_model
from tagnet.backbones import TokenShardDataset, TokenShardWriter, extract_tokens
from tagnet.cli import main

KW = dict(num_classes=5, num_frames=8, img_size=32)


def _pair():
    torch.manual_seed(0)
    full = create_model("tag_r2plus1d_tiny", **KW).eval()
    feat = create_model("tag_features", backbone_kwargs={"source": "r2plus1d_tiny"}, **KW)
    feat.head.load_state_dict(full.head.state_dict())
    return full, feat.eval()


def test_features_model_gives_the_full_models_logits():
    full, feat = _pair()
    video = torch.randn(3, 3, 8, 32, 32)
    with torch.no_grad():
        tokens = full.backbone(video)
        torch.testing.assert_close(feat(tokens), full(video), rtol=0, atol=0)
    assert feat.head.grid == full.head.grid
    # a head trained on features drops into the full model: same keys, minus the backbone
    assert set(feat.state_dict()) == {k for k in full.state_dict()
                                      if not k.startswith("backbone.")}
    with pytest.raises(ValueError, match=r"token grids of shape \(B, 128, T', H', W'\)"):
        feat(video)


class _Clips(Dataset):
    """(clip, label, meta) items like tagnet.datasets', with one repeated clip id."""

    def __init__(self, n=5):
        g = torch.Generator().manual_seed(1)
        self.clips = torch.randn(n, 3, 8, 32, 32, generator=g)
        self.ids = [f"clip{i}" for i in range(n - 1)] + ["clip0"]  # as on_error="skip" does

    def __len__(self):
        return len(self.clips)

    def __getitem__(self, i):
        return self.clips[i], i % 5, {"id": self.ids[i], "path": f"/v/{self.ids[i]}.mp4"}


def test_shards_round_trip_and_train_the_head(tmp_path):
    full, _ = _pair()
    data = _Clips()
    info = {"backbone": "r2plus1d_tiny", "backbone_kwargs": {}, "weights": None,
            "num_frames": 8, "img_size": 32}
    writer = TokenShardWriter(tmp_path / "tok", info, shard_size=3, dtype=torch.float32)
    assert extract_tokens(full.backbone, data, writer, batch_size=2) == 4  # duplicate left out
    index = json.loads(writer.close().read_text())
    assert [s["count"] for s in index["shards"]] == [3, 1]
    assert (index["channels"], index["grid"], index["num_clips"]) == (128, [1, 2, 2], 4)

    ds = TokenShardDataset(tmp_path / "tok")
    assert ds.ids == ["clip0", "clip1", "clip2", "clip3"] and len(ds) == 4
    with torch.no_grad():
        expected = full.backbone(data.clips[:4])
        tokens = torch.stack([ds[i][0] for i in range(4)])
        torch.testing.assert_close(tokens, expected, rtol=0, atol=0)
        assert [ds[i][1] for i in range(4)] == [0, 1, 2, 3]
        assert ds[2][2] == {"id": "clip2", "index": 2}
        feat = create_model("tag_features", num_classes=5, **ds.model_kwargs()).eval()
        feat.head.load_state_dict(full.head.state_dict())
        torch.testing.assert_close(feat(tokens), full(data.clips[:4]), rtol=0, atol=0)
    with pytest.raises(FileExistsError):
        TokenShardWriter(tmp_path / "tok", info)


def test_writer_rejects_inconsistent_batches(tmp_path):
    w = TokenShardWriter(tmp_path, {}, dtype=torch.float32)
    w.add(torch.zeros(2, 4, 1, 2, 2), [0, 1], ["a", "b"])
    with pytest.raises(ValueError, match="clip ids must be unique; repeated: \\['a'\\]"):
        w.add(torch.zeros(1, 4, 1, 2, 2), [0], ["a"])
    with pytest.raises(ValueError, match=r"token grid \(4, 2, 2, 2\) differs"):
        w.add(torch.zeros(1, 4, 2, 2, 2), [0], ["c"])
    with pytest.raises(FileNotFoundError, match="tagnet extract"):
        TokenShardDataset(tmp_path / "nothing")


def _write_video(path, frames=10, size=(40, 48), seed=0):
    rng = np.random.default_rng(seed)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=10)
        stream.height, stream.width = size
        stream.pix_fmt = "yuv420p"
        for _ in range(frames):
            img = rng.integers(0, 255, (*size, 3), dtype=np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(stream.encode())


def test_extract_command_on_a_video_folder(tmp_path):
    pytest.importorskip("tagnet.datasets.csv_dataset")
    root = tmp_path / "videos"
    for label, cls in enumerate(["jump", "spin"]):
        (root / cls).mkdir(parents=True)
        _write_video(root / cls / f"{cls}_{label}.mp4", seed=label)
    full, _ = _pair()
    torch.save(full.backbone.state_dict(), tmp_path / "tiny.pth")
    args = ["extract", "--backbone", "r2plus1d_tiny", "--weights", str(tmp_path / "tiny.pth"),
            "--dataset", "folder", "--root", str(root), "--frames", "8", "--size", "32",
            "--resize", "32", "--out", str(tmp_path / "tok"), "--workers", "0",
            "--dtype", "float32"]
    assert main(args) == 0
    ds = TokenShardDataset(tmp_path / "tok")
    assert ds.ids == ["jump_0", "spin_1"] and [ds[i][1] for i in range(2)] == [0, 1]
    assert ds.info["classes"] == ["jump", "spin"] and ds.grid.shape == (1, 2, 2)

    from tagnet.commands.extract import build_dataset
    parsed = type("A", (), dict(dataset="folder", root=str(root), frames=8, size=32, resize=32,
                                on_error="raise", split="train", version="gym99"))()
    clip = build_dataset(parsed)[1][0]
    with torch.no_grad():
        torch.testing.assert_close(ds[1][0], full.backbone(clip[None])[0])
