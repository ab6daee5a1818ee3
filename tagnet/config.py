"""Run configuration: typed sections, YAML files, dotted ``key=value`` overrides.

A run is described by one :class:`Config` with four sections, each a small
dataclass (``model``, ``data``, ``train``, ``eval``) plus run-level keys
(``output_dir``, ``device``, ``seed``). Files in ``tagnet/configs/`` hold the
released presets and the demo; any key can be overridden from the command
line with its dotted path::

    tagnet train --config gym99 data.root=/data/finegym train.lr=3e-5 model.kwargs.K=10

Override values are parsed as YAML (``3e-5`` -> float, ``null`` -> None,
``[1, 5]`` -> list) and checked against the field's type; an unknown key raises
and lists the valid keys of its section. A key given twice in one YAML mapping (a
second ``train:`` section) is an error naming the file and both lines, never a silent
replacement. :meth:`Config.validate` checks every value's range and the settings that
would make another one dead (``data.synth`` decides ``data.dataset``), naming the keys,
before anything is written. A key replaces what it names:
``model.kwargs={ffn_dim: 512}`` the whole mapping, ``model.kwargs.ffn_dim=512``
one entry of it. The resolved configuration is saved next to every run
(:meth:`Config.save`).
"""
from __future__ import annotations

import copy
import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import yaml

from tagnet.protocols import PROTOCOLS, protocol_settings

CONFIG_DIR = Path(__file__).parent / "configs"

#: Keys whose value must be one of a fixed set.
CHOICES: dict[str, tuple[str, ...]] = {
    "data.dataset": ("finegym", "haa500", "csv", "folder", "tokens", "sthv1", "sthv2",
                     "kinetics400"),
    "data.train_transform": ("release", "paper"),
    "data.on_error": ("raise", "skip"),
    "data.sampling": ("uniform", "segment", "dense"),
    "data.frame_count": ("video", "list"),
    "train.optimizer": ("adam", "adamw", "sgd"),
    "train.scheduler": ("cosine", "none"),
    "train.amp_dtype": ("float16", "bfloat16"),
    "train.select_on": ("holdout", "val"),
    "train.select_metric": ("top1", "mca", "loss"),
    "eval.checkpoint": ("best", "last"),
    "protocol": PROTOCOLS,
}


@dataclass
class ModelConfig:
    """What to build: ``create_model(arch, preset=preset, num_classes=..., **kwargs)``.

    ``num_classes`` defaults to the dataset's class count. ``kwargs`` is passed to
    :func:`tagnet.create_model` as is (``ffn_dim``, ``topology``, ``K``, ``alpha``,
    ``ablation``, ``backbone_kwargs``, ...), so its keys are checked by the model.
    ``freeze`` is a :func:`tagnet.backbones.freeze.freeze_backbone` setting:
    ``backbone`` (train the head only), ``bn`` (BatchNorm statistics fixed), ``"n"``
    (all but the backbone's last n stages) or ``None`` (train everything).
    """

    arch: str = "tag_r2plus1d_34"
    preset: str | None = None
    num_classes: int | None = None
    kwargs: dict = field(default_factory=dict)
    backbone_weights: str | None = None
    weights: str | None = None
    freeze: str | None = None


