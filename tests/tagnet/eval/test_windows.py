"""Sliding-window prediction: the windows' spans and frames, and `tagnet predict --window`."""
from __future__ import annotations

import csv
import json
import random

import av
import numpy as np
import pytest
import torch

from tagnet.cli import main
from tagnet.config import load_config
from tagnet.datasets.sampling import uniform_indices
from tagnet.eval.windows import iter_windows, plan_windows, window_at
from tagnet.models.factory import build_model
from tagnet.train.checkpoint import save_checkpoint

RATE, FRAMES = 10, 40  # a 4.0 s video; frame i shows grey level 5 * i


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = tmp_path_factory.mktemp("long") / "routine.mkv"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("ffv1", rate=RATE)
        stream.width, stream.height, stream.pix_fmt = 160, 128, "yuv420p"
        for i in range(FRAMES):
            img = np.full((128, 160, 3), 5 * i, np.uint8)
            img[:, :16] = 255 - 5 * i  # an edge, so a centre crop and a resize differ
            out.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(stream.encode())
    return path


def test_plan_windows_literal_cases():
    assert plan_windows(10, 3, 2) == [(0, 3), (2, 5), (4, 7), (6, 9), (7, 10)]
    assert plan_windows(10, 5, 5) == [(0, 5), (5, 10)]
    assert plan_windows(10, 10, 1) == [(0, 10)]
    assert plan_windows(10, 4, 6) == [(0, 4), (6, 10)]  # stride > window leaves a gap
    with pytest.raises(ValueError, match=r"window 12 s is longer than the video \(10.000 s\); "
                                         r"use --window 10 or less"):
        plan_windows(10, 12, 1)
    with pytest.raises(ValueError, match="must be positive"):
        plan_windows(10, 3, 0)


def test_windows_span_exactly_the_video_when_stride_fits():
    rng = random.Random(0)
    for _ in range(200):
        duration = rng.uniform(0.5, 100)
        window = rng.uniform(0.05, duration)
        stride = rng.uniform(0.01, window)
        spans = plan_windows(duration, window, stride)
        assert spans[0][0] == 0 and spans[-1][1] == pytest.approx(duration, abs=1e-9)
        assert all(e - s == pytest.approx(window) for s, e in spans)
        assert all(b[0] <= a[1] + 1e-9 for a, b in zip(spans, spans[1:], strict=False))  # no gap
        assert all(b[0] > a[0] for a, b in zip(spans, spans[1:], strict=False))


def test_each_window_holds_exactly_its_frames(video):
    wins = list(iter_windows(video, 1.5, 1.0, 4))
    assert [(w.start, w.end) for w in wins] == [(0, 1.5), (1, 2.5), (2, 3.5), (2.5, 4.0)]
    # frames with start <= i / 10 < end; the last window keeps every frame to the end
    assert [(w.first, w.last) for w in wins] == [(0, 14), (10, 24), (20, 34), (25, 39)]
    for w in wins:
        expected = [w.first + int(i) for i in uniform_indices(w.last - w.first + 1, 4)]
        assert w.sampled == expected
        shown = (w.clip[:, :, 40:].float().mean((1, 2, 3)) / 5).round().long().tolist()
        assert shown == expected and w.clip.shape == (4, 128, 160, 3)


def test_window_at_picks_the_nearest_centre():
    rows = [{"window": k, "start": s, "end": e} for k, (s, e) in
            enumerate(plan_windows(4, 1.5, 1.0))]
    assert [window_at(rows, t)["window"] for t in (0, 1.2, 1.3, 2.4, 3.3, 4.0)] == [
        0, 0, 1, 2, 3, 3]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    cfg = load_config("demo", ["data.num_frames=8", "data.img_size=32", "data.short_side=32",
                               "model.kwargs.ffn_dim=16"])
    torch.manual_seed(0)
    model = build_model(cfg, 3)
    path = tmp_path_factory.mktemp("ckpt") / "best.pth"
    save_checkpoint({"config": cfg.to_dict(), "class_names": ["vault", "beam", "floor"],
                     "model": model.state_dict(), "epoch": 1}, path)
    return path


