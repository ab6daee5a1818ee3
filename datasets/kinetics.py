"""Kinetics-400: the official CSV lists and a video dataset over them.

A list (``kinetics400_train.csv``, ``..._val.csv``; any name through ``list_file``) has the
header ``label,youtube_id,time_start,time_end,split`` and lines such as::

    abseiling,0347ZoDXyP0,14,24,train

The clip's video is found under ``root`` (any depth) by the downloader's file stem
``<youtube_id>_<time_start %06d>_<time_end %06d>`` (``0347ZoDXyP0_000014_000024.mp4``) or by
``<youtube_id>`` alone. Class ids are the ASCII-sorted label names of the training list (the
usual Kinetics order), so every split shares them. Every line is checked first; an error
names the file and line. Many YouTube videos are gone: missing files are reported, not fatal
with ``on_error="skip"``.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import NamedTuple

from .base import VideoDataset, check_missing
from .csv_dataset import VIDEO_EXTENSIONS, scan_videos
from .lists import check_labels, check_not_empty, check_unique, read_lines

COLUMNS = ("label", "youtube_id", "time_start", "time_end", "split")
SPLIT_NAMES = {"train": ("train",), "val": ("val", "validate", "validation"),
               "test": ("test",)}


class KineticsRow(NamedTuple):
    """One list line: the class name, the YouTube id, the clip's seconds, its split, origin."""

    label: str
    youtube_id: str
    time_start: int
    time_end: int
    split: str
    origin: str

    @property
    def stem(self) -> str:
        """The downloader's file stem, ``<id>_<start %06d>_<end %06d>``."""
        return f"{self.youtube_id}_{self.time_start:06d}_{self.time_end:06d}"


def read_kinetics_csv(path: str | os.PathLike) -> list[KineticsRow]:
    """Parse a Kinetics list; raises naming the file, the line and the bad value."""
    where = os.fsdecode(path)
    numbered = list(read_lines(path))
    reader = csv.reader(text for _, text in numbered)
    header = [h.strip() for h in next(reader, [])]
    absent = [c for c in COLUMNS if c not in header]
    if absent:
        raise ValueError(f"{where}:1: header {header} lacks column(s) {absent}; expected "
                         f"{','.join(COLUMNS)}")
    col = {c: header.index(c) for c in COLUMNS}
    rows = []
    for values in reader:
        number = reader.line_num
        if not any(v.strip() for v in values):
            continue
        origin = f"{where}:{number}"
        if len(values) < len(header):
            raise ValueError(f"{origin}: {len(values)} fields, the header has {len(header)}")
        get = {c: values[i].strip() for c, i in col.items()}
        try:
            start, end = int(float(get["time_start"])), int(float(get["time_end"]))
        except ValueError:
            raise ValueError(f"{origin}: time_start {get['time_start']!r} / time_end "
                             f"{get['time_end']!r} are not numbers") from None
        if not get["label"] or not get["youtube_id"]:
            raise ValueError(f"{origin}: empty label or youtube_id (an unlabelled test line "
                             "cannot be scored)")
        if end <= start:
            raise ValueError(f"{origin}: time_end {end} is not after time_start {start}")
        rows.append(KineticsRow(get["label"], get["youtube_id"], start, end, get["split"],
                                origin))
    return rows


def find_kinetics_list(annotation_dir: str | os.PathLike, split: str) -> Path:
    """The list file of ``split`` in ``annotation_dir`` (``kinetics400_<split>.csv``,
    ``kinetics-400_<split>.csv``, ``<split>.csv``; ``val`` also as ``validate``)."""
    if split not in SPLIT_NAMES:
        raise ValueError(f"Kinetics split {split!r} is unknown; known: {', '.join(SPLIT_NAMES)}")
    ann = Path(annotation_dir)
    names = [f"{p}{s}.csv" for s in SPLIT_NAMES[split]
             for p in ("kinetics400_", "kinetics-400_", "kinetics_400_", "")]
    for name in names:
        if (ann / name).is_file():
            return ann / name
    raise FileNotFoundError(f"no Kinetics-400 {split} list in '{ann}' (looked for "
                            f"{', '.join(names[:4])}, ...); pass list_file=")


class Kinetics400(VideoDataset):
    """Kinetics-400 clips of one split.

    Args:
        root (str or PathLike): folder holding the videos (any depth).
        split (str): ``"train"``, ``"val"`` or ``"test"``.
        annotation_dir (str or PathLike, optional): where the lists are (``root``).
        list_file (str or PathLike, optional): this split's list instead.
        classes (list[str], optional): class names by id; default the sorted names of the
            training list (found like ``list_file``), else of this list.
        on_error (str): ``"raise"`` or ``"skip"`` for missing or broken videos.
        **kwargs: :class:`~tagnet.datasets.base.VideoDataset` options.
    """

    def __init__(self, root, split: str = "train", *, annotation_dir=None, list_file=None,
                 classes=None, extensions=VIDEO_EXTENSIONS, on_error: str = "raise",
                 **kwargs):
        ann = Path(annotation_dir or root)
        list_file = Path(list_file) if list_file else find_kinetics_list(ann, split)
        rows = read_kinetics_csv(list_file)
        check_not_empty(len(rows), os.fspath(list_file))
        if classes is None:
            try:
                names = rows if split == "train" else read_kinetics_csv(
                    find_kinetics_list(ann, "train"))
            except FileNotFoundError:
                names = rows
            classes = sorted({r.label for r in names})
        index = {c: i for i, c in enumerate(classes)}
        for r in rows:
            if r.label not in index:
                raise ValueError(f"{r.origin}: label {r.label!r} is not one of the "
                                 f"{len(classes)} training classes")
        origins = [r.origin for r in rows]
        labels = [index[r.label] for r in rows]
        check_labels(labels, origins, len(classes))
        check_unique([r.stem for r in rows], origins)
        super().__init__([], classes, on_error=on_error, **kwargs)
        videos = scan_videos(root, extensions)
        found = [(videos.get(r.stem) or videos.get(r.youtube_id), y, r.stem, r.origin)
                 for r, y in zip(rows, labels, strict=True)]
        kept = check_missing(found, f"Kinetics-400 {split}", on_error, self.skipped,
                             os.fspath(root))
        self.samples = [(p, y) for p, y, *_ in kept]
        self.origins = [o for *_, o in kept]
        self.split = split


__all__ = ["COLUMNS", "Kinetics400", "KineticsRow", "find_kinetics_list", "read_kinetics_csv"]
