"""Frame-index samplers: which frames of an ``n``-frame video a clip uses.

All samplers are pure functions of the frame count (plus a ``torch.Generator`` for the random
one) and return ``torch.long`` indices in ``[0, n - 1]``. Clips shorter than the requested
number of frames repeat frames, as the released TAG-Head code does.

Example:
    >>> uniform_indices(10, 4).tolist()
    [0, 3, 6, 9]
    >>> multi_clip_indices(10, 4, 2, mode="window").tolist()
    [[0, 1, 2, 3], [6, 7, 8, 9]]
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
from torch import Tensor

SAMPLINGS = ("uniform", "segment")


def _check(num_total: int, num_frames: int) -> None:
    if num_total < 1:
        raise ValueError(f"cannot sample from a video with {num_total} frames")
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")


def uniform_indices(num_total: int, num_frames: int, *, exact: bool = False) -> Tensor:
    r"""Evenly spaced frame indices over the whole video ("UniView"), deterministic.

    The released code computes ``torch.linspace(0, n - 1, T).long()`` in float32; the default
    reproduces it bit for bit. Float32 rounding makes it differ from the exact value
    :math:`\lfloor i (n-1) / (T-1) \rfloor` in rare cases (``n=148, T=64``: entry 27 of the
    exact grid, ``27 * 147 / 63 = 63``, is 62 in the release); ``exact=True`` gives the exact
    integer grid.

    Args:
        num_total (int): frames in the video, ``n >= 1``.
        num_frames (int): frames to sample, ``T >= 1``; ``T > n`` repeats frames.
        exact (bool, optional): integer arithmetic instead of the release's float32.
            (default: ``False``)

    Returns:
        Tensor: indices, non-decreasing, first ``0`` and last ``n - 1`` (for ``T > 1``).

    Shapes:
        - output: :math:`(T,)`, ``torch.long``.
    """
    _check(num_total, num_frames)
    if exact:
        if num_frames == 1:
            return torch.zeros(1, dtype=torch.long)
        i = torch.arange(num_frames, dtype=torch.long)
        return torch.div(i * (num_total - 1), num_frames - 1, rounding_mode="floor")
    return torch.linspace(0, num_total - 1, num_frames).long()


def segment_indices(
    num_total: int, num_frames: int, generator: torch.Generator | None = None
) -> Tensor:
    r"""One random frame per equal segment (TSN-style training sampler).

    The video's ``[0, n)`` range is split into ``T`` equal segments (real-valued boundaries
    ``k n / T``) and one frame is drawn uniformly from each, so the result is sorted and
    covers the whole video. Short videos (``n < T``) repeat frames.

    Args:
        num_total (int): frames in the video.
        num_frames (int): frames to sample (= segments).
        generator (torch.Generator, optional): random source; the global one if ``None``.

    Returns:
        Tensor: sorted random indices.

    Shapes:
        - output: :math:`(T,)`, ``torch.long``.
    """
    _check(num_total, num_frames)
    edges = torch.linspace(0, num_total, num_frames + 1, dtype=torch.float64)
    r = torch.rand(num_frames, generator=generator, dtype=torch.float64)
    idx = (edges[:-1] + r * (edges[1:] - edges[:-1])).floor().long()
    return idx.clamp_(0, num_total - 1)


def multi_clip_indices(
    num_total: int, num_frames: int, num_clips: int, *, mode: str = "uniform", stride: int = 1
) -> Tensor:
    r"""``K`` evenly spaced clips for multi-clip testing.

    - ``mode="uniform"``: every clip spans the whole video like :func:`uniform_indices`;
      clip ``k`` is shifted by ``k / K`` of the sampling step (clamped at the last frame), so
      ``K = 1`` is exactly the single released clip.
    - ``mode="window"``: clip ``k`` is a window of ``T`` frames ``stride`` apart, the window
      starts spread evenly from the first to the last possible start (SlowFast-style).

    Args:
        num_total (int): frames in the video.
        num_frames (int): frames per clip ``T``.
        num_clips (int): clips ``K >= 1``.
        mode (str, optional): ``"uniform"`` or ``"window"``. (default: ``"uniform"``)
        stride (int, optional): frame step inside a window. (default: ``1``)

    Returns:
        Tensor: indices per clip.

    Shapes:
        - output: :math:`(K, T)`, ``torch.long``.
    """
    _check(num_total, num_frames)
    if num_clips < 1:
        raise ValueError(f"num_clips must be >= 1, got {num_clips}")
    k = torch.arange(num_clips, dtype=torch.float64)[:, None]
    if mode == "uniform":
        base = torch.linspace(0, num_total - 1, num_frames).to(torch.float64)  # (T,)
        step = (num_total - 1) / max(num_frames - 1, 1)
        idx = (base[None] + k * step / num_clips).floor().long()  # (K, T)
    elif mode == "window":
        span = (num_frames - 1) * stride + 1
        last_start = max(num_total - span, 0)
        starts = torch.linspace(0, last_start, num_clips, dtype=torch.float64).floor().long()
        idx = starts[:, None] + torch.arange(num_frames) * stride  # (K, T)
    else:
        raise ValueError(f"multi-clip mode {mode!r} is unknown; known: uniform, window")
    return idx.clamp_(0, num_total - 1)


def get_sampler(
    sampling: str | Callable[[int], Tensor],
    num_frames: int,
    generator: torch.Generator | None = None,
) -> Callable[[int], Tensor]:
    """Resolve a sampling name to a function ``n -> indices (T,)``.

    Args:
        sampling (str or callable): ``"uniform"`` (released, deterministic), ``"segment"``
            (random per segment) or a callable ``n -> LongTensor`` that passes through.
        num_frames (int): frames per clip.
        generator (torch.Generator, optional): random source for ``"segment"``.

    Returns:
        callable: ``sampler(n) -> LongTensor (T,)``.
    """
    if callable(sampling):
        return sampling
    if sampling == "uniform":
        return partial(uniform_indices, num_frames=num_frames)
    if sampling == "segment":
        return partial(segment_indices, num_frames=num_frames, generator=generator)
    raise ValueError(f"sampling {sampling!r} is unknown; known: {', '.join(SAMPLINGS)}")
