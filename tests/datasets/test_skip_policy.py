import shutil

import pytest
from torch.utils.data import DataLoader

from tagnet.datasets import SkipSummary, VideoDecodeError, VideoFolderDataset
from tagnet.datasets.base import VideoDataset


@pytest.fixture
def folder(tmp_path, writer):
    """Class folders a/ and b/ with good clips, one garbage 'a/2_bad.mkv' and one clip whose
    frames cannot be decoded 'b/5_broken.mkv'."""
    good = writer(tmp_path / "good.mkv", 6, size=(32, 24))
    root = tmp_path / "data"
    (root / "a").mkdir(parents=True)
    for name in ["0.mkv", "1.mkv", "3.mkv"]:
        shutil.copyfile(good, root / "a" / name)
    (root / "a" / "2_bad.mkv").write_bytes(b"\x1a\x45\xdf\xa3 definitely not matroska" * 20)
    (root / "b").mkdir()
    shutil.copyfile(good, root / "b" / "4.mkv")
    data = good.read_bytes()
    (root / "b" / "5_broken.mkv").write_bytes(data[:200])
    return root


def test_raise_policy(folder):
    ds = VideoFolderDataset(folder, num_frames=2, short_side=None)
    assert ds[0][1] == 0
    with pytest.raises(VideoDecodeError, match="2_bad.mkv"):
        ds[2]


def test_skip_replaces_deterministically_and_reports(folder, caplog):
    caplog.set_level("WARNING", logger="tagnet.datasets")
    ds = VideoFolderDataset(folder, num_frames=2, short_side=None, on_error="skip")
    names = [p.split("/")[-1] for p, _ in ds.samples]
    assert names == ["0.mkv", "1.mkv", "2_bad.mkv", "3.mkv", "4.mkv", "5_broken.mkv"]
    _, label, meta = ds[2]
    assert meta["index"] == 3 and meta["path"].endswith("3.mkv") and label == 0
    assert meta["skipped"].startswith(str(folder / "a" / "2_bad.mkv") + "\t")
    again = ds[2]  # served the same way, without decoding the bad file again
    assert again[2]["index"] == 3 and again[2]["skipped"] == meta["skipped"]
    _, label, meta = ds[5]  # the last sample wraps around to the first
    assert meta["index"] == 0 and "5_broken.mkv" in meta["skipped"]
    assert len(ds.skipped) == 2 and ds.skipped.counts()["undecodable"] == 2
    warnings = [r for r in caplog.records if "skipping video" in r.message]
    assert len(warnings) == 2  # one line per bad file, however often it is hit
    text = str(ds.skipped)
    assert text.startswith("2 files skipped (2 undecodable)") and "2_bad.mkv" in text


def test_skip_summary_collected_from_dataloader_workers(folder):
    ds = VideoFolderDataset(folder, num_frames=2, short_side=None, on_error="skip")
    loader = DataLoader(ds, batch_size=3, num_workers=2, collate_fn=lambda b: b)
    merged = SkipSummary()
    served = []
    for batch in loader:
        for _, _, meta in batch:
            merged.update_from_meta(meta)
            served.append(meta["index"])
    assert served == [0, 1, 3, 3, 4, 0]  # same replacements as in the main process
    assert len(ds.skipped) == 0  # workers hold their own copies ...
    assert {p.split("/")[-1] for p, _ in merged.items()} == {"2_bad.mkv", "5_broken.mkv"}


def test_too_many_failures(tmp_path):
    bad = tmp_path / "x.mkv"
    bad.write_bytes(b"junk")
    ds = VideoDataset([(bad, 0)] * 3, ["x"], on_error="skip", max_replacements=2)
    with pytest.raises(RuntimeError, match="3 consecutive samples"):
        ds[0]
    with pytest.raises(ValueError, match="raise, skip"):
        VideoDataset([], ["x"], on_error="ignore")


def test_collated_meta_merge():
    s = SkipSummary()
    s.update_from_meta(
        {"skipped": ["a.mp4\tmissing", "", "b.mp4\tno decodable frames\nc.mp4\tcannot open: x"]}
    )
    assert [p for p, _ in s.items()] == ["a.mp4", "b.mp4", "c.mp4"]
    assert s.counts() == {"missing": 1, "undecodable": 2}
    assert "a.mp4" in s and s.reason("c.mp4") == "cannot open: x"
