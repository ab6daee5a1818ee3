"""Sliding-window classification of long videos: per-window top-k, a timeline, an overlay.

Windows. Let ``t`` be a frame's presentation time minus the first frame's, and ``D`` the
video's duration (first frame to the end of the last, :func:`tagnet.datasets.probe`).
Windows of length ``W`` start every ``S`` seconds::

    [0, W), [S, S + W), [2S, 2S + W), ...      while k*S + W <= D
    [D - W, D]                                  added when the grid does not end at D

A window holds the frames with ``start <= t < end`` (the last one every frame up to the
end), so with ``S <= W`` every frame lies in at least one window and the windows span
exactly ``[0, D]``. Each window is classified like a test clip: ``num_frames`` frames
spread uniformly over its frames (the release's UniView sampling), decoded at the
model's short side and centre-cropped. The video is decoded once, front to back,
holding only the frames of the windows still open.
"""
from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor


def plan_windows(duration: float, window: float, stride: float, *, name: str = "the video"
                 ) -> list[tuple[float, float]]:
    """``[(start, end), ...]`` seconds of the windows over a ``duration``-second video.

    Raises:
        ValueError: ``window`` or ``stride`` is not positive, or ``window > duration``.
    """
    if not window > 0 or not stride > 0:
        raise ValueError(f"--window and --stride must be positive seconds, got {window} and "
                         f"{stride}")
    eps = 1e-9
    if window > duration + eps:
        raise ValueError(f"window {window:g} s is longer than {name} ({duration:.3f} s); use "
                         f"--window {math.floor(duration * 1000) / 1000:g} or less")
    count = math.floor((duration - window) / stride + eps) + 1
    spans = [(k * stride, k * stride + window) for k in range(count)]
    if spans[-1][1] < duration - eps:
        spans.append((duration - window, duration))
    return spans


@dataclass
class Window:
    """One window: its span in seconds, the decoded frames it holds (``first``..``last``
    frame numbers) and the sampled clip (transformed, or ``(T, H, W, 3)`` uint8)."""

    index: int
    start: float
    end: float
    first: int
    last: int
    sampled: list[int]
    clip: Tensor


def iter_windows(path: str | Path, window: float, stride: float, num_frames: int, *,
                 short_side: int | None = None, transform: Callable | None = None
                 ) -> Iterator[Window]:
    """Decode ``path`` once and yield its windows in order (see the module docstring)."""
    import av

    from tagnet.datasets import probe
    from tagnet.datasets.frames import DecodeStats, FrameConverter, iter_frames
    from tagnet.datasets.sampling import uniform_indices

    info = probe(path)
    spans = plan_windows(info.duration, window, stride, name=f"'{path}'")
    buffer: deque = deque()  # (frame number, t, uint8 frame)
    pending = 0

    def emit(k: int, final: bool) -> Window:
        start, end = spans[k]
        held = [b for b in buffer if b[1] >= start - 1e-9 and (final or b[1] < end - 1e-9)]
        if not held:
            raise ValueError(f"window {start:.3f}-{end:.3f} s of '{path}' holds no frame; "
                             "use a longer --window")
        pick = uniform_indices(len(held), num_frames).tolist()
        frames = torch.from_numpy(np.stack([held[i][2] for i in pick]))
        clip = transform(frames) if transform is not None else frames
        return Window(k, start, end, held[0][0], held[-1][0], [held[i][0] for i in pick], clip)

    with av.open(str(path)) as container:
        stream = next(s for s in container.streams if s.index == info.stream_index)
        sar = float(getattr(stream, "sample_aspect_ratio", None) or 1)
        convert = FrameConverter(short_side, sample_aspect_ratio=sar)
        origin, number = None, 0
        for frame in iter_frames(container, stream, DecodeStats()):
            if frame.pts is None:
                continue
            t = float(frame.pts * stream.time_base)
            origin = t if origin is None else origin
            t -= origin
            while pending < len(spans) - 1 and t >= spans[pending][1] - 1e-9:
                yield emit(pending, False)
                pending += 1
                while buffer and buffer[0][1] < spans[pending][0] - 1e-9:
                    buffer.popleft()
            if t >= spans[pending][0] - 1e-9:
                buffer.append((number, t, np.ascontiguousarray(convert(frame))))
            number += 1
    for k in range(pending, len(spans)):
        yield emit(k, k == len(spans) - 1)


