"""Evaluation protocols: named sets of config keys, applied by ``protocol=NAME``.

``protocol: release`` (a top-level config key, or the override ``protocol=release``) sets
every key through which the authors' released TAG-Head code produced its numbers
(``shared/PAPER.md`` section 3), per dataset:

==================  ===========================  ===========================  ====================
key                 gym99                        gym288                       haa500
==================  ===========================  ===========================  ====================
lists (CSV)         gym99train_filtered.csv,     FineGym288_train.csv,        haa500train.csv,
                    gym99val_filtered.csv (val   FineGym288_val.csv (val      haa500val.csv (val),
                    = test)                      = test)                      haa500test.csv
selection           best epoch on the val list   best on val, reported: LAST  best epoch on val
reported            best.pth                     last.pth                     best.pth
frames              64, linspace over the list's TotalFrames (``data.frame_count=list``)   (32)
decode, crops       short side 128; train: random resized crop 112, scale 0.5-1, square, flip
                    0.5; test: centre crop 112, one clip; mean 0.45, std 0.225
optimisation        Adam, lr 1e-5, cosine over the epochs, batch 8, no weight decay;
                    60 epochs (FineGym), 80 (HAA500)  (``tagnet.models.presets.RELEASED_TRAINING``)
==================  ===========================  ===========================  ====================

FineGym's val list is also its test list, so the release selects on the clips it reports:
the protocol sets ``train.allow_test_selection=true`` to say so (the run's test score is
optimistic). The list files are looked up in ``data.annotation_dir`` (default ``data.root``),
the videos at ``data.root/{Class}/{FileName}``.

The order of a config is: the file, then the protocol's keys, then the command line's
overrides, which win; a run record lists the keys that differ from the protocol
(:func:`protocol_deviations`). This module reads plain mappings and imports nothing of
tagnet, so :mod:`tagnet.config` can apply it.
"""
from __future__ import annotations

import os
from typing import Any

PROTOCOLS = ("release",)

#: The released code's CSV lists per dataset: (train, val, test).
RELEASE_LISTS: dict[str, tuple[str, str, str]] = {
    "gym99": ("gym99train_filtered.csv", "gym99val_filtered.csv", "gym99val_filtered.csv"),
    "gym288": ("FineGym288_train.csv", "FineGym288_val.csv", "FineGym288_val.csv"),
    "haa500": ("haa500train.csv", "haa500val.csv", "haa500test.csv"),
}

#: What the release does the same way for every dataset.
_COMMON: dict[str, Any] = {
    "model.arch": "tag_r2plus1d_34",
    "data.dataset": "csv",
    "data.train_split": "train",
    "data.val_split": "val",
    "data.sampling": "uniform",
    "data.frame_count": "list",
    "data.img_size": 112,
    "data.short_side": 128,
    "data.train_transform": "release",
    "data.crop_scale": [0.5, 1.0],
    "data.flip": 0.5,
    "data.mean": [0.45, 0.45, 0.45],
    "data.std": [0.225, 0.225, 0.225],
    "train.optimizer": "adam",
    "train.lr": 1e-5,
    "train.batch_size": 8,
    "train.scheduler": "cosine",
    "train.weight_decay": 0.0,
    "train.min_lr": 0.0,
    "train.warmup_epochs": 0,
    "train.label_smoothing": 0.0,
    "train.grad_accum": 1,
    "train.select_on": "val",
    "train.select_metric": "top1",
    "eval.num_clips": 1,
    "eval.num_crops": 1,
}

#: Per dataset: what differs.
_RELEASE: dict[str, dict[str, Any]] = {
    "gym99": {"model.preset": "gym99", "data.num_frames": 64, "data.test_split": "val",
              "train.epochs": 60, "train.allow_test_selection": True,
              "eval.checkpoint": "best"},
    "gym288": {"model.preset": "gym288", "data.num_frames": 64, "data.test_split": "val",
               "train.epochs": 60, "train.allow_test_selection": True,
               "eval.checkpoint": "last"},
    "haa500": {"model.preset": "haa500", "data.num_frames": 32, "data.test_split": "test",
               "train.epochs": 80, "train.allow_test_selection": False,
               "eval.checkpoint": "best"},
}


def protocol_dataset(cfg: dict) -> str:
    """Which released dataset a config (as a dict) is about: ``model.preset``, else
    ``data.version`` (FineGym), else ``data.dataset`` (``haa500``)."""
    model, data = cfg.get("model", {}), cfg.get("data", {})
    for candidate in (model.get("preset"), data.get("version"), data.get("dataset")):
        if candidate in _RELEASE:
            return candidate
    raise ValueError(f"protocol=release is the authors' protocol for {', '.join(_RELEASE)}, "
                     f"but this config names none (model.preset={model.get('preset')!r}, "
                     f"data.version={data.get('version')!r}, data.dataset="
                     f"{data.get('dataset')!r}); start from --config gym99 / gym288 / haa500")


def protocol_settings(name: str, cfg: dict) -> dict[str, Any]:
    """The dotted keys and values protocol ``name`` sets for config ``cfg`` (a dict)."""
    if name not in PROTOCOLS:
        raise ValueError(f"protocol {name!r} is unknown; known: {', '.join(PROTOCOLS)} "
                         "(null: tagnet's own defaults)")
    dataset = protocol_dataset(cfg)
    data = cfg.get("data", {})
    folder = data.get("annotation_dir") or data.get("root") or "."
    train, val, test = (os.path.join(folder, f) for f in RELEASE_LISTS[dataset])
    lists = {"data.train_list": train, "data.val_list": val, "data.test_list": test}
    return {**_COMMON, **lists, **_RELEASE[dataset]}


def protocol_deviations(cfg: dict) -> dict[str, dict[str, Any]]:
    """Keys of a resolved config (a dict) that differ from its protocol's values:
    ``{key: {"protocol": value, "run": value}}``; ``{}`` without a protocol."""
    name = cfg.get("protocol")
    if not name:
        return {}
    out = {}
    for key, want in protocol_settings(name, cfg).items():
        section, field = key.split(".")
        have = cfg.get(section, {}).get(field)
        if have != want:
            out[key] = {"protocol": want, "run": have}
    return out


__all__ = ["PROTOCOLS", "RELEASE_LISTS", "protocol_dataset", "protocol_deviations",
           "protocol_settings"]
