"""Trim FineGym's event and element clips out of the raw YouTube videos (PyAV only).

Input: the source videos, one file per YouTube id (``<youtube id>.mp4``, ``.mkv``, ``.webm``,
... anywhere under ``videos``), and the official ``finegym_annotation_info_v1.1.json``::

    ann[youtube_id]["E_002407_002435"] = {
        "timestamps": [[2407.32, 2435.2]],               # absolute seconds in the video
        "segments": {"A_0003_0005": {"timestamps": [[3.45, 5.0]], ...}, ...}, ...}
                                                          # seconds after the event start

Output, named by the official ids (what :class:`~tagnet.datasets.FineGym` reads)::

    out/events/<youtube id>_E_<%06d>_<%06d>.mp4
    out/subactions/<youtube id>_E_<%06d>_<%06d>_A_<%04d>_<%04d>.mp4
    out/prepare_report.json                               # what was written, skipped, missing

An element clip runs from its first stage's start to its last stage's end. An element that
ends after its event, or a clip that ends past the end of its source video (by more than one
frame), is reported in ``out_of_bounds`` and skipped (``keep_out_of_bounds=True`` cuts it
anyway, up to the video's end): the annotation does not fit the video, and a clip cut short
would carry a label for an action it does not hold. A clip holds
the source frames whose presentation time ``t`` (seconds since the stream's start) satisfies
``start <= t < end``: at a constant rate ``r`` that is ``ceil(end * r) - ceil(start * r)``
frames, computed on the container's timestamps (integer ticks of its time base), so a time
that falls within one tick of a frame boundary can move one frame in or out (codec
rounding). Video only: audio is dropped.

A clip is copied packet by packet (no quality loss) when its first frame is a keyframe and
the packets in the window need no reordering (no B-frames across the cut); otherwise it is
decoded and re-encoded with libx264 (``crf``, ``preset``). YouTube videos mostly have
B-frames and keyframes seconds apart, so most clips are re-encoded.

Resumable: a clip is written to ``<id>.mp4.tmp`` and renamed when complete
(:func:`tagnet.datasets.atomic.atomic_path`), so a final name never holds a partial clip; a
rerun skips finished clips and deletes leftover temporary files of a killed run.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

import av

from .atomic import TMP_SUFFIX, atomic_path, atomic_write
from .csv_dataset import VIDEO_EXTENSIONS, scan_videos
from .finegym import parse_finegym_id
from .frames import DecodeStats, iter_frames
from .progress import progress as progress_bar

_EVENT = re.compile(r"^E_\d{6}_\d{6}$")
_ACTION = re.compile(r"^A_\d{4}_\d{4}$")
KINDS = {"event": "events", "element": "subactions"}
REPORT = "prepare_report.json"


@dataclass(frozen=True)
class ClipSpec:
    """One clip to cut: ``kind`` (``"event"`` or ``"element"``), official ``id``, source
    ``youtube_id`` and absolute ``start`` / ``end`` seconds; an element also has its
    ``event``'s ``(start, end)``."""

    kind: str
    id: str
    youtube_id: str
    start: float
    end: float
    event: tuple[float, float] | None = None

    def outside_event(self) -> str | None:
        """Why this element does not lie inside its event (``None`` when it does)."""
        if self.event is None or self.end <= self.event[1] + 1e-6:
            return None
        return (f"ends at {self.end:.2f} s, after its event ({self.event[0]:.2f}-"
                f"{self.event[1]:.2f} s)")


