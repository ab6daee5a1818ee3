"""Data for a config: ``build_dataset(cfg, split, train)``, batches and evaluation loaders.

What training, evaluation and prediction share sits here, below all three:
:func:`build_dataset` and its transforms, :func:`collate` and :func:`eval_loader`.

``data.dataset`` selects the class:

=========  ==========================================================================
finegym    ``FineGym(root, version=data.version, split=...)`` (also the synthetic
           benchmark, whose ``version`` is its name)
haa500     ``HAA500(root, split=...)``
csv        ``CsvVideoDataset(train_list / test_list, video_dir=root)``
folder     ``VideoFolderDataset(root/<split>)``
tokens     ``TokenShardDataset(root/<split>)``: backbone token grids written by
           ``tagnet extract`` (train the head only, model ``tag_features``)
sthv1      ``SomethingSomething(root, version="v1", split=...)``; ``sthv2`` likewise;
           the official files in ``data.annotation_dir`` (default ``root``)
kinetics400  ``Kinetics400(root, split=..., annotation_dir=data.annotation_dir)``
=========  ==========================================================================

Frames are sampled by ``data.sampling`` (``uniform``, ``segment``, ``dense`` with
``data.sample_stride``): training items draw its random form, evaluation items take its
deterministic one (:mod:`~tagnet.datasets.sampling`); ``data.frame_count=list`` samples over
a CSV list's ``TotalFrames`` as the release does.

Training items get ``train_transform(data.train_transform, size=img_size)``;
evaluation items the centre crop of ``test_transform`` or, with
``eval.num_crops > 1`` / ``eval.num_clips > 1``, several views per video
(:class:`~tagnet.datasets.transforms.MultiCropTransform`). The decode-time short side and
the test resize scale with ``img_size`` as in the release (128 for 112).
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset, Subset

from tagnet.config import Config
from tagnet.datasets.base import SkippedClip, without_substitution
from tagnet.distributed import DistInfo, shard_indices


# ---------------------------------------------------------------- batches and loaders
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


def label_origins(dataset: Dataset) -> list[str]:
    """Where each item's label comes from (``"list.txt:12"``, a path, else ``"item i"``)."""
    if isinstance(dataset, Subset):
        origins = label_origins(dataset.dataset)
        return [origins[i] for i in dataset.indices]
    origins = getattr(dataset, "origins", None)
    return list(origins) if origins is not None else [f"item {i}" for i in range(len(dataset))]


# ------------------------------------------------------------------- datasets from a config
def short_side_for(cfg: Config) -> int:
    """``data.short_side``, by default ``img_size * 128 / 112`` (the release's 128 for 112)."""
    if cfg.data.short_side:
        return cfg.data.short_side
    return int(round(cfg.data.img_size * 128 / 112))


def transform_for(cfg: Config, train: bool, views: bool = True):
    """The clip transform of a split: training augmentation, or test views
    (``eval.num_crops`` crops when ``views``, else the centre crop)."""
    from tagnet.backbones.pretrained import config_input
    from tagnet.datasets.transforms import test_transform, train_transform

    d = cfg.data
    short = short_side_for(cfg)
    inp = config_input(cfg)  # the backbone's normalisation, or data.mean / data.std
    norm = dict(mean=inp.mean, std=inp.std)
    if train:
        return train_transform(d.train_transform, size=d.img_size, scale=tuple(d.crop_scale),
                               resize=max(d.img_size, int(round(short * 126 / 128))),
                               flip=d.flip, **norm)
    if views and cfg.eval.num_crops > 1:
        from tagnet.datasets.transforms import MultiCropTransform

        return MultiCropTransform(d.img_size, short, cfg.eval.num_crops, **norm)
    return test_transform(d.img_size, resize=short, **norm)


def build_dataset(cfg: Config, split: str, train: bool, views: bool = True) -> Dataset:
    """The dataset of ``split``: with training augmentation (``train=True``), else with
    ``eval.num_clips`` x ``eval.num_crops`` test views (one centre crop if not ``views``)."""
    d = cfg.data
    if d.dataset == "tokens":
        return _token_dataset(cfg, split)
    if d.root is None:
        raise ValueError(f"data.root is not set; point it at the {d.dataset} folder "
                         f"(e.g. data.root=/data/{d.dataset})")
    root = os.path.expanduser(d.root)
    kwargs = dict(num_frames=d.num_frames, transform=transform_for(cfg, train, views),
                  short_side=short_side_for(cfg), on_error=d.on_error,
                  num_clips=cfg.eval.num_clips if views and not train else 1,
                  sampling=d.sampling, train_sampling=train, stride=d.sample_stride)
    if d.frame_count != "video" and d.dataset != "csv":
        raise ValueError(f"data.frame_count={d.frame_count!r} reads the frame counts a CSV "
                         f"list states, but data.dataset={d.dataset!r} has none; use "
                         "data.dataset=csv or data.frame_count=video")
    return _attach_cache(cfg, _video_dataset(cfg, split, root, kwargs))


