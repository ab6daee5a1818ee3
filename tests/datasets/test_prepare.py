"""`tagnet prepare`: FineGym clips trimmed from generated long videos, HAA500 layout checks."""
from __future__ import annotations

import json
import math
import os

import av
import pytest
from conftest import code_frame, read_code, write_video

from tagnet.cli import main
from tagnet.datasets import FineGym
from tagnet.datasets import prepare_finegym as pf
from tagnet.datasets.prepare_finegym import ClipSpec, prepare_finegym, read_annotations
from tagnet.datasets.prepare_haa500 import check_haa500

RATE = 25
GOP = {"g": "25", "keyint_min": "25", "sc_threshold": "0", "crf": "18"}  # a keyframe per second

ANN = {
    "vid-A_1": {  # YouTube ids hold '-' and '_'
        "E_000002_000008": {
            "event": 1, "timestamps": [[2.0, 8.0]],
            "segments": {
                "A_0001_0003": {"stages": 2, "timestamps": [[1.0, 2.0], [2.5, 3.0]]},
                "A_0004_0005": {"stages": 1, "timestamps": [[4.02, 5.3]]},
                "A_0000_0001": {"stages": 1},                       # no timestamps
            },
        },
        "E_000009_000010": {"event": 2},                            # no timestamps
        "E_9_10": {"timestamps": [[9.0, 10.0]]},                    # malformed id
    },
    "bframes": {
        "E_000001_000004": {
            "timestamps": [[1.0, 4.0]],
            "segments": {"A_0000_0001": {"timestamps": [[0.5, 1.5]]}},
        },
    },
    "gone": {"E_000001_000002": {"timestamps": [[1.0, 2.0]], "segments": {
        "A_0000_0001": {"timestamps": [[0.0, 1.0]]}}}},
    "junk": {"E_000001_000002": {"timestamps": [[1.0, 2.0]]}},
}

# id -> (start s, end s, stream-copied?); every clip the annotation describes correctly
EXPECTED = {
    "vid-A_1_E_000002_000008": (2.0, 8.0, True),
    "vid-A_1_E_000002_000008_A_0001_0003": (3.0, 5.0, True),
    "vid-A_1_E_000002_000008_A_0004_0005": (6.02, 7.3, False),
    "bframes_E_000001_000004": (1.0, 4.0, False),
    "bframes_E_000001_000004_A_0000_0001": (1.5, 2.5, False),
}


def _frames(start: float, end: float) -> int:
    return math.ceil(end * RATE - 1e-9) - math.ceil(start * RATE - 1e-9)


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    root = tmp_path_factory.mktemp("finegym_raw")
    videos = root / "videos"
    (videos / "sub").mkdir(parents=True)
    frames = [code_frame(i % 128) for i in range(300)]  # 12 s
    write_video(videos / "vid-A_1.mp4", codec="libx264", options=GOP, bframes=0, frames=frames)
    write_video(videos / "sub" / "bframes.mp4", codec="libx264", options={"g": "50"},
                bframes=2, frames=frames[:150])
    (videos / "junk.mp4").write_bytes(b"\x00not a video" * 100)
    ann = root / "finegym_annotation_info_v1.1.json"
    ann.write_text(json.dumps(ANN))
    return videos, ann


