"""Datasets from the released CSV lists and from plain class folders."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import NamedTuple

from .base import VideoDataset, check_missing

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v", ".mpg", ".mpeg", ".ts")
CSV_COLUMNS = ("FileName", "Class", "TotalFrames", "ClassEncoded")


class CsvRow(NamedTuple):
    """One line of a released split list, e.g. ``blowing kisses_016.mp4,blowing kisses,24,58``."""

    file_name: str
    class_name: str
    total_frames: int
    label: int


def read_release_csv(path: str | os.PathLike) -> list[CsvRow]:
    """Parse a released split list with header ``FileName,Class,TotalFrames,ClassEncoded``.

    Raises:
        ValueError: a column is missing or a number does not parse (names the file and line).
    """
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        header = [h.strip() for h in reader.fieldnames or []]
        absent = [c for c in CSV_COLUMNS if c not in header]
        if absent:
            raise ValueError(
                f"{path}: header {header} lacks column(s) {absent}; "
                f"expected {','.join(CSV_COLUMNS)}"
            )
        rows = []
        for line, rec in enumerate(reader, start=2):
            rec = {k.strip(): (v or "").strip() for k, v in rec.items() if k is not None}
            try:
                rows.append(
                    CsvRow(
                        rec["FileName"],
                        rec["Class"],
                        int(rec["TotalFrames"]),
                        int(rec["ClassEncoded"]),
                    )
                )
            except ValueError as e:
                raise ValueError(f"{path}:{line}: cannot parse {rec}: {e}") from e
    return rows


def classes_from_rows(rows: list[CsvRow]) -> list[str]:
    """Class names indexed by ``ClassEncoded``; labels never seen are named by their number."""
    names = {r.label: r.class_name for r in rows}
    return [names.get(i, str(i)) for i in range(max(names, default=-1) + 1)]


class CsvVideoDataset(VideoDataset):
    """The released CSV format: videos at ``video_dir/{Class}/{FileName}``.

    Args:
        csv_file (str or PathLike): the split list.
        video_dir (str or PathLike): folder holding one sub-folder per ``Class`` value.
        classes (list[str], optional): class names by label; default from the CSV.
        on_error (str, optional): ``"raise"`` or ``"skip"`` for missing/broken videos.
        **kwargs: :class:`~tagnet.datasets.base.VideoDataset` options.

    Attributes:
        rows (list[CsvRow]): the parsed lines of the samples kept.
    """

    def __init__(self, csv_file, video_dir, *, classes=None, on_error: str = "raise", **kwargs):
        rows = read_release_csv(csv_file)
        classes = list(classes) if classes is not None else classes_from_rows(rows)
        entries = [
            (os.path.join(video_dir, r.class_name, r.file_name), r.label, r.file_name, r)
            for r in rows
        ]
        super().__init__([], classes, on_error=on_error, **kwargs)
        kept = check_missing(
            entries, f"CSV '{csv_file}'", on_error, self.skipped, os.fspath(video_dir)
        )
        self.samples = [(p, y) for p, y, _, _ in kept]
        self.rows = [r for *_, r in kept]


class VideoFolderDataset(VideoDataset):
    """One sub-folder per class (``root/<class>/**/<video>``), like ``ImageFolder``.

    Class ids follow the ASCII-sorted folder names; videos are found recursively by extension.

    Args:
        root (str or PathLike): the folder of class folders.
        extensions (tuple[str], optional): video file suffixes (case-insensitive).
        **kwargs: :class:`~tagnet.datasets.base.VideoDataset` options.
    """

    def __init__(self, root, *, extensions=VIDEO_EXTENSIONS, **kwargs):
        root = Path(root)
        if not root.is_dir():
            raise FileNotFoundError(f"video folder '{root}' does not exist")
        classes = sorted(d.name for d in root.iterdir() if d.is_dir())
        if not classes:
            raise FileNotFoundError(f"video folder '{root}' has no class sub-folders")
        exts = tuple(e.lower() for e in extensions)
        samples = [
            (str(p), label)
            for label, name in enumerate(classes)
            for p in sorted((root / name).rglob("*"))
            if p.is_file() and p.suffix.lower() in exts
        ]
        super().__init__(samples, classes, **kwargs)


def scan_videos(folder: str | os.PathLike, extensions=VIDEO_EXTENSIONS) -> dict[str, str]:
    """Map file stem -> path for every video under ``folder`` (first in sorted order wins)."""
    exts, found = tuple(e.lower() for e in extensions), {}
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames.sort()
        for name in sorted(filenames):
            stem, ext = os.path.splitext(name)
            if ext.lower() in exts:
                found.setdefault(stem, os.path.join(dirpath, name))
    return found
