"""Something-Something V1/V2 and Kinetics-400 lists: parsed from small files, bad lines named."""
import json
import shutil

import pytest

from tagnet.datasets import Kinetics400, SomethingSomething, read_kinetics_csv
from tagnet.datasets.something import (
    read_sthv1_labels,
    read_sthv1_list,
    read_sthv2_labels,
    read_sthv2_list,
)

V2_LABELS = {"Holding something next to something": "1", "Pushing something from left to right":
             "0", "Approaching something with your camera": "2"}
V2_TRAIN = """[
  {"id": "78687", "label": "holding potato next to vicks vaporub bottle",
   "template": "Holding [something] next to [something]",
   "placeholders": ["potato", "vicks vaporub bottle"]},
  {"id": "42326", "label": "pushing pen from left to right",
   "template": "Pushing [something] from left to right", "placeholders": ["pen"]}
]
"""


@pytest.fixture(scope="module")
def clip(tmp_path_factory, writer):
    return writer(tmp_path_factory.mktemp("clip") / "c.mkv", 6, size=(32, 24))


def test_sthv2_lists_and_labels(tmp_path, clip):
    (tmp_path / "something-something-v2-labels.json").write_text(json.dumps(V2_LABELS))
    (tmp_path / "something-something-v2-train.json").write_text(V2_TRAIN)
    classes = read_sthv2_labels(tmp_path / "something-something-v2-labels.json")
    assert classes == ["Pushing something from left to right",
                       "Holding something next to something",
                       "Approaching something with your camera"]
    entries = read_sthv2_list(tmp_path / "something-something-v2-train.json", classes)
    where = str(tmp_path / "something-something-v2-train.json")
    assert entries == [("78687", 1, f"{where}:2"), ("42326", 0, f"{where}:5")]
    (tmp_path / "videos" / "a").mkdir(parents=True)
    shutil.copyfile(clip, tmp_path / "videos" / "a" / "78687.webm")
    shutil.copyfile(clip, tmp_path / "videos" / "42326.mkv")
    ds = SomethingSomething(tmp_path / "videos", "v2", "train", annotation_dir=tmp_path,
                            num_frames=2, short_side=None)
    assert ds.targets == [1, 0] and ds.origins == [f"{where}:2", f"{where}:5"]
    assert ds[0][0].shape == (2, 24, 32, 3) and ds[0][2]["id"] == "78687"
    (tmp_path / "videos" / "42326.mkv").unlink()
    with pytest.raises(FileNotFoundError, match=r"1 of 2 videos are missing .* \(e.g. 42326\)"):
        SomethingSomething(tmp_path / "videos", "v2", "train", annotation_dir=tmp_path)
    assert len(SomethingSomething(tmp_path / "videos", "v2", "train", annotation_dir=tmp_path,
                                  on_error="skip")) == 1


@pytest.mark.parametrize("text, line, match", [
    ('[\n {"id": "1", "template": "Holding [something] next to [something]"},\n'
     ' {"id": "2", "template": "Dropping [something]"}\n]', 3,
     r"template 'Dropping \[something\]' \('Dropping something'\) is not a class of the "
     "labels file"),
    ('[\n {"id": "1", "template": "Holding [something] next to [something]"},\n'
     ' {"id": "1", "template": "Holding [something] next to [something]"}\n]', 3,
     r"clip '1' is listed twice \(first at .*:2\)"),
    ('[\n {"id": "5", "label": "x"}\n]', 2, r"entry \['id', 'label'\] lacks 'id' or 'template'"),
    ('[\n {"id": "5", "template": "Holding [something] next to [something]"}\n  {"id": 3}]',
     3, r"missing ',' or '\]' after an entry"),
])
def test_sthv2_bad_entries_are_named_by_file_and_line(tmp_path, clip, text, line, match):
    (tmp_path / "something-something-v2-labels.json").write_text(json.dumps(V2_LABELS))
    bad = tmp_path / "something-something-v2-train.json"
    bad.write_text(text)
    shutil.copyfile(clip, tmp_path / "1.mkv")
    with pytest.raises(ValueError, match=f"{bad}:{line}: {match}"):
        SomethingSomething(tmp_path, "v2", "train")


def test_sthv2_labels_file_errors(tmp_path):
    bad = tmp_path / "labels.json"
    bad.write_text(json.dumps({"a": "0", "b": "0"}))
    with pytest.raises(ValueError, match="id 0 is given to both 'a' and 'b'"):
        read_sthv2_labels(bad)
    bad.write_text(json.dumps({"a": "0", "b": "2"}))
    with pytest.raises(ValueError, match=r"ids \[1\] are absent; ids must be 0..1"):
        read_sthv2_labels(bad)
    bad.write_text('{"a": "0",\n "b": }')
    with pytest.raises(ValueError, match=f"{bad}:2: malformed JSON"):
        read_sthv2_labels(bad)


