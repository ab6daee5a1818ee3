"""Opening videos with PyAV without trusting their headers: errors, stream choice, packet index.

Real datasets hold files whose container metadata is wrong or broken. Everything here is
derived from what the file actually contains: the frame timeline comes from the presentation
timestamps of the demuxed packets (never ``stream.frames``), keyframes from the packets' flags
(set by FFmpeg's parsers, not copied from a possibly lying container index).
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

log = logging.getLogger("tagnet.datasets")


def safe_path(path: str | bytes | os.PathLike) -> str:
    r"""``path`` as text that any terminal encoding can print.

    A file name that is not valid UTF-8 reaches Python as ``str`` holding lone surrogates
    (PEP 383: byte ``0xff`` becomes ``'\udcff'``), which a strict UTF-8 stdout refuses
    (``UnicodeEncodeError``). Those bytes are shown as ``\xff`` escapes instead; every other
    character is kept. Files written by the commands (JSON, CSV) keep the original name.

    Example:
        >>> safe_path(os.fsdecode(b"clip_\xff.mp4"))
        'clip_\\xff.mp4'
    """
    raw = os.fsencode(path)
    return raw.decode("utf-8", "backslashreplace")


def _human_size(path: str) -> str:
    try:
        size = os.path.getsize(path)
    except OSError:
        return "missing"
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return ""  # unreachable


class VideoDecodeError(RuntimeError):
    """A video could not be opened or decoded.

    The message names the file, its codec (when known), its size and what failed, e.g.
    ``video 'a.mp4' (h264, 1.2 MB): no decodable frames (250 packets, 250 decode errors)``.

    Attributes:
        path (str): the file.
        reason (str): what failed.
        codec (str or None): codec name of the chosen video stream, if it was found.
    """

    def __init__(self, path: str | os.PathLike, reason: str, *, codec: str | None = None):
        self.path, self.reason, self.codec = os.fspath(path), reason, codec
        what = ", ".join(x for x in (codec, _human_size(self.path)) if x)
        super().__init__(f"video '{self.path}' ({what}): {reason}")

    def __reduce__(self):  # keep pickling (DataLoader workers) working with keyword args
        return _rebuild_error, (type(self), self.path, self.reason, self.codec)


def _rebuild_error(cls, path, reason, codec):
    return cls(path, reason, codec=codec)


class VideoNotFoundError(VideoDecodeError, FileNotFoundError):
    """The video file does not exist (also a ``FileNotFoundError``)."""


class VideoDecodeWarning(UserWarning):
    """Frames were lost to corrupt data and replaced by their nearest decoded neighbours."""


def _score(stream) -> tuple[int, int]:
    """FFmpeg's default video stream choice: largest picture, +5e6 for the default flag,
    attached pictures (cover art) last; ties go to the lowest index."""
    disp = int(stream.disposition)
    if disp & int(av.stream.Disposition.attached_pic):
        return 1, -stream.index
    cc = stream.codec_context
    area = (cc.width or 0) * (cc.height or 0) if cc is not None else 0
    return area + 5_000_000 * bool(disp & int(av.stream.Disposition.default)), -stream.index


def select_video_stream(container, path: str, stream_index: int | None = None):
    """Pick the video stream FFmpeg would pick (or the one at ``stream_index``).

    Raises:
        VideoDecodeError: no (decodable) video stream, or ``stream_index`` is not video.
    """
    videos = [s for s in container.streams.video if s.codec_context is not None]
    if stream_index is not None:
        videos = [s for s in videos if s.index == stream_index]
    if not videos:
        kinds = (
            ", ".join(
                f"{s.type} {getattr(s.codec_context, 'name', '?')}" for s in container.streams
            )
            or "none"
        )
        which = "no video stream" if stream_index is None else f"stream {stream_index} is not video"
        raise VideoDecodeError(path, f"{which} (streams: {kinds})")
    return max(videos, key=_score)


@contextmanager
def open_video(
    path: str | os.PathLike, stream_index: int | None = None, threads: int | None = None
) -> Iterator[tuple]:
    """Open ``path`` and yield ``(container, video_stream)``; always closes the container.

    Metadata that is not valid UTF-8 is decoded with replacement characters instead of
    raising. Missing, empty, non-regular (a FIFO would block) and unreadable files raise
    :class:`VideoDecodeError` before FFmpeg sees them.

    Args:
        path (str or PathLike): the video file.
        stream_index (int, optional): force this stream instead of FFmpeg's choice.
        threads (int, optional): decoder threads, ``0`` lets FFmpeg choose; ``None`` uses one
            thread below 0.5 megapixel (thread start-up costs more than it saves on small
            clips, and DataLoader workers already run in parallel), else FFmpeg's choice.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise VideoNotFoundError(path, "file does not exist")
    if not os.path.isfile(path):
        raise VideoDecodeError(path, "not a regular file")
    if os.path.getsize(path) == 0:
        raise VideoDecodeError(path, "file is empty (0 bytes)")
    try:
        container = av.open(path, metadata_errors="replace")
    except (av.error.FFmpegError, OSError, UnicodeError) as e:
        raise VideoDecodeError(path, f"cannot open: {e}") from e
    try:
        stream = select_video_stream(container, path, stream_index)
        cc = stream.codec_context
        if threads is None:
            threads = 1 if (cc.width or 0) * (cc.height or 0) < 500_000 else 0
        cc.thread_type = "AUTO"
        cc.thread_count = threads
        yield container, stream
    finally:
        container.close()