@dataclass
class PrepareReport:
    """What :func:`prepare_finegym` did. Times and paths are plain JSON types."""

    written: dict[str, dict] = field(default_factory=dict)   # id -> {method, frames}
    skipped: int = 0                                          # finished by an earlier run
    missing_sources: dict[str, int] = field(default_factory=dict)  # youtube id -> clips
    unreadable_sources: dict[str, str] = field(default_factory=dict)  # youtube id -> error
    bad_annotations: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)     # clip id -> error
    out_of_bounds: dict[str, str] = field(default_factory=dict)  # clip id -> why (skipped)
    kept_out_of_bounds: bool = False                          # ... or cut anyway

    @property
    def ok(self) -> bool:
        """No clip failed for a reason other than a missing source video."""
        return not (self.unreadable_sources or self.bad_annotations or self.failed)

    def summary(self) -> str:
        copied = sum(w["method"] == "copy" for w in self.written.values())
        lines = [f"wrote {len(self.written)} clips ({copied} stream-copied, "
                 f"{len(self.written) - copied} re-encoded); {self.skipped} already done"]
        if self.missing_sources:
            n = sum(self.missing_sources.values())
            some = ", ".join(sorted(self.missing_sources)[:5])
            lines.append(f"{len(self.missing_sources)} source videos missing ({n} clips not "
                         f"made), e.g. {some}")
        for yt, err in sorted(self.unreadable_sources.items())[:10]:
            lines.append(f"unreadable source {yt}: {err}")
        for msg in self.bad_annotations[:10]:
            lines.append(f"annotation: {msg}")
        for cid, err in sorted(self.failed.items())[:10]:
            lines.append(f"failed {cid}: {err}")
        if self.out_of_bounds:
            how = ("cut anyway (--keep-out-of-bounds)" if self.kept_out_of_bounds else
                   "skipped; --keep-out-of-bounds cuts them up to the video's end")
            lines.append(f"{len(self.out_of_bounds)} clips do not fit their video or event, "
                         f"{how}:")
        for cid, why in sorted(self.out_of_bounds.items())[:10]:
            lines.append(f"  {cid}: {why}")
        hidden = (max(0, len(self.unreadable_sources) - 10) + max(0, len(self.bad_annotations)
                  - 10) + max(0, len(self.failed) - 10) + max(0, len(self.out_of_bounds) - 10))
        if hidden:
            lines.append(f"... {hidden} more problems in {REPORT}")
        return "\n".join(lines)


def _pair(value, where: str) -> tuple[float, float]:
    if (not isinstance(value, list | tuple) or len(value) != 2
            or not all(isinstance(v, int | float) for v in value)):
        raise ValueError(f"{where}: expected a [start, end] pair of seconds, got {value!r}")
    start, end = float(value[0]), float(value[1])
    if not end > start >= 0:
        raise ValueError(f"{where}: [start, end] = {value!r} is not an interval")
    return start, end


def _timestamps(entry, where: str) -> list[tuple[float, float]]:
    if not isinstance(entry, dict) or "timestamps" not in entry:
        raise ValueError(f"{where}: no \"timestamps\"")
    stamps = entry["timestamps"]
    if not isinstance(stamps, list) or not stamps:
        raise ValueError(f"{where}: \"timestamps\" must be a non-empty list of [start, end]")
    return [_pair(s, f"{where}[\"timestamps\"][{i}]") for i, s in enumerate(stamps)]


def read_annotations(path: str | os.PathLike) -> tuple[list[ClipSpec], list[str]]:
    """Read ``finegym_annotation_info_v1.1.json`` into event and element clips.

    Returns:
        ``(clips, problems)``: every well-formed event and element, and one message per
        entry left out (missing fields, malformed ids or times), naming its JSON path.

    Raises:
        ValueError: the file is not JSON or its top level is not an object.
    """
    raw = Path(path).read_bytes()
    try:
        ann = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 text (byte 0x{raw[e.start]:02x} at offset "
                         f"{e.start}); save the annotation file as UTF-8") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not JSON ({e})") from e
    if not isinstance(ann, dict):
        raise ValueError(f"{path}: expected an object of YouTube ids, got {type(ann).__name__}")
    clips, problems = [], []
    for yt, events in ann.items():
        if not isinstance(events, dict):
            problems.append(f"ann[{yt!r}]: expected an object of events")
            continue
        for eid, event in events.items():
            where = f"ann[{yt!r}][{eid!r}]"
            try:
                if not _EVENT.match(eid):
                    raise ValueError(f"{where}: event id is not E_<%06d>_<%06d>")
                start, end = _timestamps(event, where)[0]
            except ValueError as e:
                problems.append(str(e))
                continue
            clips.append(ClipSpec("event", f"{yt}_{eid}", yt, start, end))
            segments = event.get("segments")
            if segments is None:
                continue  # an event without elements
            if not isinstance(segments, dict):
                problems.append(f"{where}[\"segments\"]: expected an object of actions")
                continue
            for aid, seg in segments.items():
                sw = f"{where}[\"segments\"][{aid!r}]"
                try:
                    if not _ACTION.match(aid):
                        raise ValueError(f"{sw}: action id is not A_<%04d>_<%04d>")
                    stages = _timestamps(seg, sw)
                    cid = f"{yt}_{eid}_{aid}"
                    parse_finegym_id(cid)
                except ValueError as e:
                    problems.append(str(e))
                    continue
                clips.append(ClipSpec("element", cid, yt, start + stages[0][0],
                                      start + stages[-1][1], event=(start, end)))
    return clips, problems


