"""``tagnet predict``: top-k classes with probabilities for videos."""
from __future__ import annotations

import argparse

from tagnet.commands._common import positive_int, safe_path

HELP = "classify videos with a trained checkpoint: top-k class names and probabilities"
DESCRIPTION = """\
Classify one video or every video in a folder (recursively) with a checkpoint
written by `tagnet train`; clips are sampled and centre-cropped as in testing.

  tagnet predict clip.mp4 --checkpoint runs/gym99/best.pth
  tagnet predict videos/ --checkpoint runs/demo/tag_head --topk 3 --json preds.json
  tagnet predict clip.mp4 --weights gym99_best.pth --arch tag_r2plus1d_34 --preset gym99 \
      --classes gym99_classes.txt          # the authors' (or any) weights file

Videos that cannot be decoded (and symlink loops) are reported and skipped.
--json keeps file names exactly: one that is not valid UTF-8 is written with
JSON's \\udcXX escapes (Python's os.fsencode gives back the original bytes);
printed names show such bytes as \\xXX.

Long videos: --window SECONDS [--stride SECONDS] classifies sliding windows (the
last one ends at the end of the video; see tagnet.eval.windows) and writes
<video>.windows.csv / .windows.json (per-window top-k) and <video>.timeline.png
into --out-dir; --annotate OUT.mp4 also writes the video with the current top-3.

  tagnet predict routine.mp4 -k runs/gym99 --window 4 --stride 2 --annotate out.mp4
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="VIDEO_OR_FOLDER")
    from tagnet.commands.export import add_weights_arguments

    parser.add_argument("--checkpoint", "-k",
                        help="a .pth written by tagnet train, or a run folder (best.pth)")
    add_weights_arguments(parser)
    parser.add_argument("--classes", metavar="FILE", help="class names of --weights, one per "
                        "line (default: class_0, class_1, ...)")
    parser.add_argument("--topk", type=positive_int, default=5,
                        help="classes to show per video (5)")
    parser.add_argument("--num-clips", type=positive_int, default=1,
                        help="clips per video (1)")
    parser.add_argument("--batch-size", type=positive_int, default=4)
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
    """Video files named directly or found (recursively, sorted) in folders; names in a
    folder that cannot be read (symlink loops, links to nothing) are reported and skipped."""
    from pathlib import Path

    from tagnet.datasets.csv_dataset import VIDEO_EXTENSIONS, find_video_files

    found = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            videos, unreadable = find_video_files(p)
            found += videos
            for path, reason in unreadable:
                print(f"skipping '{safe_path(path)}': {reason}")
        elif p.is_file():
            found.append(str(p))
        else:
            raise FileNotFoundError(f"'{item}' is neither a video file nor a folder")
    if not found:
        raise FileNotFoundError(f"no video files ({', '.join(VIDEO_EXTENSIONS)}) in {inputs}")
    return found


def clip_tensor(path: str, cfg):
    """One centre-cropped test clip ``(3, T, H, W)`` of ``path``, as ``cfg`` samples it."""
    from tagnet.datasets.base import VideoDataset
    from tagnet.train.datasets import short_side_for, transform_for

    ds = VideoDataset([(path, 0)], ["clip"], num_frames=cfg.data.num_frames, num_clips=1,
                      transform=transform_for(cfg, train=False, views=False),
                      short_side=short_side_for(cfg), on_error="raise")
    return ds[0][0]


def _weights_model(args: argparse.Namespace, device):
    """Model, class names and config for ``--weights``."""
    from pathlib import Path

    from tagnet.commands.export import model_from_weights

    model, cfg, layout = model_from_weights(args)
    classes = model.head.num_classes if hasattr(model, "head") else args.num_classes
    if args.classes:
        names = [line.strip() for line in Path(args.classes).read_text().splitlines()
                 if line.strip()]
        if len(names) != classes:
            raise ValueError(f"--classes {args.classes} lists {len(names)} names, but the model "
                             f"has {classes} classes")
    else:
        names = [f"class_{i}" for i in range(classes)]
    print(f"loaded '{args.weights}' ({layout} layout, {classes} classes)")
    return model.to(device), names, cfg


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
            print(f"skipping: {safe_path(str(exc))}")  # the message names the file
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

    if (args.checkpoint is None) == (args.weights is None):
        raise ValueError("pass either --checkpoint (a tagnet training checkpoint) or --weights "
                         "FILE with --arch and --preset (or --config)")
    if args.json and not Path(args.json).resolve().parent.is_dir():
        raise FileNotFoundError(f"--json {safe_path(args.json)}: folder "
                                f"'{safe_path(Path(args.json).parent)}' does not exist; create "
                                "it or write the JSON elsewhere")
    device = resolve_device(args.device)
    videos = find_videos(args.inputs)
    if args.weights is not None:
        model, class_names, cfg = _weights_model(args, device)
    else:
        ckpt = Path(args.checkpoint)
        if ckpt.is_dir():
            ckpt = ckpt / "best.pth"
        model, state = load_model(ckpt, device)
        cfg, class_names = Config.from_dict(state["config"]), list(state["class_names"])
    if args.window is not None or args.annotate or args.stride is not None:
        if args.window is None:
            raise ValueError("--stride and --annotate need --window SECONDS")
        from tagnet.eval.windows import predict_long_videos

        predict_long_videos(videos, model, class_names, cfg,
                            window=args.window, stride=args.stride, out_dir=args.out_dir,
                            annotate=args.annotate, topk=args.topk,
                            batch_size=args.batch_size, device=device)
        return 0
    results = predict_videos(videos, model, class_names, cfg,
                             topk=args.topk, num_clips=args.num_clips,
                             batch_size=args.batch_size, device=device)
    if args.json:  # first, so that nothing printed below can lose it
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    for r in results:
        print(safe_path(r["path"]))
        for j, t in enumerate(r["top"], 1):
            print(f"  {j}. {t['name']:<40s} {100 * t['prob']:6.2f}%")
    return 0 if results else 1