@dataclass
class DataConfig:
    """Where the clips come from and how they are sampled.

    ``dataset`` is one of ``finegym`` (``version`` = ``gym99``, ``gym288`` or a
    synthetic benchmark's name), ``haa500``, ``csv`` (``train_list``,
    ``val_list``, ``test_list`` in the released CSV format, videos under ``root``) or
    ``folder`` (``root/<split>/<class>/*.mp4``) or ``tokens`` (token grids from
    ``tagnet extract`` in ``root/<split>``, for head-only training). ``synth`` holds
    :func:`tagnet.datasets.make_finesynth` options for ``tagnet demo`` / ``ablate``,
    which generate the synthetic benchmark into ``root``. ``short_side`` is the
    decode-time resize (default ``img_size * 128 / 112``, the release's 128 for 112);
    ``split_seed`` fixes the holdout (the same for every training seed);
    ``crop_scale`` the area range of the ``release`` random resized crop; ``flip`` the
    horizontal-flip probability (0 where left/right or the turning direction is the
    label, as on the synthetic benchmark). ``val_split`` is the official
    validation list (used with ``train.select_on=val``); ``test_split`` the list
    reported at the end. FineGym has one list for both (``val``); HAA500 has
    ``val`` and ``test``. ``mean`` / ``std`` (3 numbers each) override the
    normalisation the model's backbone expects
    (:mod:`tagnet.backbones.pretrained`; ``null``: the backbone's).
    """

    dataset: str = "finegym"
    root: str | None = None
    version: str | None = None
    train_split: str = "train"
    val_split: str | None = "val"
    test_split: str | None = "val"
    train_list: str | None = None
    val_list: str | None = None
    test_list: str | None = None
    num_frames: int = 32
    img_size: int = 112
    train_transform: str = "release"
    crop_scale: list = field(default_factory=lambda: [0.5, 1.0])
    flip: float = 0.5
    short_side: int | None = None
    holdout_fraction: float = 0.1
    split_seed: int = 0
    num_workers: int = 2
    on_error: str = "skip"
    cache_dir: str | None = None
    synth: dict = field(default_factory=dict)
    mean: list | None = None
    std: list | None = None
    # frame sampling (tagnet.datasets.sampling): training uses the sampling's random form,
    # evaluation its deterministic one; frame_count "list" reads a CSV list's TotalFrames
    sampling: str = "uniform"
    sample_stride: int = 1
    frame_count: str = "video"
    annotation_dir: str | None = None  # sthv1/sthv2/kinetics400 lists (default: root)


@dataclass
class TrainConfig:
    """Optimisation. Defaults follow the released code (Adam, lr 1e-5, cosine, batch 8).

    ``select_on`` picks the split used for model selection: ``holdout`` (a
    stratified ``data.holdout_fraction`` of the training list, the default) or
    ``val`` (``data.val_split``, the official validation list; for FineGym it is
    also the test list, which is the released protocol). ``scheduler`` steps once
    per epoch. ``deterministic`` asks for deterministic CUDA kernels (CPU runs are
    deterministic anyway: a resumed run ends bit-identical to an uninterrupted one).
    A non-finite (NaN or infinite) training loss stops the run with an error naming
    the step; ``nonfinite_patience`` tolerates that many consecutive such steps,
    skipped without an update, before stopping (default 0: stop at the first).
    ``compile`` runs the training steps under ``torch.compile`` (the TAG-Head
    compiles as one graph with the default ``propagation="auto"``).

    A config that selects on the split it reports (``select_on=val`` with
    ``data.val_split`` equal to ``data.test_split``, as FineGym's released protocol
    does, or a holdout carved from a train split that is also the test split) is
    refused by :meth:`Config.validate` unless ``allow_test_selection`` is true: the
    test score of such a run is optimistic. ``sweep_seeds`` are the seeds ``tagnet
    ablate`` trains when ``--seeds`` is not given (``null``: 0-4); a single run uses
    the top-level ``seed``.

    Convergence (:mod:`tagnet.train.convergence`), judged after every epoch and
    recorded (``converged``, ``converged_epoch`` in the epoch log, the result and a
    sweep's ``record.json``): the run has converged when the best selection score
    rose by at most ``converge_tol`` (metric units: top-1 0.02 = 2 points) over the
    last ``converge_window`` epochs, each epoch counted by its lr relative to ``lr``
    (so a flat cosine tail does not count), the lowest training loss fell by at
    most ``converge_loss_tol`` times the loss of predicting the class frequencies
    over the same window (the optimisation has settled), and the training loss is at
    most ``1 - converge_fit`` times that loss (a head still on the initial plateau
    has not converged). ``early_stop`` ends the run at
    the first converged epoch; the lr schedule stays the one of ``epochs`` (a stopped
    run is the first epochs of the unstopped one). Needs a selection split.
    """

    epochs: int = 60
    batch_size: int = 8
    lr: float = 1e-5
    optimizer: str = "adam"
    weight_decay: float = 0.0
    momentum: float = 0.9
    betas: list = field(default_factory=lambda: [0.9, 0.999])
    scheduler: str = "cosine"
    warmup_epochs: int = 0
    min_lr: float = 0.0
    label_smoothing: float = 0.0
    grad_accum: int = 1
    clip_grad_norm: float | None = None
    amp: bool = False
    amp_dtype: str = "float16"
    select_on: str = "holdout"
    select_metric: str = "top1"
    save_every_steps: int = 0
    log_every: int = 10
    tensorboard: bool = False
    progress: bool = True
    deterministic: bool = False
    max_steps_per_epoch: int | None = None
    nonfinite_patience: int = 0
    compile: bool = False
    allow_test_selection: bool = False
    sweep_seeds: list | None = None
    converge_window: float = 5.0
    converge_tol: float = 0.01
    converge_fit: float = 0.2
    converge_loss_tol: float = 0.01
    early_stop: bool = False


