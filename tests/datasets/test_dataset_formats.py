import shutil

import pytest
import torch
from torch.utils.data import DataLoader

from tagnet.datasets import (
    HAA500,
    CsvVideoDataset,
    FineGym,
    VideoFolderDataset,
    parse_finegym_id,
    read_categories,
    read_element_split,
    read_release_csv,
)
from tagnet.datasets import test_transform as make_test_transform
from tagnet.datasets.haa500 import clip_number

GYM_LINES = """\
0LtLS9wROrk_E_002407_002435_A_0003_0005 78
0LtLS9wROrk_E_002558_002653_A_0052_0052 35
a_B-c_d-Ef_E_000001_000010_A_0001_0002 0
-_x_E_z_E_000100_000190_A_0000_0001 98
"""
CATEGORY_0 = "Clabel:   0; set:  1; Glabel:   1; (VT) round-off, flic-flac with 0.5 turn on, ..."


@pytest.fixture(scope="module")
def clip(tmp_path_factory, writer):
    """One tiny video that tests copy to every path they need."""
    return writer(tmp_path_factory.mktemp("clip") / "c.mkv", 6, size=(32, 24))


def put(clip, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(clip, path)
    return path


def test_parse_finegym_ids_with_underscores_and_dashes():
    assert parse_finegym_id("0LtLS9wROrk_E_002407_002435_A_0003_0005") == (
        "0LtLS9wROrk",
        2407,
        2435,
        3,
        5,
    )
    assert parse_finegym_id("-_x_E_z_E_000100_000190_A_0000_0001").youtube_id == "-_x_E_z"
    for bad in ("0LtLS9wROrk_E_2407_002435_A_0003_0005", "abc", "x_E_000001_000002_A_1_2"):
        with pytest.raises(ValueError, match="not a FineGym element id"):
            parse_finegym_id(bad)


def test_read_split_and_categories(tmp_path):
    split = tmp_path / "gym99_train_element_v1.1.txt"
    split.write_text(GYM_LINES + "\n")
    assert read_element_split(split)[:2] == [
        ("0LtLS9wROrk_E_002407_002435_A_0003_0005", 78),
        ("0LtLS9wROrk_E_002558_002653_A_0052_0052", 35),
    ]
    cats = tmp_path / "gym99_categories.txt"
    cats.write_text(CATEGORY_0 + "\nClabel:   2; set: 11; Glabel:  40; (FX) switch leap\n")
    assert read_categories(cats) == [
        "(VT) round-off, flic-flac with 0.5 turn on, ...",
        "1",
        "(FX) switch leap",
    ]
    split.write_text("0LtLS9wROrk_E_002407_002435_A_0003_0005 78 extra\n")
    with pytest.raises(ValueError, match=r"train_element_v1.1.txt:1"):
        read_element_split(split)


def gym_root(tmp_path, clip, missing=()):
    ann = tmp_path / "annotations"
    ann.mkdir()
    (ann / "gym99_train_element_v1.1.txt").write_text(GYM_LINES)
    (ann / "gym99_categories.txt").write_text(
        "\n".join(
            [CATEGORY_0]
            + [f"Clabel: {i:3d}; set: {i % 5:2d}; Glabel: {i:3d}; name {i}" for i in range(1, 99)]
        )
    )
    for line in GYM_LINES.splitlines():
        vid, label = line.split()
        if vid not in missing:  # release layout for one label, flat for the rest
            sub = f"{label}/{vid}.mp4" if label == "78" else f"{vid}.mkv"
            put(clip, tmp_path / "subactions" / sub)
    return tmp_path


def test_finegym_reads_official_files(tmp_path, clip):
    ds = FineGym(gym_root(tmp_path, clip), "gym99", "train", num_frames=4, short_side=None)
    assert len(ds) == 4 and len(ds.classes) == 99
    assert ds.classes[0].startswith("(VT) round-off")
    assert ds.targets == [78, 35, 0, 98]
    frames, label, meta = ds[0]
    assert frames.shape == (4, 24, 32, 3) and label == 78
    assert meta["id"] == "0LtLS9wROrk_E_002407_002435_A_0003_0005"
    assert meta["indices"].tolist() == [0, 1, 3, 5] and meta["num_frames"] == 6
    assert ds.ids[2] == "a_B-c_d-Ef_E_000001_000010_A_0001_0002"


def test_finegym_missing_videos_reported_once(tmp_path, clip, caplog):
    gone = ["0LtLS9wROrk_E_002558_002653_A_0052_0052", "a_B-c_d-Ef_E_000001_000010_A_0001_0002"]
    root = gym_root(tmp_path, clip, missing=gone)
    with pytest.raises(FileNotFoundError, match="2 of 4 videos are missing"):
        FineGym(root, "gym99", "train")
    caplog.set_level("WARNING", logger="tagnet.datasets")
    ds = FineGym(root, "gym99", "train", on_error="skip")
    assert len(ds) == 2 and ds.targets == [78, 98]
    assert [r.message for r in caplog.records].count(caplog.records[0].message) == 1
    assert len(caplog.records) == 1 and "2 of 4 videos are missing" in caplog.text
    assert len(ds.skipped) == 2 and ds.skipped.counts()["missing"] == 2
    with pytest.raises(FileNotFoundError, match="no split file"):
        FineGym(root, "gym99", "val")


def test_finegym_released_csv(tmp_path, clip):
    root = gym_root(tmp_path, clip)
    csv = tmp_path / "gym99_train.csv"
    csv.write_text(
        "FileName,Class,TotalFrames,ClassEncoded\n"
        "0LtLS9wROrk_E_002407_002435_A_0003_0005.mp4,78,65,78\n"
        "0LtLS9wROrk_E_002558_002653_A_0052_0052.mkv,35,20,35\n"
    )
    ds = FineGym(root, "gym99", list_file=csv)
    assert ds.targets == [78, 35] and ds.samples[0][0].endswith(
        "78/0LtLS9wROrk_E_002407_002435_A_0003_0005.mp4"
    )


def test_release_csv_and_class_names_with_spaces(tmp_path, clip):
    csv = tmp_path / "haa500_test.csv"
    csv.write_text(
        "FileName,Class,TotalFrames,ClassEncoded\n"
        "blowing kisses_016.mp4,blowing kisses,24,58\n"
        '"play_ otamatone_017.mp4","play_ otamatone",9,2\n'
    )
    rows = read_release_csv(csv)
    assert rows[0] == ("blowing kisses_016.mp4", "blowing kisses", 24, 58)
    put(clip, tmp_path / "v" / "blowing kisses" / "blowing kisses_016.mp4")
    put(clip, tmp_path / "v" / "play_ otamatone" / "play_ otamatone_017.mp4")
    ds = CsvVideoDataset(csv, tmp_path / "v", num_frames=3, short_side=None)
    assert ds.classes[58] == "blowing kisses" and ds.classes[2] == "play_ otamatone"
    assert ds.classes[3] == "3" and ds.targets == [58, 2]
    assert ds[1][0].shape == (3, 24, 32, 3)
    (tmp_path / "bad.csv").write_text("name,label\nx,1\n")
    with pytest.raises(ValueError, match="lacks column"):
        read_release_csv(tmp_path / "bad.csv")


HAA_CLASSES = [
    "play_ otamatone",
    "CPR",
    "blowing kisses",
    "ALS_IceBucket_Challenge",
    "battle-rope_jumping-jack",
]


def test_haa500_layout_order_and_splits(tmp_path, clip):
    for name in HAA_CLASSES:
        for num in (0, 15, 16, 17, 19):
            put(clip, tmp_path / "haa500_v1_1" / "video" / name / f"{name}_{num:03d}.mp4")
    ds = {s: HAA500(tmp_path, s, num_frames=2, short_side=None) for s in ("train", "val", "test")}
    assert ds["train"].classes == [
        "ALS_IceBucket_Challenge",
        "CPR",
        "battle-rope_jumping-jack",
        "blowing kisses",
        "play_ otamatone",
    ]
    assert (len(ds["train"]), len(ds["val"]), len(ds["test"])) == (10, 5, 10)
    assert set(ds["train"].clip_numbers) == {0, 15} and set(ds["test"].clip_numbers) == {17, 19}
    assert ds["val"].targets == [0, 1, 2, 3, 4]
    assert clip_number("play_ otamatone_017.mp4") == 17 and clip_number("x.mp4") is None
    with pytest.raises(ValueError, match="train, val, test"):
        HAA500(tmp_path, "dev")


def test_video_folder_dataset(tmp_path, clip):
    put(clip, tmp_path / "b" / "x.mkv")
    put(clip, tmp_path / "a" / "sub" / "y.MKV")
    (tmp_path / "a" / "notes.txt").write_text("not a video")
    ds = VideoFolderDataset(tmp_path, num_frames=2, short_side=None)
    assert ds.classes == ["a", "b"] and ds.targets == [0, 1]


def test_default_collate_and_multi_clip(tmp_path, clip):
    for i in range(4):
        put(clip, tmp_path / ("a" if i < 2 else "b") / f"{i}.mkv")
    ds = VideoFolderDataset(
        tmp_path, num_frames=4, short_side=None, transform=make_test_transform(16, resize=None)
    )
    clips, labels, meta = next(iter(DataLoader(ds, batch_size=4)))
    assert clips.shape == (4, 3, 4, 16, 16) and labels.tolist() == [0, 0, 1, 1]
    assert meta["indices"].shape == (4, 4) and len(meta["path"]) == 4
    assert meta["num_frames"].tolist() == [6] * 4 and meta["skipped"] == [""] * 4
    multi = VideoFolderDataset(tmp_path, num_frames=4, num_clips=3, short_side=None)
    frames, _, m = multi[0]
    assert frames.shape == (3, 4, 24, 32, 3) and m["indices"].shape == (3, 4)
    assert torch.equal(m["indices"][0], torch.tensor([0, 1, 3, 5]))
