"""The convergence rule: literal histories against hand-worked verdicts, then the flag on
tiny runs (converged, cut off after one epoch, early stopping, resume)."""
import json
import math
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from toy_run import toy_config, toy_data  # noqa: E402

from tagnet.config import load_config  # noqa: E402
from tagnet.train.convergence import ConvergenceRule, EpochRecord, trivial_loss  # noqa: E402
from tagnet.train.optim import lr_factor  # noqa: E402
from tagnet.train.run import train  # noqa: E402
from tagnet.weights import load_checkpoint  # noqa: E402

LN8 = math.log(8)


def _history(scores, losses, factors=None):
    factors = factors or [1.0] * len(scores)
    rows = zip(scores, losses, factors, strict=True)
    return [EpochRecord(e + 1, s, l, f) for e, (s, l, f) in enumerate(rows)]


def _rule(window=3, tol=0.01, fit=0.2, higher=True, loss_tol=0.01):
    return ConvergenceRule(window, tol, fit, LN8, higher, loss_tol)


def test_a_plateau_after_learning_converges_at_the_first_flat_window():
    h = _history([0.1, 0.5, 0.9, 0.9, 0.905, 0.9, 0.9], [2.0, 1.2, 0.3, 0.3, 0.3, 0.3, 0.3])
    rule = _rule()
    # window of 3 epochs: after epoch 5 it is epochs 3-5, compared with the records of 1-2
    assert rule.window_start(h, 5) == 2
    assert [rule.holds(h, n) for n in range(1, 8)] == [False] * 5 + [True, True]
    assert rule.converged_since(h) == 6
    assert not _rule(tol=0.004).holds(h, 6)  # 0.905 - 0.9 is more than 0.004


def test_a_flat_selection_metric_with_a_falling_training_loss_has_not_converged():
    losses = [2.0, 1.2, 0.3, 0.2, 0.12, 0.07, 0.05]
    h = _history([0.1, 0.5, 0.9, 0.9, 0.9, 0.9, 0.9], losses)
    # after epoch 7 the window is epochs 5-7: the lowest loss fell from 0.2 to 0.05,
    # 0.15 > 0.01 x ln 8; with a tolerance of 0.1 x ln 8 = 0.208 it has settled
    assert not _rule().holds(h) and _rule(loss_tol=0.1).holds(h)
    assert _rule().converged_since(h) is None


def test_a_saddle_is_flat_but_not_converged():
    h = _history([0.125] * 10, [LN8 - 0.01] * 10)  # still predicting the class frequencies
    assert not any(_rule().holds(h, n) for n in range(1, 11))
    assert _rule().converged_since(h) is None
    # the same curve with a fitted training loss (a head at its ceiling) has converged
    fitted = _history([0.375] * 10, [0.5 * LN8] * 10)
    assert _rule().converged_since(fitted) == 4


def test_a_flat_annealed_tail_does_not_count_as_a_plateau():
    scores = [0.2, 0.4, 0.6, 0.9, 0.9, 0.9, 0.9]
    losses = [1.0] * 7
    tail = [1.0, 1.0, 1.0, 1.0, 0.5, 0.25, 0.25]  # lr factors: the last 3 epochs sum to 1
    # epochs 5-7 are flat, but they hold 1 lr-weighted epoch: the window reaches back to
    # epoch 3 (0.25 + 0.25 + 0.5 + 1 + 1 >= 3), and the score rose after epoch 2
    assert _rule().window_start(_history(scores, losses, tail)) == 2
    assert not _rule().holds(_history(scores, losses, tail))
    assert _rule().holds(_history(scores, losses))  # at a constant lr: converged


def test_a_lower_is_better_metric_and_a_new_best_after_convergence():
    rule = _rule(higher=False, tol=0.05)
    h = _history([2.0, 1.0, 0.6, 0.58, 0.59, 0.57, 0.3], [1.0] * 7)
    assert [rule.holds(h, n) for n in range(1, 8)] == [False] * 5 + [True, False]
    assert rule.converged_since(h) is None  # a real improvement at epoch 7
    nan = _history([math.nan] * 5, [0.1] * 5)  # no finite selection score
    assert not rule.holds(nan)


def test_trivial_loss_is_the_entropy_of_the_class_frequencies():
    assert trivial_loss(None, 8) == pytest.approx(LN8)
    assert trivial_loss([0, 1, 2, 3] * 3, 4) == pytest.approx(math.log(4))
    assert trivial_loss([0, 0, 0, 1], 2) == pytest.approx(-(0.75 * math.log(0.75)
                                                            + 0.25 * math.log(0.25)))


