"""Bad checkpoints and failed saves: one clear line each, the previous checkpoint intact."""
import subprocess
import sys
import textwrap

import pytest
import torch

from tagnet.train.checkpoint import (
    CheckpointWriteError,
    check_resumable,
    save_checkpoint,
)
from tagnet.weights import load_checkpoint


def _state(**entries):
    return {"model": {"w": torch.ones(2)}, "config": {}, "class_names": ["a"], "epoch": 0,
            **entries}


def _one_line(exc_info) -> str:
    text = str(exc_info.value)
    assert "\n" not in text
    return text


def test_empty_file(tmp_path):
    (tmp_path / "last.pth").touch()
    with pytest.raises(ValueError) as exc:
        load_checkpoint(tmp_path)
    assert f"'{tmp_path / 'last.pth'}' is empty (0 bytes)" in _one_line(exc)


def test_truncated_and_garbage_files(tmp_path):
    good = save_checkpoint(_state(), tmp_path / "good.pth").read_bytes()
    (tmp_path / "cut.pth").write_bytes(good[: len(good) // 2])
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint" * 10)
    with pytest.raises(ValueError) as exc:
        load_checkpoint(tmp_path / "cut.pth")
    assert "'" + str(tmp_path / "cut.pth") + "' is corrupt or truncated" in _one_line(exc)
    with pytest.raises(ValueError) as exc:
        load_checkpoint(tmp_path / "junk.pth")
    assert "is not a readable PyTorch file" in _one_line(exc)


class Payload:
    """Stands for any pickled object, e.g. one whose unpickling would run code."""


def test_a_pickled_object_is_refused_on_purpose_without_suggesting_weights_only_false(tmp_path):
    torch.save({**_state(), "format": "tagnet-checkpoint", "format_version": 1,
                "extra": Payload()}, tmp_path / "evil.pth")
    with pytest.raises(ValueError) as exc:
        load_checkpoint(tmp_path / "evil.pth")
    msg = _one_line(exc)
    assert "refuses it on purpose" in msg and "Payload" in msg
    assert "weights_only=False" not in msg and "weights_only` set to `False" not in msg


def test_missing_top_level_entries_are_named(tmp_path):
    state = _state()
    del state["model"], state["class_names"]
    save_checkpoint(state, tmp_path / "c.pth")
    with pytest.raises(ValueError) as exc:
        load_checkpoint(tmp_path / "c.pth")
    assert "lacks the entries model, class_names" in _one_line(exc)
    ok = load_checkpoint(save_checkpoint(_state(), tmp_path / "d.pth"))
    with pytest.raises(ValueError, match="cannot resume a run: it lacks optimizer, scheduler"):
        check_resumable(ok, tmp_path / "d.pth")


def test_non_finite_weights_are_refused(tmp_path):
    save_checkpoint(_state(model={"a": torch.ones(2), "b": torch.tensor([1.0, float("nan")]),
                                  "n": torch.tensor(3)}), tmp_path / "nan.pth")
    with pytest.raises(ValueError) as exc:
        load_checkpoint(tmp_path / "nan.pth")
    assert "holds non-finite weights (b)" in _one_line(exc)


def test_disk_full_names_the_path_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    import errno

    import tagnet.train.checkpoint as ckpt

    path = save_checkpoint(_state(epoch=1), tmp_path / "last.pth")

    def full(obj, f):
        f.write(b"PK\x03\x04 part")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ckpt.torch, "save", full)
    with pytest.raises(CheckpointWriteError) as exc:
        save_checkpoint(_state(epoch=2), path)
    assert _one_line(exc) == (f"cannot write checkpoint '{path}': no space left on device (free "
                              "some space, then resume the run); the previous checkpoint there "
                              "is intact")
    assert exc.value.errno == errno.ENOSPC and isinstance(exc.value, RuntimeError)
    assert load_checkpoint(path)["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pth"]


def test_a_file_size_limit_during_save_in_a_real_process(tmp_path):
    """RLIMIT_FSIZE makes the kernel refuse the write (EFBIG) part way through torch.save."""
    script = textwrap.dedent(f"""
        import resource, torch
        from tagnet.train.checkpoint import save_checkpoint
        state = {{"model": {{"w": torch.zeros(1000)}}, "config": {{}}, "class_names": ["a"],
                  "epoch": 1}}
        path = save_checkpoint(state, {str(tmp_path / 'last.pth')!r})
        resource.setrlimit(resource.RLIMIT_FSIZE, (path.stat().st_size + 100,) * 2)
        state["model"]["w"] = torch.zeros(100_000)
        save_checkpoint({{**state, "epoch": 2}}, path)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 1
    last = out.stderr.strip().splitlines()[-1]
    assert last == (f"tagnet.train.checkpoint.CheckpointWriteError: cannot write checkpoint "
                    f"'{tmp_path / 'last.pth'}': file too large: the file-size limit (ulimit "
                    "-f) was reached; the previous checkpoint there is intact")
    assert load_checkpoint(tmp_path / "last.pth")["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pth"]
