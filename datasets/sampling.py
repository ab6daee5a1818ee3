"""Frame-index samplers: which frames of an ``n``-frame video a clip uses.

All samplers are pure functions of the frame count (plus a ``torch.Generator`` for the random
one) and return ``torch.long`` indices in ``[0, n - 1]``. Clips shorter than the requested
number of frames repeat frames, as the released TAG-Head code does.

=========  ===============================================  ==============================
sampling   training form (``train=True``)                   test form (``train=False``)
=========  ===============================================  ==============================
uniform    ``linspace(0, n - 1, T)`` (the release)          the same
segment    one random frame per equal segment (TSN)         each segment's centre frame
dense      ``T`` frames ``stride`` apart from a random      from the central start
           start (the Kinetics protocol of TSM and ATR)     (``K`` clips: evenly spread)
=========  ===============================================  ==============================

Example:
    >>> uniform_indices(10, 4).tolist()
    [0, 3, 6, 9]
    >>> dense_indices(20, 4, stride=2, start="center").tolist()
    [6, 8, 10, 12]
    >>> multi_clip_indices(10, 4, 2, mode="window").tolist()
    [[0, 1, 2, 3], [6, 7, 8, 9]]
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
from torch import Tensor

SAMPLINGS = ("uniform", "segment", "dense")


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
    num_total: int, num_frames: int, generator: torch.Generator | None = None, *,
    random: bool = True
) -> Tensor:
    r"""One random frame per equal segment (TSN-style training sampler).

    The video's ``[0, n)`` range is split into ``T`` equal segments (real-valued boundaries
    ``k n / T``) and one frame is drawn uniformly from each, so the result is sorted and
    covers the whole video. Short videos (``n < T``) repeat frames. ``random=False`` takes
    each segment's centre, :math:`\lfloor (k + 1/2)\, n / T \rfloor` (TSN's test sampling).

    Args:
        num_total (int): frames in the video.
        num_frames (int): frames to sample (= segments).
        generator (torch.Generator, optional): random source; the global one if ``None``.
        random (bool, optional): draw (``True``) or take the centres. (default: ``True``)

    Returns:
        Tensor: sorted random indices.

    Shapes:
        - output: :math:`(T,)`, ``torch.long``.
    """
    _check(num_total, num_frames)
    edges = torch.linspace(0, num_total, num_frames + 1, dtype=torch.float64)
    r = torch.rand(num_frames, generator=generator, dtype=torch.float64) if random \
        else torch.full((num_frames,), 0.5, dtype=torch.float64)
    idx = (edges[:-1] + r * (edges[1:] - edges[:-1])).floor().long()
    return idx.clamp_(0, num_total - 1)


def dense_indices(
    num_total: int, num_frames: int, stride: int = 1, *, start: str | int = "random",
    generator: torch.Generator | None = None
) -> Tensor:
    r"""``T`` consecutive frames ``stride`` apart (dense sampling, the Kinetics protocol).

    The clip spans :math:`L = (T - 1)\,s + 1` frames. Its start :math:`a` is drawn uniformly
    from :math:`0 .. \max(n - L, 0)` (``start="random"``, training), is the central
    :math:`\lfloor \max(n - L, 0) / 2 \rfloor` (``start="center"``, testing) or is given
    (an ``int``); then

    .. math::
        i_j = \min(a + j\,s,\; n - 1), \qquad j = 0 .. T - 1,

    so a video shorter than the span repeats its last frame.

    Args:
        num_total (int): frames in the video ``n``.
        num_frames (int): frames to sample ``T``.
        stride (int, optional): frame step ``s >= 1``. (default: ``1``)
        start (str or int, optional): ``"random"``, ``"center"`` or a frame index.
        generator (torch.Generator, optional): random source for ``"random"``.

    Returns:
        Tensor: non-decreasing indices.

    Shapes:
        - output: :math:`(T,)`, ``torch.long``.
    """
    _check(num_total, num_frames)
    if stride < 1:
        raise ValueError(f"dense sampling needs stride >= 1, got {stride}")
    last = max(num_total - ((num_frames - 1) * stride + 1), 0)
    if start == "random":
        a = int(torch.randint(0, last + 1, (1,), generator=generator))
    elif start == "center":
        a = last // 2
    elif isinstance(start, int) and not isinstance(start, bool) and 0 <= start < num_total:
        a = start
    else:
        raise ValueError(f"dense start {start!r} is neither 'random', 'center' nor a frame "
                         f"index in [0, {num_total})")
    return (a + torch.arange(num_frames) * stride).clamp_(max=num_total - 1)


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
    *,
    train: bool = True,
    stride: int = 1,
    num_clips: int = 1,
) -> Callable[[int], Tensor]:
    """Resolve a sampling name to a function ``n -> indices``.

    Args:
        sampling (str or callable): ``"uniform"`` (released, deterministic), ``"segment"``,
            ``"dense"`` (the table in the module docstring) or a callable
            ``n -> LongTensor`` that passes through.
        num_frames (int): frames per clip.
        generator (torch.Generator, optional): random source of the training forms.
        train (bool, optional): the training (random) or the test (deterministic) form.
            (default: ``True``)
        stride (int, optional): the frame step of ``"dense"``. (default: ``1``)
        num_clips (int, optional): ``K > 1`` gives ``(K, T)`` test clips:
            :func:`multi_clip_indices` ``mode="window"`` with ``stride`` for ``"dense"``,
            ``mode="uniform"`` otherwise. (default: ``1``)

    Returns:
        callable: ``sampler(n) -> LongTensor (T,)`` (``(K, T)`` for ``num_clips > 1``).
    """
    if callable(sampling):
        return sampling
    if sampling not in SAMPLINGS:
        raise ValueError(f"sampling {sampling!r} is unknown; known: {', '.join(SAMPLINGS)}")
    if num_clips > 1:
        mode = "window" if sampling == "dense" else "uniform"
        return partial(multi_clip_indices, num_frames=num_frames, num_clips=num_clips,
                       mode=mode, stride=stride)
    if sampling == "uniform":
        return partial(uniform_indices, num_frames=num_frames)
    if sampling == "segment":
        return partial(segment_indices, num_frames=num_frames, generator=generator,
                       random=train)
    return partial(dense_indices, num_frames=num_frames, stride=stride,
                   start="random" if train else "center", generator=generator)