def _video_dataset(cfg: Config, split: str, root: str, kwargs: dict) -> Dataset:
    d = cfg.data
    if d.dataset == "finegym":
        from tagnet.datasets import FineGym

        if d.version is None:
            raise ValueError("data.version is not set; use gym99, gym288 or the name of a "
                             "synthetic benchmark")
        return FineGym(root, version=d.version, split=split, **kwargs)
    if d.dataset == "haa500":
        from tagnet.datasets import HAA500

        return HAA500(root, split=split, **kwargs)
    if d.dataset == "csv":
        from tagnet.datasets import CsvVideoDataset

        lists = {d.test_split: d.test_list, d.val_split: d.val_list or d.test_list,
                 d.train_split: d.train_list}
        lst = lists.get(split)
        if lst is None:
            raise ValueError(f"data.dataset=csv: split {split!r} has no list; set "
                             "data.train_list, data.val_list and data.test_list (CSV files)")
        classes = None  # every split is labelled with the training list's class names
        if split != d.train_split and d.train_list:
            from tagnet.datasets.csv_dataset import classes_from_rows, read_release_csv

            classes = classes_from_rows(read_release_csv(os.path.expanduser(d.train_list)))
        return CsvVideoDataset(os.path.expanduser(lst), root, classes=classes,
                               frame_count=d.frame_count, **kwargs)
    if d.dataset in ("sthv1", "sthv2"):
        from tagnet.datasets import SomethingSomething

        return SomethingSomething(root, version=d.dataset[-2:], split=split,
                                  annotation_dir=_annotation_dir(cfg), **kwargs)
    if d.dataset == "kinetics400":
        from tagnet.datasets import Kinetics400

        return Kinetics400(root, split=split, annotation_dir=_annotation_dir(cfg), **kwargs)
    if d.dataset == "folder":
        from tagnet.datasets import VideoFolderDataset

        return VideoFolderDataset(os.path.join(root, split), **kwargs)
    raise ValueError(f"data.dataset {d.dataset!r} is unknown; known: finegym, haa500, csv, "
                     "folder, tokens, sthv1, sthv2, kinetics400")


def _annotation_dir(cfg: Config) -> str | None:
    """``data.annotation_dir`` (the official lists' folder), ``None``: the data root."""
    return os.path.expanduser(cfg.data.annotation_dir) if cfg.data.annotation_dir else None


def _attach_cache(cfg: Config, dataset: Dataset) -> Dataset:
    """With ``data.cache_dir``, decode the split's videos once into a
    :class:`~tagnet.datasets.FrameCache` (rank 0 builds, the other ranks wait) and
    read frames from it."""
    if not cfg.data.cache_dir:
        return dataset
    import torch.distributed as dist

    from tagnet.datasets import FrameCache

    path, short = os.path.expanduser(cfg.data.cache_dir), short_side_for(cfg)
    shared = dist.is_available() and dist.is_initialized()
    if not shared or dist.get_rank() == 0:
        FrameCache(path, short_side=short).build(dataset, progress=cfg.train.progress)
    if shared:
        dist.barrier()
    dataset.cache = FrameCache(path, short_side=short)
    return dataset


def _token_dataset(cfg: Config, split: str) -> Dataset:
    from tagnet.backbones.token_shards import TokenShardDataset

    if cfg.data.root is None:
        raise ValueError("data.dataset=tokens needs data.root, the folder holding one token "
                         "shard directory per split (written by `tagnet extract`)")
    ds = TokenShardDataset(Path(cfg.data.root) / split)
    info = ds.info
    for key in ("num_frames", "img_size"):
        if key in info and info[key] != getattr(cfg.data, key):
            raise ValueError(f"token shards in '{ds.root}' were extracted with {key}="
                             f"{info[key]}, but data.{key}={getattr(cfg.data, key)}; set "
                             f"data.{key}={info[key]}")
    labels = [int(y) for shard in ds._shards for y in shard["labels"].tolist()]
    if not hasattr(ds, "targets"):
        ds.targets = labels
    if not hasattr(ds, "classes"):
        names = info.get("classes") or [str(i) for i in range(max(labels, default=-1) + 1)]
        ds.classes = list(names)
    return ds


__all__ = ["build_dataset", "transform_for", "short_side_for", "collate", "eval_loader",
           "dataset_labels", "label_origins"]
