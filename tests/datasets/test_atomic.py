"""The one atomic-write helper: replace on success, previous file intact on failure."""
import os

import pytest

from tagnet.datasets.atomic import (
    atomic_open,
    atomic_path,
    atomic_write,
    check_output_folder,
    check_outputs,
    same_file,
    temporary_name,
)


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


def test_every_command_output_goes_through_it():
    """Issue 26: eval reports, predictions, window tables, config.yaml, ablation tables,
    exports and prepared clips were written directly; no writer of theirs is left."""
    import re
    from pathlib import Path

    import tagnet
    import tagnet.datasets

    pkg, data = Path(tagnet.__file__).parent, Path(tagnet.datasets.__file__).parent
    direct = re.compile(r"\.write_text\(|\.write_bytes\(|os\.replace|(?<![\w.])open\([^)]*[\"']w|"
                        r"savefig\((?!tmp)")
    files = [pkg / "eval" / n for n in ("report.py", "plots.py", "windows.py", "evaluate.py",
                                        "tsne.py")]
    files += [pkg / "commands" / n for n in ("predict.py", "eval.py", "export.py", "ablate.py",
                                             "extract.py", "train.py", "topology.py",
                                             "prepare.py")]
    files += [pkg / "config.py", data / "prepare_finegym.py"]
    for path in files:
        found = direct.findall(path.read_text())
        assert not found, f"{path.name} writes directly: {found}"


def test_keep_suffix_csv_writer_and_the_name_in_errors(tmp_path):
    assert temporary_name(tmp_path / "a.png").name == "a.png.tmp"
    assert temporary_name(tmp_path / "a.png", keep_suffix=True).name == "a.tmp.png"
    with atomic_path(tmp_path / "fig.png", keep_suffix=True) as tmp:
        assert tmp.name == "fig.tmp.png"
        tmp.write_bytes(b"png")
    assert (tmp_path / "fig.png").read_bytes() == b"png"

    import csv

    path = tmp_path / "t.csv"
    with atomic_open(path, newline="") as f:
        csv.writer(f).writerows([["a", "é"], ["1", "2"]])
    assert path.read_bytes() == "a,é\r\n1,2\r\n".encode()
    with pytest.raises(OSError) as exc, atomic_open(path, newline="") as f:
        f.write("half,")
        raise OSError(28, "No space left on device", f.name)
    assert exc.value.filename == str(path)  # the user's file, not the temporary name
    assert path.read_bytes() == "a,é\r\n1,2\r\n".encode()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.png", "t.csv"]
    with pytest.raises(ValueError, match="writes whole files"):
        with atomic_open(path, "a"):
            pass


def test_check_outputs_refuses_inputs_links_folders_and_twins(tmp_path):
    video = tmp_path / "x.mp4"
    video.write_bytes(b"video")
    os.link(video, tmp_path / "hard.mp4")
    os.symlink(video, tmp_path / "soft.mp4")
    (tmp_path / "dir").mkdir()
    assert same_file(video, tmp_path / "hard.mp4") and same_file(video, tmp_path / "soft.mp4")
    assert same_file(tmp_path / "dir" / ".." / "x.mp4", video)
    assert not same_file(video, tmp_path / "new.json")
    check_outputs({"--json": tmp_path / "new.json", "--annotate": tmp_path / "a.mp4"},
                  {"the input video": video, "--config": None})
    for out, message in [
        (video, f"--json '{video}' is the input video: writing it would destroy that input; "
                "choose another name"),
        (tmp_path / "hard.mp4", f"--json '{tmp_path / 'hard.mp4'}' is the input video '{video}'"),
        (tmp_path / "soft.mp4", f"--json '{tmp_path / 'soft.mp4'}' is the input video '{video}'"),
        (tmp_path / "dir", f"--json '{tmp_path / 'dir'}' is a folder; give a file name"),
        (video / "p.json", f"--json '{video / 'p.json'}': '{video}' is a file, not a folder"),
    ]:
        with pytest.raises(ValueError) as exc:
            check_outputs({"--json": out}, [("the input video", video)])
        assert str(exc.value).startswith(message), str(exc.value)
    with pytest.raises(ValueError, match="--json and --annotate both write"):
        check_outputs([("--json", tmp_path / "o"), ("--annotate", tmp_path / "." / "o")])
    assert check_output_folder("-o", tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    with pytest.raises(ValueError, match=f"-o '{video}' is a file, not a folder"):
        check_output_folder("-o", video)
    with pytest.raises(ValueError, match=f"lies under '{video}', a file"):
        check_output_folder("-o", video / "sub")
