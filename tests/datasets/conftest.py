"""Fixtures that write small videos with PyAV into ``tmp_path``.

Every frame carries its own number as a stripe code: the frame is cut into 8 vertical
stripes, stripe 0 is always white (it marks the left edge, so a mirrored or rotated frame
does not decode), stripes 1..7 are the bits of the frame number (white = 1). The code
survives lossy codecs, resizing and colour conversions, so tests can check that the sampled
indices come back exactly.
"""

from __future__ import annotations

import signal
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

W, H = 64, 48


def code_frame(i: int, width: int = W, height: int = H) -> np.ndarray:
    """uint8 RGB ``(height, width, 3)`` frame showing the number ``i`` (0..127)."""
    bits = np.array([1] + [(i >> b) & 1 for b in range(7)], dtype=np.uint8)
    stripe = np.repeat(bits * 255, width // 8)  # (width,)
    return np.ascontiguousarray(np.broadcast_to(stripe[None, :, None], (height, width, 3)))


def read_code(frame: np.ndarray) -> int:
    """Inverse of :func:`code_frame` for an upright ``(H, W, 3)`` frame; ``-1`` if unreadable."""
    frame = np.asarray(frame)
    h, w, _ = frame.shape
    row = frame[h // 2].astype(float).mean(-1)
    centres = (np.arange(8) * w / 8 + w / 16).astype(int)
    bits = row[centres] > 127
    if not bits[0]:
        return -1
    return int(sum(1 << b for b in range(7) if bits[b + 1]))


def write_video(
    path: Path,
    n: int = 30,
    *,
    codec: str = "ffv1",
    fmt: str | None = None,
    pix_fmt: str = "yuv420p",
    rate: int = 25,
    options: dict | None = None,
    bframes: int | None = None,
    pts: list[int] | None = None,
    time_base: Fraction | None = None,
    rotation: int | None = None,
    size: tuple[int, int] = (W, H),
    frames=None,
    color_range: int | None = None,
) -> Path:
    """Encode ``n`` coded frames (or ``frames``) into ``path``; returns ``path``."""
    out = av.open(str(path), "w", format=fmt)
    stream = out.add_stream(codec, rate=rate, options=options or {})
    stream.width, stream.height, stream.pix_fmt = size[0], size[1], pix_fmt
    if bframes is not None:
        stream.codec_context.max_b_frames = bframes
    if time_base is not None:
        stream.codec_context.time_base = time_base
        stream.time_base = time_base
    if color_range is not None:
        stream.codec_context.color_range = color_range
    if rotation is not None:
        stream.set_display_rotation(rotation)
    images = frames if frames is not None else [code_frame(i, *size) for i in range(n)]
    for i, img in enumerate(images):
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
        if color_range is not None:
            frame = frame.reformat(format=pix_fmt, dst_color_range=color_range)
            frame.color_range = color_range
        if pts is not None:
            frame.pts, frame.time_base = pts[i], time_base
        else:
            frame.pts, frame.time_base = i, Fraction(1, rate)
        out.mux(stream.encode(frame))
    out.mux(stream.encode())
    out.close()
    return path


def remux_video(src, dst, fmt=None, edit=None):
    """Copy the video packets of ``src`` into ``dst``; ``edit(i, packet)`` may replace one."""
    with av.open(str(src)) as inp, av.open(str(dst), "w", format=fmt) as out:
        ist = inp.streams.video[0]
        ost = out.add_stream_from_template(ist)
        for i, packet in enumerate(p for p in inp.demux(ist) if p.size):
            packet = edit(i, packet) if edit else packet
            packet.stream = ost
            out.mux(packet)
    return dst


@pytest.fixture(scope="session")
def remux():
    """``remux(src, dst, fmt=None, edit=None)``: copy video packets, ``edit(i, packet)``
    may replace one (see :func:`remux_video`)."""
    return remux_video


@pytest.fixture(scope="session")
def coded():
    """The :func:`code_frame` function."""
    return code_frame


@pytest.fixture(scope="session")
def writer():
    """The :func:`write_video` function, for module-scoped fixtures."""
    return write_video


@pytest.fixture
def make_video(tmp_path):
    """``make_video(name, **write_video_kwargs) -> Path`` inside this test's ``tmp_path``."""
    return lambda name, **kw: write_video(tmp_path / name, **kw)


@pytest.fixture
def codes():
    """``codes(frames (T, H, W, 3)) -> list[int]`` of the frame numbers shown."""
    return lambda frames: [read_code(f) for f in np.asarray(frames)]


@pytest.fixture
def no_hang():
    """Fail instead of hanging: a 20 s SIGALRM watchdog around the test body."""

    def on_alarm(signum, frame):
        raise TimeoutError("video reader hung")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)