@torch.no_grad()
def predict_windows(model: torch.nn.Module, path: str | Path, cfg, class_names: list[str], *,
                    window: float, stride: float, topk: int = 5, batch_size: int = 4,
                    device="cpu") -> tuple[list[dict], Tensor]:
    """Classify the windows of one video.

    Returns:
        ``(rows, probs)``: one dict per window (``window``, ``start``, ``end``,
        ``first_frame``, ``last_frame``, ``top``: ``[{"class", "name", "prob"}]``) and the
        probabilities ``(num_windows, num_classes)``.
    """
    from tagnet.data import short_side_for, transform_for

    model.eval()
    k = min(topk, len(class_names))
    rows, probs, batch = [], [], []

    def flush():
        p = model(torch.stack([w.clip for w in batch]).to(device)).float().softmax(-1).cpu()
        probs.append(p)
        top = p.topk(k, dim=1)
        for w, values, classes in zip(batch, top.values, top.indices, strict=True):
            rows.append({"window": w.index, "start": round(w.start, 6), "end": round(w.end, 6),
                         "first_frame": w.first, "last_frame": w.last, "top": [
                             {"class": int(c), "name": class_names[int(c)], "prob": float(v)}
                             for v, c in zip(values, classes, strict=True)]})
        batch.clear()

    for w in iter_windows(path, window, stride, cfg.data.num_frames,
                          short_side=short_side_for(cfg),
                          transform=transform_for(cfg, train=False, views=False)):
        batch.append(w)
        if len(batch) == batch_size:
            flush()
    if batch:
        flush()
    return rows, torch.cat(probs)


def write_tables(rows: list[dict], csv_path: str | Path, json_path: str | Path) -> None:
    """Per-window top-k as CSV (one line per window and rank) and JSON."""
    import csv
    import json

    with open(csv_path, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["window", "start", "end", "first_frame", "last_frame", "rank", "class",
                      "name", "prob"])
        for r in rows:
            for rank, t in enumerate(r["top"], 1):
                out.writerow([r["window"], f"{r['start']:.3f}", f"{r['end']:.3f}",
                              r["first_frame"], r["last_frame"], rank, t["class"], t["name"],
                              f"{t['prob']:.6f}"])
    Path(json_path).write_text(json.dumps(rows, indent=1) + "\n")