def _decoded_codes(path):
    with av.open(str(path)) as c:
        return [read_code(f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]


def test_read_annotations_reports_bad_entries_and_keeps_the_rest(raw):
    clips, problems = read_annotations(raw[1])
    ids = {c.id for c in clips}
    assert ids == set(EXPECTED) | {"gone_E_000001_000002", "gone_E_000001_000002_A_0000_0001",
                                   "junk_E_000001_000002"}
    assert len(problems) == 3
    assert any("['E_000002_000008']" in p and "['A_0000_0001']" in p and "no \"timestamps\""
               in p for p in problems)
    assert any("['E_000009_000010']: no \"timestamps\"" in p for p in problems)
    assert any("'E_9_10'" in p and "not E_<%06d>_<%06d>" in p for p in problems)
    el = next(c for c in clips if c.id == "vid-A_1_E_000002_000008_A_0001_0003")
    assert (el.kind, el.youtube_id, el.start, el.end) == ("element", "vid-A_1", 3.0, 5.0)


def test_prepare_finegym_ids_frames_resume_and_report(raw, tmp_path):
    videos, ann = raw
    out = tmp_path / "finegym"
    (out / "events").mkdir(parents=True)
    stale = out / "events" / ".vid-A_1_E_000002_000008.mp4.part"  # left by a killed run
    stale.write_bytes(b"half a clip")
    report = prepare_finegym(videos, ann, out, workers=2, progress=False)
    assert not stale.exists()
    assert set(report.written) == set(EXPECTED)
    for cid, (start, end, copied) in EXPECTED.items():
        sub = "subactions" if "_A_" in cid else "events"
        codes = _decoded_codes(out / sub / f"{cid}.mp4")
        first = math.ceil(start * RATE - 1e-9)
        assert len(codes) == _frames(start, end) == report.written[cid]["frames"], cid
        assert codes == [(first + i) % 128 for i in range(len(codes))], cid
        assert report.written[cid]["method"] == ("copy" if copied else "reencode"), cid
    assert report.missing_sources == {"gone": 2}
    assert list(report.unreadable_sources) == ["junk"]
    assert len(report.bad_annotations) == 3 and not report.failed and not report.ok
    saved = json.loads((out / "prepare_report.json").read_text())
    assert saved["missing_sources"] == {"gone": 2} and saved["clips"] == 8
    assert not list(out.rglob("*.part"))

    # a resumed run skips every finished clip and rewrites nothing
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.mp4")}
    again = prepare_finegym(videos, ann, out, workers=0, progress=False)
    assert again.written == {} and again.skipped == len(EXPECTED)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.mp4")} == stamps
    # a clip removed (or never finished) is the only one made again
    (out / "subactions" / "bframes_E_000001_000004_A_0000_0001.mp4").unlink()
    third = prepare_finegym(videos, ann, out, workers=0, progress=False)
    assert list(third.written) == ["bframes_E_000001_000004_A_0000_0001"]

    # FineGym reads the trimmed elements by id
    ann_dir = out / "annotations"
    ann_dir.mkdir()
    (ann_dir / "gym99_train_element_v1.1.txt").write_text(
        "vid-A_1_E_000002_000008_A_0001_0003 0\nbframes_E_000001_000004_A_0000_0001 1\n")
    ds = FineGym(out, "gym99", "train", num_frames=4)
    assert ds.ids == ["vid-A_1_E_000002_000008_A_0001_0003", "bframes_E_000001_000004_A_0000_0001"]
    assert len(ds) == 2 and ds[0][0].shape[0] == 4


def test_a_failed_clip_leaves_no_file_and_the_rest_is_made(raw, tmp_path, monkeypatch):
    def dies_half_way(src, spec, tmp, crf, preset):
        tmp.write_bytes(b"partial")
        raise ValueError("encoder died")

    monkeypatch.setattr(pf, "_reencode", dies_half_way)
    out = tmp_path / "out"
    report = prepare_finegym(raw[0], raw[1], out, kinds=("element",), workers=0,
                             progress=False)
    assert report.failed == {"vid-A_1_E_000002_000008_A_0004_0005": "encoder died",
                             "bframes_E_000001_000004_A_0000_0001": "encoder died"}
    assert list(report.written) == ["vid-A_1_E_000002_000008_A_0001_0003"]  # copied
    assert sorted(p.name for p in (out / "subactions").iterdir()) == [
        "vid-A_1_E_000002_000008_A_0001_0003.mp4"]


def test_clip_past_the_end_and_after_the_end(raw, tmp_path):
    src = raw[0] / "vid-A_1.mp4"
    r = pf.trim_clip(src, ClipSpec("event", "x_E_000011_000014", "x", 11.5, 14.0), tmp_path)
    assert r["frames"] == 300 - 288  # cut at the last frame
    with pytest.raises(ValueError, match=r"no frames between 20.00 s and 21.00 s"):
        pf.trim_clip(src, ClipSpec("event", "x_E_000020_000021", "x", 20.0, 21.0), tmp_path)
    assert [p.name for p in tmp_path.rglob("*.mp4")] == ["x_E_000011_000014.mp4"]
    assert not list(tmp_path.rglob("*.part"))


def test_prepare_command_only_split_files(raw, tmp_path, capsys):
    split = tmp_path / "gym99_val_element.txt"
    split.write_text("vid-A_1_E_000002_000008_A_0004_0005 3\nnot_in_json_E_000001_000002_A_0000"
                     "_0001 4\n")
    out = tmp_path / "out"
    code = main(["prepare", "finegym", "--videos", str(raw[0]), "--annotations", str(raw[1]),
                 "--out", str(out), "--only", str(split), "--workers", "0", "--quiet"])
    text = capsys.readouterr().out
    assert code == 1  # the annotation problems and the id missing from the JSON
    assert "wrote 2 clips (1 stream-copied, 1 re-encoded)" in text
    assert "not_in_json_E_000001_000002_A_0000_0001: listed but not in" in text
    assert sorted(p.name for p in out.rglob("*.mp4")) == [
        "vid-A_1_E_000002_000008.mp4", "vid-A_1_E_000002_000008_A_0004_0005.mp4"]


def _haa(root, classes, clips=range(20)):
    for name in classes:
        d = root / "haa500_v1_1" / "video" / name
        d.mkdir(parents=True)
        for n in clips:
            (d / f"{name}_{n:03d}.mp4").write_bytes(b"x")
    return root / "haa500_v1_1" / "video"


def test_haa500_check_reports_each_problem(tmp_path, monkeypatch):
    monkeypatch.setattr("tagnet.datasets.prepare_haa500.NUM_CLASSES", 3)
    video = _haa(tmp_path, ["CPR", "blowing kisses", "play_ otamatone"])
    report = check_haa500(tmp_path)
    assert report.ok and report.clips == {"train": 48, "val": 3, "test": 9, "trainval": 51,
                                          "all": 60}
    (video / "CPR" / "CPR_019.mp4").unlink()
    (video / "CPR" / "CPR_020.mp4").write_bytes(b"x")
    (video / "blowing kisses" / "blowing kisses_003.mp4").write_bytes(b"")
    (video / "blowing kisses" / "blowing kisses_003.avi").write_bytes(b"x")
    os.rename(video / "play_ otamatone" / "play_ otamatone_005.mp4",
              video / "play_ otamatone" / "otamatone_005.mp4")
    (video / "play_ otamatone" / "notes.txt").write_text("hi")
    problems = check_haa500(tmp_path).problems
    assert problems == [
        "CPR/CPR_020.mp4: clip number 20 outside 000..019",
        "CPR: clips 019 missing",
        "blowing kisses/blowing kisses_003.mp4: clip number 003 also in "
        "'blowing kisses_003.avi'",
        "play_ otamatone/notes.txt: not a video file",
        "play_ otamatone/otamatone_005.mp4: expected 'play_ otamatone_<NNN>.mp4'",
        "play_ otamatone: clips 005 missing",
    ]


def test_haa500_command_counts_classes_and_decodes(tmp_path, capsys):
    video = _haa(tmp_path, ["CPR"], clips=[0])
    write_video(video / "CPR" / "CPR_001.mp4", 8)
    code = main(["prepare", "haa500", "--root", str(tmp_path), "--decode", "--quiet"])
    out = capsys.readouterr().out
    assert code == 1
    assert "1 class folders in" in out and "expected 500" in out
    assert "CPR/CPR_000.mp4: unreadable" in out and "CPR/CPR_001.mp4" not in out
    assert "CPR: clips 002, 003" in out
    assert main(["prepare", "haa500", "--root", str(tmp_path / "nothing")]) == 1
    assert "no class folders" in capsys.readouterr().out


def test_clips_that_do_not_fit_are_reported_and_skipped(raw, tmp_path):
    """Issue 26: an element ending past the video was cut short silently; one ending after
    its event was not flagged."""
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps({"vid-A_1": {
        "E_000002_000008": {"timestamps": [[2.0, 8.0]], "segments": {
            "A_0001_0002": {"timestamps": [[1.0, 2.0]]},               # 3-4 s: fits
            "A_0005_0007": {"timestamps": [[5.0, 7.0]]}}},             # 7-9 s: after 8 s
        "E_000010_000014": {"timestamps": [[10.0, 14.0]]}}}))          # the video lasts 12 s
    out = tmp_path / "out"
    report = prepare_finegym(raw[0], ann, out, workers=0, progress=False)
    assert report.out_of_bounds == {
        "vid-A_1_E_000002_000008_A_0005_0007": "ends at 9.00 s, after its event (2.00-8.00 s)",
        "vid-A_1_E_000010_000014": "ends at 14.00 s, past the end of its video (12.00 s)"}
    assert sorted(report.written) == ["vid-A_1_E_000002_000008",
                                      "vid-A_1_E_000002_000008_A_0001_0002"]
    assert report.ok  # listed, not failures
    text = report.summary()
    assert "2 clips do not fit their video or event, skipped; --keep-out-of-bounds" in text
    assert "vid-A_1_E_000010_000014: ends at 14.00 s, past the end of its video" in text
    saved = json.loads((out / "prepare_report.json").read_text())
    assert saved["out_of_bounds"] == report.out_of_bounds
    kept = prepare_finegym(raw[0], ann, out, workers=0, progress=False, keep_out_of_bounds=True)
    assert sorted(kept.written) == sorted(report.out_of_bounds)  # cut anyway, reported again
    assert kept.out_of_bounds == report.out_of_bounds
    assert kept.written["vid-A_1_E_000010_000014"]["frames"] == 300 - 250  # up to the end


def test_an_element_in_two_split_files_is_reported(raw, tmp_path, capsys):
    train = tmp_path / "gym99_train_element_v1.1.txt"
    val = tmp_path / "gym99_val_element.txt"
    train.write_text("vid-A_1_E_000002_000008_A_0001_0003 0\n"
                     "vid-A_1_E_000002_000008_A_0004_0005 3\n")
    val.write_text("vid-A_1_E_000002_000008_A_0004_0005 3\n")
    code = main(["prepare", "finegym", "--videos", str(raw[0]), "--annotations", str(raw[1]),
                 "--out", str(tmp_path / "out"), "--only", str(train), str(val), "--kinds",
                 "event", "--workers", "0", "--quiet"])
    text = capsys.readouterr().out
    assert code == 1
    assert (f"annotation: {val}:1: clip 'vid-A_1_E_000002_000008_A_0004_0005' is in both "
            f"{train} ({train}:2) and {val}") in text
