"""Run logs: JSON lines (always) and TensorBoard scalars (optional), rank 0 only."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path


class RunLogger:
    """Appends one JSON object per line to ``<run>/log.jsonl``.

    Records carry ``kind`` (``"step"``, ``"epoch"``, ``"info"``, ``"test"``) and a
    wall-clock ``time``. Numeric fields of step and epoch records also go to
    TensorBoard (``<run>/tb``) when ``tensorboard=True``; that needs the
    ``tensorboard`` package. On ranks other than 0 every method is a no-op.

    Args:
        run_dir (str or Path): the run folder.
        enabled (bool): write anything at all (``False`` on ranks > 0).
        tensorboard (bool): also write TensorBoard event files.
        echo (bool): print ``info`` records to stderr.
    """

    def __init__(self, run_dir: str | Path, enabled: bool = True, tensorboard: bool = False,
                 echo: bool = True) -> None:
        self.enabled, self.echo = enabled, echo
        self.path = Path(run_dir) / "log.jsonl"
        self._tb = None
        if not enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as exc:
                raise RuntimeError("train.tensorboard=true needs the tensorboard package: "
                                   "pip install tensorboard") from exc
            self._tb = SummaryWriter(str(Path(run_dir) / "tb"))

    def log(self, kind: str, step: int | None = None, **fields) -> None:
        if not self.enabled:
            return
        record = {"kind": kind, "time": round(time.time(), 3), **fields}
        if step is not None:
            record["step"] = step
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
        if self._tb is not None and step is not None:
            for key, value in fields.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    self._tb.add_scalar(f"{kind}/{key}", value, step)
        if kind == "info" and self.echo:
            print(fields.get("message", record), file=sys.stderr)

    def info(self, message: str, **fields) -> None:
        self.log("info", message=message, **fields)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()


__all__ = ["RunLogger"]