def clip_path(out: str | os.PathLike, spec: ClipSpec) -> Path:
    """Where ``spec`` is written: ``out/events/<id>.mp4`` or ``out/subactions/<id>.mp4``."""
    return Path(out) / KINDS[spec.kind] / f"{spec.id}.mp4"


def _window(stream, spec: ClipSpec) -> tuple[int, int, int]:
    """``(origin, first, stop)`` in stream ticks: frames with ``first <= pts < stop``."""
    tb = stream.time_base
    origin = stream.start_time or 0
    first = origin + math.ceil(Fraction(spec.start).limit_denominator(10**6) / tb)
    stop = origin + math.ceil(Fraction(spec.end).limit_denominator(10**6) / tb)
    return origin, first, stop


def _copy(src: str, spec: ClipSpec, tmp: Path) -> int | None:
    """Stream-copy the window when it starts on a keyframe and needs no reordering;
    returns the frame count, or ``None`` when a copy is not possible."""
    with av.open(src) as inp:
        stream = inp.streams.video[0]
        _, first, stop = _window(stream, spec)
        inp.seek(first, backward=True, any_frame=False, stream=stream)
        packets, after = [], 0
        for packet in inp.demux(stream):
            if packet.pts is None or packet.size == 0:
                continue
            if packets and packet.pts >= stop:
                after += 1  # look a little past the end for reordered frames
                if after > 4:
                    break
                continue
            if packet.pts < first:
                if packets:
                    return None  # a frame before the cut decoded after it: reordering
                continue
            if not packets and not packet.is_keyframe:
                return None
            if (packets and packet.pts <= packets[-1].pts) or after:
                return None  # presentation order differs from decode order
            if packet.pts < stop:
                packets.append(packet)
        if not packets:
            return None
        base = packets[0].pts
        with av.open(str(tmp), "w", format="mp4") as out:
            ost = out.add_stream_from_template(stream)
            for packet in packets:
                packet.pts -= base
                packet.dts = packet.pts
                packet.stream = ost
                out.mux(packet)
    return len(packets)


def _reencode(src: str, spec: ClipSpec, tmp: Path, crf: int, preset: str) -> int:
    with av.open(src) as inp:
        stream = inp.streams.video[0]
        tb = stream.time_base
        _, first, stop = _window(stream, spec)
        inp.seek(first, backward=True, any_frame=False, stream=stream)
        count, base, out, ost = 0, None, None, None
        stats = DecodeStats()
        try:
            for frame in iter_frames(inp, stream, stats):
                if frame.pts is None or frame.pts < first:
                    continue
                if frame.pts >= stop:
                    break
                if out is None:
                    base = frame.pts
                    out = av.open(str(tmp), "w", format="mp4")
                    ost = out.add_stream("libx264", rate=stream.average_rate or 25,
                                         options={"crf": str(crf), "preset": preset})
                    ost.width, ost.height = frame.width // 2 * 2, frame.height // 2 * 2
                    ost.pix_fmt = "yuv420p"
                    ost.codec_context.time_base = tb
                    ost.time_base = tb
                img = frame.reformat(width=ost.width, height=ost.height, format="yuv420p")
                img.pts, img.time_base = frame.pts - base, tb
                img.pict_type = av.video.frame.PictureType.NONE
                out.mux(ost.encode(img))
                count += 1
            if out is not None:
                out.mux(ost.encode())
        finally:
            if out is not None:
                out.close()
    if count == 0:
        dur = float(stream.duration * tb) if stream.duration else None
        extra = f" (the video lasts {dur:.2f} s)" if dur else ""
        detail = f"; {stats.read_error or stats.messages[0]}" if (
            stats.read_error or stats.messages) else ""
        raise ValueError(f"no frames between {spec.start:.2f} s and {spec.end:.2f} s{extra}"
                         f"{detail}")
    return count


