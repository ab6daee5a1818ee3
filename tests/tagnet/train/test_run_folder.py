"""Run folders: a finished run is never overwritten silently, and one process at a time
writes a folder (a lock naming its holder; stale locks of dead processes are taken over)."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from toy_run import toy_config, toy_data  # noqa: E402

from tagnet.cli import main  # noqa: E402
from tagnet.train.lock import LOCK_NAME, FolderLock, FolderLockedError  # noqa: E402
from tagnet.train.run import RunExistsError, train  # noqa: E402

TOY = str(Path(__file__).parent / "toy_run.py")


def _files(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_second_train_on_a_finished_folder_refuses_and_changes_nothing(tmp_path):
    cfg = toy_config(str(tmp_path), "train.epochs=1")
    train(cfg, data=toy_data(), evaluate_test=False)
    before = _files(tmp_path)
    with pytest.raises(RunExistsError) as exc:
        train(toy_config(str(tmp_path), "train.epochs=1"), data=toy_data())
    assert str(exc.value) == (
        f"'{tmp_path}' already holds a run (config.yaml, log.jsonl, last.pth, best.pth): "
        f"continue it with `tagnet train --resume {tmp_path}`, start it afresh with "
        "--overwrite (deletes its checkpoints, log and test results), or choose another "
        "output folder")
    assert _files(tmp_path) == before
    (tmp_path / "notes.txt").write_text("mine")
    train(toy_config(str(tmp_path), "train.epochs=1"), data=toy_data(), evaluate_test=False,
          overwrite=True)
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert sum(r["kind"] == "epoch" for r in log) == 1  # a fresh log, not appended to
    assert (tmp_path / "notes.txt").read_text() == "mine"  # only the run's files were deleted


def test_cli_refuses_before_writing_anything_and_a_typo_keeps_config_yaml(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("name: finished\n")
    (run / "last.pth").write_bytes(b"x")
    data = tmp_path / "data"
    base = ["train", "--config", "demo", "-o", str(run)]
    assert main([*base, f"data.root={data}"]) == 1
    err = capsys.readouterr().err
    assert f"'{run}' already holds a run (config.yaml, last.pth)" in err and "--overwrite" in err
    assert not data.exists()  # refused before generating the synthetic benchmark
    assert main(["train", f"data.root={data}", "train.lrr=1", *base[1:], "--overwrite"]) == 1
    assert "unknown key 'train.lrr'" in capsys.readouterr().err
    assert main(["train", "train.batch_size=0", *base[1:], "--overwrite"]) == 1
    assert "train.batch_size=0 is invalid: it must be an integer >= 1" in \
        capsys.readouterr().err
    assert (run / "config.yaml").read_text() == "name: finished\n"
    assert sorted(p.name for p in run.iterdir()) == ["config.yaml", "last.pth"]


def test_lock_names_the_holder_and_is_released(tmp_path):
    with FolderLock(tmp_path, command="tagnet train -o x"):
        holder = json.loads((tmp_path / LOCK_NAME).read_text())
        assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
        with pytest.raises(FolderLockedError) as exc:
            FolderLock(tmp_path).acquire()
        assert f"'{tmp_path}' is in use by pid {os.getpid()} on {socket.gethostname()}" in \
            str(exc.value) and "'tagnet train -o x'" in str(exc.value)
    assert not (tmp_path / LOCK_NAME).exists()
    with pytest.raises(KeyError), FolderLock(tmp_path):
        raise KeyError("a failing run")
    assert list(tmp_path.iterdir()) == []  # released on an exception too


def test_a_stale_lock_is_taken_over_with_a_message(tmp_path, capsys):
    pid = _dead_pid()
    (tmp_path / LOCK_NAME).write_text(json.dumps(
        {"pid": pid, "host": socket.gethostname(), "command": "tagnet train", "started": 0}))
    with FolderLock(tmp_path):
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()
    assert f"taking over the stale lock of {tmp_path} (process {pid}" in capsys.readouterr().err
    (tmp_path / LOCK_NAME).write_text(json.dumps(
        {"pid": 1, "host": "elsewhere", "command": "tagnet train", "started": 0}))
    with pytest.raises(FolderLockedError, match=f"delete {tmp_path / LOCK_NAME}"):
        FolderLock(tmp_path).acquire()  # another host: never taken over


def test_a_reused_pid_does_not_hold_the_lock(tmp_path):
    (tmp_path / LOCK_NAME).write_text(json.dumps(
        {"pid": os.getpid(), "host": socket.gethostname(), "command": "old", "started": 0,
         "proc_start": "1"}))  # our pid, but a process that started at another time
    if not Path(f"/proc/{os.getpid()}/stat").exists():
        pytest.skip("no /proc")
    with FolderLock(tmp_path):
        pass


def test_two_concurrent_trains_the_second_is_refused_then_resume_takes_over(tmp_path, capsys):
    run = tmp_path / "run"
    overrides = ["train.epochs=2", "train.save_every_steps=1"]
    proc = subprocess.Popen([sys.executable, TOY, str(run), "--delay", "0.05", *overrides],
                            env={**os.environ, "OMP_NUM_THREADS": "1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not (run / "last.pth").exists():
            assert proc.poll() is None
            time.sleep(0.02)
        for overwrite in (False, True):
            with pytest.raises(FolderLockedError) as exc:
                train(toy_config(str(run), *overrides), data=toy_data(), overwrite=overwrite)
            assert f"is in use by pid {proc.pid} on {socket.gethostname()}" in str(exc.value)
            assert "toy_run.py" in str(exc.value)
        assert main(["train", "--resume", str(run)]) == 1
        assert f"is in use by pid {proc.pid}" in capsys.readouterr().err
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert (run / LOCK_NAME).exists()  # SIGKILL leaves the lock behind
    result = train(toy_config(str(run), *overrides), resume=run / "last.pth", data=toy_data(),
                   evaluate_test=False)
    assert result["last"]["epoch"] == 2
    assert f"taking over the stale lock of {run} (process {proc.pid}" in \
        capsys.readouterr().err
    assert not (run / LOCK_NAME).exists()


def test_ablate_and_extract_lock_their_output_folders(tmp_path, capsys):
    out = tmp_path / "out"
    with FolderLock(out, command="another sweep"):
        assert main(["ablate", "--output", str(out), "--seeds", "0"]) == 1
        assert "'another sweep'" in capsys.readouterr().err
        assert main(["extract", "--backbone", "r2plus1d_tiny", "--dataset", "folder",
                     "--root", str(tmp_path), "--out", str(out)]) == 1
        assert "is in use by" in capsys.readouterr().err


def test_overwrite_deletes_only_what_a_run_wrote(tmp_path):
    """Issue 26: --overwrite removed test/ with a user's file in it."""
    cfg = toy_config(str(tmp_path), "train.epochs=1", "eval.batch_size=8")
    train(cfg, data=toy_data())
    assert (tmp_path / "test" / "metrics.json").is_file()
    (tmp_path / "test" / "my_notes.txt").write_text("mine")
    (tmp_path / "test" / "metrics.json.tmp").write_text("left by a killed run")
    train(toy_config(str(tmp_path), "train.epochs=1"), data=toy_data(), evaluate_test=False,
          overwrite=True)
    assert sorted(p.name for p in (tmp_path / "test").iterdir()) == ["my_notes.txt"]
    assert (tmp_path / "test" / "my_notes.txt").read_text() == "mine"
    train(toy_config(str(tmp_path), "train.epochs=1"), data=toy_data(), overwrite=True)
    assert (tmp_path / "test" / "metrics.json").is_file()  # the new run's report beside it