def plot_timeline(rows: list[dict], probs: Tensor, class_names: list[str], path: str | Path,
                  max_classes: int = 8) -> None:
    """Probability over time of the classes ranked first in some window (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    winners = probs.argmax(1)
    shown = sorted(set(winners.tolist()), key=lambda c: -float(probs[:, c].max()))[:max_classes]
    edges = [r["start"] for r in rows]
    fig, ax = plt.subplots(figsize=(10, 3.5))
    for c in shown:
        for r, p in zip(rows, probs[:, c].tolist(), strict=True):
            ax.hlines(p, r["start"], r["end"], color=f"C{shown.index(c) % 10}", alpha=0.35)
        centres = [(r["start"] + r["end"]) / 2 for r in rows]
        ax.plot(centres, probs[:, c].tolist(), marker="o", ms=3,
                color=f"C{shown.index(c) % 10}", label=class_names[c])
    ax.set_xlim(min(edges), max(r["end"] for r in rows))
    ax.set_ylim(0, 1)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("probability")
    ax.set_title("sliding-window predictions (lines: window spans, dots: centres)")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def window_at(rows: list[dict], t: float) -> dict:
    """The window shown at time ``t``: among those holding ``t``, the one whose centre is
    nearest (the nearest centre overall where windows leave gaps)."""
    holding = [r for r in rows if r["start"] - 1e-9 <= t <= r["end"] + 1e-9] or rows
    return min(holding, key=lambda r: (abs((r["start"] + r["end"]) / 2 - t), r["window"]))


def annotate_video(src: str | Path, rows: list[dict], out: str | Path, *, crf: int = 20,
                   lines: int = 3) -> int:
    """Write ``src`` with the current top-``lines`` classes drawn on every frame (PyAV,
    libx264, PIL text); returns the number of frames written."""
    import av
    from PIL import Image, ImageDraw, ImageFont

    from tagnet.datasets.frames import DecodeStats, iter_frames

    written = 0
    with av.open(str(src)) as inp, av.open(str(out), "w") as dst:
        ist = inp.streams.video[0]
        tb = ist.time_base
        ost = None
        first, font = None, None
        for frame in iter_frames(inp, ist, DecodeStats()):
            if frame.pts is None:
                continue
            first = frame.pts if first is None else first
            img = Image.fromarray(frame.to_ndarray(format="rgb24"))
            if ost is None:
                ost = dst.add_stream("libx264", rate=ist.average_rate or 25,
                                     options={"crf": str(crf), "preset": "veryfast"})
                ost.width, ost.height = img.width // 2 * 2, img.height // 2 * 2
                ost.pix_fmt = "yuv420p"
                ost.codec_context.time_base = tb
                ost.time_base = tb
                size = max(10, img.height // 18)
                try:
                    font = ImageFont.load_default(size=size)
                except TypeError:  # Pillow < 10.1: a fixed bitmap font
                    font = ImageFont.load_default()
            row = window_at(rows, float((frame.pts - first) * tb))
            text = "\n".join(f"{i}. {p['name']}  {100 * p['prob']:.1f}%"
                             for i, p in enumerate(row["top"][:lines], 1))
            draw = ImageDraw.Draw(img, "RGBA")
            box = draw.multiline_textbbox((6, 6), text, font=font)
            draw.rectangle((box[0] - 4, box[1] - 4, box[2] + 4, box[3] + 4), fill=(0, 0, 0, 150))
            draw.multiline_text((6, 6), text, font=font, fill=(255, 255, 255, 255))
            arr = np.asarray(img)[:ost.height, :ost.width]
            out_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format="rgb24")
            out_frame.pts, out_frame.time_base = frame.pts - first, tb
            dst.mux(ost.encode(out_frame))
            written += 1
        if ost is not None:
            dst.mux(ost.encode())
    return written


def predict_long_videos(paths: list[str], model: torch.nn.Module, class_names: list[str], cfg,
                        *, window: float, stride: float | None, out_dir: str | Path,
                        annotate: str | Path | None = None, topk: int = 5,
                        batch_size: int = 4, device="cpu") -> list[dict]:
    """``tagnet predict --window``: for each video write ``<stem>.windows.csv``,
    ``<stem>.windows.json`` and ``<stem>.timeline.png`` into ``out_dir`` (and the
    annotated video); returns ``[{"path", "windows": rows}]``."""
    stride = window if stride is None else stride
    if annotate is not None and len(paths) != 1:
        raise ValueError(f"--annotate writes one video; {len(paths)} inputs were given")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    for path in paths:
        rows, probs = predict_windows(model, path, cfg, class_names, window=window,
                                      stride=stride, topk=topk, batch_size=batch_size,
                                      device=device)
        stem = out_dir / Path(path).stem
        write_tables(rows, f"{stem}.windows.csv", f"{stem}.windows.json")
        plot_timeline(rows, probs, class_names, f"{stem}.timeline.png")
        print(f"{path}: {len(rows)} windows of {window:g} s every {stride:g} s -> "
              f"{stem}.windows.csv, .windows.json, .timeline.png")
        for r in rows:
            best = r["top"][0]
            print(f"  {r['start']:8.2f}-{r['end']:8.2f} s  {best['name']:<40s} "
                  f"{100 * best['prob']:6.2f}%")
        if annotate is not None:
            n = annotate_video(path, rows, annotate)
            print(f"annotated video: {annotate} ({n} frames)")
        results.append({"path": path, "windows": rows})
    return results