def trim_clip(src: str | os.PathLike, spec: ClipSpec, out: str | os.PathLike, *,
              crf: int = 18, preset: str = "veryfast", allow_copy: bool = True) -> dict:
    """Cut ``spec`` out of ``src`` into :func:`clip_path` (atomically); returns
    ``{"method": "copy" or "reencode", "frames": n}``."""
    dst = clip_path(out, spec)
    dst.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(dst) as tmp:
        frames = _copy(str(src), spec, tmp) if allow_copy else None
        method = "copy"
        if frames is None:
            tmp.unlink(missing_ok=True)
            frames, method = _reencode(str(src), spec, tmp, crf, preset), "reencode"
    return {"method": method, "frames": frames}


def past_the_end(spec: ClipSpec, duration: float, fps: float) -> str | None:
    """Why ``spec`` does not fit a ``duration``-second video (``None`` when it does): it
    ends more than one frame after the video's end."""
    if spec.end <= duration + 1 / max(fps, 1e-3) + 1e-6:
        return None
    return f"ends at {spec.end:.2f} s, past the end of its video ({duration:.2f} s)"


def _work(src: str, specs: list[ClipSpec], out: str, crf: int, preset: str,
          allow_copy: bool, keep_out_of_bounds: bool = False
          ) -> tuple[list[tuple[str, dict | None, str | None]], str | None, dict[str, str]]:
    """Cut ``specs`` out of one source; ``([(id, result, error)], source error,
    {id: why} of the clips past the video's end)``."""
    from .probe import probe
    from .video import VideoDecodeError

    try:
        with av.open(src, metadata_errors="replace") as inp:
            if not inp.streams.video:
                return [], f"'{src}' has no video stream", {}
        info = probe(src)
    except (av.error.FFmpegError, OSError, VideoDecodeError) as e:
        return [], f"'{src}' cannot be opened: {e}", {}
    results, outside = [], {}
    for spec in specs:
        why = past_the_end(spec, info.duration, info.fps)
        if why is not None:
            outside[spec.id] = why
            if not keep_out_of_bounds:
                continue
        try:
            results.append((spec.id, trim_clip(src, spec, out, crf=crf, preset=preset,
                                               allow_copy=allow_copy), None))
        except (av.error.FFmpegError, OSError, ValueError) as e:
            results.append((spec.id, None, str(e)))
    return results, None, outside


