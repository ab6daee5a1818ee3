"""The one atomic-write helper: replace on success, previous file intact on failure."""
import os

import pytest

from tagnet.datasets.atomic import atomic_path, atomic_write


def test_atomic_write_replaces_and_leaves_no_temporary_file(tmp_path):
    path = atomic_write(tmp_path / "a.json", "old")
    atomic_write(path, b"new")
    assert path.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_a_failed_write_keeps_the_previous_file(tmp_path):
    path = atomic_write(tmp_path / "a.bin", b"previous")
    with pytest.raises(OSError, match="disk full"), atomic_path(path) as tmp:
        tmp.write_bytes(b"half")
        raise OSError(28, "disk full")
    assert path.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]


def test_a_writer_that_leaves_no_file_changes_nothing(tmp_path):
    path = atomic_write(tmp_path / "a.bin", b"previous")
    with atomic_path(path) as tmp:
        tmp.write_bytes(b"nothing worth keeping")
        tmp.unlink()
    assert path.read_bytes() == b"previous"


def test_the_file_is_fsynced_before_the_rename_and_the_folder_after(tmp_path, monkeypatch):
    import tagnet.datasets.atomic as atomic

    calls = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(atomic.os, "fsync", lambda fd: calls.append(("fsync", os.fstat(fd)
                        .st_mode >> 12)) or real_fsync(fd))
    monkeypatch.setattr(atomic.os, "replace", lambda a, b: calls.append(("replace",)) or
                        real_replace(a, b))
    atomic_write(tmp_path / "a", b"x")
    assert calls == [("fsync", 0o10), ("replace",), ("fsync", 0o4)]  # file, rename, folder


def test_the_cache_finesynth_checkpoints_and_records_use_it():
    """One helper instead of four hand-written copies."""
    from pathlib import Path

    import tagnet.datasets
    import tagnet.train

    data, train = Path(tagnet.datasets.__file__).parent, Path(tagnet.train.__file__).parent
    for path in (data / "cache.py", data / "finesynth.py", train / "experiment.py",
                 train / "checkpoint.py"):
        text, name = path.read_text(), path.name
        assert "atomic" in text and "os.replace" not in text and "os.fsync" not in text, name
