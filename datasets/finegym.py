"""FineGym (Gym99 / Gym288): official element split files, category files, released CSVs.

Official files (``<version>`` is ``gym99`` or ``gym288``; FineSynth writes its own name)::

    <version>_train_element_v1.1.txt   "<id> <label>" per line
    <version>_val_element.txt
    <version>_categories.txt           "Clabel:   0; set:  1; Glabel:   1; (VT) round-off, ..."

Ids follow ``<YouTube id>_E_<event start %06d>_<event end %06d>_A_<action start %04d>_<action
end %04d>``; YouTube ids contain ``_`` and ``-``, so the id is split on ``_E_`` / ``_A_`` from
the right. Trimmed clips are found by id anywhere under the video folder (``<id>.mp4`` flat,
``<label>/<id>.mp4`` as in the release, ...). Many source videos are gone from YouTube:
missing clips are counted and reported once, then skipped or fatal (``on_error``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import NamedTuple

from .base import VideoDataset, check_missing
from .csv_dataset import VIDEO_EXTENSIONS, read_release_csv_lines, scan_videos
from .lists import check_labels, check_not_empty, check_unique, read_lines

_ID = re.compile(r"^(?P<yt>.+)_E_(?P<es>\d{6})_(?P<ee>\d{6})_A_(?P<as>\d{4})_(?P<ae>\d{4})$")
_CATEGORY = re.compile(r"^Clabel:\s*(\d+);\s*set:\s*(\d+);\s*Glabel:\s*(\d+);\s*(.*?)\s*$")


class FineGymId(NamedTuple):
    """The parts of a FineGym element id (times in seconds)."""

    youtube_id: str
    event_start: int
    event_end: int
    action_start: int
    action_end: int


def parse_finegym_id(element_id: str) -> FineGymId:
    """Split ``0LtLS9wROrk_E_002407_002435_A_0003_0005`` into its parts.

    Raises:
        ValueError: the id does not follow the grammar.
    """
    m = _ID.match(element_id)
    if m is None:
        raise ValueError(
            f"'{element_id}' is not a FineGym element id "
            "(<youtube id>_E_<%06d>_<%06d>_A_<%04d>_<%04d>)"
        )
    return FineGymId(m["yt"], int(m["es"]), int(m["ee"]), int(m["as"]), int(m["ae"]))


def read_element_split(path: str | os.PathLike) -> list[tuple[str, int]]:
    """Read an element split file: ``(id, label)`` per non-empty line, ids validated."""
    return [(i, y) for _, i, y in read_element_split_lines(path)]


def read_element_split_lines(path: str | os.PathLike) -> list[tuple[int, str, int]]:
    """:func:`read_element_split` with line numbers: ``(line, id, label)``."""
    out = []
    for line_no, line in read_lines(path):
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        try:
            if len(parts) != 2:
                raise ValueError(f"expected '<id> <label>', got {line.strip()!r}")
            parse_finegym_id(parts[0])
            out.append((line_no, parts[0], int(parts[1])))
        except ValueError as e:
            raise ValueError(f"{path}:{line_no}: {e}") from e
    return out


def read_categories(path: str | os.PathLike) -> list[str]:
    """Read ``<version>_categories.txt``: class names indexed by ``Clabel``."""
    names = {}
    for line_no, line in read_lines(path):
        if not line.strip():
            continue
        m = _CATEGORY.match(line.strip())
        if m is None:
            raise ValueError(f"{path}:{line_no}: not a category line: {line.strip()!r}")
        if int(m[1]) in names:
            raise ValueError(f"{path}:{line_no}: Clabel {m[1]} is listed twice")
        names[int(m[1])] = m[4]
    return [names.get(i, str(i)) for i in range(max(names, default=-1) + 1)]


def _find(dirs: list[Path], names: list[str]) -> Path | None:
    return next((d / n for n in names for d in dirs if (d / n).is_file()), None)


class FineGym(VideoDataset):
    """FineGym trimmed element clips.

    Args:
        root (str or PathLike): dataset folder (annotation files in it or in
            ``annotations/``; clips in ``subactions/``, ``videos/``, ``clips/`` or ``root``).
        version (str, optional): ``"gym99"``, ``"gym288"`` or another prefix of the split
            and category files (``"finesynth"``). (default: ``"gym99"``)
        split (str, optional): ``"train"`` or ``"val"``. (default: ``"train"``)
        video_dir (str or PathLike, optional): where the clips are (searched recursively).
        annotation_dir (str or PathLike, optional): where the split/category files are.
        list_file (str or PathLike, optional): use this list instead: an element split file
            (``.txt``) or a released CSV (``.csv``, videos at ``video_dir/{Class}/{FileName}``).
        on_error (str, optional): ``"raise"`` or ``"skip"`` for missing/broken clips.
        **kwargs: :class:`~tagnet.datasets.base.VideoDataset` options (``num_frames``,
            ``transform``, ``sampling``, ``short_side``, ``cache``, ...).

    Attributes:
        ids (list[str]): element ids of the samples kept, aligned with ``samples``.
        classes (list[str]): names from the category file (or label numbers without it).
    """

    def __init__(
        self,
        root,
        version: str = "gym99",
        split: str = "train",
        *,
        video_dir=None,
        annotation_dir=None,
        list_file=None,
        extensions=VIDEO_EXTENSIONS,
        on_error: str = "raise",
        **kwargs,
    ):
        root = Path(root)
        ann_dirs = (
            [Path(annotation_dir)]
            if annotation_dir
            else [root, root / "annotations", root / "annotation"]
        )
        if video_dir is None:
            video_dir = next(
                (root / d for d in ("subactions", "videos", "clips") if (root / d).is_dir()), root
            )
        self.version, self.split, self.video_dir = version, split, Path(video_dir)
        cat_file = _find(ann_dirs, [f"{version}_categories.txt"])
        classes = read_categories(cat_file) if cat_file else None
        by_id = scan_videos(video_dir, extensions)
        if list_file is not None and str(list_file).endswith(".csv"):
            source = os.fsdecode(list_file)
            entries = []
            for line, r in read_release_csv_lines(list_file):
                direct = self.video_dir / r.class_name / r.file_name
                stem = os.path.splitext(r.file_name)[0]
                path = str(direct) if direct.is_file() else by_id.get(stem)
                entries.append((path, r.label, stem, f"{source}:{line}"))
        else:
            names = [f"{version}_{split}_element_v1.1.txt", f"{version}_{split}_element.txt"]
            split_file = Path(list_file) if list_file else _find(ann_dirs, names)
            if split_file is None:
                raise FileNotFoundError(
                    f"FineGym {version} {split}: no split file among {names} in "
                    f"{', '.join(str(d) for d in ann_dirs)}"
                )
            source = os.fsdecode(split_file)
            entries = [
                (by_id.get(i), y, i, f"{source}:{line}")
                for line, i, y in read_element_split_lines(split_file)
            ]
        check_not_empty(len(entries), source)
        labels, origins = [e[1] for e in entries], [e[3] for e in entries]
        check_unique([e[2] for e in entries], origins, "clip id")
        check_labels(labels, origins, len(classes) if classes else max(labels) + 1)
        if classes is None:
            classes = [str(i) for i in range(max(labels) + 1)]
        super().__init__([], classes, on_error=on_error, **kwargs)
        kept = check_missing(
            entries, f"FineGym {version} {split} ({source})", on_error, self.skipped, str(video_dir)
        )
        self.samples = [(p, y) for p, y, *_ in kept]
        self.ids = [e[2] for e in kept]
        self.origins = [e[3] for e in kept]
