"""``read_frames`` / ``read_clip``: decode exactly the frames a clip needs.

Frame ``i`` of a video is the ``i``-th frame in presentation order. When the packets carry
unique timestamps (nearly always) a decoded frame's index is the position of its pts in the
packet timeline, which stays right across corrupt packets (lost frames leave a gap that is
filled with the nearest decoded frame and reported) and across seeks. When timestamps cannot
be trusted (missing, duplicated, or non-monotonic after decoding as with packed B-frames in
AVI) the decoder's output order is used, decoding sequentially.

Two ways to reach the frames, chosen per target frame by ``strategy``::

    sequential  decode from the start, stop after the last needed frame
    seek        jump to the keyframe before each target that lies beyond the current GOP
    auto        seek only when it skips more than ``SEEK_COST`` frames of decoding

Every seek is verified: the first frame after it must be the keyframe that was asked for.
A seek that lands elsewhere (a container index that lies) switches to sequential decoding.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import av
import numpy as np
import torch
from torch import Tensor

from .frames import DecodeStats, FrameConverter
from .sampling import get_sampler
from .strategies import SeekFailed, Unreliable, decode_by_count, decode_by_pts, substitute
from .video import INDEX_CACHE, VideoDecodeError, VideoDecodeWarning, build_index, open_video

STRATEGIES = ("auto", "sequential", "seek")
SEEK_COST = 6  # a seek + decoder flush costs about this many decoded frames (bench_decode)


@dataclass
class DecodedClip:
    """Frames returned by :func:`read_frames` and how they were obtained.

    Attributes:
        frames (Tensor): ``(T, H, W, 3)`` uint8 RGB, upright.
        indices (Tensor): ``(T,)`` long, the frame indices that were read.
        num_frames (int): frame count ``n`` of the video the indices refer to.
        lost (int): frames seen to be missing (corrupt packets) in the decoded range.
        substituted (int): requested frames replaced by their nearest decoded neighbour.
        decode_errors (int): packets the decoder rejected.
        corrupt (int): decoded frames the decoder flagged as damaged (error concealment).
        strategy (str): ``"sequential"``, ``"seek"`` (at least one seek) or ``"counted"``
            (sequential, timestamps unusable).
        seeks (int): seeks made.
    """

    frames: Tensor
    indices: Tensor
    num_frames: int
    lost: int = 0
    substituted: int = 0
    decode_errors: int = 0
    corrupt: int = 0
    strategy: str = "sequential"
    seeks: int = 0


def _resolve(indices, n: int, path: str) -> np.ndarray:
    idx = indices(n) if callable(indices) else indices
    idx = torch.as_tensor(idx, dtype=torch.long).reshape(-1).numpy()
    if idx.size == 0:
        raise ValueError(f"no frame indices requested from '{path}'")
    if idx.min() < 0 or idx.max() >= n:
        raise IndexError(f"frame index {int(idx.max())} out of range for '{path}' ({n} frames)")
    return idx


def read_frames(
    path: str | os.PathLike,
    indices: Sequence[int] | Tensor | Callable[[int], Tensor],
    *,
    short_side: int | None = None,
    size: tuple[int, int] | None = None,
    strategy: str = "auto",
    threads: int | None = None,
    stream_index: int | None = None,
    interpolation: str = "BILINEAR",
) -> DecodedClip:
    """Decode the frames at ``indices`` of a video.

    Args:
        path (str or PathLike): the video file.
        indices (sequence, Tensor or callable): frame indices, or ``n -> indices`` when they
            depend on the frame count (samplers). Any shape; repeats allowed.
        short_side (int, optional): resize at decode time to this shorter side (the release
            used 128). (default: ``None``, native size)
        size (tuple[int, int], optional): resize to exactly ``(height, width)``.
        strategy (str, optional): ``"auto"``, ``"sequential"`` or ``"seek"``.
        threads (int, optional): decoder threads, ``0`` = FFmpeg's choice, ``None`` = one
            below 0.5 megapixel, else FFmpeg's choice. (default: ``None``)
        stream_index (int, optional): read this stream instead of the best one.
        interpolation (str, optional): swscale algorithm. (default: ``"BILINEAR"``)

    Returns:
        DecodedClip: frames ``(*indices.shape, H, W, 3)`` flattened to ``(T, H, W, 3)``.

    Raises:
        VideoDecodeError: the file is missing, unreadable or has no decodable frame.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy {strategy!r} is unknown; known: {', '.join(STRATEGIES)}")
    path = os.fspath(path)
    entry = _entry(path, stream_index, threads)
    convert = FrameConverter(short_side, size, entry["sar"], interpolation)
    opener = partial(open_video, path, stream_index, threads)
    try:
        out = None
        if entry["index"].reliable and entry["count"] is None:
            out = _read_by_pts(opener, path, entry, indices, strategy, convert)
        if out is None:  # timestamps unusable: count frames in decoder output order
            out = _read_by_count(opener, path, entry, indices, convert)
    except av.error.FFmpegError as e:  # e.g. a pixel format swscale cannot convert
        raise VideoDecodeError(path, f"decoding failed: {e}", codec=entry["codec"]) from e
    got, targets, n, lost, substituted, stats, used, seeks = out
    substituted += substitute(got, targets)
    frames = np.stack([got[i] for i in targets.tolist()])  # (T, H, W, 3)
    if substituted or stats.corrupt:
        warnings.warn(
            VideoDecodeWarning(
                f"video '{path}' ({entry['codec']}): {lost} frame(s) lost and {stats.corrupt} "
                f"damaged by corrupt data ({stats.errors} decode errors); {substituted} of "
                f"{targets.size} requested frame(s) replaced by the nearest decoded frame"
            ),
            stacklevel=2,
        )
    return DecodedClip(
        frames=torch.from_numpy(frames),
        indices=torch.from_numpy(targets),
        num_frames=n,
        lost=lost,
        substituted=substituted,
        decode_errors=stats.errors,
        corrupt=stats.corrupt,
        strategy=used,
        seeks=seeks,
    )


