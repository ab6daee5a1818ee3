"""A diverging run stops with an error naming the step; what it keeps is finite."""
import json
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from toy_run import toy_config, toy_data  # noqa: E402

from tagnet.models.factory import build_model  # noqa: E402
from tagnet.train.engine import NonFiniteError, Trainer  # noqa: E402
from tagnet.weights import load_checkpoint  # noqa: E402


class NaNAt(nn.Module):
    """The toy model, except that training forward calls number ``steps`` (1-based) give NaN
    logits, as a diverged network does."""

    def __init__(self, model: nn.Module, steps: set[int]):
        super().__init__()
        self.model, self.steps, self.calls = model, steps, 0

    def forward(self, x):
        out = self.model(x)
        if self.training:
            self.calls += 1
            if self.calls in self.steps:
                out = out * float("nan")
        return out


def _trainer(tmp_path, steps, *overrides):
    cfg = toy_config(str(tmp_path), "train.epochs=2", *overrides)
    data = toy_data()
    torch.manual_seed(0)
    model = NaNAt(build_model(cfg, 3), steps)
    return Trainer(cfg, model, data.train, data.select, data.class_names, run_dir=tmp_path)


def _records(run_dir, kind):
    lines = (Path(run_dir) / "log.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == kind]


def test_a_nan_loss_stops_naming_the_step_and_keeps_the_last_finite_checkpoints(tmp_path):
    trainer = _trainer(tmp_path, {9})  # 6 steps per epoch: epoch 2, step 3
    with pytest.raises(NonFiniteError) as exc:
        trainer.fit()
    msg = str(exc.value)
    assert msg.startswith("training diverged: the training loss is nan at step 9 (epoch 2, "
                          "step 3 of 6); stopped. last.pth and best.pth in ")
    assert "train.lr" in msg and "train.nonfinite_patience" in msg
    last, best = load_checkpoint(tmp_path / "last.pth"), load_checkpoint(tmp_path / "best.pth")
    assert last["epoch"] == 1 and last["step_in_epoch"] == 0  # the end of epoch 1
    assert [r["message"] for r in _records(tmp_path, "error")] == [msg]
    assert len(_records(tmp_path, "epoch")) == 1 and best["best"]["epoch"] == 1


def test_patience_skips_that_many_non_finite_steps_without_updating(tmp_path):
    skipped = _trainer(tmp_path / "a", {3, 4}, "train.nonfinite_patience=2", "train.epochs=1")
    seen = {}

    def keep(module, args):  # the weights that forward calls 3, 4 and 5 see
        if skipped.model.calls in (2, 3, 4):
            seen[skipped.model.calls + 1] = {k: v.detach().clone() for k, v in
                                             module.named_parameters()}

    skipped.model.model.register_forward_pre_hook(keep)
    result = skipped.fit()
    for k in seen[3]:  # steps 3 and 4 updated no weight
        assert torch.equal(seen[3][k], seen[4][k]) and torch.equal(seen[3][k], seen[5][k]), k
    assert result["last"]["epoch"] == 1
    assert sum("non-finite loss, update skipped" in r["message"]
               for r in _records(tmp_path / "a", "info")) == 2
    assert all(torch.isfinite(v).all() for v in skipped.model.state_dict().values()
               if v.is_floating_point())
    assert torch.isfinite(torch.tensor(result["last"]["train_loss"]))
    stops = _trainer(tmp_path / "b", {3, 4, 5}, "train.nonfinite_patience=2", "train.epochs=1")
    with pytest.raises(NonFiniteError, match="at step 5 "):
        stops.fit()


def test_non_finite_weights_are_never_saved_nor_selected(tmp_path):
    trainer = _trainer(tmp_path, set(), "train.epochs=1")
    with torch.no_grad():
        next(trainer.model.parameters()).fill_(float("inf"))
    with pytest.raises(NonFiniteError, match="the weights hold NaN or infinity"):
        trainer.save("last.pth")
    assert not (tmp_path / "last.pth").exists()
    nan_val = {"loss": float("nan"), "top1": 1.0}
    assert not trainer._is_better(nan_val)
    assert trainer._is_better({"loss": 1.0, "top1": 0.5})
