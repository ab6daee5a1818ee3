"""Small-scale experiments on the synthetic benchmark: the machinery of ``tagnet demo``
and ``tagnet ablate``.

.. code-block:: text

    config (demo.yaml + overrides) --make_finesynth(data.synth), cached--> data.root
      for each variant (name, overrides) and seed:
          train(cfg + overrides, seed) -> run folder <output>/<variant>[/seed<k>]
          -> test metrics (top-1, top-5, MCA, order-pair accuracy), time, parameters
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import yaml

from tagnet.config import Config
from tagnet.datasets.atomic import atomic_write
from tagnet.train.data import RunData, build_run_data
from tagnet.train.variants import Variant, variant_config


def prepare_synthetic(cfg: Config, progress: bool = True):
    """Generate (or reuse) the synthetic benchmark that ``cfg.data`` points at.

    ``data.synth`` holds :func:`tagnet.datasets.make_finesynth` options (FineSynth:
    videos, ``data.dataset=finegym``), or ``benchmark: paths`` and
    :func:`tagnet.train.headroom.make_headroom` options (the benchmark with headroom:
    cached tokens of a frozen frame-wise backbone, ``data.dataset=tokens``). The
    data is written to ``data.root`` and ``data.version`` is set to its name.
    Returns its description (``classes``, ``order_pairs``: classes sharing frames).
    """
    if cfg.data.root is None:
        raise ValueError("data.root is not set: where should the synthetic benchmark go?")
    root = Path(cfg.data.root).expanduser()
    opts = dict(cfg.data.synth)
    if "benchmark" in opts:
        from tagnet.train.headroom import make_headroom

        synth = make_headroom(root, progress=progress, **opts)
        cfg.data.root, cfg.data.version, cfg.data.dataset = str(root), synth.version, "tokens"
        return synth
    from tagnet.datasets import make_finesynth

    synth = make_finesynth(root, progress=progress, **opts)
    cfg.data.root, cfg.data.version, cfg.data.dataset = str(root), synth.version, "finegym"
    return synth


#: Config keys that do not change a run's result (a resumed sweep may set them differently).
_COSMETIC = (("train", "progress"), ("train", "tensorboard"), ("train", "sweep_seeds"))


def _comparable(d: dict) -> dict:
    # through Config: keys added since a run was saved compare as their defaults
    d = yaml.safe_load(yaml.safe_dump(Config.from_dict(d).to_dict()))  # tuples -> lists
    for section, key in _COSMETIC:
        d.get(section, {}).pop(key, None)
    d.pop("output_dir", None)  # a sweep folder that was moved holds the same runs
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
            return {**json.loads((output / "record.json").read_text()), "reused": True,
                    "run_dir": str(output)}
        if (output / "last.pth").is_file():
            resume = output / "last.pth"
    (output / "record.json").unlink(missing_ok=True)  # stale once this run starts
    start = time.time()
    result = train(cfg, resume, data=data, overwrite=True)  # the checks above decided
    test = result["test"]
    import torch

    record = {
        "variant": variant.name, "seed": seed, "overrides": variant.overrides,
        "run_dir": str(output), "train_time_s": round(time.time() - start, 1),
        "threads": torch.get_num_threads(),
        "resumed": resume is not None,
        "parameters": result.get("parameters"), "best_epoch": (result["best"] or {}).get("epoch"),
        "converged": result.get("converged"), "converged_epoch": result.get("converged_epoch"),
        **{k: v for k, v in test.items() if isinstance(v, (int, float))},
    }
    if order_pairs:
        record["order_pair_top1"] = order_pair_accuracy(output / "test" / "predictions.csv",
                                                        order_pairs)
        record["within_group_top1"] = within_group_accuracy(
            output / "test" / "predictions.csv", order_pairs)
    # written last and atomically: the run's "done" mark
    atomic_write(output / "record.json", json.dumps(record, indent=2) + "\n")
    return record


def _run_in_worker(args: tuple) -> dict:
    """One run in a worker process of :func:`run_variants` (one thread: see there)."""
    import torch

    torch.set_num_threads(1)
    base, variant, seed, output, pairs, reuse = args
    return run_variant(base, variant, seed, output, None, pairs, reuse=reuse)


def run_variants(base: Config, tasks, data: RunData | None = None, order_pairs=(), *,
                 reuse: bool = False, jobs: int = 1, on_done=None) -> list[dict]:
    """Run ``tasks`` (``(variant, seed, output)`` triples) and return their records in order.

    With ``jobs > 1`` the runs go to that many worker processes (spawned), each with one
    thread: on a machine with ``jobs`` cores this is faster than one multi-threaded run
    after another (``benchmarks/bench_run_cost.py`` measures it), and every run's result
    is what a one-thread run gives, whatever the order or the number of workers (a run is
    bit-identical only for the same thread count; ``record.json`` says which). ``on_done``
    is called with ``(index, record)`` as runs finish.
    """
    tasks = list(tasks)
    records: list[dict | None] = [None] * len(tasks)
    if jobs <= 1 or len(tasks) <= 1:
        for i, (variant, seed, output) in enumerate(tasks):
            records[i] = run_variant(base, variant, seed, output, data, order_pairs, reuse=reuse)
            if on_done:
                on_done(i, records[i])
        return records
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(max_workers=jobs,
                             mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(_run_in_worker, (base, v, seed, out, order_pairs, reuse)): i
                   for i, (v, seed, out) in enumerate(tasks)}
        for future in as_completed(futures):
            i = futures[future]
            records[i] = future.result()
            if on_done:
                on_done(i, records[i])
    return records


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


def within_group_accuracy(predictions_csv: str | Path, groups) -> float:
    """Top-1 among the clips whose prediction lies in their own class's group.

    The classes of a group share their frames, so once a model has found the right
    frames (the prediction is in the right group) this is how often it also gets the
    order right. A model blind to frame order gives every clip of a set of twins the
    same prediction, so exactly one twin of each set it places in the group is right:
    its score is the mean of ``1 / |group|`` over those clips, about
    :func:`order_chance`, whatever it learnt.
    """
    import csv

    group_of = {c: i for i, g in enumerate(groups) for c in g}
    hits = total = 0
    with open(predictions_csv, newline="") as f:
        for row in csv.DictReader(f):
            label, pred = int(row["label"]), int(row["pred"])
            if label in group_of and group_of.get(pred) == group_of[label]:
                total += 1
                hits += label == pred
    return hits / total if total else float("nan")


def order_chance(groups) -> float:
    """Best order-pair accuracy of a model blind to frame order: the mean of ``1 / |group|``
    over the classes of the groups (classes of a group share their frames; equal class sizes)."""
    sizes = [len(g) for g in groups for _ in g]
    return sum(1 / n for n in sizes) / len(sizes) if sizes else float("nan")


def run_sweep(cfg: Config, sweep: str, values, seeds, output: Path, *, reference=None,
              run_equivalent: bool = False, tolerance: float = 1e-3, noise_floor: bool = True,
              intervals: bool = True, reuse: bool = True, progress: bool = True,
              jobs: int = 1) -> dict:
    """Train a sweep's variants over ``seeds`` and make its table (what ``tagnet ablate`` runs).

    ``jobs`` > 1 trains the runs in that many one-thread worker processes
    (:func:`run_variants`).

    .. code-block:: text

        variants = sweep_variants(sweep, values) --equal_edge_types--> (one relation count)
            --unlock_preset--> (keys the preset fixed)
        equivalent_variants: build every row's model, same weights, same input
            -> rows with the same pooled features as an earlier row: skipped, or run if asked
        + noise-floor pair (full head, PyG vs structured APPNP)
        for seed, variant: run_variant -> record
        sweep_table: mean ± std, 95% t interval, paired Δ vs reference with its exact
                     sign-flip p and Holm's correction over the table, noise floor

    Returns a dict with ``records`` (one per run: variant, seed, metrics), ``table``
    (Markdown), ``summary`` (per row: ``seeds`` and per metric the per-seed ``values``,
    the paired Δ, its interval, ``p`` and ``p_holm``), ``holm``, ``equivalent`` and
    ``unlocked``: every number of the table can be recomputed from ``records``.
    """
    from tagnet.eval.tables import sweep_table
    from tagnet.train.sweeps import (
        equal_edge_types,
        equivalent_variants,
        noise_floor_variants,
        slug,
        sweep_variants,
        unlock_preset,
    )

    output = Path(output)
    seeds = list(seeds)
    if intervals and len(seeds) < 2:
        raise ValueError(f"seeds {seeds}: 95% intervals need at least 2 seeds (one run gives "
                         "no estimate of the run-to-run spread); give more seeds or ask for no "
                         "intervals")
    variants = equal_edge_types(cfg, sweep_variants(sweep, values, cfg.model.arch))
    for v in variants:  # refuse a row that selects on the test split before any run starts
        variant_config(cfg, v, seeds[0], output).validate()
    pairs, synth = (), None
    if cfg.data.synth:
        synth = prepare_synthetic(cfg, progress=progress)
        pairs = synth.order_pairs
    data = build_run_data(cfg)
    num_classes = len(data.class_names)
    noise = None
    if noise_floor:
        noise = noise_floor_variants(variants)
        try:  # the structured closed form needs intra-frame / temporal edge sets
            equivalent_variants(cfg, [noise[1]], num_classes)
        except (ValueError, TypeError) as e:
            print(f"no noise-floor runs: {e}")
            noise = None
    extra = [v for v in (noise or ()) if v not in variants]
    all_variants, unlocked = unlock_preset(cfg, variants + extra)
    variants, extra = all_variants[:len(variants)], all_variants[len(variants):]
    if noise:
        noise = tuple(next(x for x in all_variants if x.name == v.name) for v in noise)
    equivalent = equivalent_variants(cfg, variants, num_classes, tol=tolerance)
    for e in equivalent.values():
        print(f"{e.name} = {e.same_as}: same pooled features on these weights and input "
              f"(deviation {e.deviation:.1e} <= {e.tol:g})"
              + ("" if run_equivalent else "; not trained (--run-equivalent trains it)"))
    keep = {v.name for v in noise or ()}  # a noise-floor run is trained even if equivalent
    todo = [v for v in variants if run_equivalent or v.name not in equivalent or v.name in keep]
    todo += extra
    tasks = [(v, seed, output / slug(v.name) / f"seed{seed}") for seed in seeds for v in todo]

    def report(i, rec):
        done = " (finished earlier; --fresh retrains)" if rec.get("reused") else ""
        extra_metric = (f"  order pairs {100 * rec['order_pair_top1']:.1f}"
                        if "order_pair_top1" in rec else "")
        print(f"[{i + 1}/{len(tasks)}] {rec['variant']}, seed {rec['seed']}: top-1 "
              f"{100 * rec['top1']:.1f}{extra_metric}{done}")

    print(f"{len(tasks)} runs" + (f" in {jobs} worker processes of one thread" if jobs > 1
                                  else ""))
    records = run_variants(cfg, tasks, data, pairs, reuse=reuse, jobs=jobs, on_done=report)
    # when every class has order twins, the order-pair column would repeat top-1
    every = len({c for g in pairs for c in g}) == num_classes
    order_col = bool(pairs) and not every
    metrics = [("top1", "top-1")] + ([("order_pair_top1", "order pairs")] if order_col else [])
    chance = {"top1": 1 / num_classes} | ({"order_pair_top1": order_chance(pairs)} if order_col
                                          else {})
    ceilings = {}
    if synth is not None and hasattr(synth, "reversal_pairs"):  # the benchmarks with headroom
        from tagnet.train.ceilings import row_ceiling

        for v in variants:
            c = row_ceiling(variant_config(cfg, v, seeds[0], output), synth.order_pairs,
                            synth.reversal_pairs, num_classes)
            ceilings[v.name] = (c.top1, c.reason)
        if all(top >= 1 for top, _ in ceilings.values()):  # camera motion: nothing to show
            ceilings = {}
    table, summary = sweep_table(records, metrics, reference=reference, equivalents=equivalent,
                                 order=[v.name for v in variants], chance=chance,
                                 noise=tuple(v.name for v in noise) if noise else None,
                                 intervals=intervals, ceilings=ceilings or None)
    if order_col:
        table += ("\n\nchance: top-1 of a uniform guess; order pairs: the best a model blind "
                  "to frame order can score on the classes that share their frames.")
    elif pairs:
        table += (f"\n\nchance: top-1 of a uniform guess. Every class shares its frames with "
                  f"others: a model blind to frame order scores at most "
                  f"{100 * order_chance(pairs):.1f}% top-1.")
    if unlocked:
        table += (f"\n\npreset {cfg.model.preset!r} fixes {', '.join(unlocked)}; this sweep "
                  f"unlocked it (model.preset=null, the preset's other values kept).")
    return {"sweep": sweep, "seeds": seeds, "dataset": cfg.data.version, "records": records,
            "summary": summary["rows"], "reference": summary["reference"],
            "noise_floor": summary["noise_floor"], "holm": summary["holm"], "table": table,
            "unlocked": unlocked,
            "equivalent": {k: vars(e) for k, e in equivalent.items()}}


def shared_data(cfg: Config) -> RunData:
    """Build the datasets once for every variant of an experiment (same data settings)."""
    return build_run_data(cfg)


__all__ = ["prepare_synthetic", "run_variant", "run_variants", "run_sweep", "order_pair_accuracy",
           "within_group_accuracy", "order_chance", "shared_data"]
