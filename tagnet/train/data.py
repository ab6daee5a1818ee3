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

import os
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch.utils.data import Dataset, Subset

from tagnet.config import Config
from tagnet.data import dataset_labels, label_origins


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


def check_run_labels(train: Dataset, num_classes: int, others: dict,
                     train_name: str = "train") -> None:
    """Before training: every class of the training list has a clip, the other splits
    (``{name: dataset or None}``) use only those classes, and no clip of another split is
    also a training clip (unless it is the training split itself); errors name the file and
    line (:func:`tagnet.datasets.lists.check_split_labels`, :func:`~tagnet.datasets.lists.
    check_disjoint`)."""
    from tagnet.datasets.lists import check_disjoint, check_split_labels

    splits = {name: (dataset_labels(ds), label_origins(ds))
              for name, ds in others.items() if ds is not None}
    check_split_labels(dataset_labels(train), label_origins(train), num_classes, splits)
    train_keys = _clip_keys(train)
    for name, ds in others.items():
        keys = _clip_keys(ds) if ds is not None and name != train_name else None
        if train_keys is not None and keys is not None:
            check_disjoint({f"the {train_name} split": train_keys, f"the {name} split": keys})


def _clip_keys(dataset: Dataset) -> list[tuple[str, str]] | None:
    """``[(absolute video path, origin)]`` of a video dataset; ``None`` for other datasets."""
    base = dataset.dataset if isinstance(dataset, Subset) else dataset
    samples = getattr(base, "samples", None)
    if samples is None:
        return None
    keys = [(os.path.abspath(p), o) for (p, _), o in zip(samples, label_origins(base),
                                                          strict=True)]
    return [keys[i] for i in dataset.indices] if isinstance(dataset, Subset) else keys


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
    from tagnet.data import build_dataset

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
    check_run_labels(train_full, len(class_names), others, d.train_split)
    if val is not None:
        return RunData(train_full, val, test, class_names, d.val_split, d.test_split)
    if d.holdout_fraction == 0:
        return RunData(train_full, None, test, class_names, "none", d.test_split)
    train_idx, hold_idx = stratified_holdout(dataset_labels(train_full), d.holdout_fraction,
                                             d.split_seed)
    holdout = Subset(build_dataset(cfg, d.train_split, train=False, views=False), hold_idx)
    return RunData(Subset(train_full, train_idx), holdout, test, class_names, "holdout",
                   d.test_split)


__all__ = ["stratified_holdout", "build_run_data", "RunData", "check_run_labels"]