@pytest.mark.parametrize("item, message", [
    ("train.converge_window=0", "train.converge_window=0.0 is invalid: it must be a finite "
                                "number > 0"),
    ("train.converge_tol=-0.1", "train.converge_tol=-0.1 is invalid"),
    ("train.converge_fit=1", "train.converge_fit=1.0 is invalid: it must be a number in [0, 1)"),
    ("train.converge_loss_tol=-1", "train.converge_loss_tol=-1.0 is invalid: it must be a "
                                   "finite number >= 0"),
])
def test_bad_convergence_keys_name_the_key(item, message):
    with pytest.raises(ValueError) as exc:
        load_config(None, [item])
    assert str(exc.value).startswith(message)


def _epochs(run_dir):
    return [r for r in map(json.loads, open(Path(run_dir) / "log.jsonl"))
            if r["kind"] == "epoch"]


# a constant lr and no dropout: the toy head fits its 24 clips within a few epochs
TINY = ["model.kwargs.dropout=0.0", "train.scheduler=none", "train.converge_window=2",
        "train.converge_tol=0.0", "train.converge_loss_tol=0.25"]


@pytest.fixture(scope="module")
def converged_run(tmp_path_factory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("conv")
    result = train(toy_config(str(out), "train.epochs=8", *TINY), data=toy_data(),
                   evaluate_test=False)
    return out, result


def test_a_tiny_run_that_converges_records_it(converged_run):
    out, result = converged_run
    epochs = _epochs(out)
    assert result["converged"] is True and epochs[-1]["converged"] is True
    # the engine's verdict is the rule's, recomputed from the logged curves
    cfg = toy_config(str(out), *TINY).train
    rule = ConvergenceRule(cfg.converge_window, cfg.converge_tol, cfg.converge_fit,
                           math.log(3), True, cfg.converge_loss_tol)
    history = [EpochRecord(r["epoch"], r["val_top1"], r["train_loss"], r["lr"] / cfg.lr)
               for r in epochs]
    assert result["converged_epoch"] == rule.converged_since(history) is not None
    assert [r["converged"] for r in epochs] == [rule.holds(history, n)
                                                for n in range(1, len(history) + 1)]
    assert load_checkpoint(out / "last.pth")["history"] == [vars(h) for h in history]


def test_a_run_cut_off_after_one_epoch_has_not_converged(tmp_path):
    torch.set_num_threads(1)
    result = train(toy_config(str(tmp_path), "train.epochs=1", *TINY), data=toy_data())
    assert result["converged"] is False and result["converged_epoch"] is None
    assert _epochs(tmp_path)[-1]["converged"] is False
    test = json.loads((tmp_path / "test" / "metrics.json").read_text())
    assert test["converged"] is False and test["converged_epoch"] is None
    log = (tmp_path / "log.jsonl").read_text()
    assert "not converged after 1 epochs" in log


def test_early_stopping_ends_the_run_at_the_first_converged_epoch(tmp_path, converged_run):
    out, full = converged_run
    first = next(r["epoch"] for r in _epochs(out) if r["converged"])
    stopped = train(toy_config(str(tmp_path), "train.epochs=8", "train.early_stop=true", *TINY),
                    data=toy_data(), evaluate_test=False)
    epochs = _epochs(tmp_path)
    assert stopped["converged_epoch"] == epochs[-1]["epoch"] == first < 8
    # the schedule and the data are those of the 8-epoch run: a stopped run is its prefix
    assert [r["train_loss"] for r in epochs] == [r["train_loss"] for r in _epochs(out)][:first]
    assert load_checkpoint(tmp_path / "last.pth")["epoch"] == first
    # resuming a stopped run trains nothing more
    again = train(toy_config(str(tmp_path), "train.epochs=8", "train.early_stop=true", *TINY),
                  resume=tmp_path / "last.pth", data=toy_data(), evaluate_test=False)
    assert again["converged_epoch"] == first and len(_epochs(tmp_path)) == first


def test_the_schedule_of_a_stopped_run_is_that_of_its_budget():
    cfg = load_config(None, ["train.epochs=10", "train.lr=1.0", "train.early_stop=true"]).train
    full = load_config(None, ["train.epochs=10", "train.lr=1.0"]).train
    assert [lr_factor(e, cfg) for e in range(10)] == [lr_factor(e, full) for e in range(10)]
