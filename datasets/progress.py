"""Progress bars that suit both a terminal and a log file.

On a terminal :func:`progress` is plain tqdm (a widget in a notebook). When the
bar's stream is not a terminal (CI, ``nohup``, a cluster job's log) it returns a
:class:`LineProgress` instead: whole lines, one each time another ``every``
fraction of the total is done (10% by default) and one when the bar closes, or
at most one per ``interval`` seconds when the total is unknown. A log then holds
about a dozen lines per bar instead of thousands of carriage-return redraws::

    epoch 1/60: 10% 41/412 [00:31<04:42, 1.31it/s, loss=4.112, acc=3.1]
    ...
    epoch 1/60: 100% 412/412 [05:14<00:00, 1.31it/s, loss=3.905, acc=7.8]

``TAGNET_PROGRESS=lines`` or ``=bar`` forces either kind.
"""
from __future__ import annotations

import math
import os
import sys
import time

from tqdm.std import tqdm as _std_tqdm

_LINE = "{percentage:3.0f}% {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}{postfix}]"
_LINE_NO_TOTAL = "{n_fmt} [{elapsed}, {rate_fmt}{postfix}]"


class LineProgress(_std_tqdm):
    """A tqdm that writes a whole line per ``every`` of the total instead of redrawing.

    Args:
        every (float, optional): fraction of the total between two lines. (default: ``0.1``)
        interval (float, optional): seconds between two lines when the total is unknown.
            (default: ``60``)
        **kwargs: tqdm's arguments (``total``, ``desc``, ``unit``, ``initial``, ...).
    """

    def __init__(self, *args, every: float = 0.1, interval: float = 60.0, **kwargs) -> None:
        self._every, self._interval = float(every), float(interval)
        self._last_n, self._last_bucket, self._last_t = None, None, time.monotonic()
        for key in ("dynamic_ncols", "ncols", "leave", "mininterval", "miniters", "bar_format"):
            kwargs.pop(key, None)
        super().__init__(*args, mininterval=0, miniters=1, leave=True, **kwargs)
        self._last_bucket = self._bucket()
        self._last_n = self.n  # nothing is written for the starting position

    def _bucket(self) -> int | None:
        if not self.total:
            return None
        return math.floor(self.n / self.total / self._every + 1e-9)

    def _write_line(self) -> None:
        d = self.format_dict
        d["bar_format"] = ("{desc}: " if d.get("prefix") else "") + (
            _LINE if self.total else _LINE_NO_TOTAL)
        self.fp.write(self.format_meter(**d) + "\n")
        self.fp.flush()
        self._last_n, self._last_t = self.n, time.monotonic()

    def display(self, msg=None, pos=None) -> bool:
        if msg == "" or self._last_n is None:  # a clear request, or tqdm's first refresh
            return True
        if self.n == self._last_n:
            return True
        bucket = self._bucket()
        if bucket is None:
            due = time.monotonic() - self._last_t >= self._interval
        else:
            due = bucket > self._last_bucket
        if due:
            self._last_bucket = bucket
            self._write_line()
        return True

    def close(self) -> None:
        if self.disable:
            return
        if self._last_n is not None and self.n != self._last_n:
            self._write_line()
        self.disable = True
        self._decr_instances(self)


def _wants_lines(stream) -> bool:
    forced = os.environ.get("TAGNET_PROGRESS", "").strip().lower()
    if forced in ("lines", "bar"):
        return forced == "lines"
    try:
        return not stream.isatty()
    except (AttributeError, ValueError):
        return True


def progress(iterable=None, **kwargs):
    """A progress bar: tqdm on a terminal or in a notebook, :class:`LineProgress` in a log.

    Takes tqdm's arguments (``total``, ``desc``, ``unit``, ``disable``, ``file``, ...);
    ``every`` and ``interval`` go to :class:`LineProgress`.
    """
    every, interval = kwargs.pop("every", 0.1), kwargs.pop("interval", 60.0)
    from tqdm.autonotebook import tqdm as auto_tqdm

    if auto_tqdm is not _std_tqdm:  # Jupyter: the notebook widget redraws in place anyway
        return auto_tqdm(iterable, **kwargs)
    if kwargs.get("disable") or not _wants_lines(kwargs.get("file") or sys.stderr):
        return _std_tqdm(iterable, **kwargs)
    return LineProgress(iterable, every=every, interval=interval, **kwargs)
