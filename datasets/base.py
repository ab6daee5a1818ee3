"""Shared dataset machinery: decoding a sample, the ``on_error`` policy, skip summaries."""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Callable, Sequence
from typing import NamedTuple

from torch import Tensor
from torch.utils.data import Dataset, Subset

from .decode import read_frames
from .sampling import get_sampler, multi_clip_indices
from .skips import SkipSummary
from .video import VideoDecodeError

log = logging.getLogger("tagnet.datasets")
ON_ERROR = ("raise", "skip")


class SkippedClip(NamedTuple):
    """What a dataset without substitution returns for a clip it could not decode: the
    collate function leaves it out of the batch and reports it (``meta["left_out"]``)."""

    path: str
    reason: str
    index: int


class VideoDataset(Dataset):
    """Clips from a list of ``(path, label)`` samples.

    ``dataset[i]`` returns ``(clip, label, meta)``: ``clip`` is ``transform(frames)`` for
    uint8 frames ``(T, H, W, 3)`` (``(K, T, H, W, 3)`` with ``num_clips=K``); ``meta`` holds
    only collatable values: ``path`` (str), ``id`` (str), ``index`` (int, the sample served),
    ``indices`` (long ``(T,)`` or ``(K, T)``), ``num_frames`` (int, frames in the video),
    ``lost`` (int, frames replaced because of corrupt data) and ``skipped`` (str: one
    ``path<TAB>reason`` line per file skipped to serve this item, ``""`` if none).
    :attr:`origins` says where each sample is listed (``"list.txt:12"`` for datasets read
    from a list file, else the path), for errors about labels.

    With ``on_error="skip"`` a file that fails to decode is logged once with its reason,
    remembered, and replaced by the next sample (``i + 1``, ``i + 2``, ... modulo the length:
    deterministic, independent of worker and epoch). :attr:`skipped` summarises the files
    skipped in this process; with DataLoader workers, merge the ``skipped`` meta of the batches
    with :meth:`SkipSummary.update_from_meta`. Replacing suits training only: evaluation
    reads through :func:`without_substitution` (``substitute=False``), where a bad clip comes
    back as a :class:`SkippedClip` so that it is left out, never counted twice.

    Args:
        samples (sequence): ``(path, label)`` pairs.
        classes (list[str]): class names, ``classes[label]``.
        num_frames (int, optional): frames per clip ``T``. (default: ``32``)
        sampling (str or callable, optional): ``"uniform"``, ``"segment"``, ``"dense"`` or
            ``n -> indices`` (:mod:`~tagnet.datasets.sampling`).
        train_sampling (bool, optional): the sampling's training form (random segment
            offsets, random dense start) or its test form. (default: ``True``)
        stride (int, optional): the frame step of ``"dense"``. (default: ``1``)
        num_clips (int, optional): evenly spaced clips per video for multi-clip testing
            (windows ``stride`` apart for ``"dense"``).
        transform (callable, optional): applied to the uint8 frames.
        target_transform (callable, optional): applied to the label.
        short_side (int, optional): decode-time resize. (default: ``128``, the release's)
        on_error (str, optional): ``"raise"`` or ``"skip"``. (default: ``"raise"``)
        cache (FrameCache, optional): read frames from this cache when it holds the video.
        decode_threads (int, optional): decoder threads per video; ``None`` picks by size.
        strategy (str, optional): :func:`read_frames` strategy. (default: ``"auto"``)
        max_replacements (int, optional): consecutive bad samples tolerated. (default: ``32``)
        skipped (SkipSummary, optional): share one summary between datasets.
        substitute (bool, optional): with ``on_error="skip"``, serve the next sample in place
            of a bad one (``True``) or return a :class:`SkippedClip` (``False``).
            (default: ``True``)
    """

    def __init__(
        self,
        samples: Sequence[tuple[str, int]],
        classes: Sequence[str],
        *,
        num_frames: int = 32,
        sampling: str | Callable[[int], Tensor] = "uniform",
        train_sampling: bool = True,
        stride: int = 1,
        num_clips: int = 1,
        transform: Callable | None = None,
        target_transform: Callable | None = None,
        short_side: int | None = 128,
        on_error: str = "raise",
        cache=None,
        decode_threads: int | None = None,
        strategy: str = "auto",
        max_replacements: int = 32,
        skipped: SkipSummary | None = None,
        substitute: bool = True,
    ):
        if on_error not in ON_ERROR:
            raise ValueError(f"on_error {on_error!r} is unknown; known: {', '.join(ON_ERROR)}")
        self.samples = [(os.fspath(p), int(y)) for p, y in samples]
        self.origins = [p for p, _ in self.samples]  # where each sample is listed (file:line)
        self.classes = list(classes)
        self.num_frames, self.sampling, self.num_clips = num_frames, sampling, num_clips
        self.train_sampling, self.stride = train_sampling, stride
        self.transform, self.target_transform = transform, target_transform
        self.short_side, self.on_error, self.cache = short_side, on_error, cache
        self.decode_threads, self.strategy = decode_threads, strategy
        self.max_replacements, self.substitute = max_replacements, substitute
        self.skipped = skipped if skipped is not None else SkipSummary()
        get_sampler(sampling, num_frames)  # fail early on an unknown name
        if cache is not None and cache.short_side != short_side:
            raise ValueError(
                f"cache was built with short_side={cache.short_side}, "
                f"the dataset decodes with short_side={short_side}"
            )

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def targets(self) -> list[int]:
        """Labels of all samples, in order."""
        return [y for _, y in self.samples]

    def _indices(self) -> Callable[[int], Tensor]:
        if self.num_clips > 1 and callable(self.sampling):
            return lambda n: multi_clip_indices(n, self.num_frames, self.num_clips)
        return get_sampler(self.sampling, self.num_frames, train=self.train_sampling,
                           stride=self.stride, num_clips=self.num_clips)

    def sampler_for(self, path: str) -> Callable[[int], Tensor]:
        """The frame sampler of one video (``n -> indices``); datasets whose lists state a
        frame count override it (:class:`~tagnet.datasets.csv_dataset.CsvVideoDataset`)."""
        return self._indices()

    def load(self, path: str) -> tuple[Tensor, Tensor, int, int]:
        """Decode one video: ``(frames, indices, num_frames, lost)``, frames shaped
        ``(T, H, W, 3)`` or ``(K, T, H, W, 3)``."""
        sampler = self.sampler_for(path)
        if self.cache is not None and path in self.cache:
            frames, idx, n = self.cache.read(path, sampler)
            lost = 0
        else:
            clip = read_frames(
                path,
                sampler,
                short_side=self.short_side,
                threads=self.decode_threads,
                strategy=self.strategy,
            )
            frames, idx, n, lost = clip.frames, clip.indices, clip.num_frames, clip.substituted
        if self.num_clips > 1:
            idx = idx.view(self.num_clips, self.num_frames)
            frames = frames.view(self.num_clips, self.num_frames, *frames.shape[1:])
        return frames, idx, n, lost

    def __getitem__(self, index: int):
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        index %= len(self)
        notes = []
        for step in range(self.max_replacements + 1):
            i = (index + step) % len(self)
            path, label = self.samples[i]
            if path in self.skipped:
                if not self.substitute:
                    return SkippedClip(path, self.skipped.reason(path), i)
                notes.append(f"{path}\t{self.skipped.reason(path)}")
                continue
            try:
                frames, idx, n, lost = self.load(path)
            except VideoDecodeError as e:
                if self.on_error == "raise":
                    raise
                self.skipped.add(path, e.reason, log_it=True)
                if not self.substitute:
                    return SkippedClip(path, e.reason, i)
                notes.append(f"{path}\t{e.reason}")
                continue
            clip = self.transform(frames) if self.transform is not None else frames
            target = self.target_transform(label) if self.target_transform else label
            meta = {
                "path": path,
                "id": os.path.splitext(os.path.basename(path))[0],
                "index": i,
                "indices": idx,
                "num_frames": n,
                "lost": lost,
                "skipped": "\n".join(notes),
            }
            return clip, target, meta
        raise RuntimeError(
            f"{self.max_replacements + 1} consecutive samples from index {index} failed to "
            f"decode; {self.skipped}"
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({len(self)} samples, {len(self.classes)} classes, "
            f"num_frames={self.num_frames}, sampling={self.sampling!r}, "
            f"on_error={self.on_error!r})"
        )


def without_substitution(dataset: Dataset) -> Dataset:
    """``dataset`` as evaluation must read it: a clip that fails to decode comes back as a
    :class:`SkippedClip` instead of being replaced by another one.

    Returns a shallow copy with ``substitute=False`` (looking through
    :class:`~torch.utils.data.Subset`); the argument is not changed, and datasets without
    substitution (token shards, plain tensors) are returned as they are.
    """
    if isinstance(dataset, Subset):
        inner = without_substitution(dataset.dataset)
        return dataset if inner is dataset.dataset else Subset(inner, dataset.indices)
    if not getattr(dataset, "substitute", False):
        return dataset
    view = copy.copy(dataset)
    view.substitute = False
    return view


def check_missing(samples, name: str, on_error: str, skipped: SkipSummary, where: str):
    """Drop samples whose file does not exist: raise (``on_error="raise"``) or log once and
    record them in ``skipped``. Returns the samples that exist."""
    present = [s for s in samples if s[0] is not None and os.path.isfile(s[0])]
    missing = [s for s in samples if s[0] is None or not os.path.isfile(s[0])]
    if not missing:
        return present
    example = ", ".join(str(s[2] if len(s) > 2 else s[0]) for s in missing[:3])
    msg = (
        f"{name}: {len(missing)} of {len(samples)} videos are missing under {where} "
        f"(e.g. {example})"
    )
    if on_error == "raise":
        raise FileNotFoundError(msg + "; pass on_error='skip' to use the others")
    log.warning("%s; skipping them", msg)
    for s in missing:
        skipped.add(s[0] or str(s[2]), "missing", log_it=False)
    return present
