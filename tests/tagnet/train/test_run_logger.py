"""JSONL run logs, the optional TensorBoard writer, and rank-0-only writing."""
import importlib.util
import json

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


def test_tensorboard_writer_or_a_clear_error(tmp_path):
    if importlib.util.find_spec("tensorboard") is None:
        with pytest.raises(RuntimeError, match="pip install tensorboard"):
            RunLogger(tmp_path, tensorboard=True)
        return
    log = RunLogger(tmp_path, tensorboard=True)
    log.log("epoch", step=1, train_loss=0.5)
    log.close()
    assert any((tmp_path / "tb").glob("events.out.tfevents.*"))
