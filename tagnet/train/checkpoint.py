"""Atomic training checkpoints that load with ``torch.load(weights_only=True)``.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts:

.. code-block:: text

    format, format_version          "tagnet-checkpoint", 1
    model, optimizer, scheduler     state dicts (scaler too, with AMP)
    epoch, step_in_epoch            epochs completed, optimiser steps into the next
    global_step, best, metrics      counters, best selection score, last metrics
    rng                             torch / CUDA / numpy / python generator states
    config, class_names, versions   resolved config dict, class names, package versions

Everything that is not a tensor is stored as builtin types (numpy's RNG state
becomes a tensor and a list), so the file needs no pickled classes and loads
with ``weights_only=True``.
"""
from __future__ import annotations

import os
import platform
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

FORMAT = "tagnet-checkpoint"
FORMAT_VERSION = 1


def versions() -> dict[str, str]:
    """Versions of the packages a checkpoint depends on."""
    import torch_geometric

    import tagnet

    return {"tagnet": str(tagnet.__version__), "torch": str(torch.__version__),
            "torch_geometric": str(torch_geometric.__version__), "numpy": str(np.__version__),
            "python": platform.python_version()}


def capture_rng_state() -> dict[str, Any]:
    """States of every random generator a training step may draw from."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": pos,
                  "has_gauss": has_gauss, "cached_gaussian": cached},
        "python": {"version": version, "internal": list(internal), "gauss": gauss},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"],
                         n["has_gauss"], n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["internal"]), p["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(state: dict[str, Any], path: str | Path) -> Path:
    """Write ``state`` atomically: to ``<path>.tmp`` first, fsync, then rename.

    A run killed while saving leaves the previous checkpoint intact; a save that
    fails (disk full) removes its temporary file and raises.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"format": FORMAT, "format_version": FORMAT_VERSION, **state}
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)  # make the rename itself durable
    return path


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows: directories cannot be opened
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Read a tagnet checkpoint with ``weights_only=True``; raises on other files."""
    path = Path(path)
    if path.is_dir():
        path = path / "last.pth"
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint '{path}' does not exist; pass a run folder "
                                "(its last.pth is used) or a .pth file written by tagnet train")
    state = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(
            f"'{path}' is not a tagnet training checkpoint (no 'format': {FORMAT!r} entry); "
            "plain state dicts load with model.load_state_dict or model.backbone_weights")
    if state["format_version"] > FORMAT_VERSION:
        raise ValueError(f"'{path}' has checkpoint format {state['format_version']}, newer "
                         f"than this tagnet ({FORMAT_VERSION}); upgrade tagnet")
    return state


__all__ = ["save_checkpoint", "load_checkpoint", "capture_rng_state", "restore_rng_state",
           "versions", "FORMAT", "FORMAT_VERSION"]
