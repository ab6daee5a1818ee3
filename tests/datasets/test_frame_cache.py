import json
import os

import numpy as np
import pytest
import torch

import tagnet.datasets.cache as cache_mod
from tagnet.datasets import FrameCache, VideoFolderDataset, read_frames


@pytest.fixture
def videos(tmp_path, writer):
    root = tmp_path / "videos"
    for i in range(5):
        (root / f"c{i % 2}").mkdir(parents=True, exist_ok=True)
        writer(root / f"c{i % 2}" / f"{i}.mkv", 8 + i, codec="libx264")
    return root


def all_paths(root):
    return sorted(str(p) for p in root.rglob("*.mkv"))


def test_build_then_read_equals_decoding(tmp_path, videos, codes):
    cache = FrameCache(tmp_path / "cache", short_side=24, shard_size=2)
    summary = cache.build(all_paths(videos), progress=False)
    assert summary == {"added": 5, "cached": 0, "failed": {}}
    assert len(list((tmp_path / "cache").glob("shard_*.bin"))) == 3
    for path in all_paths(videos):
        n = int(os.path.basename(path)[0]) + 8
        frames, idx, total = cache.read(path, lambda m: torch.arange(m).flip(0))
        direct = read_frames(path, idx, short_side=24).frames
        assert total == n and torch.equal(frames, direct)  # bit-identical to decoding
        assert codes(frames) == list(range(n - 1, -1, -1))
    reopened = FrameCache(tmp_path / "cache", short_side=24)
    assert len(reopened) == 5 and all(p in reopened for p in all_paths(videos))
    assert cache.build(all_paths(videos), progress=False)["cached"] == 5


def test_interrupted_build_resumes(tmp_path, videos, monkeypatch):
    calls = {"n": 0}
    real = cache_mod.read_frames

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt  # Ctrl-C in the middle of the second shard
        return real(*args, **kwargs)

    monkeypatch.setattr(cache_mod, "read_frames", flaky)
    cache = FrameCache(tmp_path / "cache", short_side=None, shard_size=2)
    with pytest.raises(KeyboardInterrupt):
        cache.build(all_paths(videos), progress=False)
    monkeypatch.setattr(cache_mod, "read_frames", real)
    again = FrameCache(tmp_path / "cache", short_side=None, shard_size=2)
    assert len(again) == 2  # only the committed first shard is visible
    assert again.build(all_paths(videos), progress=False)["added"] == 3
    assert not list((tmp_path / "cache").glob("*.tmp"))
    assert len(FrameCache(tmp_path / "cache", short_side=None)) == 5


def test_dataset_reads_from_cache(tmp_path, videos, monkeypatch):
    cache = FrameCache(tmp_path / "cache", short_side=None)
    ds = VideoFolderDataset(videos, num_frames=4, short_side=None, cache=cache)
    cache.build(ds, progress=False)
    expected = [ds[i] for i in range(len(ds))]

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded although cached")

    monkeypatch.setattr("tagnet.datasets.base.read_frames", no_decoding)
    for i, (frames, label, meta) in enumerate(expected):
        cached = ds[i]
        assert torch.equal(cached[0], frames) and cached[1] == label
        assert torch.equal(cached[2]["indices"], meta["indices"])
    with pytest.raises(ValueError, match="short_side"):
        VideoFolderDataset(videos, short_side=128, cache=cache)


def test_stale_entries_and_config_mismatch(tmp_path, videos, writer):
    cache = FrameCache(tmp_path / "cache", short_side=None)
    path = all_paths(videos)[0]
    cache.build([path], progress=False)
    assert path in cache
    writer(path, 3, codec="libx264")  # the video changed on disk
    assert path not in cache
    with pytest.raises(ValueError, match="was built with"):
        FrameCache(tmp_path / "cache", short_side=64)


def test_max_frames_keeps_nearest(tmp_path, videos, codes):
    cache = FrameCache(tmp_path / "cache", short_side=None, max_frames=4)
    path = str(videos / "c0" / "4.mkv")  # 12 frames -> stored 0, 3, 7, 11
    cache.build([path], progress=False)
    meta = json.loads(next((tmp_path / "cache").glob("shard_*.json")).read_text())
    assert next(iter(meta.values()))["indices"] == [0, 3, 7, 11]
    frames, idx, n = cache.read(path, torch.tensor([0, 1, 2, 5, 6, 11]))
    assert n == 12 and codes(frames) == [0, 0, 3, 3, 7, 11]


def test_failed_videos_are_listed(tmp_path, videos):
    bad = videos / "c0" / "broken.mkv"
    bad.write_bytes(b"nope")
    cache = FrameCache(tmp_path / "cache", short_side=None)
    summary = cache.build(all_paths(videos), progress=False)
    assert summary["added"] == 5 and list(summary["failed"]) == [str(bad)]
    assert np.all([p in cache for p in all_paths(videos) if p != str(bad)])
