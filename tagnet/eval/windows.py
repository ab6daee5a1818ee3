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

Bounds, checked before anything is decoded: a window holds at least one frame
(``W >= 1 / fps``), and a video gets at most :data:`MAX_WINDOWS` windows.

Outputs of :func:`predict_long_videos` keep each video's path relative to the folder
the videos share (``a/x.mp4`` and ``b/x.mp4`` give ``a/x.windows.csv`` and
``b/x.windows.csv``), are checked against the inputs and each other
(:func:`tagnet.datasets.atomic.check_outputs`) before any video is decoded, and are
written atomically.
"""
from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

#: The most windows one video may get (a 10-hour video at a 1 s stride has 36,000); more is
#: a mistyped --window or --stride, refused before anything is decoded.
MAX_WINDOWS = 100_000


def plan_windows(duration: float, window: float, stride: float, *, name: str = "the video",
                 fps: float | None = None, max_windows: int = MAX_WINDOWS
                 ) -> list[tuple[float, float]]:
    """``[(start, end), ...]`` seconds of the windows over a ``duration``-second video.

    Raises:
        ValueError: ``window`` or ``stride`` is not a positive finite number, ``window`` is
            longer than the video or (given ``fps``) shorter than one frame, or the
            windows would be more than ``max_windows``.
    """
    if not (0 < window < math.inf and 0 < stride < math.inf):
        raise ValueError(f"--window and --stride must be positive seconds, got {window} and "
                         f"{stride}")
    eps = 1e-9
    if window > duration + eps:
        raise ValueError(f"window {window:g} s is longer than {name} ({duration:.3f} s); use "
                         f"--window {math.floor(duration * 1000) / 1000:g} or less")
    if fps is not None and math.isfinite(fps) and fps > 0 and window < 1 / fps - eps:
        raise ValueError(f"window {window:g} s is shorter than one frame of {name} "
                         f"({1 / fps:.4g} s at {fps:.4g} fps), so it would hold no frame; use "
                         f"--window {math.ceil(round(1000 / fps, 6)) / 1000:g} or more")
    steps = (duration - window) / stride + eps
    too_many = (f"--window {window:g} --stride {stride:g} over {name} ({duration:.3f} s) makes "
                f"{{}} windows, more than the limit of {max_windows:,} (--max-windows); use a "
                f"longer --stride (at least {duration / max(max_windows - 2, 1):.3g} s)")
    if not steps < max_windows:  # checked before the list exists (inf included)
        raise ValueError(too_many.format(f"{steps + 1:,.0f}" if steps < 1e12 else
                                         f"{steps:.3g}"))
    spans = [(k * stride, k * stride + window) for k in range(math.floor(steps) + 1)]
    if spans[-1][1] < duration - eps:
        spans.append((duration - window, duration))
    if len(spans) > max_windows:
        raise ValueError(too_many.format(f"{len(spans):,}"))
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
                 short_side: int | None = None, transform: Callable | None = None,
                 max_windows: int = MAX_WINDOWS) -> Iterator[Window]:
    """Decode ``path`` once and yield its windows in order (see the module docstring).

    The file is opened as every reader opens it (:func:`tagnet.datasets.video.open_video`:
    metadata that is not UTF-8 is replaced, not fatal); the windows are planned
    (:func:`plan_windows`, bounds included) before any frame is decoded.
    """
    from tagnet.datasets import probe
    from tagnet.datasets.frames import DecodeStats, FrameConverter, iter_frames
    from tagnet.datasets.sampling import uniform_indices
    from tagnet.datasets.video import open_video

    info = probe(path)
    spans = plan_windows(info.duration, window, stride, name=f"'{path}'", fps=info.fps,
                         max_windows=max_windows)
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

    with open_video(path, info.stream_index) as (container, stream):
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
                    device="cpu", max_windows: int = MAX_WINDOWS) -> tuple[list[dict], Tensor]:
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
                          transform=transform_for(cfg, train=False, views=False),
                          max_windows=max_windows):
        batch.append(w)
        if len(batch) == batch_size:
            flush()
    if batch:
        flush()
    return rows, torch.cat(probs)


def write_tables(rows: list[dict], csv_path: str | Path, json_path: str | Path) -> None:
    """Per-window top-k as CSV (one line per window and rank) and JSON, atomically."""
    import csv
    import json

    from tagnet.datasets.atomic import atomic_open, atomic_write

    with atomic_open(csv_path, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["window", "start", "end", "first_frame", "last_frame", "rank", "class",
                      "name", "prob"])
        for r in rows:
            for rank, t in enumerate(r["top"], 1):
                out.writerow([r["window"], f"{r['start']:.3f}", f"{r['end']:.3f}",
                              r["first_frame"], r["last_frame"], rank, t["class"], t["name"],
                              f"{t['prob']:.6f}"])
    atomic_write(json_path, json.dumps(rows, indent=1) + "\n")


def plot_timeline(rows: list[dict], probs: Tensor, class_names: list[str], path: str | Path,
                  max_classes: int = 8) -> None:
    """Probability over time of the classes ranked first in some window (PNG, atomically)."""
    from matplotlib.figure import Figure

    from tagnet.eval.plots import save_figure

    winners = probs.argmax(1)
    shown = sorted(set(winners.tolist()), key=lambda c: -float(probs[:, c].max()))[:max_classes]
    edges = [r["start"] for r in rows]
    fig = Figure(figsize=(10, 3.5))
    ax = fig.subplots()
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
    save_figure(fig, path, dpi=100)


def window_at(rows: list[dict], t: float) -> dict:
    """The window shown at time ``t``: among those holding ``t``, the one whose centre is
    nearest (the nearest centre overall where windows leave gaps)."""
    holding = [r for r in rows if r["start"] - 1e-9 <= t <= r["end"] + 1e-9] or rows
    return min(holding, key=lambda r: (abs((r["start"] + r["end"]) / 2 - t), r["window"]))


def annotate_video(src: str | Path, rows: list[dict], out: str | Path, *, crf: int = 20,
                   lines: int = 3) -> int:
    """Write ``src`` with the current top-``lines`` classes drawn on every frame (PyAV,
    libx264, PIL text), atomically (the container format follows ``out``'s suffix); returns
    the number of frames written."""
    import av
    from PIL import Image, ImageDraw, ImageFont

    from tagnet.datasets.atomic import atomic_path
    from tagnet.datasets.frames import DecodeStats, iter_frames
    from tagnet.datasets.video import open_video

    written = 0
    with open_video(src) as (inp, ist), atomic_path(out, keep_suffix=True) as tmp, \
            av.open(str(tmp), "w") as dst:
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


def window_outputs(paths: list[str], out_dir: str | Path) -> dict[str, Path]:
    """``{video: output stem}``: ``out_dir`` / the video's path relative to the folder all
    videos share, without its suffix (one video: its stem), so two videos never share
    outputs.

    Raises:
        ValueError: a video is given twice.
    """
    import os

    out_dir = Path(out_dir)
    absolute = [os.path.abspath(p) for p in paths]
    seen: dict[str, str] = {}
    for path, a in zip(paths, absolute, strict=True):
        if a in seen:
            raise ValueError(f"video '{path}' is given twice (also as '{seen[a]}'); its "
                             "window outputs would be written twice")
        seen[a] = path
    if len(paths) == 1:
        return {paths[0]: out_dir / Path(paths[0]).stem}
    common = os.path.commonpath([os.path.dirname(a) for a in absolute])
    return {p: out_dir / Path(os.path.relpath(a, common)).with_suffix("")
            for p, a in zip(paths, absolute, strict=True)}


def predict_long_videos(paths: list[str], model: torch.nn.Module, class_names: list[str], cfg,
                        *, window: float, stride: float | None, out_dir: str | Path,
                        annotate: str | Path | None = None, topk: int = 5,
                        batch_size: int = 4, device="cpu", max_windows: int = MAX_WINDOWS,
                        inputs: Mapping[str, str | Path | None] | None = None,
                        outputs: Mapping[str, str | Path | None] | None = None) -> list[dict]:
    """``tagnet predict --window``: for each video write ``<stem>.windows.csv``,
    ``<stem>.windows.json`` and ``<stem>.timeline.png`` into ``out_dir`` (stems from
    :func:`window_outputs`; and the annotated video); returns ``[{"path", "windows": rows}]``.

    Before anything is decoded, every video's windows are planned (:func:`plan_windows`:
    the bounds) and every output is checked: none may be a video, one of ``inputs`` (other
    files the caller reads) or ``outputs`` (other files it writes), or another output.
    """
    from tagnet.datasets import probe
    from tagnet.datasets.atomic import check_output_folder, check_outputs
    from tagnet.datasets.video import safe_path

    stride = window if stride is None else stride
    if annotate is not None and len(paths) != 1:
        raise ValueError(f"--annotate writes one video; {len(paths)} inputs were given")
    out_dir = check_output_folder("--out-dir", out_dir)
    stems = window_outputs(paths, out_dir)
    planned = {}
    for path in paths:
        planned[path] = probe(path)
        plan_windows(planned[path].duration, window, stride, name=f"'{safe_path(path)}'",
                     fps=planned[path].fps, max_windows=max_windows)
    files = [*(outputs or {}).items(), ("--annotate", annotate)]
    for path, stem in stems.items():
        files += [(f"the window output of '{safe_path(path)}'", Path(f"{stem}.{ext}"))
                  for ext in ("windows.csv", "windows.json", "timeline.png")]
    check_outputs(files, [*(("the input video", p) for p in paths), *(inputs or {}).items()])
    results = []
    for path in paths:
        rows, probs = predict_windows(model, path, cfg, class_names, window=window,
                                      stride=stride, topk=topk, batch_size=batch_size,
                                      device=device, max_windows=max_windows)
        stem = stems[path]
        stem.parent.mkdir(parents=True, exist_ok=True)
        write_tables(rows, f"{stem}.windows.csv", f"{stem}.windows.json")
        plot_timeline(rows, probs, class_names, f"{stem}.timeline.png")
        print(f"{safe_path(path)}: {len(rows)} windows of {window:g} s every {stride:g} s -> "
              f"{safe_path(stem)}.windows.csv, .windows.json, .timeline.png")
        for r in rows:
            best = r["top"][0]
            print(f"  {r['start']:8.2f}-{r['end']:8.2f} s  {best['name']:<40s} "
                  f"{100 * best['prob']:6.2f}%")
        if annotate is not None:
            n = annotate_video(path, rows, annotate)
            print(f"annotated video: {safe_path(annotate)} ({n} frames)")
        results.append({"path": path, "windows": rows})
    return results
