"""Bad annotation lists fail up front with the file, the line and the value."""
import os
import re
import shutil

import pytest

from tagnet.config import load_config
from tagnet.datasets import CsvVideoDataset, FineGym, VideoFolderDataset, read_categories
from tagnet.datasets.csv_dataset import find_video_files
from tagnet.datasets.lists import check_disjoint, check_split_labels, split_overlaps
from tagnet.train.data import build_run_data

HEADER = "FileName,Class,TotalFrames,ClassEncoded\n"
IDS = [f"abcdefghij{k}_E_000010_000020_A_000{k}_000{k + 1}" for k in range(5)]


@pytest.fixture(scope="module")
def clip(tmp_path_factory, writer):
    return writer(tmp_path_factory.mktemp("clip") / "c.mkv", 4, size=(32, 24))


def _csv(tmp_path, clip, name, rows):
    """A released-format list; every listed video exists under ``tmp_path/v``."""
    for cls, _label, k in rows:
        dst = tmp_path / "v" / cls / f"{cls}_{k:03d}.mkv"
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(clip, dst)
    path = tmp_path / name
    path.write_text(HEADER + "".join(f"{c}_{k:03d}.mkv,{c},4,{y}\n" for c, y, k in rows))
    return path


def _line(path, n):
    return re.escape(f"{path}:{n}")


def test_csv_label_errors_name_file_line_and_value(tmp_path, clip):
    path = _csv(tmp_path, clip, "a.csv", [("x", 0, 0), ("y", 1, 1), ("z", -1, 2)])
    with pytest.raises(ValueError, match=_line(path, 4) + ": label -1 is outside"):
        CsvVideoDataset(path, tmp_path / "v")
    path = _csv(tmp_path, clip, "b.csv", [("x", 0, 0), ("y", 5, 1)])
    with pytest.raises(ValueError, match=_line(path, 3) + r": label 5 is outside the 2 classes"):
        CsvVideoDataset(path, tmp_path / "v", classes=["x", "y"])
    path = _csv(tmp_path, clip, "c.csv", [("x", 0, 0), ("y", 1, 1), ("x", 0, 0)])
    with pytest.raises(ValueError, match=_line(path, 4) + r": video 'x/x_000.mkv' is listed "
                       r"twice \(first at .*c.csv:2\)"):
        CsvVideoDataset(path, tmp_path / "v")
    (tmp_path / "empty.csv").write_text(HEADER)
    with pytest.raises(ValueError, match="empty.csv: the list holds no clips"):
        CsvVideoDataset(tmp_path / "empty.csv", tmp_path / "v")


def _gym(tmp_path, clip, train, val, categories=None):
    ann = tmp_path / "annotations"
    ann.mkdir(exist_ok=True)
    (ann / "gym99_train_element.txt").write_text("".join(f"{i} {y}\n" for i, y in train))
    (ann / "gym99_val_element.txt").write_text("".join(f"{i} {y}\n" for i, y in val))
    if categories:
        (ann / "gym99_categories.txt").write_text("".join(
            f"Clabel: {c:3d}; set: 1; Glabel: {c:3d}; class {c}\n" for c in range(categories)))
    for i in IDS:
        if not (tmp_path / "subactions" / f"{i}.mkv").exists():
            (tmp_path / "subactions").mkdir(exist_ok=True)
            shutil.copyfile(clip, tmp_path / "subactions" / f"{i}.mkv")
    return tmp_path


