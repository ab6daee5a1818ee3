"""Reproducible, resumable data order and augmentation.

Two pieces make a run's data stream a pure function of ``(seed, epoch)``, so
that a resumed run (even one resumed mid-epoch), a run with a different number
of loader workers, and a DDP run all see the same clips with the same random
crops:

* :class:`ResumableSampler` shuffles with a generator seeded by
  ``seed + epoch`` (as :class:`~torch.utils.data.DistributedSampler` does),
  shards across ranks, and can skip the samples a killed run already used;
* :class:`SeededDataset` draws every sample's augmentation from generators
  seeded by ``(seed, epoch, index)``, independent of which worker or rank
  loads it, and restores the caller's generator states afterwards.
"""
from __future__ import annotations

import random
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, DistributedSampler


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """A 63-bit seed for one sample of one epoch (SplitMix64-style mixing)."""
    x = (seed * 0x9E3779B97F4A7C15 + epoch * 0xBF58476D1CE4E5B9 + index * 0x94D049BB133111EB)
    x &= (1 << 64) - 1
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & ((1 << 64) - 1)
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & ((1 << 64) - 1)
    return (x ^ (x >> 31)) >> 1


class SeededDataset(Dataset):
    """Wraps a dataset so that sample ``i`` of epoch ``e`` is always the same.

    The torch, numpy and python generators are seeded from
    :func:`sample_seed` before ``dataset[i]`` and restored after it, so the
    wrapper does not disturb the caller's random stream (dropout, shuffling).

    Args:
        dataset (Dataset): the dataset whose ``__getitem__`` draws random numbers.
        seed (int): the run's seed.
    """

    def __init__(self, dataset: Dataset, seed: int = 0) -> None:
        self.dataset = dataset
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        s = sample_seed(self.seed, self.epoch, index)
        py_state, np_state = random.getstate(), np.random.get_state()
        with torch.random.fork_rng(devices=[]):
            # the CPU generator only: torch.manual_seed also queues a seed for every
            # accelerator (CUDA, XPU, MTIA), recording a Python traceback each time while
            # they are not initialised (this wrapper: 268 -> 106 us of CPU per clip), and
            # on an initialised GPU it would reseed the training process's CUDA stream
            # (dropout), which fork_rng(devices=[]) does not restore
            torch.default_generator.manual_seed(s)
            random.seed(s)
            np.random.seed(s % (1 << 32))
            try:
                return self.dataset[index]
            finally:
                random.setstate(py_state)
                np.random.set_state(np_state)

    def __getitems__(self, indices: list[int]) -> list:
        """Batched fetching (the DataLoader's fast path) through the seeded ``__getitem__``."""
        return [self[i] for i in indices]

    def __getattr__(self, name: str):
        # "dataset" is not set yet while unpickling; dunder lookups must not reach the wrapped
        # dataset (a Subset's __getitems__ would fetch around the seeding)
        if name == "dataset" or (name.startswith("__") and name.endswith("__")):
            raise AttributeError(name)
        return getattr(self.dataset, name)


class ResumableSampler(DistributedSampler):
    """:class:`~torch.utils.data.DistributedSampler` that can start mid-epoch.

    Works without an initialised process group when ``num_replicas`` and
    ``rank`` are given (a single process is ``num_replicas=1, rank=0``). Rank
    ``r`` takes indices ``r, r + R, r + 2R, ...`` of the epoch's permutation, so
    consecutive per-rank batches of size ``b`` together form the single-process
    batch of size ``R * b``.

    Args:
        start (int): per-rank samples of the current epoch to skip (set with
            :meth:`set_start`; reset by :meth:`set_epoch`).
    """

    def __init__(self, dataset, num_replicas: int = 1, rank: int = 0, shuffle: bool = True,
                 seed: int = 0, drop_last: bool = False) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle,
                         seed=seed, drop_last=drop_last)
        self.start = 0

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        self.start = 0

    def set_start(self, start: int) -> None:
        self.start = start

    def __iter__(self) -> Iterator[int]:
        indices = list(super().__iter__())
        return iter(indices[self.start:])

    def __len__(self) -> int:
        return max(self.num_samples - self.start, 0)


__all__ = ["SeededDataset", "ResumableSampler", "sample_seed"]
