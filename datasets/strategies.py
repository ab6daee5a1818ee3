"""The two ways :func:`~tagnet.datasets.read_frames` walks a stream.

- :func:`decode_by_pts`: frames are identified by their timestamp's position in the packet
  timeline; supports seeking (verified) and tolerates lost frames.
- :func:`decode_by_count`: frames are identified by decoder output order; for streams whose
  timestamps cannot be trusted. Sequential only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import av
import numpy as np

from .frames import DecodeStats, iter_frames
from .video import PacketIndex


class Unreliable(Exception):
    """Decoded timestamps do not match the packet timeline (e.g. packed B-frames)."""


class SeekFailed(Exception):
    """A seek did not land on the keyframe it asked for."""


def _key_before(keys: np.ndarray, j: int) -> int:
    """Position of the last keyframe at or before position ``j`` (``0`` if none)."""
    r = int(np.searchsorted(keys, j, side="right"))
    return int(keys[r - 1]) if r else 0


def _should_seek(mode: str, key: int, cur: int, seek_cost: int) -> bool:
    if mode == "seek":
        return key > cur
    if mode == "auto":
        return key - cur > seek_cost
    return False


def decode_by_pts(
    container,
    stream,
    index: PacketIndex,
    targets: np.ndarray,
    mode: str,
    convert: Callable,
    stats: DecodeStats,
    seek_cost: int,
) -> tuple[dict[int, np.ndarray], int, int, int]:
    """Decode the frames at timeline positions ``targets``.

    Targets are visited in increasing order. Before walking to the next one the decoder either
    continues from where it is or seeks to the keyframe before the target (``mode``). A
    position that no decoded frame fills (a corrupt packet) is counted as lost and a target
    there gets the nearest decoded frame.

    Returns:
        tuple: ``(frames by position, lost, substituted, number of seeks)``.

    Raises:
        Unreliable: a decoded pts is missing, unknown or not increasing.
        SeekFailed: a seek landed past its keyframe or on a frame that is not a keyframe.
    """
    timeline, keys, n = index.timeline, index.key_positions, len(index.timeline)
    need = np.unique(targets)
    got: dict[int, np.ndarray] = {}
    lost = substituted = ti = 0
    frames, prev_pos, prev_frame, seek_to, seeks, decide = None, -1, None, -1, 0, True

    def fill(pos: int, frame) -> None:  # targets skipped before position `pos`
        nonlocal ti, substituted
        while ti < need.size and need[ti] < pos and (prev_frame is not None or frame is not None):
            j = int(need[ti])
            use_prev = prev_frame is not None and (frame is None or j - prev_pos <= pos - j)
            got[j] = convert(prev_frame if use_prev else frame)
            substituted, ti = substituted + 1, ti + 1

    while ti < need.size:
        if decide:
            k = _key_before(keys, int(need[ti]))
            cur = prev_pos + 1 if frames is not None else 0  # next position the decoder yields
            if _should_seek(mode, k, cur, seek_cost):
                try:
                    container.seek(int(timeline[k]), stream=stream, backward=True, any_frame=False)
                except av.error.FFmpegError as e:
                    raise SeekFailed(str(e)) from e
                frames = iter_frames(container, stream, stats)
                prev_pos, prev_frame, seek_to, seeks = k - 1, None, k, seeks + 1
            elif frames is None:
                frames = iter_frames(container, stream, stats)
            decide = False
        frame = next(frames, None)
        if frame is None:  # end of stream: everything after the last frame is lost
            if seek_to >= 0:
                raise SeekFailed(f"seek to frame {seek_to} decoded nothing")
            lost += n - 1 - prev_pos
            fill(n, None)
            break
        if frame.pts is None:
            raise Unreliable("decoded frame without pts")
        pos = int(np.searchsorted(timeline, frame.pts))
        if pos >= n or timeline[pos] != frame.pts:
            raise Unreliable(f"decoded pts {frame.pts} is not a packet pts")
        if seek_to >= 0:  # first frame at or after the keyframe we seeked to
            if pos < seek_to:
                continue  # leading frames of an open GOP
            if pos != seek_to or not frame.key_frame:
                raise SeekFailed(f"seek to frame {seek_to} landed on frame {pos}")
            seek_to = -1
        if pos <= prev_pos:
            raise Unreliable(f"decoded pts not increasing at frame {pos}")
        lost += pos - prev_pos - 1
        before = ti
        fill(pos, frame)
        if ti < need.size and need[ti] == pos:
            got[pos] = convert(frame)
            ti += 1
        decide = ti != before
        prev_pos, prev_frame = pos, frame
    return got, lost, substituted, seeks


def decode_by_count(
    container, stream, targets: np.ndarray | None, stats: DecodeStats
) -> Iterator[tuple[int, object]]:
    """Yield ``(i, frame)`` for the ``i``-th decoded frame, for every frame (``targets=None``)
    or only the targeted ones, stopping after the last target."""
    wanted = None if targets is None else set(targets.tolist())
    last = -1 if targets is None else int(targets.max())
    for i, frame in enumerate(iter_frames(container, stream, stats)):
        if wanted is None or i in wanted:
            yield i, frame
        if i == last:
            return


def substitute(got: dict[int, np.ndarray], targets: np.ndarray) -> int:
    """Fill targets missing from ``got`` with the nearest present frame; returns how many."""
    have = np.asarray(sorted(got), dtype=np.int64)
    missing = sorted(set(targets.tolist()) - set(got))
    for j in missing:
        r = int(np.searchsorted(have, j))
        cand = [have[x] for x in (r - 1, r) if 0 <= x < have.size]
        got[j] = got[int(min(cand, key=lambda c: (abs(c - j), c)))]
    return len(missing)
