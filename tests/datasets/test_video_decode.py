import numpy as np
import pytest
import torch

from tagnet.datasets import probe, read_clip, read_frames, segment_indices, uniform_indices
from tagnet.datasets.decode import INDEX_CACHE


@pytest.fixture(scope="module")
def lossless(tmp_path_factory, writer):
    """40 coded frames, FFV1 in Matroska (lossless, every frame a keyframe)."""
    return writer(tmp_path_factory.mktemp("v") / "ffv1.mkv", 40, options={"g": "1"})


@pytest.fixture(scope="module")
def h264(tmp_path_factory, writer):
    """60 coded frames, H.264 with B-frames and a keyframe every 10 frames, in mp4."""
    return writer(
        tmp_path_factory.mktemp("v") / "gop10.mp4",
        60,
        codec="libx264",
        options={"g": "10", "keyint_min": "10", "bf": "2", "sc_threshold": "0"},
    )


def test_exact_frames_come_back(lossless, codes):
    clip = read_clip(lossless, 8)
    assert clip.shape == (8, 48, 64, 3) and clip.dtype == torch.uint8
    assert codes(clip) == uniform_indices(40, 8).tolist() == [0, 5, 11, 16, 22, 27, 33, 39]


def test_read_frames_any_order_and_repeats(lossless, codes):
    out = read_frames(lossless, [7, 3, 3, 39, 0])
    assert codes(out.frames) == [7, 3, 3, 39, 0]
    assert out.indices.tolist() == [7, 3, 3, 39, 0] and out.num_frames == 40
    assert out.lost == out.substituted == out.decode_errors == 0


@pytest.mark.parametrize("strategy", ["sequential", "seek", "auto"])
def test_strategies_agree_on_h264(h264, codes, strategy):
    targets = [0, 9, 10, 11, 25, 47, 59]
    out = read_frames(h264, targets, strategy=strategy)
    assert codes(out.frames) == targets
    expected = {"sequential": "sequential", "seek": "seek"}.get(strategy, out.strategy)
    assert out.strategy == expected


def test_seek_and_sequential_give_identical_pixels(h264):
    idx = uniform_indices(60, 16)
    a = read_frames(h264, idx, strategy="sequential").frames
    b = read_frames(h264, idx, strategy="seek").frames
    assert torch.equal(a, b)


def test_auto_seeks_only_when_it_pays(h264, monkeypatch):
    import tagnet.datasets.decode as decode

    monkeypatch.setattr(decode, "SEEK_COST", 3)
    assert read_frames(h264, [55]).strategy == "seek"  # 5 frames from keyframe 50 vs 55
    monkeypatch.setattr(decode, "SEEK_COST", 100)
    assert read_frames(h264, [55]).strategy == "sequential"


def test_resize_at_decode_time(lossless, codes):
    clip = read_clip(lossless, 4, short_side=24)
    assert clip.shape == (4, 24, 32, 3)
    assert codes(clip) == [0, 13, 26, 39]
    assert read_clip(lossless, 2, size=(40, 80)).shape == (2, 40, 80, 3)
    with pytest.raises(ValueError, match="not both"):
        read_clip(lossless, 2, size=(40, 80), short_side=10)


def test_segment_sampling_with_generator(lossless, codes):
    g = torch.Generator().manual_seed(0)
    a = read_frames(lossless, lambda n: segment_indices(n, 8, g))
    assert codes(a.frames) == a.indices.tolist()
    clip = read_clip(lossless, 8, "segment", generator=torch.Generator().manual_seed(0))
    assert clip.shape == (8, 48, 64, 3)


def test_bad_arguments(lossless):
    with pytest.raises(IndexError, match="40 frames"):
        read_frames(lossless, [40])
    with pytest.raises(ValueError, match="auto, sequential, seek"):
        read_frames(lossless, [0], strategy="random")
    with pytest.raises(ValueError, match="uniform, segment"):
        read_clip(lossless, 4, "linear")


def test_index_cache_is_keyed_by_file_identity(make_video, codes):
    path = make_video("a.mkv", n=10)
    assert read_frames(path, [9]).num_frames == 10
    make_video("a.mkv", n=20)  # same path, new content: the cache must not serve the old index
    assert read_frames(path, [19]).num_frames == 20
    assert len(INDEX_CACHE.data) >= 1


def test_probe_basic(h264):
    info = probe(h264)
    assert (info.num_frames, info.width, info.height, info.codec) == (60, 64, 48, "h264")
    assert info.fps == pytest.approx(25) and info.duration == pytest.approx(2.4)
    assert info.rotation == 0 and not info.variable_frame_rate and not info.exact
    exact = probe(h264, exact=True)
    assert exact.exact and exact.num_frames == 60 and exact.lost_frames == 0


def test_threads_do_not_change_frames(h264):
    a = read_frames(h264, np.arange(60), threads=1).frames
    b = read_frames(h264, np.arange(60), threads=2).frames
    assert torch.equal(a, b)


def test_index_cache_bounds(make_video):
    from tagnet.datasets.video import IndexCache, PacketIndex

    def entry(n):
        arr = np.arange(n, dtype=np.int64)
        return {"index": PacketIndex(arr, arr[:1], n, True, 1)}

    cache = IndexCache(maxsize=2, max_bytes=8_050)
    for i in range(3):
        cache.put(i, entry(10))
    assert list(cache.data) == [1, 2]
    cache.put(3, entry(1000))  # 8 KB: the others must go
    assert list(cache.data) == [3]
    cache.put(4, entry(2000))  # larger than the budget alone: kept, the rest evicted
    assert list(cache.data) == [4]