@dataclass(frozen=True)
class PacketIndex:
    """What the demuxed packets of one video stream say, without decoding.

    Attributes:
        timeline (np.ndarray): sorted presentation timestamps (int64), one per frame; frame
            ``i`` is the one shown at ``timeline[i]``. Empty when not :attr:`reliable`.
        key_positions (np.ndarray): timeline positions of keyframes (int64, sorted).
        num_packets (int): non-empty packets (the frame-count estimate).
        reliable (bool): every packet has a pts, no two share one and packets are frames
            (not MPEG-4 part 2 "packed B-frames", where one packet holds two frames and an
            empty placeholder follows, so timestamps and counts are both off).
        time_base (Fraction): unit of the timestamps.
        read_error (str or None): the demuxer failed before the end (truncated file).
    """

    timeline: np.ndarray
    key_positions: np.ndarray
    num_packets: int
    reliable: bool
    time_base: Fraction
    read_error: str | None = None


def build_index(container, stream) -> PacketIndex:
    """Demux every packet of ``stream`` (no decoding) and build its :class:`PacketIndex`."""
    pts, key = [], []
    read_error, packed = None, False
    check_packed = stream.codec_context.name == "mpeg4"
    demux = container.demux(stream)
    while True:
        try:
            packet = next(demux)
        except StopIteration:
            break
        except (av.error.FFmpegError, OSError) as e:
            read_error = str(e)
            break
        if packet.size:  # skips the flush packet and AVI "drop frame" chunks
            pts.append(-(2**63) if packet.pts is None else packet.pts)
            key.append(packet.is_keyframe)
            if check_packed and len(pts) <= 64:  # DivX/XviD "packed B-frames": 2 VOPs a packet
                packed = packed or bytes(packet).count(b"\x00\x00\x01\xb6") > 1
    arr, keys = np.asarray(pts, dtype=np.int64), np.asarray(key, dtype=bool)
    order = np.argsort(arr, kind="stable")
    timeline = arr[order]
    reliable = bool(arr.size) and not (
        packed or timeline[0] == -(2**63) or (np.diff(timeline) == 0).any()
    )
    return PacketIndex(
        timeline=timeline if reliable else np.zeros(0, np.int64),
        key_positions=np.flatnonzero(keys[order]) if reliable else np.zeros(0, np.int64),
        num_packets=int(arr.size),
        reliable=reliable,
        time_base=stream.time_base or Fraction(1, 1),
        read_error=read_error,
    )


class IndexCache:
    """Process-local LRU of packet indices keyed by file identity (path, size, mtime), at
    most ``maxsize`` files and ``max_bytes`` of timestamps (long videos are big)."""

    def __init__(self, maxsize: int = 512, max_bytes: int = 64 << 20):
        self.maxsize, self.max_bytes = maxsize, max_bytes
        self.data, self.lock = OrderedDict(), threading.Lock()

    @staticmethod
    def _bytes(entry: dict) -> int:
        index = entry["index"]
        return index.timeline.nbytes + index.key_positions.nbytes

    def key(self, path: str, stream_index: int | None):
        try:
            st = os.stat(path)
        except OSError as e:
            raise VideoNotFoundError(path, "file does not exist") from e
        return os.path.realpath(path), st.st_size, st.st_mtime_ns, stream_index

    def get(self, key) -> dict | None:
        with self.lock:
            entry = self.data.get(key)
            if entry is not None:
                self.data.move_to_end(key)
            return entry

    def put(self, key, entry: dict) -> None:
        with self.lock:
            self.data[key] = entry
            self.data.move_to_end(key)
            total = sum(self._bytes(e) for e in self.data.values())
            while len(self.data) > 1 and (len(self.data) > self.maxsize or total > self.max_bytes):
                total -= self._bytes(self.data.popitem(last=False)[1])


INDEX_CACHE = IndexCache()