def test_finegym_duplicated_ids_negative_labels_and_empty_lists(tmp_path, clip):
    root = _gym(tmp_path, clip, [(IDS[0], 0), (IDS[1], 1)],
                [(IDS[2], 0), (IDS[3], 1), (IDS[2], 0)], categories=2)
    val = root / "annotations" / "gym99_val_element.txt"
    with pytest.raises(ValueError, match=_line(val, 3) + f": clip id '{IDS[2]}' is listed twice "
                       r"\(first at .*gym99_val_element.txt:1\)"):
        FineGym(root, "gym99", "val")
    val.write_text(f"{IDS[2]} 0\n{IDS[3]} -1\n")
    with pytest.raises(ValueError, match=_line(val, 2) + ": label -1 is outside the 2 classes"):
        FineGym(root, "gym99", "val")
    val.write_text(f"{IDS[2]} 0\n{IDS[3]} 7\n")
    with pytest.raises(ValueError, match=_line(val, 2) + ": label 7 is outside the 2 classes"):
        FineGym(root, "gym99", "val")
    val.write_text("\n")
    with pytest.raises(ValueError, match="gym99_val_element.txt: the list holds no clips"):
        FineGym(root, "gym99", "val")


def test_non_utf8_annotation_file_is_named(tmp_path, clip):
    root = _gym(tmp_path, clip, [(IDS[0], 0)], [(IDS[1], 0)], categories=1)
    cats = root / "annotations" / "gym99_categories.txt"
    cats.write_bytes(b"Clabel:   0; set: 1; Glabel:   1; caf\xe9\n")
    with pytest.raises(ValueError, match=_line(cats, 1) + r": not UTF-8 text \(byte 0xe9"):
        read_categories(cats)
    bad_csv = tmp_path / "latin1.csv"
    bad_csv.write_bytes(HEADER.encode() + b"x_000.mkv,x,4,0\nd\xe9j\xe0_001.mkv,x,4,0\n")
    with pytest.raises(ValueError, match=_line(bad_csv, 3) + ": not UTF-8"):
        CsvVideoDataset(bad_csv, tmp_path / "v")


def _run_cfg(tmp_path, train, test, **extra):
    return load_config(None, [
        "data.dataset=csv", f"data.root={tmp_path / 'v'}", f"data.train_list={train}",
        f"data.test_list={test}", "data.num_frames=2", "data.num_workers=0",
        "train.select_on=val", "train.allow_test_selection=true",  # val falls back on test
        *[f"{k}={v}" for k, v in extra.items()]])


def test_run_labels_checked_before_training(tmp_path, clip):
    train = _csv(tmp_path, clip, "train.csv", [("x", 0, 0), ("y", 1, 1), ("x", 0, 2)])
    good_test = _csv(tmp_path, clip, "test.csv", [("x", 0, 3), ("y", 1, 4)])
    data = build_run_data(_run_cfg(tmp_path, train, good_test))
    assert data.class_names == ["x", "y"] and data.test.classes == ["x", "y"]
    assert data.test.origins == [f"{good_test}:2", f"{good_test}:3"]

    # a test label above the training list's classes, though the test list alone is valid
    test = _csv(tmp_path, clip, "test2.csv", [("x", 0, 3), ("z", 2, 5)])
    with pytest.raises(ValueError, match=_line(test, 3) + ": label 2 is outside the 2 classes"):
        build_run_data(_run_cfg(tmp_path, train, test))

    # one training label far above the others must not grow the model to 10 outputs
    grown = _csv(tmp_path, clip, "train_grown.csv", [("x", 0, 0), ("y", 1, 1), ("w", 9, 6)])
    with pytest.raises(ValueError, match=_line(grown, 4) + r": the training list makes 10 "
                       r"classes \(largest label 9\), but 7 of them have no training clip"):
        build_run_data(_run_cfg(tmp_path, grown, good_test))


def test_a_clip_in_the_train_and_the_test_list_is_refused(tmp_path, clip):
    """Issue 26: a clip listed in both lists was not detected (tested on what it learned)."""
    train = _csv(tmp_path, clip, "train.csv", [("x", 0, 0), ("y", 1, 1), ("x", 0, 2)])
    test = _csv(tmp_path, clip, "test.csv", [("y", 1, 3), ("x", 0, 2)])
    with pytest.raises(ValueError) as exc:
        build_run_data(_run_cfg(tmp_path, train, test))
    assert str(exc.value) == (
        f"{test}:3: clip '{tmp_path / 'v' / 'x' / 'x_002.mkv'}' is in both the train split "
        f"({train}:4) and the val split; a clip in two splits is tested on what it was trained "
        "on (or selected on); remove it from one of the lists")


