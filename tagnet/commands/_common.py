"""Helpers the commands share: printing file names safely, argument types."""
from __future__ import annotations

import argparse

from tagnet.datasets.video import safe_path

__all__ = ["safe_path", "positive_int", "add_weights_arguments", "weights_model"]


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (``--topk 0`` fails at parsing, before any work)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


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

    return model_from_weights(args.weights, arch=args.arch, preset=args.preset,
                              config=args.config, overrides=overrides or [],
                              num_classes=num_classes or args.num_classes)
