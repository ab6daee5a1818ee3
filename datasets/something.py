"""Something-Something V1 and V2: their annotation lists, label files and video datasets.

Official files (``annotation_dir``, default ``root``)::

    V2  something-something-v2-labels.json   {"Approaching something with your camera": "0", ...}
        something-something-v2-train.json    [{"id": "78687", "label": "holding potato next
        something-something-v2-validation.json   to vicks vaporub bottle", "template":
                                                "Holding [something] next to [something]",
                                                "placeholders": ["potato", "vicks ..."]}, ...]
    V1  something-something-v1-labels.csv    one class name per line; id = line number - 1
        something-something-v1-train.csv     100218;Something falling like a feather or paper
        something-something-v1-validation.csv

A V2 entry's class is its ``template`` without the brackets (the labels file's keys); a V1
line's class is the text after ``;``. Every entry is checked before anything is trained;
an error names the file and line (a JSON entry's line is where its ``{`` stands) and the fix.
Videos are found under ``root`` by their id as file stem (``<id>.webm``, ``<id>.mp4``, ...,
in any sub-folder). V1 was released as JPEG frame folders: pack each into a video named by
its id first (tagnet decodes videos with PyAV).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import NamedTuple

from .base import VideoDataset, check_missing
from .csv_dataset import VIDEO_EXTENSIONS, scan_videos
from .lists import check_labels, check_not_empty, check_unique, read_lines

VERSIONS = ("v1", "v2")
SPLIT_FILES = {"train": "train", "val": "validation", "validation": "validation"}


class Entry(NamedTuple):
    """One annotated clip: its id, class id and ``"file:line"``."""

    id: str
    label: int
    origin: str


def _names_to_ids(names: dict, where: str) -> list[str]:
    """A ``{name: id}`` mapping as class names indexed by id; ids must be 0..K-1 once each."""
    by_id: dict[int, str] = {}
    for name, raw in names.items():
        try:
            i = int(raw)
        except (TypeError, ValueError):
            raise ValueError(f"{where}: class {name!r} has id {raw!r}, not an integer") from None
        if i in by_id:
            raise ValueError(f"{where}: id {i} is given to both {by_id[i]!r} and {name!r}")
        by_id[i] = name
    missing = sorted(set(range(len(by_id))) - set(by_id))
    if missing:
        raise ValueError(f"{where}: {len(by_id)} classes but ids {missing[:5]} are absent; "
                         f"ids must be 0..{len(by_id) - 1}")
    return [by_id[i] for i in range(len(by_id))]


def _json_entries(path: str | os.PathLike) -> list[tuple[int, object]]:
    """The elements of a JSON list with the line each starts on."""
    text = "".join(t for _, t in read_lines(path))  # UTF-8 with file:line errors
    name = os.fsdecode(path)
    decoder, pos, out = json.JSONDecoder(), 0, []

    def skip(p: int) -> int:
        while p < len(text) and text[p] in " \t\r\n":
            p += 1
        return p

    def fail(p: int, what: str) -> ValueError:
        return ValueError(f"{name}:{text.count(chr(10), 0, p) + 1}: {what}; expected a JSON "
                          "list of objects")

    pos = skip(pos)
    if not text.startswith("[", pos):
        raise fail(pos, "the file does not start with '['")
    pos = skip(pos + 1)
    if text.startswith("]", pos):
        return []
    while True:
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as e:
            raise fail(e.pos, f"malformed JSON ({e.msg})") from None
        out.append((text.count("\n", 0, pos) + 1, value))
        pos = skip(end)
        if text.startswith(",", pos):
            pos = skip(pos + 1)
        elif text.startswith("]", pos):
            return out
        else:
            raise fail(pos, "missing ',' or ']' after an entry")


def read_sthv2_labels(path: str | os.PathLike) -> list[str]:
    """Class names by id from ``something-something-v2-labels.json`` (``{name: "id"}``)."""
    where = os.fsdecode(path)
    try:
        names = json.loads("".join(t for _, t in read_lines(path)))
    except json.JSONDecodeError as e:
        raise ValueError(f"{where}:{e.lineno}: malformed JSON ({e.msg})") from None
    if not isinstance(names, dict) or not names:
        raise ValueError(f"{where}: expected a JSON object mapping class names to ids")
    return _names_to_ids(names, where)


def read_sthv2_list(path: str | os.PathLike, classes: list[str]) -> list[Entry]:
    """The entries of a V2 list; each needs ``id`` and a ``template`` naming a class."""
    index = {name: i for i, name in enumerate(classes)}
    name, out = os.fsdecode(path), []
    for line, item in _json_entries(path):
        origin = f"{name}:{line}"
        if not isinstance(item, dict) or "id" not in item or "template" not in item:
            keys = sorted(item) if isinstance(item, dict) else type(item).__name__
            raise ValueError(f"{origin}: entry {keys} lacks 'id' or 'template'; a labelled "
                             "list has {\"id\", \"label\", \"template\", \"placeholders\"} "
                             "(the test list has no labels: it cannot be scored)")
        cls = str(item["template"]).replace("[", "").replace("]", "")
        if cls not in index:
            raise ValueError(f"{origin}: template {item['template']!r} ({cls!r}) is not a "
                             f"class of the labels file ({len(classes)} classes); is it the "
                             "labels file of this list?")
        out.append(Entry(str(item["id"]), index[cls], origin))
    return out


def read_sthv1_labels(path: str | os.PathLike) -> list[str]:
    """Class names by id from ``something-something-v1-labels.csv`` (one per line)."""
    names, where = [], os.fsdecode(path)
    for number, text in read_lines(path):
        text = text.strip()
        if not text:
            continue
        if text in names:
            raise ValueError(f"{where}:{number}: class {text!r} is listed twice (first as id "
                             f"{names.index(text)})")
        names.append(text)
    check_not_empty(len(names), where, "classes")
    return names


def read_sthv1_list(path: str | os.PathLike, classes: list[str]) -> list[Entry]:
    """The entries of a V1 list, lines ``<id>;<class name>``."""
    index = {name: i for i, name in enumerate(classes)}
    where, out = os.fsdecode(path), []
    for number, text in read_lines(path):
        text = text.strip()
        if not text:
            continue
        origin = f"{where}:{number}"
        vid, sep, cls = text.partition(";")
        if not sep or not vid.strip().isdigit():
            raise ValueError(f"{origin}: {text!r} is not '<numeric id>;<class name>'")
        if cls.strip() not in index:
            raise ValueError(f"{origin}: class {cls.strip()!r} is not in the labels file "
                             f"({len(classes)} classes)")
        out.append(Entry(vid.strip(), index[cls.strip()], origin))
    return out


class SomethingSomething(VideoDataset):
    """Something-Something V1 or V2 clips of one split, labelled by the official files.

    Args:
        root (str or PathLike): folder holding the videos (any depth), named by clip id.
        version (str): ``"v1"`` or ``"v2"``.
        split (str): ``"train"`` or ``"val"`` (``"validation"``).
        annotation_dir (str or PathLike, optional): where the official files are (``root``).
        list_file, labels_file (str or PathLike, optional): explicit files instead.
        on_error (str): ``"raise"`` or ``"skip"`` for missing or broken videos.
        **kwargs: :class:`~tagnet.datasets.base.VideoDataset` options.
    """

    def __init__(self, root, version: str = "v2", split: str = "train", *, annotation_dir=None,
                 list_file=None, labels_file=None, extensions=VIDEO_EXTENSIONS,
                 on_error: str = "raise", **kwargs):
        if version not in VERSIONS:
            raise ValueError(f"Something-Something version {version!r} is unknown; known: "
                             f"{', '.join(VERSIONS)}")
        if split not in SPLIT_FILES and list_file is None:
            raise ValueError(f"split {split!r} is unknown; known: train, val (the test list "
                             "has no labels); or pass list_file")
        ann = Path(annotation_dir or root)
        ext = "json" if version == "v2" else "csv"
        stem = f"something-something-{version}"
        labels_file = Path(labels_file or ann / f"{stem}-labels.{ext}")
        list_file = Path(list_file or ann / f"{stem}-{SPLIT_FILES[split]}.{ext}")
        for f in (labels_file, list_file):
            if not f.is_file():
                raise FileNotFoundError(f"Something-Something {version} file '{f}' does not "
                                        "exist; pass annotation_dir= or the file")
        if version == "v2":
            classes = read_sthv2_labels(labels_file)
            entries = read_sthv2_list(list_file, classes)
        else:
            classes = read_sthv1_labels(labels_file)
            entries = read_sthv1_list(list_file, classes)
        check_not_empty(len(entries), os.fspath(list_file))
        origins = [e.origin for e in entries]
        check_labels([e.label for e in entries], origins, len(classes))
        check_unique([e.id for e in entries], origins)
        super().__init__([], classes, on_error=on_error, **kwargs)
        videos = scan_videos(root, extensions)
        found = [(videos.get(e.id), e.label, e.id, e.origin) for e in entries]
        kept = check_missing(found, f"Something-Something {version} {split}", on_error,
                             self.skipped, os.fspath(root))
        self.samples = [(p, y) for p, y, *_ in kept]
        self.origins = [o for *_, o in kept]
        self.version, self.split = version, split


__all__ = ["Entry", "SomethingSomething", "read_sthv1_labels", "read_sthv1_list",
           "read_sthv2_labels", "read_sthv2_list"]