def _entry(path: str, stream_index: int | None, threads: int | None) -> dict:
    """The cached packet index and stream facts of ``path`` (built on first use)."""
    key = INDEX_CACHE.key(path, stream_index)
    entry = INDEX_CACHE.get(key)
    if entry is None:
        with open_video(path, stream_index, threads) as (container, stream):
            entry = {
                "index": build_index(container, stream),
                "count": None,  # decoded frame count, once timestamps proved unusable
                "seek_ok": True,  # False once a seek landed somewhere else
                "codec": stream.codec_context.name,
                "sar": float(stream.sample_aspect_ratio or 1),
            }
        INDEX_CACHE.put(key, entry)
    return entry


def _read_by_pts(opener, path, entry, indices, strategy, convert):
    """Timeline-position decoding; ``None`` if the decoded timestamps prove unusable."""
    index = entry["index"]
    n = len(index.timeline)
    targets = _resolve(indices, n, path)
    mode = strategy if entry["seek_ok"] else "sequential"
    for attempt in (mode, "sequential"):
        stats = DecodeStats()
        try:
            with opener() as (container, stream):
                got, lost, substituted, seeks = decode_by_pts(
                    container, stream, index, targets, attempt, convert, stats, SEEK_COST
                )
        except SeekFailed:  # the container's seek index lies: never trust it again
            entry["seek_ok"] = False
            continue
        except Unreliable:
            return None
        if not got:
            raise VideoDecodeError(path, _nothing(index, stats), codec=entry["codec"])
        used = "seek" if seeks else "sequential"
        return got, targets, n, lost, substituted, stats, used, seeks
    raise AssertionError("unreachable: sequential decoding never seeks")


def _read_by_count(opener, path, entry, indices, convert):
    """Output-order decoding (sequential): counts the frames first if not known yet."""
    stats = DecodeStats()
    if entry["count"] is None:
        with opener() as (container, stream):
            entry["count"] = sum(1 for _ in decode_by_count(container, stream, None, stats))
    n = entry["count"]
    if n == 0:
        raise VideoDecodeError(path, _nothing(entry["index"], stats), codec=entry["codec"])
    targets, stats = _resolve(indices, n, path), DecodeStats()
    with opener() as (container, stream):
        got = {i: convert(f) for i, f in decode_by_count(container, stream, targets, stats)}
    if not got:
        raise VideoDecodeError(path, _nothing(entry["index"], stats), codec=entry["codec"])
    return got, targets, n, 0, 0, stats, "counted", 0


def _nothing(index, stats: DecodeStats) -> str:
    why = f"no decodable frames ({index.num_packets} packets, {stats.errors} decode errors"
    if stats.messages:
        why += f", first: {stats.messages[0]}"
    if index.read_error or stats.read_error:
        why += f", read error: {index.read_error or stats.read_error}"
    return why + ")"


def read_clip(
    path: str | os.PathLike,
    num_frames: int,
    sampling: str | Callable[[int], Tensor] = "uniform",
    *,
    generator: torch.Generator | None = None,
    **kwargs,
) -> Tensor:
    """Read a clip of ``num_frames`` frames sampled from the whole video.

    Args:
        path (str or PathLike): the video file.
        num_frames (int): frames in the clip ``T``.
        sampling (str or callable, optional): ``"uniform"`` (released: ``linspace(0, n-1, T)``
            rounded down), ``"segment"`` (one random frame per segment) or ``n -> indices``.
        generator (torch.Generator, optional): random source for ``"segment"``.
        **kwargs: :func:`read_frames` options (``short_side``, ``size``, ``strategy``, ...).

    Returns:
        Tensor: uint8 RGB frames, upright.

    Shapes:
        - output: :math:`(T, H, W, 3)`.

    Example:
        >>> clip = read_clip("clip.mp4", 32, short_side=128)  # doctest: +SKIP
    """
    sampler = get_sampler(sampling, num_frames, generator)
    return read_frames(path, sampler, **kwargs).frames
