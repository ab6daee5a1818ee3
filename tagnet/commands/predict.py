"""``tagnet predict``: top-k classes with probabilities for videos."""
from __future__ import annotations

import argparse

from tagnet.commands._common import (
    add_weights_arguments,
    check_frames,
    positive_int,
    read_class_names,
    safe_path,
    split_overrides,
    weights_model,
)

HELP = "classify videos with a trained checkpoint: top-k class names and probabilities"
DESCRIPTION = """\
Classify one video or every video in a folder (recursively) with a checkpoint
written by `tagnet train`; clips are sampled and centre-cropped as in testing.

  tagnet predict clip.mp4 --checkpoint runs/gym99/best.pth
  tagnet predict videos/ --checkpoint runs/demo/tag_head --topk 3 --json preds.json
  tagnet predict clip.mp4 --weights gym99_best.pth --arch tag_r2plus1d_34 --preset gym99 \
      --classes gym99_classes.txt          # the authors' (or any) weights file
  tagnet predict clip.mp4 --weights w.safetensors --config my.yaml data.num_frames=16
                                           # KEY=VALUE overrides of the --weights model

Videos that cannot be decoded (and symlink loops) are reported and skipped.
--json keeps file names exactly: one that is not valid UTF-8 is written with
JSON's \\udcXX escapes (Python's os.fsencode gives back the original bytes);
printed names show such bytes as \\xXX.

Long videos: --window SECONDS [--stride SECONDS] classifies sliding windows (the
last one ends at the end of the video; see tagnet.eval.windows) and writes
<video>.windows.csv / .windows.json (per-window top-k) and <video>.timeline.png
into --out-dir, keeping each video's path below the folder the videos share
(a/x.mp4 and b/x.mp4 give a/x.* and b/x.*); --annotate OUT.mp4 also writes the
video with the current top-3, --json all windows. A window shorter than a frame,
or more than --max-windows windows per video, is refused before decoding.

No output may be an input (a video, the checkpoint, --weights, --config,
--classes; hard links count) or another output: such a command is refused
before anything is written, and every file is written atomically.

  tagnet predict routine.mp4 -k runs/gym99 --window 4 --stride 2 --annotate out.mp4
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="VIDEO_OR_FOLDER",
                        help="videos or folders; KEY=VALUE items are config overrides of the "
                        "--weights model (e.g. data.num_frames=16)")
    parser.set_defaults(overrides=[])
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
    parser.add_argument("--max-windows", type=positive_int, default=None,
                        help="with --window: the most windows per video (100000)")


def _weights_model(args: argparse.Namespace, device):
    """Model, class names and config for ``--weights``."""

    model, cfg, layout = weights_model(args, args.overrides)
    classes = model.head.num_classes if hasattr(model, "head") else args.num_classes
    if args.classes:
        names = read_class_names(args.classes)
        if len(names) != classes:
            raise ValueError(f"--classes {args.classes} lists {len(names)} names, but the model "
                             f"has {classes} classes")
    else:
        names = [f"class_{i}" for i in range(classes)]
    print(f"loaded '{args.weights}' ({layout} layout, {classes} classes)")
    return model.to(device), names, cfg


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tagnet.datasets.atomic import check_outputs
    from tagnet.distributed import resolve_device
    from tagnet.inference import find_videos, predict_videos
    from tagnet.models.factory import load_run

    args.inputs, swallowed = split_overrides(args.inputs)
    args.overrides = swallowed + list(args.overrides)
    if (args.checkpoint is None) == (args.weights is None):
        raise ValueError("pass either --checkpoint (a tagnet training checkpoint) or --weights "
                         "FILE with --arch and --preset (or --config)")
    if args.overrides and args.weights is None:
        raise ValueError(f"KEY=VALUE overrides ({' '.join(args.overrides)}) describe the model "
                         "of --weights; a checkpoint has its own config")
    if not args.inputs:
        raise ValueError("give the videos (or folders) to classify")
    if args.json and not Path(args.json).resolve().parent.is_dir():
        raise FileNotFoundError(f"--json {safe_path(args.json)}: folder "
                                f"'{safe_path(Path(args.json).parent)}' does not exist; create "
                                "it or write the JSON elsewhere")
    windowed = args.window is not None or args.annotate or args.stride is not None
    if windowed and args.window is None:
        raise ValueError("--stride and --annotate need --window SECONDS")
    if args.max_windows is not None and args.window is None:
        raise ValueError("--max-windows bounds --window: pass --window SECONDS too")
    videos = find_videos(args.inputs)
    checkpoint = args.checkpoint
    if checkpoint is not None and Path(checkpoint).is_dir():
        checkpoint = next((str(Path(checkpoint) / n) for n in ("best.pth", "last.pth")
                           if (Path(checkpoint) / n).is_file()), None)
    inputs = {"--checkpoint": checkpoint, "--weights": args.weights, "--classes": args.classes,
              "--config": args.config if args.config and Path(args.config).is_file() else None}
    outputs = {"--json": args.json}
    if not windowed:
        check_outputs(outputs, [*(("the input video", v) for v in videos), *inputs.items()])
    device = resolve_device(args.device)
    if args.weights is not None:
        model, class_names, cfg = _weights_model(args, device)
    else:
        model = load_run(args.checkpoint, device=device)
        cfg, class_names = model.run_config, model.class_names
    if windowed:
        from tagnet.eval.windows import MAX_WINDOWS, predict_long_videos

        check_frames(cfg.data.num_frames)
        results = predict_long_videos(
            videos, model, class_names, cfg, window=args.window, stride=args.stride,
            out_dir=args.out_dir, annotate=args.annotate, topk=args.topk,
            batch_size=args.batch_size, device=device,
            max_windows=args.max_windows or MAX_WINDOWS, inputs=inputs, outputs=outputs)
        if args.json:
            _write_json(args.json, results)
        return 0
    check_frames(cfg.data.num_frames, args.num_clips)
    results = predict_videos(videos, model, class_names, cfg,
                             topk=args.topk, num_clips=args.num_clips,
                             batch_size=args.batch_size, device=device)
    if args.json:  # first, so that nothing printed below can lose it
        _write_json(args.json, results)
    for r in results:
        print(safe_path(r["path"]))
        for j, t in enumerate(r["top"], 1):
            print(f"  {j}. {t['name']:<40s} {100 * t['prob']:6.2f}%")
    return 0 if results else 1


def _write_json(path: str, results) -> None:
    """The predictions as JSON, atomically (names that are not UTF-8 keep JSON's \\udcXX)."""
    import json

    from tagnet.datasets.atomic import atomic_write

    atomic_write(path, json.dumps(results, indent=2) + "\n", "utf-8")
