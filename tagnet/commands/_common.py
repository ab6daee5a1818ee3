"""Helpers the commands share: printing file names safely, argument types, bounds."""
from __future__ import annotations

import argparse
import math
import os
import re
from contextlib import contextmanager

from tagnet.datasets.video import safe_path

__all__ = ["safe_path", "positive_int", "non_negative_float", "add_weights_arguments",
           "weights_model", "split_overrides", "check_frames", "read_class_names",
           "model_options", "MAX_FRAMES_PER_VIDEO"]

#: The most frames one video may need (``num_frames`` x clips x crops): 10,000 frames are
#: about 1.5 GB as float clips at 112 px. More is a mistyped --num-clips (or num_frames),
#: refused before any video is decoded.
MAX_FRAMES_PER_VIDEO = 10_000

_OVERRIDE = re.compile(r"^[A-Za-z_][\w.-]*=")  # a dotted config key, then '='


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (``--topk 0`` fails at parsing, before any work)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_float(text: str) -> float:
    """argparse type: a finite number >= 0 (``--atol -1`` fails at parsing)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def split_overrides(items: list[str]) -> tuple[list[str], list[str]]:
    """``(others, overrides)``: ``KEY=VALUE`` items that name no existing file are overrides
    (a positional list such as predict's videos takes them in before an option)."""
    others, overrides = [], []
    for item in items:
        is_override = _OVERRIDE.match(item) and not os.path.exists(item)
        (overrides if is_override else others).append(item)
    return others, overrides


def check_frames(num_frames: int, clips: int = 1, crops: int = 1,
                 limit: int = MAX_FRAMES_PER_VIDEO) -> None:
    """Refuse a request for more than ``limit`` frames per video before decoding any."""
    frames = num_frames * clips * crops
    if frames > limit:
        raise ValueError(f"{clips} clip(s) x {crops} crop(s) x {num_frames} frames = {frames:,} "
                         f"frames per video, more than the limit of {limit:,}; ask for fewer "
                         "clips (--num-clips, eval.num_clips) or frames")


def read_class_names(path: str) -> list[str]:
    """Class names, one per non-empty line of a UTF-8 file (errors name the file and line)."""
    from tagnet.datasets.lists import read_lines

    return [line.strip() for _, line in read_lines(path) if line.strip()]


def add_weights_arguments(parser: argparse.ArgumentParser) -> None:
    """--weights with the flags that say which model the file is for (eval, predict, export)."""
    parser.add_argument("--weights", metavar="FILE",
                        help="a weights file that is not a tagnet training checkpoint (tagnet "
                        "or the authors' layout, .pth or .safetensors); needs --arch and "
                        "--preset, or --config")
    parser.add_argument("--arch", help="model of --weights (default: the config's, "
                        "tag_r2plus1d_34)")
    parser.add_argument("--preset", help="released configuration of --weights: gym99, gym288, "
                        "haa500")
    parser.add_argument("--config", help="config (bundled name or YAML file) describing the "
                        "model of --weights (and the data, for eval)")
    parser.add_argument("--num-classes", type=int, help="classes of --weights (default: the "
                        "preset's, else read from the file)")


def weights_model(args: argparse.Namespace, overrides=None, num_classes: int | None = None):
    """:func:`tagnet.models.factory.model_from_weights` for the --weights flags of a command."""
    from tagnet.models.factory import model_from_weights

    with model_options(args.arch or "the config's model.arch", args.config):
        return model_from_weights(args.weights, arch=args.arch, preset=args.preset,
                                  config=args.config, overrides=overrides or [],
                                  num_classes=num_classes or args.num_classes)


@contextmanager
def model_options(arch: str, config: str | None):
    """Turn a builder's ``TypeError`` about an unexpected keyword (``--arch tag_r2plus1d_18``
    with a config whose ``model.kwargs`` were written for another model) into a
    ``ValueError`` that names the model, the config and the fix."""
    try:
        yield
    except TypeError as exc:
        if "unexpected keyword argument" not in str(exc):
            raise
        source = f"--config {config}" if config else "the config"
        raise ValueError(f"model {arch} does not take an option that {source} gives it "
                         f"({exc}); its model.kwargs were written for another model: use a "
                         f"config written for {arch}, or override model.kwargs (e.g. "
                         "model.kwargs={})") from exc
