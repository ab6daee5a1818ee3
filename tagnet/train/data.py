"""Datasets and loaders for a run: train list, selection split, test split.

.. code-block:: text

    train list --stratified holdout (data.holdout_fraction)--> train part | holdout part
    train.select_on = holdout: select on the holdout part (default)
                    = val:     select on data.val_split, the official validation list
                               (for FineGym also the test list: the released protocol)
    test split: data.test_split (FineGym "val", HAA500 "test")

The holdout part is a second instance of the training list built with the test
transform (centre crop), so selection never sees training augmentation.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, Dataset, Subset

from tagnet.config import Config
from tagnet.datasets.base import SkippedClip, without_substitution
from tagnet.train.distributed import DistInfo
from tagnet.train.sampling import shard_indices


def collate(items: Sequence) -> tuple:
    """``(clip, label, meta)`` items -> ``(clips, labels, meta)``; meta becomes a dict of
    lists (paths and sampled indices may differ in length across clips).

    :class:`~tagnet.datasets.base.SkippedClip` items (clips an evaluation dataset could not
    decode) are left out of the batch and listed as ``(path, reason, index)`` in
    ``meta["left_out"]``; a batch of only such items has ``clips`` of shape ``(0,)``.
    """
    left_out = [tuple(it) for it in items if isinstance(it, SkippedClip)]
    items = [it for it in items if not isinstance(it, SkippedClip)]
    clips = torch.stack([it[0] for it in items]) if items else torch.empty(0)
    labels = torch.as_tensor([int(it[1]) for it in items], dtype=torch.long)
    meta: dict = {}
    if items and len(items[0]) > 2 and isinstance(items[0][2], dict):
        for key in items[0][2]:
            meta[key] = [it[2].get(key) for it in items]
    if left_out:
        meta["left_out"] = left_out
    return clips, labels, meta


def dataset_labels(dataset: Dataset) -> list[int]:
    """Labels of every item without decoding a video.

    Uses ``dataset.targets`` or ``dataset.samples`` (``(path, label)`` pairs) and
    looks through :class:`~torch.utils.data.Subset`.
    """
    if isinstance(dataset, Subset):
        labels = dataset_labels(dataset.dataset)
        return [labels[i] for i in dataset.indices]
    for attr in ("targets", "labels"):
        if hasattr(dataset, attr):
            return [int(y) for y in getattr(dataset, attr)]
    if hasattr(dataset, "samples"):
        return [int(s[1]) for s in dataset.samples]
    raise TypeError(f"{type(dataset).__name__} exposes neither .targets nor .samples; "
                    "cannot split it by class without decoding every clip")


def stratified_holdout(labels: Sequence[int], fraction: float, seed: int = 0
                       ) -> tuple[list[int], list[int]]:
    """Split indices into ``(train, holdout)`` with ``round(fraction * n_c)`` holdout clips
    per class ``c`` (at least one when ``fraction > 0`` and the class has 2+ clips).

    Deterministic for a given ``seed``; both lists are sorted.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"data.holdout_fraction must be in [0, 1), got {fraction}")
    y = torch.as_tensor(list(labels), dtype=torch.long)
    g = torch.Generator().manual_seed(seed)
    holdout = []
    for c in torch.unique(y).tolist():
        idx = (y == c).nonzero().flatten()
        idx = idx[torch.randperm(idx.numel(), generator=g)]
        k = round(fraction * idx.numel())
        if fraction > 0 and idx.numel() >= 2:
            k = max(k, 1)
        holdout += idx[:k].tolist()
    holdout_set = set(holdout)
    return [i for i in range(len(y)) if i not in holdout_set], sorted(holdout)


def eval_loader(dataset: Dataset, batch_size: int, num_workers: int,
                dist: DistInfo | None = None) -> DataLoader:
    """Ordered loader; in a distributed run rank ``r`` gets ``r, r + R, ...`` (no padding).

    Clips are never substituted (:func:`~tagnet.datasets.base.without_substitution`): with
    ``data.on_error=skip`` a clip that fails to decode is left out of its batch and listed
    in the batch's ``meta["left_out"]``, so metrics count every scored clip exactly once.
    """
    dataset = without_substitution(dataset)
    if dist is not None and dist.distributed:
        dataset = Subset(dataset, shard_indices(len(dataset), dist.rank, dist.world_size))
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                      collate_fn=collate)


def label_origins(dataset: Dataset) -> list[str]:
    """Where each item's label comes from (``"list.txt:12"``, a path, else ``"item i"``)."""
    if isinstance(dataset, Subset):
        origins = label_origins(dataset.dataset)
        return [origins[i] for i in dataset.indices]
    origins = getattr(dataset, "origins", None)
    return list(origins) if origins is not None else [f"item {i}" for i in range(len(dataset))]


def check_run_labels(train: Dataset, num_classes: int, others: dict) -> None:
    """Before training: every class of the training list has a clip, and the other splits
    (``{name: dataset or None}``) use only those classes; errors name the file and line
    (:func:`tagnet.datasets.lists.check_split_labels`)."""
    from tagnet.datasets.lists import check_split_labels

    splits = {name: (dataset_labels(ds), label_origins(ds))
              for name, ds in others.items() if ds is not None}
    check_split_labels(dataset_labels(train), label_origins(train), num_classes, splits)


@dataclass
class RunData:
    """The datasets of a run and their class names."""

    train: Dataset
    select: Dataset | None
    test: Dataset | None
    class_names: list[str]
    select_name: str
    test_name: str


def build_run_data(cfg: Config) -> RunData:
    """Training, selection and test datasets as ``cfg.data`` / ``cfg.train.select_on`` say.

    The selection split is read with one centre-cropped clip per video (it runs every
    epoch); only the test split uses ``eval.num_clips`` x ``eval.num_crops`` views.
    """
    from tagnet.train.datasets import build_dataset

    d = cfg.data
    train_full = build_dataset(cfg, d.train_split, train=True)
    class_names = list(train_full.classes)
    test = build_dataset(cfg, d.test_split, train=False) if d.test_split else None
    multiview = cfg.eval.num_clips * cfg.eval.num_crops > 1
    val = None
    if cfg.train.select_on == "val":
        if not d.val_split:
            raise ValueError("train.select_on=val needs data.val_split (the official list)")
        val = test if d.val_split == d.test_split and not multiview else \
            build_dataset(cfg, d.val_split, train=False, views=False)
    others = {d.val_split: val} if val is not None else {}
    if test is not None:  # FineGym's val list is also its test list: one name, one check
        others[d.test_split] = test
    check_run_labels(train_full, len(class_names), others)
    if val is not None:
        return RunData(train_full, val, test, class_names, d.val_split, d.test_split)
    if d.holdout_fraction == 0:
        return RunData(train_full, None, test, class_names, "none", d.test_split)
    train_idx, hold_idx = stratified_holdout(dataset_labels(train_full), d.holdout_fraction,
                                             d.split_seed)
    holdout = Subset(build_dataset(cfg, d.train_split, train=False, views=False), hold_idx)
    return RunData(Subset(train_full, train_idx), holdout, test, class_names, "holdout",
                   d.test_split)


__all__ = ["collate", "eval_loader", "stratified_holdout", "dataset_labels", "build_run_data",
           "RunData", "check_run_labels", "label_origins"]
