"""``probe(path) -> VideoInfo``: what a video holds, measured rather than read from headers."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .frames import DecodeStats, iter_frames
from .video import VideoDecodeError, build_index, open_video


@dataclass(frozen=True)
class VideoInfo:
    """Properties of the video stream a reader would use.

    Attributes:
        path (str): the file.
        num_frames (int): decodable frames (``exact=True``) or the packet-count estimate.
        exact (bool): ``num_frames`` was counted by decoding every frame.
        fps (float): average frame rate from the timestamps (``nan`` if unknown).
        duration (float): seconds from the first frame to the end of the last.
        width (int): displayed width in pixels (after rotation).
        height (int): displayed height in pixels (after rotation).
        rotation (int): degrees counter-clockwise the coded frames are turned for display.
        codec (str): decoder name (``h264``, ``mpeg4``, ``vp9``, ...).
        pix_fmt (str): decoded pixel format (``yuv420p``, ``yuvj420p``, ``yuv420p10le``, ...).
        stream_index (int): the chosen stream (FFmpeg's choice among several).
        num_video_streams (int): video streams in the file.
        header_frames (int): what the container claims (``0``: unknown). Never trusted.
        lost_frames (int): packets that produced no frame (``exact=True`` only).
        decode_errors (int): packets the decoder rejected (``exact=True`` only).
        variable_frame_rate (bool): frame durations differ by more than 10%.
        has_audio (bool): an audio stream is present.
        has_subtitles (bool): a subtitle stream is present.
    """

    path: str
    num_frames: int
    exact: bool
    fps: float
    duration: float
    width: int
    height: int
    rotation: int
    codec: str
    pix_fmt: str
    stream_index: int
    num_video_streams: int
    header_frames: int
    lost_frames: int
    decode_errors: int
    variable_frame_rate: bool
    has_audio: bool
    has_subtitles: bool


def probe(
    path: str | os.PathLike, *, exact: bool = False, stream_index: int | None = None
) -> VideoInfo:
    """Describe the video stream of ``path``.

    The frame count comes from demuxing every packet (cheap: no decoding), not from the
    header; ``exact=True`` decodes every frame and counts what actually comes out, which also
    reveals lost frames (corrupt packets). Streams whose packets do not map one to one onto
    frames (missing or repeated timestamps, packed B-frames) are always counted by decoding.
    At least one frame is decoded in either mode, so a file that probes fine is readable.

    Args:
        path (str or PathLike): the video file.
        exact (bool, optional): count decodable frames by decoding. (default: ``False``)
        stream_index (int, optional): describe this stream instead of the best one.

    Returns:
        VideoInfo: the measured properties.

    Raises:
        VideoDecodeError: missing, empty, unreadable, no video stream, no decodable frame.
    """
    path = os.fspath(path)
    with open_video(path, stream_index) as (container, stream):
        index = build_index(container, stream)
        codec, header = stream.codec_context.name, int(stream.frames or 0)
        guessed = float(stream.guessed_rate or 0)
        kinds = {s.type for s in container.streams}
        num_video, sid = len(container.streams.video), stream.index
        container_duration = (container.duration or 0) / 1e6
    exact = exact or not index.reliable  # no trustworthy estimate: count by decoding
    with open_video(path, sid) as (container, stream):  # fresh pass: rewinding is not always safe
        stats, decoded, first = DecodeStats(), 0, None
        for frame in iter_frames(container, stream, stats):
            first = frame if first is None else first
            decoded += 1
            if not exact:
                break
        if first is None:
            raise VideoDecodeError(
                path,
                f"no decodable frames ({index.num_packets} packets, {stats.errors} decode errors)",
                codec=codec,
            )
        rotation = round((first.rotation or 0) / 90) % 4 * 90
        w, h = first.width, first.height
        width, height = (h, w) if rotation % 180 else (w, h)
        pix_fmt = first.format.name
    fps, duration, vfr = _timing(index, guessed)
    if not np.isfinite(duration) and container_duration:
        duration = container_duration
    return VideoInfo(
        path=path,
        num_frames=decoded if exact else index.num_packets,
        exact=exact,
        fps=fps,
        duration=duration,
        width=width,
        height=height,
        rotation=rotation,
        codec=codec,
        pix_fmt=pix_fmt,
        stream_index=sid,
        num_video_streams=num_video,
        header_frames=header,
        lost_frames=max(index.num_packets - decoded, 0) if exact else 0,
        decode_errors=stats.errors if exact else 0,
        variable_frame_rate=vfr,
        has_audio="audio" in kinds,
        has_subtitles="subtitle" in kinds,
    )


def _timing(index, guessed_fps: float) -> tuple[float, float, bool]:
    """(fps, duration in seconds, variable frame rate) from the packet timeline."""
    t = index.timeline.astype(np.float64) * float(index.time_base)
    if t.size < 2:
        fps = guessed_fps or float("nan")
        return fps, (1 / fps if t.size and fps else float("nan")), False
    gaps = np.diff(t)
    med = float(np.median(gaps))
    fps = (t.size - 1) / (t[-1] - t[0])
    vfr = bool(gaps.max() - gaps.min() > 0.1 * med)
    return float(fps), float(t[-1] - t[0] + med), vfr
