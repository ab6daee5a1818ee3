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

import errno
import platform
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tagnet.datasets.atomic import atomic_path
from tagnet.weights import CHECKPOINT_FORMAT, CHECKPOINT_VERSION  # reading: tagnet.weights

FORMAT = CHECKPOINT_FORMAT
FORMAT_VERSION = CHECKPOINT_VERSION


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


class CheckpointWriteError(OSError, RuntimeError):
    """A checkpoint could not be written (disk full, file-size limit, permissions); the
    previous file of that name is intact."""


#: Entries a checkpoint needs to resume training from it.
RESUME_KEYS = ("optimizer", "scheduler", "step_in_epoch", "global_step", "running", "best",
               "rng")


def save_checkpoint(state: dict[str, Any], path: str | Path) -> Path:
    """Write ``state`` atomically (:func:`tagnet.datasets.atomic.atomic_path`).

    A run killed while saving leaves the previous checkpoint intact; a save that
    fails (disk full, file-size limit) removes its temporary file and raises
    :class:`CheckpointWriteError` naming the path and the reason.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"format": FORMAT, "format_version": FORMAT_VERSION, **state}
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            sink = _Sink(f)
            try:
                torch.save(state, sink)
            except RuntimeError:  # torch's writer hides the OSError behind "unexpected pos"
                if sink.error is None:
                    raise
                raise sink.error from None
    except OSError as exc:
        reason = _WRITE_ERRORS.get(exc.errno, exc.strerror or str(exc))
        kept = "; the previous checkpoint there is intact" if path.is_file() else ""
        err = CheckpointWriteError(f"cannot write checkpoint '{path}': {reason}{kept}")
        err.errno = exc.errno
        raise err from exc
    return path


class _Sink:
    """A file that remembers the OSError of a failed write (disk full, EFBIG)."""

    def __init__(self, f) -> None:
        self.f, self.error = f, None

    def write(self, data) -> int:
        try:
            return self.f.write(data)
        except OSError as exc:
            self.error = exc
            raise

    def flush(self) -> None:
        self.f.flush()


_WRITE_ERRORS = {
    errno.ENOSPC: "no space left on device (free some space, then resume the run)",
    errno.EDQUOT: "disk quota exceeded (free some space, then resume the run)",
    errno.EFBIG: "file too large: the file-size limit (ulimit -f) was reached",
    errno.EACCES: "permission denied",
    errno.EROFS: "read-only file system",
}


def check_resumable(state: dict, path: str | Path) -> None:
    """Raise naming the missing entries if ``state`` cannot continue a run."""
    missing = [k for k in RESUME_KEYS if k not in state]
    if missing:
        raise ValueError(f"checkpoint '{path}' cannot resume a run: it lacks "
                         f"{', '.join(missing)}; start a new run from its weights with "
                         f"model.weights={path}")


__all__ = ["save_checkpoint", "check_resumable", "capture_rng_state", "restore_rng_state",
           "versions", "CheckpointWriteError", "FORMAT", "FORMAT_VERSION"]
