"""Predict from Python: top-k classes of a video, or of sliding windows over a long one.

``tagnet predict`` is a thin wrapper over these functions, so Python users and the command
line get the same numbers (mmaction2's ``inference_recognizer`` plays this part there).

.. code-block:: text

    model = tagnet.load_run("runs/gym99")            # or tagnet.create_model(..., weights=)
    predict(model, "clip.mp4", topk=5)               # {"path", "top": [{"class", "name", "prob"}]}
    predict(model, "routine.mp4", window=4, stride=2)    # {"path", "windows": [...]}
    predict_videos(["a.mp4", "b.mp4"], model)        # batched, undecodable files reported

A clip is sampled and transformed as the model was tested: ``num_frames`` frames spread
uniformly over the video, decoded at the model's short side, centre-cropped to its size and
normalised with its backbone's mean and std (:func:`model_config` says where each setting
comes from).
"""
from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from tagnet.config import Config


def model_config(model: nn.Module) -> Config:
    """The config that says how clips are made for ``model``.

    A model from :func:`tagnet.load_run` carries its run's config (``model.run_config``);
    one from :func:`tagnet.create_model` gets the defaults with its arch, preset, frames and
    size (``model.config``, ``model.num_frames``, ``model.img_size``), so the backbone's
    normalisation applies.
    """
    run_config = getattr(model, "run_config", None)
    if run_config is not None:
        return copy.deepcopy(run_config)
    built = getattr(model, "config", None) or {}
    if "arch" not in built or not hasattr(model, "num_frames"):
        raise ValueError(f"{type(model).__name__} was not built by tagnet.create_model or "
                         "tagnet.load_run, so its input settings are unknown; pass cfg=")
    cfg = Config()
    cfg.set("model.arch", built["arch"])
    cfg.set("model.preset", built.get("preset"))
    cfg.set("data.num_frames", int(model.num_frames))
    cfg.set("data.img_size", int(model.img_size))
    return cfg


def _class_names(model: nn.Module, class_names: Sequence[str] | None) -> list[str]:
    if class_names is not None:
        return list(class_names)
    names = getattr(model, "class_names", None)
    if names is not None:
        return list(names)
    classes = getattr(getattr(model, "head", None), "num_classes", None)
    if classes is None:
        raise ValueError("the model carries no class names and its number of classes is "
                         "unknown; pass class_names=")
    return [f"class_{i}" for i in range(classes)]


def _device(model: nn.Module, device) -> torch.device:
    if device is not None:
        return torch.device(device)
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def find_videos(inputs: Sequence[str | Path]) -> list[str]:
    """Video files named directly or found (recursively, sorted) in folders; names in a
    folder that cannot be read (symlink loops, links to nothing) are reported and skipped."""
    from tagnet.datasets.csv_dataset import VIDEO_EXTENSIONS, find_video_files
    from tagnet.datasets.video import safe_path

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
        raise FileNotFoundError(f"no video files ({', '.join(VIDEO_EXTENSIONS)}) in "
                                f"{[str(i) for i in inputs]}")
    return found


def clip_tensor(path: str | Path, cfg: Config) -> Tensor:
    """One centre-cropped test clip ``(3, T, H, W)`` of ``path``, as ``cfg`` samples it."""
    from tagnet.data import short_side_for, transform_for
    from tagnet.datasets.base import VideoDataset

    ds = VideoDataset([(str(path), 0)], ["clip"], num_frames=cfg.data.num_frames, num_clips=1,
                      transform=transform_for(cfg, train=False, views=False),
                      short_side=short_side_for(cfg), on_error="raise")
    return ds[0][0]


