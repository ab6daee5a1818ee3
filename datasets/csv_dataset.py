"""Datasets from the released CSV lists and from plain class folders."""

from __future__ import annotations

import csv
import errno
import logging
import os
from pathlib import Path
from typing import NamedTuple

from .base import VideoDataset, check_missing
from .lists import check_labels, check_not_empty, check_unique, read_lines

log = logging.getLogger("tagnet.datasets")

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v", ".mpg", ".mpeg", ".ts")
CSV_COLUMNS = ("FileName", "Class", "TotalFrames", "ClassEncoded")
#: Whose frame count the samplers read: the decoder's, or the list's ``TotalFrames``.
FRAME_COUNTS = ("video", "list")


class CsvRow(NamedTuple):
    """One line of a released split list, e.g. ``blowing kisses_016.mp4,blowing kisses,24,58``."""

    file_name: str
    class_name: str
    total_frames: int
    label: int


def read_release_csv(path: str | os.PathLike) -> list[CsvRow]:
    """Parse a released split list with header ``FileName,Class,TotalFrames,ClassEncoded``.

    Raises:
        ValueError: a column is missing, a number does not parse or the file is not UTF-8
            (names the file and line).
    """
    return [row for _, row in read_release_csv_lines(path)]


def read_release_csv_lines(path: str | os.PathLike) -> list[tuple[int, CsvRow]]:
    """:func:`read_release_csv` with the line number of every row."""
    reader = csv.DictReader(text for _, text in read_lines(path))
    header = [h.strip() for h in reader.fieldnames or []]
    absent = [c for c in CSV_COLUMNS if c not in header]
    if absent:
        raise ValueError(
            f"{path}: header {header} lacks column(s) {absent}; "
            f"expected {','.join(CSV_COLUMNS)}"
        )
    rows = []
    for rec in reader:
        rec = {k.strip(): (v or "").strip() for k, v in rec.items() if k is not None}
        try:
            row = CsvRow(
                rec["FileName"], rec["Class"], int(rec["TotalFrames"]), int(rec["ClassEncoded"])
            )
        except ValueError as e:
            raise ValueError(f"{path}:{reader.line_num}: cannot parse {rec}: {e}") from e
        rows.append((reader.line_num, row))
    return rows


def classes_from_rows(rows: list[CsvRow]) -> list[str]:
    """Class names indexed by ``ClassEncoded``; labels never seen are named by their number."""
    names = {r.label: r.class_name for r in rows}
    return [names.get(i, str(i)) for i in range(max(names, default=-1) + 1)]


class CsvVideoDataset(VideoDataset):
    """The released CSV format: videos at ``video_dir/{Class}/{FileName}``.

    ``frame_count="list"`` samples over the list's ``TotalFrames`` instead of the decoded
    frame count, as the released code does (``linspace(0, TotalFrames - 1, T)`` for the
    uniform sampling); an index past the decoded frames is clamped to the last one. With
    ``"video"`` (the default) the decoder's count is used.

    Args:
        csv_file (str or PathLike): the split list.
        video_dir (str or PathLike): folder holding one sub-folder per ``Class`` value.
        classes (list[str], optional): class names by label; default from the CSV.
        on_error (str, optional): ``"raise"`` or ``"skip"`` for missing/broken videos.
        frame_count (str, optional): ``"video"`` or ``"list"``. (default: ``"video"``)
        **kwargs: :class:`~tagnet.datasets.base.VideoDataset` options.

    Attributes:
        rows (list[CsvRow]): the parsed lines of the samples kept.
    """

    def __init__(self, csv_file, video_dir, *, classes=None, on_error: str = "raise",
                 frame_count: str = "video", **kwargs):
        if frame_count not in FRAME_COUNTS:
            raise ValueError(f"frame_count {frame_count!r} is unknown; known: "
                             f"{', '.join(FRAME_COUNTS)}")
        self.frame_count = frame_count
        lines = read_release_csv_lines(csv_file)
        rows = [r for _, r in lines]
        origins = [f"{os.fsdecode(csv_file)}:{n}" for n, _ in lines]
        check_not_empty(len(rows), os.fsdecode(csv_file))
        labels = [r.label for r in rows]
        check_labels(labels, origins, len(classes) if classes is not None else max(labels) + 1)
        check_unique([f"{r.class_name}/{r.file_name}" for r in rows], origins, "video")
        classes = list(classes) if classes is not None else classes_from_rows(rows)
        entries = [
            (os.path.join(video_dir, r.class_name, r.file_name), r.label, r.file_name, r, o)
            for r, o in zip(rows, origins, strict=True)
        ]
        super().__init__([], classes, on_error=on_error, **kwargs)
        kept = check_missing(
            entries, f"CSV '{csv_file}'", on_error, self.skipped, os.fspath(video_dir)
        )
        self.samples = [(p, y) for p, y, *_ in kept]
        self.rows = [e[3] for e in kept]
        self.origins = [e[4] for e in kept]
        self._listed = {p: r.total_frames for p, _, _, r, _ in kept}

    def sampler_for(self, path: str):
        """With ``frame_count="list"``, the sampler over the listed ``TotalFrames``, clamped
        to the decoded frames; else the dataset's sampler."""
        sampler = self._indices()
        listed = self._listed.get(path) if self.frame_count == "list" else None
        if listed is None or listed < 1:
            return sampler
        return lambda n: sampler(listed).clamp(max=n - 1)