def test_split_overlaps_name_every_shared_clip_once():
    splits = {"train": [("a", "t:1"), ("b", "t:2"), ("c", "t:3")],
              "val": [("b", "v:1"), ("b", "v:2"), ("d", "v:3")],
              "test": [("c", "s:1"), ("b", "s:2")]}
    found = [m.split(";")[0] for m in split_overlaps(splits)]
    assert found == ["v:1: clip 'b' is in both train (t:2) and val",
                     "s:1: clip 'c' is in both train (t:3) and test",
                     "s:2: clip 'b' is in both train (t:2) and test"]
    check_disjoint({"train": splits["train"], "other": [("e", "o:1")]})
    with pytest.raises(ValueError, match=r"^v:1: clip 'b' .*\(3 clips are shared in all\); "
                                         "remove it from one of the lists$"):
        check_disjoint(splits)


def test_split_labels_absent_from_training():
    check_split_labels([0, 1, 1], ["t:1", "t:2", "t:3"], 2, {"val": ([1, 0], ["v:1", "v:2"])})
    with pytest.raises(ValueError, match="v:2: val label 2 is not a class of the training list"):
        check_split_labels([0, 1], ["t:1", "t:2"], 2, {"val": ([1, 2], ["v:1", "v:2"])})
    with pytest.raises(ValueError, match="t:2: the training list makes 3 classes"):
        check_split_labels([0, 2], ["t:1", "t:2"], 3)


def test_folder_listing_reports_symlink_loops(tmp_path, clip):
    root = tmp_path / "data"
    (root / "a" / "sub").mkdir(parents=True)
    (root / "b").mkdir()
    shutil.copyfile(clip, root / "a" / "0.mkv")
    shutil.copyfile(clip, root / "b" / "1.mkv")
    os.symlink("loop.mkv", root / "a" / "loop.mkv")  # points at itself
    os.symlink("gone.mkv", root / "b" / "dangling.mkv")
    os.symlink("../..", root / "a" / "sub" / "up")  # a folder loop: listed once, not forever
    found, bad = find_video_files(root)
    assert found == [str(root / "a" / "0.mkv"), str(root / "b" / "1.mkv")]
    assert bad == [(str(root / "a" / "loop.mkv"), "symlink loop"),
                   (str(root / "b" / "dangling.mkv"), "link to a missing file ('gone.mkv')")]
    with pytest.raises(FileNotFoundError, match=r"2 video link\(s\) cannot be read: .*loop.mkv"):
        VideoFolderDataset(root)
    ds = VideoFolderDataset(root, on_error="skip")
    assert ds.targets == [0, 1] and len(ds.skipped) == 2
    assert ds.skipped.reason(str(root / "a" / "loop.mkv")) == "symlink loop"
    (root / "c").mkdir()
    with pytest.raises(ValueError, match="video folder .*: the list holds no videos"):
        VideoFolderDataset(root / "b" / "..", on_error="skip", extensions=(".avi",))


def test_val_label_outside_training_classes_without_category_file(tmp_path, clip):
    """Without a category file each FineGym split numbers its own classes, so the val list
    alone is valid; the run (default selection on a holdout) must still refuse it."""
    root = _gym(tmp_path, clip, [(IDS[0], 0), (IDS[1], 1), (IDS[2], 1)],
                [(IDS[3], 0), (IDS[4], 2)])
    assert FineGym(root, "gym99", "val").classes == ["0", "1", "2"]
    cfg = load_config(None, ["data.dataset=finegym", "data.version=gym99", f"data.root={root}",
                             "data.num_frames=2", "data.num_workers=0"])
    val = root / "annotations" / "gym99_val_element.txt"
    with pytest.raises(ValueError, match=_line(val, 2) + ": val label 2 is not a class of the "
                       r"training list \(labels 0..1\)"):
        build_run_data(cfg)
