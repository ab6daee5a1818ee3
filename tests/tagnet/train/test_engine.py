"""The training engine: learning, accumulation, kill-and-resume, DDP on 2 CPU processes."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from toy_run import ToyClips, kill_mid_epoch_and_resume, main, toy_config, toy_data  # noqa: E402

from tagnet.models.factory import build_model  # noqa: E402
from tagnet.train.engine import Trainer  # noqa: E402
from tagnet.train.run import train  # noqa: E402
from tagnet.weights import load_checkpoint  # noqa: E402

TOY = str(Path(__file__).parent / "toy_run.py")


def _env():
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


def _epochs(run_dir):
    with open(Path(run_dir) / "log.jsonl") as f:
        return [r for r in map(json.loads, f) if r["kind"] == "epoch"]


@pytest.fixture
def same_settings_as_subprocess():
    """In-process reference runs use the subprocesses' settings (1 thread); restored after."""
    threads, det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    yield
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(det)


def _assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_short_run_lowers_the_loss(tmp_path):
    cfg = toy_config(str(tmp_path), "train.epochs=4", "model.kwargs.dropout=0.0")
    result = train(cfg, data=toy_data())
    epochs = _epochs(tmp_path)
    assert len(epochs) == 4
    assert epochs[-1]["train_loss"] < 0.8 * epochs[0]["train_loss"]
    assert result["best"]["metric"] == "top1" and result["best"]["epoch"] >= 1
    for name in ("config.yaml", "last.pth", "best.pth", "test/metrics.json",
                 "test/per_class.csv", "test/predictions.csv", "test/confusion.png"):
        assert (tmp_path / name).is_file(), name
    ckpt = load_checkpoint(tmp_path / "last.pth")
    assert ckpt["epoch"] == 4 and ckpt["class_names"] == ["left", "right", "still"]
    assert ckpt["config"]["train"]["epochs"] == 4 and "torch" in ckpt["versions"]


def test_grad_accumulation_equals_a_larger_batch(tmp_path):
    """2 accumulated batches of 2 == one batch of 4 (no dropout, frozen BN statistics)."""
    data = toy_data()
    weights = []
    for i, extra in enumerate((["train.batch_size=4"],
                               ["train.batch_size=2", "train.grad_accum=2"])):
        cfg = toy_config(str(tmp_path / str(i)), "model.kwargs.dropout=0.0", "model.freeze=bn",
                         "train.optimizer=sgd", "train.lr=0.05",
                         "train.epochs=1", *extra)
        torch.manual_seed(0)
        model = build_model(cfg, 3)
        trainer = Trainer(cfg, model, data.train, None, data.class_names,
                          run_dir=tmp_path / str(i))
        trainer.fit()
        weights.append(model.state_dict())
    for k in weights[0]:
        torch.testing.assert_close(weights[0][k], weights[1][k], rtol=1e-5, atol=1e-6)


class _FixedLogits(torch.nn.Module):
    """Ignores the clip: the same logits for every input."""

    def __init__(self, logits):
        super().__init__()
        self.logits = torch.nn.Parameter(torch.tensor(logits, dtype=torch.float32))

    def forward(self, x):
        return self.logits.expand(len(x), -1)


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.3])
def test_train_loss_is_label_smoothed_cross_entropy(tmp_path, eps):
    """Closed form: (1 - eps) * -log p_y + eps * mean_c -log p_c; lr 1e-30 keeps the logits."""
    data = toy_data()  # 24 clips, labels 0, 1, 2 in turn
    cfg = toy_config(str(tmp_path), "train.optimizer=sgd", "train.lr=1e-30", "train.epochs=1",
                     f"train.label_smoothing={eps}")
    logits = [2.0, 0.0, -1.0]
    trainer = Trainer(cfg, _FixedLogits(logits), data.train, None, data.class_names,
                      run_dir=tmp_path)
    last = trainer.fit()["last"]
    nll = -torch.log_softmax(torch.tensor(logits, dtype=torch.float64), 0)
    expected = ((1 - eps) * nll + eps * nll.mean()).mean().item()  # classes equally frequent
    assert last["train_loss"] == pytest.approx(expected, rel=1e-6)
    assert last["train_top1"] == pytest.approx(1 / 3)  # always class 0


def test_resume_after_kill_mid_epoch_is_bit_identical(tmp_path, same_settings_as_subprocess):
    overrides = ["train.epochs=2", "train.save_every_steps=1"]
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    main([str(ref), *overrides])  # the uninterrupted run
    b = kill_mid_epoch_and_resume(killed, overrides, epoch=1)
    a = load_checkpoint(ref / "last.pth")
    _assert_same_weights(a["model"], b["model"])
    assert a["optimizer"]["state"][0]["exp_avg"].equal(b["optimizer"]["state"][0]["exp_avg"])
    assert _epochs(ref)[-1]["train_loss"] == _epochs(killed)[-1]["train_loss"]
    assert _epochs(ref)[-1]["val_top1"] == _epochs(killed)[-1]["val_top1"]
    assert a["history"] == b["history"] and len(a["history"]) == 2  # the convergence curves


@pytest.mark.skipif(not torch.distributed.is_available(), reason="no torch.distributed")
def test_ddp_two_processes_match_single_process(tmp_path, same_settings_as_subprocess):
    # SGD keeps the float rounding differences of summing gradients in another order tiny
    # (Adam divides by the gradients' own scale and can magnify them on near-zero entries).
    common = ["train.epochs=2", "model.kwargs.dropout=0.0", "model.freeze=bn",
              "train.optimizer=sgd", "train.lr=0.05"]
    single, ddp = tmp_path / "single", tmp_path / "ddp"
    main([str(single), "--dump-rank-weights", "train.batch_size=4", *common])
    out = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                          "--nproc_per_node", "2", TOY, str(ddp), "--dump-rank-weights",
                          "train.batch_size=2", *common], env=_env(), timeout=180,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    r0 = torch.load(ddp / "rank0.pt", weights_only=True)
    r1 = torch.load(ddp / "rank1.pt", weights_only=True)
    _assert_same_weights(r0, r1)  # both ranks hold identical weights
    ref = torch.load(single / "rank0.pt", weights_only=True)
    for k in ref:
        torch.testing.assert_close(r0[k], ref[k], rtol=1e-4, atol=1e-5)
    assert not (ddp / "rank1").exists()
    # only rank 0 wrote the run folder; its checkpoint holds the same weights
    _assert_same_weights(load_checkpoint(ddp / "last.pth")["model"], r0)
    assert _epochs(ddp)[-1]["val_num_samples"] == len(ToyClips(6, 1))