def prepare_finegym(videos: str | os.PathLike, annotations: str | os.PathLike,
                    out: str | os.PathLike, *, kinds=("event", "element"), only=None,
                    workers: int = 2, crf: int = 18, preset: str = "veryfast",
                    allow_copy: bool = True, chunk: int = 16, progress: bool = True,
                    keep_out_of_bounds: bool = False, problems=()) -> PrepareReport:
    """Trim every event and element clip of ``annotations`` out of the videos in ``videos``.

    Args:
        videos (str or PathLike): folder with the source videos, named by YouTube id.
        annotations (str or PathLike): ``finegym_annotation_info_v1.1.json``.
        out (str or PathLike): output folder (``events/``, ``subactions/``, the report).
        kinds (tuple[str], optional): ``"event"`` and/or ``"element"``.
            (default: both)
        only (set[str], optional): element ids to make (e.g. those of a split file) and
            their events; ids not in the annotations are reported. (default: all)
        workers (int, optional): processes (``0`` or ``1``: this process). (default: ``2``)
        crf (int, optional): libx264 quality of re-encoded clips. (default: ``18``)
        preset (str, optional): libx264 preset. (default: ``"veryfast"``)
        allow_copy (bool, optional): stream-copy clips that start on a keyframe.
            (default: ``True``)
        chunk (int, optional): clips per task (a progress-bar step). (default: ``16``)
        progress (bool, optional): a progress bar (lines in a log). (default: ``True``)
        keep_out_of_bounds (bool, optional): also cut the clips that end past their video
            or (elements) after their event; they are reported either way.
            (default: ``False``: skipped)
        problems (sequence of str, optional): problems found by the caller (e.g. a clip in
            two split files, :func:`tagnet.datasets.lists.split_overlaps`), reported with the
            annotation problems.

    Returns:
        PrepareReport: also written to ``out/prepare_report.json``.
    """
    bad = [k for k in kinds if k not in KINDS]
    if bad:
        raise ValueError(f"unknown clip kind {bad[0]!r}; known: {', '.join(KINDS)}")
    if not Path(videos).is_dir():
        raise FileNotFoundError(f"--videos '{videos}' is not a folder")
    out = Path(out)
    report = PrepareReport()
    clips, report.bad_annotations = read_annotations(annotations)
    report.bad_annotations += list(problems)
    if only is not None:
        only = set(only)
        known = {c.id for c in clips if c.kind == "element"}
        report.bad_annotations += [f"{i}: listed but not in {Path(annotations).name}"
                                   for i in sorted(only - known)]
        events = {c.id.rsplit("_A_", 1)[0] for c in clips if c.id in only}
        clips = [c for c in clips if c.id in only or (c.kind == "event" and c.id in events)]
    clips = [c for c in clips if c.kind in kinds]
    report.kept_out_of_bounds = keep_out_of_bounds
    for c in clips:
        why = c.outside_event()
        if why is not None:
            report.out_of_bounds[c.id] = why
    if not keep_out_of_bounds:
        clips = [c for c in clips if c.id not in report.out_of_bounds]
    for sub in KINDS.values():  # left behind by a killed run (.part: older tagnet)
        for part in [*(out / sub).glob(f"*.mp4{TMP_SUFFIX}"), *(out / sub).glob(".*.part")]:
            part.unlink()
    todo = []
    for c in clips:
        if clip_path(out, c).is_file():
            report.skipped += 1
        else:
            todo.append(c)
    sources = scan_videos(videos, VIDEO_EXTENSIONS)
    by_source: dict[str, list[ClipSpec]] = defaultdict(list)
    for c in todo:
        if c.youtube_id in sources:
            by_source[c.youtube_id].append(c)
        else:
            report.missing_sources[c.youtube_id] = report.missing_sources.get(c.youtube_id, 0) + 1
    tasks = [(yt, specs[i:i + chunk]) for yt, specs in sorted(by_source.items())
             for i in range(0, len(specs), chunk)]
    bar = progress_bar(total=sum(len(s) for _, s in tasks), desc="finegym clips", unit="clip",
                       disable=not progress)

    def record(yt, specs, results, source_error, outside):
        report.out_of_bounds.update(outside)
        if source_error:
            report.unreadable_sources[yt] = source_error
        for cid, result, error in results:
            if error:
                report.failed[cid] = error
            else:
                report.written[cid] = result
        bar.update(len(specs))

    args = (str(out), crf, preset, allow_copy, keep_out_of_bounds)
    if workers <= 1:
        for yt, specs in tasks:
            record(yt, specs, *_work(sources[yt], specs, *args))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(_work, sources[yt], specs, *args): (yt, specs)
                       for yt, specs in tasks}
            for fut in as_completed(futures):
                record(*futures[fut], *fut.result())
    bar.close()
    out.mkdir(parents=True, exist_ok=True)
    data = asdict(report)
    data["clips"] = len(clips)
    atomic_write(out / REPORT, json.dumps(data, indent=1, sort_keys=True) + "\n")
    return report
