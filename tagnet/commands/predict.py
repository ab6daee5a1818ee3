"""``tagnet predict``: top-k classes with probabilities for videos."""
from __future__ import annotations

import argparse

HELP = "classify videos with a trained checkpoint: top-k class names and probabilities"
DESCRIPTION = """\
Classify one video or every video in a folder (recursively) with a checkpoint
written by `tagnet train`; clips are sampled and centre-cropped as in testing.

  tagnet predict clip.mp4 --checkpoint runs/gym99/best.pth
  tagnet predict videos/ --checkpoint runs/demo/tag_head --topk 3 --json preds.json

Videos that cannot be decoded are reported and skipped.

Long videos: --window SECONDS [--stride SECONDS] classifies sliding windows (the
last one ends at the end of the video; see tagnet.eval.windows) and writes
<video>.windows.csv / .windows.json (per-window top-k) and <video>.timeline.png
into --out-dir; --annotate OUT.mp4 also writes the video with the current top-3.

  tagnet predict routine.mp4 -k runs/gym99 --window 4 --stride 2 --annotate out.mp4
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="VIDEO_OR_FOLDER")
    parser.add_argument("--checkpoint", "-k", required=True,
                        help="a .pth written by tagnet train, or a run folder (best.pth)")
    parser.add_argument("--topk", type=int, default=5, help="classes to show per video (5)")
    parser.add_argument("--num-clips", type=int, default=1, help="clips per video (1)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--json", metavar="FILE", help="also write the predictions as JSON")
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("--window", type=float, metavar="SECONDS",
                        help="classify sliding windows of this length (long videos)")
    parser.add_argument("--stride", type=float, metavar="SECONDS",
                        help="seconds between window starts (default: --window)")
    parser.add_argument("--out-dir", default="predictions",
                        help="where --window writes its tables and timeline (predictions)")
    parser.add_argument("--annotate", metavar="OUT.mp4",
                        help="with --window: write the video with the current top-3 drawn")


def find_videos(inputs: list[str]) -> list[str]:
    """Video files named directly or found (recursively, sorted) in folders."""
    from pathlib import Path

    from tagnet.datasets.csv_dataset import VIDEO_EXTENSIONS

    found = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found += sorted(str(f) for f in p.rglob("*")
                            if f.is_file() and f.suffix.lower() in VIDEO_EXTENSIONS)
        elif p.is_file():
            found.append(str(p))
        else:
            raise FileNotFoundError(f"'{item}' is neither a video file nor a folder")
    if not found:
        raise FileNotFoundError(f"no video files ({', '.join(VIDEO_EXTENSIONS)}) in {inputs}")
    return found


def predict_videos(paths: list[str], model, class_names: list[str], cfg, *, topk: int = 5,
                   num_clips: int = 1, batch_size: int = 4, device="cpu") -> list[dict]:
    """``[{"path", "top": [{"class", "name", "prob"}, ...]}]`` for the decodable videos;
    the others are reported on stdout and left out."""
    import torch

    from tagnet.datasets.base import VideoDataset
    from tagnet.datasets.video import VideoDecodeError
    from tagnet.eval.inference import forward_views
    from tagnet.train.datasets import short_side_for, transform_for

    cfg.eval.num_clips = num_clips
    ds = VideoDataset([(p, 0) for p in paths], class_names, num_frames=cfg.data.num_frames,
                      num_clips=num_clips, transform=transform_for(cfg, train=False),
                      short_side=short_side_for(cfg), on_error="raise")
    k = min(topk, len(class_names))
    model.eval()
    results, batch, names = [], [], []

    def flush():
        with torch.no_grad():
            probs, _ = forward_views(model, torch.stack(batch).to(device))
        top = probs.cpu().topk(k, dim=1)
        for path, values, classes in zip(names, top.values, top.indices, strict=True):
            results.append({"path": path, "top": [
                {"class": int(c), "name": class_names[int(c)], "prob": float(v)}
                for v, c in zip(values, classes, strict=True)]})
        batch.clear()
        names.clear()

    for i, path in enumerate(paths):
        try:
            clip = ds[i][0]
        except VideoDecodeError as exc:
            print(f"skipping '{path}': {exc}")
            continue
        batch.append(clip)
        names.append(path)
        if len(batch) == batch_size:
            flush()
    if batch:
        flush()
    return results


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from tagnet.config import Config
    from tagnet.train.distributed import resolve_device
    from tagnet.train.modeling import load_model

    ckpt = Path(args.checkpoint)
    if ckpt.is_dir():
        ckpt = ckpt / "best.pth"
    device = resolve_device(args.device)
    model, state = load_model(ckpt, device)
    cfg = Config.from_dict(state["config"])
    if args.window is not None or args.annotate or args.stride is not None:
        if args.window is None:
            raise ValueError("--stride and --annotate need --window SECONDS")
        from tagnet.eval.windows import predict_long_videos

        predict_long_videos(find_videos(args.inputs), model, list(state["class_names"]), cfg,
                            window=args.window, stride=args.stride, out_dir=args.out_dir,
                            annotate=args.annotate, topk=args.topk,
                            batch_size=args.batch_size, device=device)
        return 0
    results = predict_videos(find_videos(args.inputs), model, list(state["class_names"]), cfg,
                             topk=args.topk, num_clips=args.num_clips,
                             batch_size=args.batch_size, device=device)
    for r in results:
        print(r["path"])
        for j, t in enumerate(r["top"], 1):
            print(f"  {j}. {t['name']:<40s} {100 * t['prob']:6.2f}%")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0 if results else 1