def test_sthv1_lists_and_bad_lines(tmp_path, clip):
    labels = tmp_path / "something-something-v1-labels.csv"
    labels.write_text("Holding something\nPushing something from left to right\n")
    train = tmp_path / "something-something-v1-train.csv"
    train.write_text("100218;Pushing something from left to right\n24;Holding something\n")
    classes = read_sthv1_labels(labels)
    assert read_sthv1_list(train, classes) == [("100218", 1, f"{train}:1"),
                                               ("24", 0, f"{train}:2")]
    shutil.copyfile(clip, tmp_path / "100218.mp4")
    shutil.copyfile(clip, tmp_path / "24.mp4")
    ds = SomethingSomething(tmp_path, "v1", "train", num_frames=2, short_side=None)
    assert ds.targets == [1, 0] and ds.classes == classes
    train.write_text("100218;Pushing something from left to right\n24;Juggling\n")
    with pytest.raises(ValueError, match=f"{train}:2: class 'Juggling' is not in the labels "
                                         r"file \(2 classes\)"):
        SomethingSomething(tmp_path, "v1", "train")
    train.write_text("100218 Pushing something from left to right\n")
    with pytest.raises(ValueError, match=f"{train}:1: .* is not '<numeric id>;<class name>'"):
        read_sthv1_list(train, classes)
    labels.write_text("Holding something\nHolding something\n")
    with pytest.raises(ValueError, match=f"{labels}:2: class 'Holding something' is listed "
                                         r"twice \(first as id 0\)"):
        read_sthv1_labels(labels)
    with pytest.raises(ValueError, match="version 'v3' is unknown; known: v1, v2"):
        SomethingSomething(tmp_path, "v3")


K400 = ("label,youtube_id,time_start,time_end,split\n"
        "abseiling,0347ZoDXyP0,14,24,train\n"
        "\"playing bass guitar\",--6bJUbfpnQ,17,27,train\n"
        "abseiling,0347ZoDXyP0,40,50,train\n")


def test_kinetics_lists_classes_and_files(tmp_path, clip):
    (tmp_path / "kinetics400_train.csv").write_text(K400)
    (tmp_path / "kinetics400_val.csv").write_text(
        "label,youtube_id,time_start,time_end,split\nplaying bass guitar,zz,1,11,val\n")
    rows = read_kinetics_csv(tmp_path / "kinetics400_train.csv")
    assert rows[1][:5] == ("playing bass guitar", "--6bJUbfpnQ", 17, 27, "train")
    assert rows[1].stem == "--6bJUbfpnQ_000017_000027"
    (tmp_path / "v" / "abseiling").mkdir(parents=True)
    for stem in ("0347ZoDXyP0_000014_000024", "0347ZoDXyP0_000040_000050",
                 "--6bJUbfpnQ_000017_000027"):
        shutil.copyfile(clip, tmp_path / "v" / "abseiling" / f"{stem}.mp4")
    shutil.copyfile(clip, tmp_path / "v" / "zz.mp4")  # found by the YouTube id alone
    train = Kinetics400(tmp_path / "v", "train", annotation_dir=tmp_path, num_frames=2,
                        short_side=None)
    assert train.classes == ["abseiling", "playing bass guitar"] and train.targets == [0, 1, 0]
    val = Kinetics400(tmp_path / "v", "val", annotation_dir=tmp_path, num_frames=2)
    assert val.classes == train.classes and val.targets == [1]
    assert train.origins[1] == f"{tmp_path / 'kinetics400_train.csv'}:3"


@pytest.mark.parametrize("line, match", [
    ("abseiling,x,24,14,train", "time_end 14 is not after time_start 24"),
    ("abseiling,x,a,14,train", "time_start 'a' / time_end '14' are not numbers"),
    (",x,1,2,test", "empty label or youtube_id"),
    ("abseiling,0347ZoDXyP0,14,24,train", r"clip '0347ZoDXyP0_000014_000024' is listed twice "
                                          r"\(first at .*:2\)"),
])
def test_kinetics_bad_lines_are_named_by_file_and_line(tmp_path, line, match):
    bad = tmp_path / "kinetics400_train.csv"
    bad.write_text(K400 + line + "\n")
    with pytest.raises(ValueError, match=f"{bad}:5: {match}"):
        Kinetics400(tmp_path, "train")
    bad.write_text("label,youtube_id,start,end\n")
    with pytest.raises(ValueError, match=r":1: header .* lacks column\(s\) \['time_start', "
                                         r"'time_end', 'split'\]"):
        read_kinetics_csv(bad)
    with pytest.raises(FileNotFoundError, match="no Kinetics-400 test list"):
        Kinetics400(tmp_path, "test")


def test_config_reaches_the_readers(tmp_path, clip):
    from tagnet.config import load_config
    from tagnet.data import build_dataset

    (tmp_path / "ann").mkdir()
    (tmp_path / "ann" / "something-something-v2-labels.json").write_text(json.dumps(V2_LABELS))
    (tmp_path / "ann" / "something-something-v2-validation.json").write_text(V2_TRAIN)
    for vid in ("78687", "42326"):
        shutil.copyfile(clip, tmp_path / f"{vid}.webm")
    cfg = load_config("atr_sthv2", [f"data.root={tmp_path}",
                                    f"data.annotation_dir={tmp_path / 'ann'}"])
    ds = build_dataset(cfg, cfg.data.test_split, train=False)
    assert isinstance(ds, SomethingSomething) and ds.targets == [1, 0]
    assert (ds.sampling, ds.train_sampling) == ("segment", False)
