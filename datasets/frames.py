"""Decoded-frame plumbing shared by the readers: error-tolerant decoding and RGB conversion."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import av
import numpy as np
from av.video.reformatter import VideoReformatter


@dataclass
class DecodeStats:
    """Counters filled while decoding one pass over a stream."""

    errors: int = 0
    corrupt: int = 0
    read_error: str | None = None
    messages: list[str] = field(default_factory=list)


def iter_frames(container, stream, stats: DecodeStats) -> Iterator:
    """Decode ``stream`` packet by packet, surviving bad data.

    A packet the decoder rejects is counted in ``stats.errors`` and decoding goes on with the
    next one; frames the decoder flags as corrupt (error concealment) are counted in
    ``stats.corrupt``; a demuxer failure (truncated file) ends the pass after flushing the
    decoder, so frames still buffered (B-frame reordering, frame threads) come out.

    Yields:
        av.VideoFrame: frames in presentation order as the decoder emits them.
    """
    demux = container.demux(stream)
    while True:
        try:
            packet = next(demux)
        except StopIteration:
            return  # demux ends with an empty packet, which flushed the decoder
        except (av.error.FFmpegError, OSError) as e:
            stats.read_error = str(e)
            break
        try:
            frames = packet.decode()
        except (av.error.FFmpegError, ValueError) as e:
            stats.errors += 1
            if len(stats.messages) < 3:
                stats.messages.append(str(e))
            continue
        for frame in frames:
            stats.corrupt += frame.is_corrupt
            yield frame
    try:
        for frame in stream.codec_context.decode(None):
            stats.corrupt += frame.is_corrupt
            yield frame
    except (av.error.FFmpegError, ValueError):
        stats.errors += 1


class FrameConverter:
    """Converts decoded frames to upright uint8 RGB arrays of one fixed size.

    Colour conversion and scaling happen in a single swscale call at decode time, honouring
    the frame's colour range (full-range ``yuvj420p`` and flagged ``yuv420p``) and bit depth
    (``yuv420p10le`` and friends); the display-matrix rotation (phone videos) is applied
    afterwards with a lossless ``rot90``.

    Args:
        short_side (int, optional): resize so the shorter displayed side has this length,
            keeping the display aspect ratio (sample aspect ratio included).
        size (tuple[int, int], optional): exact output ``(height, width)`` when upright.
        sample_aspect_ratio (float, optional): pixel aspect ratio of the stream.
        interpolation (str, optional): swscale algorithm name. (default: ``"BILINEAR"``)
    """

    def __init__(
        self,
        short_side: int | None = None,
        size: tuple[int, int] | None = None,
        sample_aspect_ratio: float = 1.0,
        interpolation: str = "BILINEAR",
    ):
        if short_side is not None and size is not None:
            raise ValueError("give short_side or size, not both")
        self.short_side, self.size = short_side, size
        self.sar = sample_aspect_ratio if sample_aspect_ratio > 0 else 1.0
        self.interpolation = interpolation
        self.coded_size: tuple[int, int] | None = None  # (w, h) passed to swscale
        self.quarter_turns = 0
        # one reformatter keeps its SwsContext between frames; swscale's own threads cost more
        # than they save at clip sizes (frame.reformat builds a context per call: ~10x slower)
        self._sws = VideoReformatter()

    def _setup(self, frame) -> None:
        self.quarter_turns = round((frame.rotation or 0) / 90) % 4
        w, h = frame.width, frame.height
        if self.size is not None:
            out_h, out_w = self.size
            if self.quarter_turns % 2:
                out_h, out_w = out_w, out_h
        elif self.short_side is not None:
            disp_w = w * self.sar
            scale = self.short_side / min(disp_w, h)
            out_w, out_h = max(1, round(disp_w * scale)), max(1, round(h * scale))
        else:
            out_w, out_h = w, h
        self.coded_size = (out_w, out_h)

    def output_shape(self) -> tuple[int, int]:
        """Upright ``(height, width)`` of the converted frames (after the first frame)."""
        w, h = self.coded_size
        return (w, h) if self.quarter_turns % 2 else (h, w)

    def __call__(self, frame) -> np.ndarray:
        """Convert one ``av.VideoFrame``; returns ``(H, W, 3)`` uint8 (maybe a view)."""
        if self.coded_size is None:
            self._setup(frame)
        w, h = self.coded_size
        rgb = self._sws.reformat(
            frame,
            width=w,
            height=h,
            format="rgb24",
            interpolation=self.interpolation,
            src_color_range=frame.color_range,
            dst_color_range="JPEG",
            threads=1,
        ).to_ndarray()
        return np.rot90(rgb, self.quarter_turns) if self.quarter_turns else rgb
