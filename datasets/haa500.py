"""HAA500 v1.1: ``haa500_v1_1/video/<class>/<class>_<NNN>.mp4``, official index splits.

Class ids are positions in the ASCII-sorted class folder names (``ALS_IceBucket_Challenge`` = 0,
``CPR`` = 1, then the lowercase names). Names contain spaces and odd characters
(``blowing kisses``, ``play_ otamatone``), so the clip number is taken after the last ``_``.
Official split by clip number: ``000``-``015`` train, ``016`` val, ``017``-``019`` test.
"""

from __future__ import annotations

import logging
from pathlib import Path

from .base import VideoDataset
from .csv_dataset import VIDEO_EXTENSIONS
from .lists import check_not_empty

log = logging.getLogger("tagnet.datasets")

SPLITS = {
    "train": range(0, 16),
    "val": range(16, 17),
    "test": range(17, 20),
    "trainval": range(0, 17),
    "all": None,
}


def clip_number(file_name: str) -> int | None:
    """``'play_ otamatone_017.mp4'`` -> ``17``; ``None`` when there is no trailing number."""
    stem = Path(file_name).stem
    _, sep, num = stem.rpartition("_")
    return int(num) if sep and num.isdigit() else None


def find_video_root(root: str | Path) -> Path:
    """The folder of class folders: ``root/haa500_v1_1/video``, ``root/video`` or ``root``."""
    root = Path(root)
    for cand in (root / "haa500_v1_1" / "video", root / "video", root):
        if cand.is_dir() and any(d.is_dir() for d in cand.iterdir()):
            return cand
    raise FileNotFoundError(
        f"HAA500: no class folders under '{root}' (looked in "
        f"haa500_v1_1/video, video and the folder itself)"
    )


class HAA500(VideoDataset):
    """HAA500 v1.1 clips.

    Args:
        root (str or PathLike): the folder holding ``haa500_v1_1`` (or ``video`` itself).
        split (str, optional): ``"train"``, ``"val"``, ``"test"``, ``"trainval"`` or ``"all"``.
            (default: ``"train"``)
        extensions (tuple[str], optional): video suffixes. (default: common video types)
        **kwargs: :class:`~tagnet.datasets.base.VideoDataset` options.

    Attributes:
        classes (list[str]): the 500 class names in ASCII order (label = position).
        clip_numbers (list[int]): the ``NNN`` of every sample.
    """

    def __init__(self, root, split: str = "train", *, extensions=VIDEO_EXTENSIONS, **kwargs):
        if split not in SPLITS:
            raise ValueError(f"HAA500 split {split!r} is unknown; known: {', '.join(SPLITS)}")
        video_root = find_video_root(root)
        classes = sorted(d.name for d in video_root.iterdir() if d.is_dir())
        keep, exts = SPLITS[split], tuple(e.lower() for e in extensions)
        samples, numbers, odd = [], [], []
        for label, name in enumerate(classes):
            for path in sorted((video_root / name).iterdir()):
                if not path.is_file() or path.suffix.lower() not in exts:
                    continue
                num = clip_number(path.name)
                if num is None:
                    odd.append(path.name)
                elif keep is None or num in keep:
                    samples.append((str(path), label))
                    numbers.append(num)
        if odd:
            log.warning(
                "HAA500: %d file(s) without a clip number ignored (e.g. %s)", len(odd), odd[0]
            )
        check_not_empty(len(samples), f"HAA500 {split} split of '{video_root}'", "videos")
        super().__init__(samples, classes, **kwargs)
        self.split, self.video_root, self.clip_numbers = split, video_root, numbers