class VideoFolderDataset(VideoDataset):
    """One sub-folder per class (``root/<class>/**/<video>``), like ``ImageFolder``.

    Class ids follow the ASCII-sorted folder names; videos are found recursively by extension.

    Args:
        root (str or PathLike): the folder of class folders.
        extensions (tuple[str], optional): video file suffixes (case-insensitive).
        **kwargs: :class:`~tagnet.datasets.base.VideoDataset` options.
    """

    def __init__(self, root, *, extensions=VIDEO_EXTENSIONS, on_error: str = "raise", **kwargs):
        root = Path(root)
        if not root.is_dir():
            raise FileNotFoundError(f"video folder '{root}' does not exist")
        classes = sorted(d.name for d in root.iterdir() if d.is_dir())
        if not classes:
            raise FileNotFoundError(f"video folder '{root}' has no class sub-folders")
        samples, unreadable = [], []
        for label, name in enumerate(classes):
            found, bad = find_video_files(root / name, extensions)
            samples += [(p, label) for p in found]
            unreadable += bad
        check_not_empty(len(samples) + len(unreadable), f"video folder '{root}'", "videos")
        super().__init__(samples, classes, on_error=on_error, **kwargs)
        if unreadable:
            where = ", ".join(f"'{p}' ({r})" for p, r in unreadable[:3])
            msg = f"video folder '{root}': {len(unreadable)} video link(s) cannot be read: {where}"
            if on_error == "raise":
                raise FileNotFoundError(msg + "; pass on_error='skip' to use the others")
            log.warning("%s; skipping them", msg)
            for path, reason in unreadable:
                self.skipped.add(path, reason, log_it=False)


def find_video_files(
    folder: str | os.PathLike, extensions=VIDEO_EXTENSIONS
) -> tuple[list[str], list[tuple[str, str]]]:
    """Video files under ``folder``, recursively and sorted, following folder links.

    A folder link to the folder itself or to one of its ancestors (a loop) is not entered,
    and a folder reached twice through links is listed once.

    Returns:
        ``(paths, unreadable)``: ``unreadable`` holds ``(path, reason)`` for names with a
        video extension that are not readable files: a symlink loop, a link to nothing.
    """
    exts, found, bad, seen = tuple(e.lower() for e in extensions), [], [], set()
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        here = os.path.realpath(dirpath)
        if here in seen:  # reached again through a folder link
            dirnames.clear()
            continue
        seen.add(here)
        keep = []
        for name in sorted(dirnames):
            real = os.path.realpath(os.path.join(dirpath, name))
            if here == real or here.startswith(real.rstrip(os.sep) + os.sep):
                log.warning("not entering '%s': a folder link back to '%s' (a loop)",
                            os.path.join(dirpath, name), real)
            else:
                keep.append(name)
        dirnames[:] = keep
        for name in sorted(filenames):
            if os.path.splitext(name)[1].lower() not in exts:
                continue
            path = os.path.join(dirpath, name)
            if os.path.isfile(path):
                found.append(path)
            else:
                bad.append((path, _unreadable_reason(path)))
    return found, bad


def _unreadable_reason(path: str) -> str:
    try:
        os.stat(path)
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "symlink loop"
        if os.path.islink(path):
            return f"link to a missing file ('{os.readlink(path)}')"
        return e.strerror or "cannot be read"
    return "not a regular file"


def scan_videos(folder: str | os.PathLike, extensions=VIDEO_EXTENSIONS) -> dict[str, str]:
    """Map file stem -> path for every video under ``folder`` (first in sorted order wins).

    Names that are not readable files (symlink loops, links to nothing) are logged and left
    out; a clip listed under such a name is then reported missing."""
    found, bad = find_video_files(folder, extensions)
    for path, reason in bad:
        log.warning("skipping video '%s': %s", path, reason)
    out: dict[str, str] = {}
    for path in found:
        out.setdefault(os.path.splitext(os.path.basename(path))[0], path)
    return out