def test_overwrite_refuses_to_delete_its_own_inputs(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("name: mine\n")
    (run / "best.pth").write_bytes(b"weights")
    before = _files(run)
    assert main(["train", "--config", str(run / "config.yaml"), "-o", str(run),
                 "--overwrite"]) == 1
    err = capsys.readouterr().err
    assert f"the run's config.yaml '{run / 'config.yaml'}' is --config" in err
    assert main(["train", "--config", "demo", f"model.weights={run / 'best.pth'}", "-o",
                 str(run), "--overwrite"]) == 1
    assert f"the run's best.pth '{run / 'best.pth'}' is model.weights" in capsys.readouterr().err
    assert main(["train", "--resume", str(run), "--overwrite"]) == 1
    assert "give one of them" in capsys.readouterr().err
    assert _files(run) == before


def test_a_lock_file_tagnet_did_not_write_is_named_not_described(tmp_path):
    """Issue 26: garbage in .tagnet.lock read as 'pid None on None since 1970-01-01'."""
    for garbage in (b"\x00\xffgarbage", b'{"pid": "x"}', b""):
        (tmp_path / LOCK_NAME).write_bytes(garbage)
        with pytest.raises(FolderLockedError) as exc:
            FolderLock(tmp_path).acquire()
        message = str(exc.value)
        assert message.startswith(f"'{tmp_path}' has a lock file {tmp_path / LOCK_NAME} that "
                                  "tagnet did not write or cannot read (it holds ")
        assert message.endswith(f"delete {tmp_path / LOCK_NAME} and try again")
        assert "None" not in message and "1970" not in message
        assert (tmp_path / LOCK_NAME).read_bytes() == garbage  # never taken over
