"""``FrameCache``: decode a dataset once into memory-mapped uint8 shards on disk.

Layout of the cache folder::

    config.json          decode settings the frames were made with (checked on open)
    shard_00000.bin      raw uint8 frames of up to ``shard_size`` videos, back to back
    shard_00000.json     per video: offset, shape (T, H, W, 3), stored frame indices, frame
                         count, and the source file's size and mtime (stale entries are misses)

A shard's ``.bin`` and then its ``.json`` are written to temporary names, flushed and renamed:
the ``.json`` rename is the commit. An interrupted build leaves at most an orphan ``.bin`` that
is ignored and overwritten, and calling :meth:`FrameCache.build` again resumes with the videos
not yet cached. One process should build at a time; any number may read.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .atomic import atomic_path, atomic_write
from .decode import read_frames
from .progress import progress as progress_bar
from .sampling import uniform_indices
from .video import VideoDecodeError

log = logging.getLogger("tagnet.datasets")
FORMAT = 1


class FrameCache:
    """Frames of many videos, decoded once at a fixed short side, read back memory-mapped.

    Args:
        root (str or PathLike): cache folder (created if needed).
        short_side (int, optional): decode-time short side; must match the dataset's.
            (default: ``128``)
        max_frames (int, optional): store at most this many evenly spaced frames per video
            (reads then use the nearest stored frame); ``None`` stores every frame.
        shard_size (int, optional): videos per shard file. (default: ``64``)

    Example:
        >>> cache = FrameCache("cache/gym99")  # doctest: +SKIP
        >>> cache.build(dataset)               # doctest: +SKIP
        >>> dataset.cache = cache              # doctest: +SKIP
    """

    def __init__(
        self,
        root,
        *,
        short_side: int | None = 128,
        max_frames: int | None = None,
        shard_size: int = 64,
    ):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.short_side, self.max_frames, self.shard_size = short_side, max_frames, shard_size
        config = {"format": FORMAT, "short_side": short_side, "max_frames": max_frames}
        cfg = self.root / "config.json"
        if cfg.is_file():
            old = json.loads(cfg.read_text())
            if old != config:
                raise ValueError(
                    f"frame cache '{self.root}' was built with {old}, not "
                    f"{config}; use another folder or delete it"
                )
        else:
            atomic_write(cfg, json.dumps(config))
        self._entries: dict[str, dict] = {}
        self._maps: dict[str, np.memmap] = {}
        for meta in sorted(self.root.glob("shard_*.json")):
            for key, entry in json.loads(meta.read_text()).items():
                self._entries[key] = {**entry, "shard": meta.stem}

    @staticmethod
    def key(path) -> str:
        return os.path.realpath(os.fspath(path))

    def _fresh(self, path, entry: dict) -> bool:
        try:
            st = os.stat(path)
        except OSError:
            return False
        return st.st_size == entry["size"] and st.st_mtime_ns == entry["mtime_ns"]

    def __contains__(self, path) -> bool:
        entry = self._entries.get(self.key(path))
        return entry is not None and self._fresh(path, entry)

    def __len__(self) -> int:
        return len(self._entries)

    def read(self, path, indices: Callable[[int], Tensor] | Tensor) -> tuple[Tensor, Tensor, int]:
        """Frames of a cached video at ``indices`` (or ``indices(n)``).

        Returns:
            tuple: ``(frames (T, H, W, 3) uint8, indices (T,) long, n)``.
        """
        entry = self._entries[self.key(path)]
        n = entry["num_frames"]
        idx = torch.as_tensor(indices(n) if callable(indices) else indices).long().reshape(-1)
        pos = idx.numpy()
        if entry["indices"] is not None:  # nearest stored frame
            stored = np.asarray(entry["indices"])
            right = np.clip(np.searchsorted(stored, pos), 0, len(stored) - 1)
            left = np.clip(right - 1, 0, None)
            pos = np.where(np.abs(stored[left] - pos) <= np.abs(stored[right] - pos), left, right)
        mm = self._maps.get(entry["shard"])
        if mm is None:
            mm = self._maps[entry["shard"]] = np.memmap(
                self.root / f"{entry['shard']}.bin", dtype=np.uint8, mode="r"
            )
        shape = tuple(entry["shape"])
        video = mm[entry["offset"] : entry["offset"] + int(np.prod(shape))].reshape(shape)
        return torch.from_numpy(np.ascontiguousarray(video[pos])), idx, n

    def build(self, videos, *, progress: bool = True, **decode_kwargs) -> dict:
        """Decode every video not yet cached and write it to new shards.

        Args:
            videos: paths, or a dataset with ``samples`` of ``(path, label)``.
            progress (bool, optional): show a progress bar (lines in a log). (default: ``True``)
            **decode_kwargs: :func:`read_frames` options (``threads``, ``strategy``).

        Returns:
            dict: ``{"added": int, "cached": int, "failed": {path: reason}}``.
        """
        paths: Iterable = [p for p, _ in videos.samples] if hasattr(videos, "samples") else videos
        paths = list(dict.fromkeys(os.fspath(p) for p in paths))
        todo = [p for p in paths if p not in self]
        for tmp in self.root.glob("*.tmp"):
            tmp.unlink()
        failed: dict[str, str] = {}
        added = 0
        next_id = 1 + max(
            (int(s[6:]) for s in {e["shard"] for e in self._entries.values()}), default=-1
        )
        bar = progress_bar(total=len(todo), desc="frame cache", unit="video", disable=not progress)
        for start in range(0, len(todo), self.shard_size):
            added += self._write_shard(
                f"shard_{next_id:05d}",
                todo[start : start + self.shard_size],
                failed,
                bar,
                decode_kwargs,
            )
            next_id += 1
        bar.close()
        if failed:
            log.warning(
                "frame cache: %d video(s) could not be decoded (e.g. %s)",
                len(failed),
                next(iter(failed.values())),
            )
        return {"added": added, "cached": len(paths) - len(todo), "failed": failed}

    def _stored(self, n: int) -> Tensor:
        """Frame indices kept for an ``n``-frame video: all, or ``max_frames`` evenly spaced."""
        if self.max_frames is None:
            return torch.arange(n)
        return uniform_indices(n, min(n, self.max_frames), exact=True).unique()

    def _write_shard(self, name: str, paths: list[str], failed: dict, bar, decode_kwargs) -> int:
        entries, offset = {}, 0
        with atomic_path(self.root / f"{name}.bin") as tmp, open(tmp, "wb") as f:
            for path in paths:
                bar.update(1)
                try:
                    st = os.stat(path)
                    clip = read_frames(
                        path, self._stored, short_side=self.short_side, **decode_kwargs
                    )
                except (VideoDecodeError, OSError) as e:
                    failed[path] = getattr(e, "reason", str(e))
                    continue
                data = clip.frames.numpy()
                f.write(data.tobytes())
                entries[self.key(path)] = {
                    "offset": offset,
                    "shape": list(data.shape),
                    "num_frames": clip.num_frames,
                    "indices": None if self.max_frames is None else clip.indices.tolist(),
                    "size": st.st_size,
                    "mtime_ns": st.st_mtime_ns,
                    "path": path,
                }
                offset += data.size
            if not entries:
                f.close()
                tmp.unlink()  # nothing decoded: no shard
        if not entries:
            return 0
        atomic_write(self.root / f"{name}.json", json.dumps(entries))
        self._maps.pop(name, None)
        for key, entry in entries.items():
            self._entries[key] = {**entry, "shard": name}
        return len(entries)

    def __getstate__(self) -> dict:  # DataLoader workers: reopen the memory maps lazily
        return {**self.__dict__, "_maps": {}}

    def __repr__(self) -> str:
        return f"FrameCache('{self.root}', {len(self)} videos, short_side={self.short_side})"
