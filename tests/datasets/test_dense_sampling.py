"""Dense sampling (the Kinetics protocol), segment centres, the test forms, list frame counts."""
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from tagnet.datasets import CsvVideoDataset, dense_indices, segment_indices
from tagnet.datasets.sampling import get_sampler, multi_clip_indices


@given(n=st.integers(1, 400), t=st.integers(1, 16), s=st.integers(1, 9), seed=st.integers(0, 99))
def test_dense_indices_equal_the_closed_form(n, t, s, seed):
    span = (t - 1) * s + 1
    last = max(n - span, 0)
    centre = dense_indices(n, t, s, start="center")
    assert centre.tolist() == [min(last // 2 + j * s, n - 1) for j in range(t)]
    drawn = dense_indices(n, t, s, generator=torch.Generator().manual_seed(seed))
    a = drawn[0].item()
    assert 0 <= a <= last  # a uniform start in 0 .. max(n - L, 0)
    assert drawn.tolist() == [min(a + j * s, n - 1) for j in range(t)]


def test_dense_literal_values_and_the_start_is_uniform():
    assert dense_indices(20, 4, 2, start="center").tolist() == [6, 8, 10, 12]  # last = 13
    assert dense_indices(20, 4, 2, start=3).tolist() == [3, 5, 7, 9]
    assert dense_indices(5, 4, 2, start="center").tolist() == [0, 2, 4, 4]  # short: repeats
    g = torch.Generator().manual_seed(0)
    starts = torch.stack([dense_indices(10, 3, 2, generator=g)[0] for _ in range(3000)])
    counts = torch.bincount(starts, minlength=6)  # last start = 10 - 5 = 5: six values
    assert counts.numel() == 6 and counts.min() > 400  # each about 500
    for bad, match in ((dict(stride=0), "stride >= 1"), (dict(start="end"), "neither")):
        with pytest.raises(ValueError, match=match):
            dense_indices(10, 3, **bad)


def test_segment_centres_and_the_test_forms():
    # n = 10, T = 4: segments [0, 2.5), [2.5, 5), [5, 7.5), [7.5, 10); centres floor(1.25 + 2.5k)
    assert segment_indices(10, 4, random=False).tolist() == [1, 3, 6, 8]
    assert get_sampler("segment", 4, train=False)(10).tolist() == [1, 3, 6, 8]
    assert get_sampler("dense", 4, train=False, stride=2)(20).tolist() == [6, 8, 10, 12]
    assert get_sampler("uniform", 4, train=False)(10).tolist() == [0, 3, 6, 9]
    g = torch.Generator().manual_seed(1)
    assert get_sampler("dense", 4, g, stride=2)(20).tolist() == \
        dense_indices(20, 4, 2, generator=torch.Generator().manual_seed(1)).tolist()
    # K test clips: dense spreads windows of T frames `stride` apart (3 crops x 10 clips)
    ten = get_sampler("dense", 8, train=False, stride=8, num_clips=10)(300)
    assert torch.equal(ten, multi_clip_indices(300, 8, 10, mode="window", stride=8))
    assert ten[0].tolist() == list(range(0, 64, 8)) and ten[-1, -1].item() == 299
    assert torch.equal(get_sampler("uniform", 4, num_clips=2)(10),
                       multi_clip_indices(10, 4, 2))
    with pytest.raises(ValueError, match="uniform, segment, dense"):
        get_sampler("linear", 8)


def test_csv_list_frame_count_samples_over_total_frames(tmp_path, make_video):
    """frame_count="list": linspace over the CSV's TotalFrames (clamped to the decoded ones)."""
    from tagnet.datasets import read_frames

    (tmp_path / "v" / "a").mkdir(parents=True)
    make_video("v/a/x.mkv", n=30)
    make_video("v/a/y.mkv", n=30)
    csv = tmp_path / "l.csv"
    csv.write_text("FileName,Class,TotalFrames,ClassEncoded\nx.mkv,a,10,0\ny.mkv,a,61,0\n")
    listed = CsvVideoDataset(csv, tmp_path / "v", num_frames=4, short_side=None,
                             frame_count="list")
    video = CsvVideoDataset(csv, tmp_path / "v", num_frames=4, short_side=None)
    assert listed[0][2]["indices"].tolist() == [0, 3, 6, 9]  # linspace(0, 9, 4)
    direct = read_frames(tmp_path / "v" / "a" / "x.mkv", [0, 3, 6, 9], short_side=None)
    assert torch.equal(listed[0][0], direct.frames)
    assert video[0][2]["indices"].tolist() == [0, 9, 19, 29]  # the decoder's 30 frames
    assert listed[1][2]["indices"].tolist() == [0, 20, 29, 29]  # 40, 60 -> clamped to 29
    with pytest.raises(ValueError, match="frame_count 'csv' is unknown; known: video, list"):
        CsvVideoDataset(csv, tmp_path / "v", frame_count="csv")


def test_config_wires_sampling_into_the_datasets(tmp_path):
    from tagnet.config import load_config
    from tagnet.data import build_dataset

    cfg = load_config("demo", [f"data.root={tmp_path}", "data.sampling=dense",
                               "data.sample_stride=4", "eval.num_clips=3"])
    with pytest.raises(ValueError, match="data.frame_count='list' reads the frame counts a "
                                         "CSV list states"):
        build_dataset(load_config("demo", [f"data.root={tmp_path}", "data.frame_count=list"]),
                      "train", train=True)
    with pytest.raises(ValueError, match="data.sampling='every' is not one of uniform, "
                                         "segment, dense"):
        load_config("demo", ["data.sampling=every"])
    with pytest.raises(ValueError, match="data.sample_stride=0 is invalid"):
        load_config("demo", ["data.sample_stride=0"])
    from tagnet.train.experiment import prepare_synthetic

    cfg.override(["data.synth={num_classes: 2, clips_per_class: 4, num_frames: 40, size: 32, "
                  "seed: 0}", "data.num_frames=4", "data.img_size=32", "data.short_side=32"])
    prepare_synthetic(cfg, progress=False)
    train = build_dataset(cfg, "train", train=True)
    test = build_dataset(cfg, cfg.data.test_split, train=False)
    assert (train.sampling, train.train_sampling, train.stride) == ("dense", True, 4)
    assert (test.train_sampling, test.num_clips) == (False, 3)
    item = test[0][2]
    n = item["num_frames"]
    assert torch.equal(item["indices"], multi_clip_indices(n, 4, 3, mode="window", stride=4))
