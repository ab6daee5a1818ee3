"""Annotation lists: read text with ``file:line`` errors, check labels and clip ids up front.

Every check raises :class:`ValueError` naming the list file, the line and the value, before
anything is trained; ``origins`` are the ``"file:line"`` strings that datasets keep for their
samples (:attr:`VideoDataset.origins <tagnet.datasets.base.VideoDataset>`)::

    labels outside [0, num_classes), -1      -> check_labels
    a clip id or file listed twice            -> check_unique
    a clip in two splits (train and val)      -> split_overlaps, check_disjoint
    an empty list                             -> check_not_empty
    val/test class absent from training,
    a label above the largest seen            -> check_split_labels
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence


def read_lines(path: str | os.PathLike) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` of a UTF-8 text file (a BOM is dropped).

    Raises:
        ValueError: the file is not UTF-8 (names the file, line and byte).
    """
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as e:
                raise ValueError(
                    f"{os.fsdecode(path)}:{number}: not UTF-8 text (byte 0x{raw[e.start]:02x} "
                    f"at column {e.start + 1}); save the list as UTF-8"
                ) from None
            yield number, text


def check_not_empty(count: int, where: str, what: str = "clips") -> None:
    """Raise when a list holds no entries."""
    if count == 0:
        raise ValueError(f"{where}: the list holds no {what}; is it the right file?")


def check_labels(labels: Sequence[int], origins: Sequence[str], num_classes: int) -> None:
    """Every label lies in ``[0, num_classes)``; else name the first bad one's origin."""
    for label, origin in zip(labels, origins, strict=True):
        if not 0 <= label < num_classes:
            hint = " (-1 marks an unlabelled clip: leave it out of the list)" if label == -1 else ""
            raise ValueError(
                f"{origin}: label {label} is outside the {num_classes} classes "
                f"[0, {num_classes}){hint}"
            )


def check_unique(keys: Sequence[str], origins: Sequence[str], what: str = "clip") -> None:
    """No key (clip id or file) occurs twice; else name both lines."""
    first: dict[str, str] = {}
    for key, origin in zip(keys, origins, strict=True):
        if key in first:
            raise ValueError(
                f"{origin}: {what} '{key}' is listed twice (first at {first[key]}); "
                "a clip listed twice would be counted twice"
            )
        first[key] = origin


def split_overlaps(splits: Mapping[str, Sequence[tuple[str, str]]]) -> list[str]:
    """Clips listed in more than one split: one message per clip and later split, naming
    where it is listed in each.

    Args:
        splits: ``{split name or file: [(clip id or file, origin "file:line"), ...]}``.

    Example:
        >>> found = split_overlaps({"train": [("a", "t.txt:1"), ("b", "t.txt:2")],
        ...                         "val": [("b", "v.txt:1")]})
        >>> found[0].split(";")[0]
        "v.txt:1: clip 'b' is in both train (t.txt:2) and val"
    """
    first: dict[str, tuple[str, str]] = {}
    found = []
    for name, rows in splits.items():
        here = set()
        for key, origin in rows:
            if key in first and first[key][0] != name and key not in here:
                where, at = first[key]
                found.append(f"{origin}: clip '{key}' is in both {where} ({at}) and {name}; a "
                             "clip in two splits is tested on what it was trained on (or "
                             "selected on)")
            here.add(key)
            first.setdefault(key, (name, origin))
    return found


def check_disjoint(splits: Mapping[str, Sequence[tuple[str, str]]]) -> None:
    """Raise ``ValueError`` when a clip is in two splits (:func:`split_overlaps`), naming the
    first such clip, both places and how many clips are shared."""
    found = split_overlaps(splits)
    if found:
        more = f" ({len(found)} clips are shared in all)" if len(found) > 1 else ""
        raise ValueError(f"{found[0]}{more}; remove it from one of the lists")


def check_split_labels(
    train_labels: Sequence[int],
    train_origins: Sequence[str],
    num_classes: int,
    splits: dict[str, tuple[Sequence[int], Sequence[str]]] | None = None,
) -> None:
    """The classes a run learns are the training list's, and every split uses only those.

    Errors: a class in ``[0, num_classes)`` without a training clip (a label above the
    largest seen would otherwise silently add outputs to the model), and a label of another
    split (``{name: (labels, origins)}``) outside the classes or absent from training.
    """
    check_labels(train_labels, train_origins, num_classes)
    seen = set(train_labels)
    absent = [c for c in range(num_classes) if c not in seen]
    if absent:
        top = max(range(len(train_labels)), key=lambda i: train_labels[i])
        shown = ", ".join(map(str, absent[:8])) + (", ..." if len(absent) > 8 else "")
        raise ValueError(
            f"{train_origins[top]}: the training list makes {num_classes} classes (largest "
            f"label {train_labels[top]}), but {len(absent)} of them have no training clip "
            f"(labels {shown}); fix the labels or the list: a model cannot learn a class it "
            "never sees"
        )
    for name, (labels, origins) in (splits or {}).items():
        for label, origin in zip(labels, origins, strict=True):
            if label not in seen:
                raise ValueError(
                    f"{origin}: {name} label {label} is not a class of the training list "
                    f"(labels 0..{num_classes - 1}); a {name} class absent from training "
                    "cannot be predicted"
                )


__all__ = ["read_lines", "check_not_empty", "check_labels", "check_unique", "check_split_labels",
           "split_overlaps", "check_disjoint"]
