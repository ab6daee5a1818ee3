"""The ``tagnet`` command on a diverging run and on a checkpoint holding NaN: a clear line and
a non-zero exit, never a silent success."""
import json
import re

import pytest
from _tiny import TINY

from tagnet.cli import main
from tagnet.train.checkpoint import save_checkpoint
from tagnet.weights import load_checkpoint


@pytest.fixture(scope="module")
def diverged(tmp_path_factory):
    """A run with lr 1e8 (saving every step): its exit code, stderr and folder."""
    from tagnet.datasets import make_finesynth

    tmp = tmp_path_factory.mktemp("diverged")
    synth = make_finesynth(tmp / "data", num_classes=3, clips_per_class=8, num_frames=8,
                           size=32, progress=False)
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["train", f"data.root={synth.root}", *TINY, "train.lr=1e8",
                     "train.epochs=3", "train.save_every_steps=1", "--config", "demo",
                     "-o", str(tmp / "run")])
    return code, err.getvalue(), tmp / "run", synth


def test_lr_1e8_stops_with_a_non_zero_exit_and_finite_checkpoints(diverged):
    code, err, run, _ = diverged
    assert code == 1
    line = err.strip().splitlines()[-1]
    assert re.match(r"tagnet train: error: training diverged: the (training loss is \S+ at|"
                    r"weights hold NaN or infinity after) step \d+ .*; stopped\. last\.pth",
                    line), line
    for name in ("last.pth", "best.pth"):  # what is kept loads: its weights are finite
        if name == "last.pth" or (run / name).exists():
            load_checkpoint(run / name)
    log = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    assert [r["message"] for r in log if r["kind"] == "error"] == \
        [line.removeprefix("tagnet train: error: ")]


def test_predict_and_eval_refuse_a_checkpoint_with_nan_weights(diverged, tmp_path, capsys):
    _, _, run, synth = diverged
    state = load_checkpoint(run / "last.pth")
    name = next(k for k, v in state["model"].items() if v.is_floating_point())
    state["model"][name][...] = float("nan")
    bad = save_checkpoint(state, tmp_path / "nan.pth")
    video = next(synth.root.rglob("*.mp4"))
    expected = f"checkpoint '{bad}' holds non-finite weights ({name}): the run diverged"
    assert main(["predict", str(video), "--checkpoint", str(bad)]) == 1
    assert expected in capsys.readouterr().err
    assert main(["eval", "--checkpoint", str(bad), "--output", str(tmp_path / "ev")]) == 1
    assert expected in capsys.readouterr().err
    assert not (tmp_path / "ev").exists()
