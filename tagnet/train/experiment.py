"""Small-scale experiments on the synthetic benchmark: the machinery of ``tagnet demo``
and ``tagnet ablate``.

.. code-block:: text

    config (demo.yaml + overrides) --make_finesynth(data.synth), cached--> data.root
      for each variant (name, overrides) and seed:
          train(cfg + overrides, seed) -> run folder <output>/<variant>[/seed<k>]
          -> test metrics (top-1, top-5, MCA, order-pair accuracy), time, parameters
"""
from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tagnet.config import Config
from tagnet.datasets.atomic import atomic_write
from tagnet.train.data import RunData, build_run_data


@dataclass
class Variant:
    """One row of an experiment: a name and the config overrides that define it."""

    name: str
    overrides: list[str] = field(default_factory=list)


def prepare_synthetic(cfg: Config, progress: bool = True):
    """Generate (or reuse) the synthetic benchmark that ``cfg.data`` points at.

    ``data.synth`` holds :func:`tagnet.datasets.make_finesynth` options; the
    benchmark is written to ``data.root`` and ``data.version`` is set to its name.
    Returns the :class:`~tagnet.datasets.FineSynth` description.
    """
    from tagnet.datasets import make_finesynth

    if cfg.data.root is None:
        raise ValueError("data.root is not set: where should the synthetic benchmark go?")
    root = Path(cfg.data.root).expanduser()
    synth = make_finesynth(root, progress=progress, **cfg.data.synth)
    cfg.data.root, cfg.data.version, cfg.data.dataset = str(root), synth.version, "finegym"
    return synth


def variant_config(base: Config, variant: Variant, seed: int, output: Path) -> Config:
    cfg = copy.deepcopy(base)
    cfg.override(variant.overrides)
    cfg.seed, cfg.name = seed, variant.name
    cfg.output_dir = str(output)
    return cfg


#: Config keys that do not change a run's result (a resumed sweep may set them differently).
_COSMETIC = (("train", "progress"), ("train", "tensorboard"))


def _comparable(d: dict) -> dict:
    d = yaml.safe_load(yaml.safe_dump(d))  # tuples -> lists, as in a saved config.yaml
    for section, key in _COSMETIC:
        d.get(section, {}).pop(key, None)
    return d


def run_variant(base: Config, variant: Variant, seed: int, output: Path,
                data: RunData | None = None, order_pairs=(), *, reuse: bool = False) -> dict:
    """Train and test one variant with one seed; returns its result record.

    With ``reuse`` a sweep never loses work: a finished run of the same config in
    ``output`` is not retrained (its ``record.json`` is returned), an unfinished
    one resumes from its ``last.pth``, and a folder holding a run of another config
    raises. Without it the run starts afresh and overwrites ``output``.
    """
    from tagnet.train.run import train

    output = Path(output)
    cfg = variant_config(base, variant, seed, output)
    resume = None
    if reuse and (output / "config.yaml").is_file():
        previous = _comparable(yaml.safe_load((output / "config.yaml").read_text()))
        if previous != _comparable(cfg.to_dict()):
            raise ValueError(f"'{output}' holds a run with another config; choose another "
                             "output folder, or start afresh (tagnet ablate --fresh)")
        if (output / "record.json").is_file():
            return {**json.loads((output / "record.json").read_text()), "reused": True}
        if (output / "last.pth").is_file():
            resume = output / "last.pth"
    (output / "record.json").unlink(missing_ok=True)  # stale once this run starts
    start = time.time()
    result = train(cfg, resume, data=data, overwrite=True)  # the checks above decided
    test = result["test"]
    record = {
        "variant": variant.name, "seed": seed, "overrides": variant.overrides,
        "run_dir": str(output), "train_time_s": round(time.time() - start, 1),
        "resumed": resume is not None,
        "parameters": result.get("parameters"), "best_epoch": (result["best"] or {}).get("epoch"),
        **{k: v for k, v in test.items() if isinstance(v, (int, float))},
    }
    if order_pairs:
        record["order_pair_top1"] = order_pair_accuracy(output / "test" / "predictions.csv",
                                                        order_pairs)
    # written last and atomically: the run's "done" mark
    atomic_write(output / "record.json", json.dumps(record, indent=2) + "\n")
    return record


def order_pair_accuracy(predictions_csv: str | Path, pairs) -> float:
    """Top-1 over the clips of classes that differ from another class only by frame order.

    These classes (``FineSynth.order_pairs``) have the same frames as their partner,
    so a model that ignores time order is at chance between the two.
    """
    import csv

    classes = {c for pair in pairs for c in pair}
    hits = total = 0
    with open(predictions_csv, newline="") as f:
        for row in csv.DictReader(f):
            if int(row["label"]) in classes:
                total += 1
                hits += row["correct"] == "1"
    return hits / total if total else float("nan")


def shared_data(cfg: Config) -> RunData:
    """Build the datasets once for every variant of an experiment (same data settings)."""
    return build_run_data(cfg)


__all__ = ["Variant", "prepare_synthetic", "run_variant", "variant_config",
           "order_pair_accuracy", "shared_data"]
