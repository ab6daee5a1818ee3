"""``build_dataset(cfg, split, train)``: a :mod:`tagnet.datasets` dataset from a config.

``data.dataset`` selects the class:

=========  ==========================================================================
finegym    ``FineGym(root, version=data.version, split=...)`` (also the synthetic
           benchmark, whose ``version`` is its name)
haa500     ``HAA500(root, split=...)``
csv        ``CsvVideoDataset(train_list / test_list, video_dir=root)``
folder     ``VideoFolderDataset(root/<split>)``
tokens     ``TokenShardDataset(root/<split>)``: backbone token grids written by
           ``tagnet extract`` (train the head only, model ``tag_features``)
=========  ==========================================================================

Training items get ``train_transform(data.train_transform, size=img_size)``;
evaluation items the centre crop of ``test_transform`` or, with
``eval.num_crops > 1`` / ``eval.num_clips > 1``, several views per video
(:class:`~tagnet.eval.views.MultiCropTransform`). The decode-time short side and
the test resize scale with ``img_size`` as in the release (128 for 112).
"""
from __future__ import annotations

import os
from pathlib import Path

from torch.utils.data import Dataset

from tagnet.config import Config


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
        from tagnet.eval.views import MultiCropTransform

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
                  num_clips=cfg.eval.num_clips if views and not train else 1)
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
        return CsvVideoDataset(os.path.expanduser(lst), root, classes=classes, **kwargs)
    if d.dataset == "folder":
        from tagnet.datasets import VideoFolderDataset

        return VideoFolderDataset(os.path.join(root, split), **kwargs)
    raise ValueError(f"data.dataset {d.dataset!r} is unknown; known: finegym, haa500, csv, "
                     "folder, tokens")


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


__all__ = ["build_dataset", "transform_for", "short_side_for"]
