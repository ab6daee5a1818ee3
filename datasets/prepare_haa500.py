"""Check an HAA500 v1.1 folder against the official layout before training on it.

Expected (PAPER.md section 4)::

    haa500_v1_1/video/<class>/<class>_<NNN>.mp4      500 classes, NNN = 000..019 each

Reported: class folders other than 500, files whose name is not ``<class>_<NNN>.<video
ext>`` of their folder, missing or repeated clip numbers, numbers outside 000..019, empty
files and, with ``decode=True``, files PyAV cannot read (:func:`~tagnet.datasets.probe`).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .csv_dataset import VIDEO_EXTENSIONS
from .haa500 import SPLITS, clip_number, find_video_root
from .progress import progress as progress_bar

NUM_CLASSES, CLIPS_PER_CLASS = 500, 20


@dataclass
class LayoutReport:
    """What :func:`check_haa500` found: ``clips`` per split and one message per problem."""

    video_root: str | None = None
    num_classes: int = 0
    clips: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self, limit: int = 20) -> str:
        split_counts = ", ".join(f"{k} {v}" for k, v in self.clips.items())
        lines = [f"HAA500 at {self.video_root}: {self.num_classes} classes; clips: "
                 f"{split_counts}"]
        lines += [f"problem: {p}" for p in self.problems[:limit]]
        if len(self.problems) > limit:
            lines.append(f"... and {len(self.problems) - limit} more problems")
        lines.append("layout OK" if self.ok else f"{len(self.problems)} problems")
        return "\n".join(lines)


def check_haa500(root: str | os.PathLike, *, decode: bool = False, workers: int = 4,
                 progress: bool = True) -> LayoutReport:
    """Check the layout of an HAA500 v1.1 copy (see the module docstring).

    Args:
        root (str or PathLike): the folder holding ``haa500_v1_1`` (or ``video`` itself).
        decode (bool, optional): also open every clip with PyAV. (default: ``False``)
        workers (int, optional): threads for ``decode``. (default: ``4``)
        progress (bool, optional): a progress bar for ``decode``. (default: ``True``)
    """
    report = LayoutReport()
    try:
        video_root = find_video_root(root)
    except FileNotFoundError as e:
        report.problems.append(str(e))
        return report
    report.video_root = str(video_root)
    classes = sorted(d.name for d in video_root.iterdir() if d.is_dir())
    report.num_classes = len(classes)
    if len(classes) != NUM_CLASSES:
        report.problems.append(f"{len(classes)} class folders in {video_root}, expected "
                               f"{NUM_CLASSES} (HAA500 v1.1)")
    stray = sorted(p.name for p in video_root.iterdir() if p.is_file())
    if stray:
        report.problems.append(f"{len(stray)} files beside the class folders, e.g. {stray[0]!r}")
    exts = tuple(e.lower() for e in VIDEO_EXTENSIONS)
    numbers_all, videos = [], []
    for name in classes:
        seen: dict[int, str] = {}
        for path in sorted((video_root / name).iterdir()):
            where = f"{name}/{path.name}"
            if not path.is_file():
                report.problems.append(f"{where}: a folder inside a class folder")
                continue
            if path.suffix.lower() not in exts:
                report.problems.append(f"{where}: not a video file")
                continue
            num, prefix = clip_number(path.name), path.stem.rpartition("_")[0]
            if num is None or prefix != name:
                report.problems.append(f"{where}: expected '{name}_<NNN>{path.suffix}'")
                continue
            if not 0 <= num < CLIPS_PER_CLASS:
                report.problems.append(f"{where}: clip number {num} outside 000..019")
            if num in seen:
                report.problems.append(f"{where}: clip number {num:03d} also in {seen[num]!r}")
                continue
            seen[num] = path.name
            if path.stat().st_size == 0:
                report.problems.append(f"{where}: empty file")
                continue
            numbers_all.append(num)
            videos.append(path)
        missing = sorted(set(range(CLIPS_PER_CLASS)) - set(seen))
        if missing:
            report.problems.append(f"{name}: clips {', '.join(f'{m:03d}' for m in missing)} "
                                   "missing")
    report.clips = {split: sum(1 for n in numbers_all if keep is None or n in keep)
                    for split, keep in SPLITS.items()}
    if decode and videos:
        from .probe import probe

        def check(path: Path) -> str | None:
            try:
                probe(path)
            except Exception as e:  # noqa: BLE001 - any failure is a problem to report
                return f"{path.parent.name}/{path.name}: unreadable ({e})"
            return None

        bar = progress_bar(total=len(videos), desc="haa500 decode", unit="video",
                           disable=not progress)
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            for msg in pool.map(check, videos):
                bar.update(1)
                if msg:
                    report.problems.append(msg)
        bar.close()
    return report