def test_predict_window_command(video, checkpoint, tmp_path, capsys):
    out = tmp_path / "pred"
    code = main(["predict", str(video), "-k", str(checkpoint), "--window", "1.5", "--stride",
                 "1", "--topk", "2", "--out-dir", str(out), "--annotate",
                 str(tmp_path / "ann.mp4")])
    assert code == 0, capsys.readouterr().err
    rows = json.loads((out / "routine.windows.json").read_text())
    assert [(r["start"], r["end"], r["first_frame"], r["last_frame"]) for r in rows] == [
        (0, 1.5, 0, 14), (1, 2.5, 10, 24), (2, 3.5, 20, 34), (2.5, 4.0, 25, 39)]
    for r in rows:
        assert len(r["top"]) == 2 and r["top"][0]["prob"] >= r["top"][1]["prob"]
    with open(out / "routine.windows.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 8 and table[1]["rank"] == "2"
    assert float(table[2]["prob"]) == pytest.approx(rows[1]["top"][0]["prob"], abs=1e-6)
    assert (out / "routine.timeline.png").read_bytes()[:4] == b"\x89PNG"

    with av.open(str(tmp_path / "ann.mp4")) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == FRAMES and frames[0].shape == (128, 160, 3)
    # the text box darkens the top left; the rest of the frame is the source
    assert frames[30][8, 30].mean() < 5 * 30 - 40
    assert [round(float(f[120, 150].mean()) / 5) for f in frames] == list(range(FRAMES))


def test_one_window_over_the_whole_video_equals_plain_predict(video, checkpoint, tmp_path):
    out = tmp_path / "one"
    assert main(["predict", str(video), "-k", str(checkpoint), "--window", "4", "--topk", "3",
                 "--out-dir", str(out)]) == 0
    [row] = json.loads((out / "routine.windows.json").read_text())
    assert (row["start"], row["end"], row["first_frame"], row["last_frame"]) == (0, 4, 0, 39)
    assert main(["predict", str(video), "-k", str(checkpoint), "--topk", "3", "--json",
                 str(tmp_path / "whole.json")]) == 0
    [whole] = json.loads((tmp_path / "whole.json").read_text())
    assert [t["class"] for t in row["top"]] == [t["class"] for t in whole["top"]]
    for a, b in zip(row["top"], whole["top"], strict=True):
        assert a["prob"] == pytest.approx(b["prob"], abs=1e-6)


def test_window_longer_than_the_video_is_a_clear_error(video, checkpoint, tmp_path, capsys):
    assert main(["predict", str(video), "-k", str(checkpoint), "--window", "5",
                 "--out-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "window 5 s is longer than" in err and "(4.000 s); use --window 4 or less" in err
    assert main(["predict", str(video), "-k", str(checkpoint), "--annotate", "x.mp4"]) == 1
    assert "--stride and --annotate need --window SECONDS" in capsys.readouterr().err


def test_plan_windows_bounds_before_any_list_is_made():
    """Issue 26: `--window 1e-9` planned about 1e10 windows (minutes) before failing."""
    with pytest.raises(ValueError, match=r"window 1e-09 s is shorter than one frame of the "
                                         r"video \(0\.1 s at 10 fps\), so it would hold no "
                                         r"frame; use --window 0\.1 or more"):
        plan_windows(4, 1e-9, 1e-9, fps=10)
    with pytest.raises(ValueError, match=r"makes 1e\+300 windows, more than the limit of "
                                         r"100,000 \(--max-windows\)"):
        plan_windows(4, 1, 3e-300)  # no fps known: the count alone stops it
    assert len(plan_windows(4, 1, 1, max_windows=4)) == 4
    with pytest.raises(ValueError, match="makes 5 windows, more than the limit of 4"):
        plan_windows(4, 1, 0.75, max_windows=4)  # the grid (4) plus the window ending at 4 s
    with pytest.raises(ValueError, match="must be positive seconds"):
        plan_windows(4, float("nan"), 1)