@dataclass
class EvalConfig:
    """Testing: views per clip, batch size, the optional t-SNE, and which checkpoint of a
    run is tested at its end (``best``: the selected epoch; ``last``: the final one)."""

    checkpoint: str = "best"
    num_clips: int = 1
    num_crops: int = 1
    batch_size: int = 8
    topk: list = field(default_factory=lambda: [1, 5])
    tsne: bool = False
    tsne_max_points: int = 2000


@dataclass
class Config:
    """A whole run: model, data, train and eval sections plus run-level keys.

    ``protocol`` names an evaluation protocol (:mod:`tagnet.protocols`; ``release``: the
    authors' released code, per dataset), applied by :func:`load_config` between the file
    and the overrides; ``null`` is tagnet's own defaults.
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    name: str = "run"
    output_dir: str = "runs/run"
    device: str = "auto"
    seed: int = 0
    protocol: str | None = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict, *, where: str = "config") -> Config:
        cfg = cls()
        _merge(cfg, d, prefix="", where=where)
        return cfg

    def set(self, key: str, value: Any) -> None:
        """Set a dotted key (``train.lr``, ``model.kwargs.ffn_dim``) with type checking.

        The key names exactly what changes: ``model.kwargs={ffn_dim: 512}`` replaces
        the whole mapping (``data.synth={}`` empties it), while
        ``model.kwargs.backbone_kwargs.widths=[8, 16, 32, 64]`` sets one entry and
        keeps its siblings. A section key (``train={lr: 1e-4}``) merges field by field.
        """
        where = f"override {key}"
        *path, last = key.split(".")
        obj: Any = self
        prefix = ""
        for part in path:
            child = _child(obj, part, prefix, where)
            if child is None and isinstance(obj, dict):
                child = obj[part] = {}
            if not (dataclasses.is_dataclass(child) or isinstance(child, dict)):
                raise ValueError(f"{where}: {prefix}{part} is {child!r}, not a mapping; "
                                 f"set {prefix}{part}=... itself")
            obj, prefix = child, f"{prefix}{part}."
        _check_mapping_syntax(value, key)
        if isinstance(obj, dict):  # inside a free-form mapping: no schema to check
            obj[last] = value
            return
        current = _child(obj, last, prefix, where)
        if dataclasses.is_dataclass(current):
            _merge(current, value, f"{prefix}{last}.", where)
        else:
            hint = typing.get_type_hints(type(obj))[last]
            setattr(obj, last, _check(value, hint, f"{prefix}{last}", where))

    def override(self, items: list[str]) -> Config:
        """Apply ``key=value`` strings (values parsed as YAML)."""
        for item in items:
            if "=" not in item:
                raise ValueError(f"override {item!r} is not of the form key=value "
                                 "(e.g. train.lr=1e-4)")
            key, raw = item.split("=", 1)
            value = _parse_yaml(raw, f"override {item!r}", offset=len(key) + 1) \
                if raw.strip() else None
            self.set(key.strip(), value)
        return self

    def validate(self, selection: bool = True) -> Config:
        """Check the values' ranges (a type is checked when it is set), lists, pairs of keys
        and settings made dead by another (``data.synth``), and, with ``selection``, that the
        model is not selected on the test split (:func:`selection_on_test`) unless
        ``train.allow_test_selection``; raises ``ValueError`` naming the keys, their values
        and the fix. Returns ``self``. (``selection=False``: evaluating a finished run.)"""
        for key, test, need in _RANGES:
            section, name = key.split(".")
            value = getattr(getattr(self, section), name)
            if value is None and key in _OPTIONAL:
                continue
            finite = not isinstance(value, float) or math.isfinite(value)
            if not (finite and test(value)):
                raise ValueError(f"{key}={value!r} is invalid: it must be {need}")
        _check_values(self)
        seeds = self.train.sweep_seeds
        if seeds is not None and not (seeds and len(set(seeds)) == len(seeds) and all(
                isinstance(s, int) and not isinstance(s, bool) for s in seeds)):
            raise ValueError(f"train.sweep_seeds={seeds!r} is invalid: it must be null or a "
                             "list of distinct integers (e.g. train.sweep_seeds=[0, 1, 2, 3, 4])")
        reason = selection_on_test(self) if selection else None
        if reason and not self.train.allow_test_selection:
            raise ValueError(f"{reason}: the model would be selected on the clips it is tested "
                             "on, so its test score is optimistic. Select on a holdout of the "
                             "train list (train.select_on=holdout, data.holdout_fraction > 0), "
                             "or say so explicitly with train.allow_test_selection=true (e.g. "
                             "FineGym's released protocol: --select-on val "
                             "train.allow_test_selection=true)")
        return self

    def save(self, path: str | Path) -> None:
        """Write the config as YAML, atomically (a failed write keeps the previous file)."""
        from tagnet.datasets.atomic import atomic_write

        atomic_write(path, yaml.safe_dump(self.to_dict(), sort_keys=False))


def selection_on_test(cfg: Config) -> str | None:
    """Why ``cfg`` selects its model (best epoch) on its test split, naming the keys; ``None``
    when it does not (or has no test split, or no selection).

    Selection reads ``data.val_split`` with ``train.select_on=val``, else a holdout of
    ``data.train_split`` (``data.holdout_fraction > 0``). With ``data.dataset=csv`` the
    splits are lists: the selection list is ``data.val_list`` (``data.test_list`` when
    unset) or ``data.train_list``.
    """
    d, t = cfg.data, cfg.train
    if d.test_split is None:
        return None
    csv = d.dataset == "csv"
    if t.select_on == "val":
        if d.val_split == d.test_split:
            return (f"train.select_on=val selects on data.val_split={d.val_split!r}, which is "
                    f"also data.test_split={d.test_split!r}")
        if csv and (d.val_list or d.test_list) == d.test_list:
            which = ("data.val_list is unset, so it reads data.test_list" if not d.val_list
                     else f"data.val_list is data.test_list ({d.test_list!r})")
            return f"train.select_on=val selects on data.val_split={d.val_split!r}, but {which}"
        return None
    if d.holdout_fraction == 0:
        return None
    if d.train_split == d.test_split or (csv and d.train_list and d.train_list == d.test_list):
        return (f"train.select_on=holdout selects on a holdout (data.holdout_fraction="
                f"{d.holdout_fraction:g}) of data.train_split={d.train_split!r}, whose clips are "
                f"also the test split (data.test_split={d.test_split!r})")
    return None


#: Value ranges checked by :meth:`Config.validate`: (key, test, what it must be).
_RANGES: tuple = (
    *((k, lambda v: v >= 1, "an integer >= 1") for k in (
        "train.epochs", "train.batch_size", "train.grad_accum", "eval.batch_size",
        "eval.num_clips", "eval.num_crops", "data.num_frames", "data.img_size",
        "train.max_steps_per_epoch", "data.short_side", "data.sample_stride")),
    *((k, lambda v: v >= 0, "an integer >= 0") for k in (
        "data.num_workers", "train.save_every_steps", "train.log_every",
        "train.warmup_epochs", "train.nonfinite_patience")),
    ("train.lr", lambda v: v > 0, "a finite number > 0 (e.g. train.lr=1e-4)"),
    *((k, lambda v: v >= 0, "a finite number >= 0") for k in (
        "train.weight_decay", "train.min_lr", "train.momentum", "train.clip_grad_norm")),
    ("train.label_smoothing", lambda v: 0 <= v < 1, "a number in [0, 1)"),
    ("train.converge_window", lambda v: v > 0, "a finite number > 0 (lr-weighted epochs, "
     "e.g. train.converge_window=5)"),
    ("train.converge_tol", lambda v: v >= 0, "a finite number >= 0 (selection-metric units, "
     "e.g. train.converge_tol=0.02 for 2 points of top-1)"),
    ("train.converge_loss_tol", lambda v: v >= 0, "a finite number >= 0 (a fraction of the "
     "loss of predicting the class frequencies, e.g. train.converge_loss_tol=0.01)"),
    ("train.converge_fit", lambda v: 0 <= v < 1, "a number in [0, 1) (e.g. "
     "train.converge_fit=0.2: a training loss at most 0.8 x that of predicting the class "
     "frequencies)"),
    ("data.flip", lambda v: 0 <= v <= 1, "a probability in [0, 1]"),
)
_OPTIONAL = {"train.max_steps_per_epoch", "data.short_side", "train.clip_grad_norm"}


#: Largest train.lr accepted: above it the optimisers' float32 arithmetic overflows
#: (Adam's first step is lr / (1 - beta1)); training diverges long before.
MAX_LR = 1e10


def _numbers(value, n: int) -> bool:
    return (isinstance(value, list) and len(value) == n and all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        for v in value))


def _check_values(cfg: Config) -> None:
    """The checks of :meth:`Config.validate` that a single range cannot express: lists,
    pairs of keys, and settings one section makes dead. Raises ``ValueError`` naming the
    key(s), the value and the fix."""
    d, t, e = cfg.data, cfg.train, cfg.eval
    topk = e.topk
    if not (isinstance(topk, list) and topk and all(
            isinstance(k, int) and not isinstance(k, bool) and k >= 1 for k in topk)
            and len(set(topk)) == len(topk)):
        raise ValueError(f"eval.topk={topk!r} is invalid: it must be a non-empty list of "
                         "distinct integers >= 1 (e.g. eval.topk=[1, 5])")
    if e.tsne_max_points < 4:
        raise ValueError(f"eval.tsne_max_points={e.tsne_max_points!r} is invalid: it must be "
                         "an integer >= 4 (t-SNE needs at least 4 points; default 2000)")
    if not (_numbers(d.crop_scale, 2) and 0 < d.crop_scale[0] <= d.crop_scale[1] <= 1):
        raise ValueError(f"data.crop_scale={d.crop_scale!r} is invalid: it must be [min, max] "
                         "fractions of the frame's area with 0 < min <= max <= 1 (e.g. "
                         "data.crop_scale=[0.5, 1.0])")
    if not (_numbers(t.betas, 2) and all(0 <= b < 1 for b in t.betas)):
        raise ValueError(f"train.betas={t.betas!r} is invalid: it must be two numbers in "
                         "[0, 1) (e.g. train.betas=[0.9, 0.999])")
    if not t.lr <= MAX_LR:
        raise ValueError(f"train.lr={t.lr!r} is invalid: it must be a finite number in "
                         f"(0, {MAX_LR:g}] (larger rates overflow the optimiser's float32 "
                         "arithmetic; useful rates are below 1)")
    if t.optimizer == "sgd" and t.momentum == 0:
        raise ValueError("train.optimizer='sgd' with train.momentum=0 is invalid: tagnet's SGD "
                         "uses Nesterov momentum, which needs train.momentum > 0 (e.g. 0.9)")
    for key in ("mean", "std"):
        value = getattr(d, key)
        if value is not None and not (_numbers(value, 3) and (key == "mean" or min(value) > 0)):
            raise ValueError(f"data.{key}={value!r} is invalid: it must be null or 3 numbers "
                             f"(one per RGB channel{', each > 0' if key == 'std' else ''})")
    dead = _dead_setting(cfg)
    if dead:
        raise ValueError(dead)


def _dead_setting(cfg: Config) -> str | None:
    """A setting that ``data.synth`` makes dead, naming both keys (``None`` when none is).

    ``data.synth`` generates its benchmark and reads it as ``data.dataset=finegym``
    (FineSynth videos, ``data.version`` = its name) or ``tokens`` (``benchmark: ...``:
    token grids of a frozen backbone), so another ``data.dataset`` (or FineSynth
    ``data.version``) would be silently replaced, and a model that reads the other kind of
    input (``model.arch=tag_features`` reads token grids, every other model video clips)
    would fail only after the benchmark is generated.
    """
    d, synth = cfg.data, cfg.data.synth
    if not synth:
        return None
    fix = "; drop data.synth (data.synth={}) to read your own data"
    made = "tokens" if "benchmark" in synth else "finegym"
    what = "token grids of a frozen backbone" if made == "tokens" else "FineSynth videos"
    if d.dataset != made:
        return (f"data.dataset={d.dataset!r} conflicts with data.synth={synth!r}, which "
                f"generates {what} and reads them as data.dataset={made!r}{fix}, or set "
                f"data.dataset={made}")
    name = synth.get("name", "finesynth")
    if made == "finegym" and d.version is not None and d.version != name:
        return (f"data.version={d.version!r} conflicts with data.synth={synth!r}, whose "
                f"FineSynth videos are version {name!r}{fix}, or set data.version={name}")
    if (cfg.model.arch == "tag_features") != (made == "tokens"):
        reads = "token grids" if cfg.model.arch == "tag_features" else "video clips"
        return (f"model.arch={cfg.model.arch!r} reads {reads}, but data.synth={synth!r} "
                f"generates {what}{fix}, or choose a model that reads "
                + ("video clips" if made == "finegym" else "token grids (tag_features)"))
    return None


def _check_mapping_syntax(value: Any, key: str) -> None:
    """Refuse ``{a:1}``: without a space after the colon YAML reads one key ``'a:1'`` with no
    value, which would reach the code as an unknown option."""
    if isinstance(value, dict):
        for k, v in value.items():
            if v is None and isinstance(k, str) and ":" in k:
                name, _, rest = k.partition(":")
                raise ValueError(f"override {key}: {k!r} is read as a key without a value; "
                                 f"YAML needs a space after the colon: {name}: {rest}")
            _check_mapping_syntax(v, f"{key}.{k}")
    elif isinstance(value, list):
        for v in value:
            _check_mapping_syntax(v, key)


class UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping (PyYAML keeps the
    last silently: a second ``train:`` section would replace the first), naming the line of
    each. Merge keys (``<<: *anchor``) may still be overridden, as YAML intends."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.setdefault(key, key_node.start_mark)
                except TypeError:  # an unhashable key: the base class reports it
                    continue
                if first is not key_node.start_mark:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping", node.start_mark,
                        f"key {key!r} is given twice (first at line {first.line + 1}); the "
                        "second would silently replace the first: merge them into one",
                        key_node.start_mark)
        return super().construct_mapping(node, deep)


def _parse_yaml(text: str, where: str, offset: int = 0) -> Any:
    """``yaml.load(text)`` with :class:`UniqueKeyLoader`; a syntax error or a duplicate key
    becomes one line naming ``where``, the line and the column (``offset`` is added to
    columns on the first line)."""
    try:
        return yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if mark is None:
            raise ValueError(f"{where}: malformed YAML: {problem}") from None
        col = mark.column + 1 + (offset if mark.line == 0 else 0)
        raise ValueError(f"{where}: malformed YAML at line {mark.line + 1}, column {col}: "
                         f"{problem}") from None


def _child(obj: Any, key: str, prefix: str, where: str) -> Any:
    """``obj.key`` of a section (unknown keys raise, listing the valid ones) or ``obj.get(key)``
    of a free-form mapping."""
    if isinstance(obj, dict):
        return obj.get(key)
    names = [f.name for f in dataclasses.fields(obj)]
    if key not in names:
        raise ValueError(f"{where}: unknown key '{prefix}{key}'; valid keys"
                         f"{' of ' + prefix.rstrip('.') if prefix else ''}: {', '.join(names)}")
    return getattr(obj, key)


def _merge(obj: Any, d: dict, prefix: str, where: str) -> None:
    if not isinstance(d, dict):
        raise ValueError(f"{where}: {prefix.rstrip('.') or 'config'} must be a mapping, "
                         f"got {d!r}")
    hints = typing.get_type_hints(type(obj))
    for key, value in d.items():
        current = _child(obj, key, prefix, where)
        if dataclasses.is_dataclass(current):
            _merge(current, value, f"{prefix}{key}.", where)
        elif isinstance(current, dict) and isinstance(value, dict):
            current.update(value)  # free-form section (model.kwargs): merge key by key
        else:
            setattr(obj, key, _check(value, hints[key], f"{prefix}{key}", where))


def _check(value: Any, hint: Any, key: str, where: str) -> Any:
    """Return ``value`` if it fits ``hint`` (ints are accepted as floats), else raise."""
    args = typing.get_args(hint)
    optional = typing.get_origin(hint) in (Union, types.UnionType)
    base = next((a for a in args if a is not type(None)), hint) if optional else hint
    if value is None:
        if optional:
            return None
        raise ValueError(f"{where}: {key} may not be null; give a {base.__name__}")
    if base is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if base is str and isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # model.freeze=2, data.version=99
    if base is float and isinstance(value, str):
        try:
            return float(value)  # YAML 1.1 reads "1e-5" (no dot) as a string
        except ValueError:
            pass
    ok = isinstance(value, base) and not (base is int and isinstance(value, bool))
    if not ok:
        article = "an" if base.__name__[0] in "aeiou" else "a"
        raise ValueError(f"{where}: {key} must be {'null or ' if optional else ''}{article} "
                         f"{base.__name__}, got {value!r} ({type(value).__name__})")
    if key in CHOICES and value not in CHOICES[key]:
        raise ValueError(f"{where}: {key}={value!r} is not one of {', '.join(CHOICES[key])}")
    return value


def list_configs() -> list[str]:
    """Names of the bundled configs (``tagnet/configs/*.yaml``)."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def load_config(source: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Defaults, then a YAML file (a path or a bundled name like ``gym99``), then the keys of
    its ``protocol`` (:mod:`tagnet.protocols`; from the file or an override), then overrides.
    """
    cfg = _load_file(source)
    resolved = copy.deepcopy(cfg).override(list(overrides or []))
    if resolved.protocol:  # the file's or an override's; overrides still win over it
        for key, value in protocol_settings(resolved.protocol, resolved.to_dict()).items():
            cfg.set(key, copy.deepcopy(value))
        cfg.protocol = resolved.protocol
    return cfg.override(list(overrides or [])).validate()


def _load_file(source: str | Path | None) -> Config:
    cfg = Config()
    if source is not None:
        path = Path(source)
        if not path.is_file():
            path = CONFIG_DIR / f"{source}.yaml"
        if not path.is_file():
            raise FileNotFoundError(f"config {str(source)!r} is neither a file nor a bundled "
                                    f"config; bundled: {', '.join(list_configs())}")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"config file '{path}' is not UTF-8 text (byte "
                             f"0x{exc.object[exc.start]:02x} at offset {exc.start})") from None
        data = _parse_yaml(text, f"config file '{path}'") or {}
        cfg = Config.from_dict(data, where=str(path))
    return cfg


__all__ = ["Config", "ModelConfig", "DataConfig", "TrainConfig", "EvalConfig", "load_config",
           "list_configs", "selection_on_test", "CONFIG_DIR"]
