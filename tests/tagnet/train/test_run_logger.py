"""JSONL run logs, the optional TensorBoard writer, and rank-0-only writing."""
import json
import sys

import pytest

from tagnet.train.logger import RunLogger


def test_jsonl_records(tmp_path):
    log = RunLogger(tmp_path, echo=False)
    log.log("step", step=3, train_loss=0.5, epoch=0)
    log.info("hello", n=1)
    records = [json.loads(line) for line in open(tmp_path / "log.jsonl")]
    assert [r["kind"] for r in records] == ["step", "info"]
    assert records[0]["step"] == 3 and records[0]["train_loss"] == 0.5
    assert records[1]["message"] == "hello" and "time" in records[1]


def test_other_ranks_write_nothing(tmp_path):
    RunLogger(tmp_path / "r1", enabled=False).log("step", step=1, loss=1.0)
    assert not (tmp_path / "r1").exists()


def test_tensorboard_scalars(tmp_path):
    pytest.importorskip("tensorboard")  # in the test extra
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    log = RunLogger(tmp_path, tensorboard=True, echo=False)
    log.log("step", step=1, train_loss=0.75, epoch=0)
    log.log("epoch", step=2, train_loss=0.5, val_top1=0.25, val_split="holdout", best=True)
    log.info("not a scalar")
    log.close()
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    # numeric fields only (no strings, no bools), tagged kind/field, at the record's step
    assert sorted(events.Tags()["scalars"]) == ["epoch/train_loss", "epoch/val_top1",
                                                "step/epoch", "step/train_loss"]
    assert [(e.step, e.value) for e in events.Scalars("step/train_loss")] == [(1, 0.75)]
    assert [(e.step, e.value) for e in events.Scalars("epoch/val_top1")] == [(2, 0.25)]


def test_tensorboard_missing_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import raises
    with pytest.raises(RuntimeError, match="pip install tensorboard"):
        RunLogger(tmp_path, tensorboard=True)