@torch.no_grad()
def predict_videos(paths: Sequence[str | Path], model: nn.Module,
                   class_names: Sequence[str] | None = None, cfg: Config | None = None, *,
                   topk: int = 5, num_clips: int = 1, batch_size: int = 4, device=None,
                   on_error: str = "skip") -> list[dict]:
    """Top-k of several videos, batched: ``[{"path", "top": [{"class", "name", "prob"}]}]``.

    ``num_clips`` clips per video are averaged (softmax of each, then the mean). A video
    that cannot be decoded is reported on stdout and left out (``on_error="skip"``) or
    raises :class:`~tagnet.datasets.VideoDecodeError` (``"raise"``).
    """
    if on_error not in ("skip", "raise"):
        raise ValueError(f"on_error must be 'skip' or 'raise', got {on_error!r}")
    from tagnet.data import short_side_for, transform_for
    from tagnet.datasets.base import VideoDataset
    from tagnet.datasets.video import VideoDecodeError, safe_path
    from tagnet.eval.inference import forward_views

    cfg = copy.deepcopy(cfg) if cfg is not None else model_config(model)
    names = _class_names(model, class_names)
    device = _device(model, device)
    cfg.eval.num_clips = num_clips
    ds = VideoDataset([(str(p), 0) for p in paths], names, num_frames=cfg.data.num_frames,
                      num_clips=num_clips, transform=transform_for(cfg, train=False),
                      short_side=short_side_for(cfg), on_error="raise")
    k = min(topk, len(names))
    model.eval()
    results, batch, batch_paths = [], [], []

    def flush():
        probs, _ = forward_views(model, torch.stack(batch).to(device))
        top = probs.cpu().topk(k, dim=1)
        for path, values, classes in zip(batch_paths, top.values, top.indices, strict=True):
            results.append({"path": path, "top": [
                {"class": int(c), "name": names[int(c)], "prob": float(v)}
                for v, c in zip(values, classes, strict=True)]})
        batch.clear()
        batch_paths.clear()

    for i, path in enumerate(paths):
        try:
            clip = ds[i][0]
        except VideoDecodeError as exc:
            if on_error == "raise":
                raise
            print(f"skipping: {safe_path(str(exc))}")  # the message names the file
            continue
        batch.append(clip)
        batch_paths.append(str(path))
        if len(batch) == batch_size:
            flush()
    if batch:
        flush()
    return results


def predict(model: nn.Module, video: str | Path, *, topk: int = 5,
            class_names: Sequence[str] | None = None, num_clips: int = 1,
            window: float | None = None, stride: float | None = None, batch_size: int = 4,
            device=None, cfg: Config | None = None) -> dict:
    """Classify one video; with ``window`` (seconds), each sliding window of it.

    Args:
        model: a classifier from :func:`tagnet.create_model` or :func:`tagnet.load_run`.
        video: a video file PyAV can decode.
        topk (int): classes to return (5).
        class_names (list of str, optional): default ``model.class_names`` (a run's), else
            ``class_0``, ``class_1``, ...
        num_clips (int): clips averaged per video (1; without ``window``).
        window, stride (float, optional): seconds per window and between window starts
            (``stride`` defaults to ``window``; see :mod:`tagnet.eval.windows`).
        device: where to run (default: where the model's parameters are).
        cfg (Config, optional): sampling settings; default :func:`model_config`.

    Returns:
        ``{"path", "top": [{"class", "name", "prob"}, ...]}``, or with ``window``
        ``{"path", "windows": [{"window", "start", "end", "first_frame", "last_frame",
        "top"}, ...]}``.

    Raises:
        tagnet.datasets.VideoDecodeError: the video cannot be decoded.
    """
    if window is None:
        if stride is not None:
            raise ValueError("stride is the step between windows: pass window= too")
        return predict_videos([video], model, class_names, cfg, topk=topk, num_clips=num_clips,
                              device=device, on_error="raise")[0]
    from tagnet.eval.windows import predict_windows

    cfg = copy.deepcopy(cfg) if cfg is not None else model_config(model)
    rows, _ = predict_windows(model, video, cfg, _class_names(model, class_names),
                              window=window, stride=window if stride is None else stride,
                              topk=topk, batch_size=batch_size,
                              device=_device(model, device))
    return {"path": str(video), "windows": rows}


__all__ = ["predict", "predict_videos", "find_videos", "clip_tensor", "model_config"]
