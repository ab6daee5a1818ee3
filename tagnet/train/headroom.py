"""The benchmarks with headroom: synthetic clips -> frozen frame-wise backbone -> cached tokens.

.. code-block:: text

    render_paths (tagnet.datasets.synth_paths, benchmark="paths", the default) or
    render_sites (tagnet.datasets.synth_sites, benchmark="sites"), in memory, no video files
      -> normalise (mean 0.45, std 0.225) -> framewise_tiny (frozen, seeded weights)
      -> token grids (64, T, S/8, S/8), float32 -> token shards root/train, root/val

Heads are then trained on the cached tokens only (``model.arch=tag_features``), so a
run takes seconds on a CPU. Because the backbone sees one frame at a time and the
classes of a group share their frames, row B of Table 4 (no encoder, mean pool)
gets identical pooled features for a clip and its reordered twins: it is at chance
inside each group by construction, while heads with positional encoding and an
encoder can learn order, path and place. PathSynth (``tagnet ablate --config
headroom``) is about the order, path and place of one marker; SiteSynth (``--config
sitesynth``) about what happens at the same site over time, with pairs of classes
that are exact time reverses (``reversal_pairs``). :func:`make_headroom` is cached by
its parameters (generate the cache once before starting several sweeps on the same
``root`` in parallel: generation takes no lock).
"""
from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

FORMAT = 1
MANIFEST = "headroom_manifest.json"


@dataclass(frozen=True)
class Headroom:
    """A generated benchmark: token shards under ``root/train`` and ``root/val``."""

    root: Path
    version: str
    classes: list[str]
    order_pairs: list[tuple[int, ...]]  # groups of classes sharing their frames
    params: dict = field(repr=False)
    generated: bool = True
    reversal_pairs: list[tuple[int, int]] = field(default_factory=list)  # exact time reverses


@dataclass(frozen=True)
class _Benchmark:
    """What :func:`make_headroom` needs to know about one generator."""

    version: str
    classes: list[str]
    groups: list[tuple[int, ...]]
    reversal_pairs: list[tuple[int, int]]
    render: Callable[..., np.ndarray]  # (label, seed, num_frames=, size=, camera=, ...)
    seed_source: Callable[[int], int]  # label -> which clip_seed stream it draws from
    cameras: tuple


def _benchmark(name: str) -> _Benchmark:
    if name == "paths":
        from tagnet.datasets import synth_paths as m

        return _Benchmark("pathsynth", [n for n, _, _ in m.CLASSES], m.order_groups(),
                          m.reversal_pairs(), m.render_paths, m.source_index, m.CAMERAS)
    if name == "sites":
        from tagnet.datasets import synth_sites as m

        # one seed stream for every class: all classes share layout, colours, distractors
        return _Benchmark("sitesynth", [n for n, _, _ in m.CLASSES], m.order_groups(),
                          m.reversal_pairs(), m.render_sites, lambda label: 0, m.CAMERAS)
    raise ValueError(f"data.synth.benchmark {name!r} is unknown; known: paths, sites (the "
                     "benchmarks with headroom), or leave it out for FineSynth")


def clip_seed(seed: int, source: int, k: int) -> int:
    """The seed of clip ``k`` of every class of a group: twins share it."""
    return int(np.random.default_rng([seed, 1, source, k]).integers(2**62))


def make_headroom(root, *, clips_per_class: int = 48, num_frames: int = 8, size: int = 32,
                  seed: int = 0, camera: str | None = None, camera_level: float = 4.0,
                  val_fraction: float = 0.25, backbone_seed: int = 0, progress: bool = True,
                  force: bool = False, benchmark: str = "paths") -> Headroom:
    """Render a benchmark with headroom, run the frozen frame-wise backbone once, write
    token shards.

    Args:
        root (str or Path): output folder (``train/``, ``val/`` shard dirs + manifest).
        clips_per_class (int): clips per class (48: 36 train + 12 val).
        num_frames (int), size (int): clip frames and side (8, 32: token grid 8x4x4).
        seed (int): data seed; camera (str, optional), camera_level (float): see
            :func:`tagnet.datasets.synth_paths.render_paths`.
        val_fraction (float): share of each class's clips held out as ``val``; the
            twins of a group (same seed) always fall in the same split.
        backbone_seed (int): seed of the frozen backbone's weights.
        force (bool): regenerate even when the manifest matches.
        benchmark (str): ``"paths"`` (PathSynth, :mod:`tagnet.datasets.synth_paths`) or
            ``"sites"`` (SiteSynth, :mod:`tagnet.datasets.synth_sites`); the config key
            ``data.synth.benchmark`` selects it.

    Returns:
        Headroom: where the shards are, the class names, ``order_pairs`` (groups of
        classes whose clips share their frames) and ``reversal_pairs`` (pairs of classes
        whose clips are exact time reverses with a still camera).
    """
    from tagnet.backbones import TokenShardWriter, create_backbone

    bench = _benchmark(benchmark)
    if camera not in bench.cameras:
        raise ValueError(f"camera {camera!r} is unknown; known: None, pan, shake")
    n_val = int(round(clips_per_class * val_fraction))
    if not 0 < n_val < clips_per_class:
        raise ValueError(f"val_fraction {val_fraction} leaves no train or no val clips")
    root = Path(root).expanduser()
    params = dict(format=FORMAT, clips_per_class=clips_per_class, num_frames=num_frames,
                  size=size, seed=seed, camera=camera, camera_level=float(camera_level),
                  val_fraction=val_fraction, backbone="framewise_tiny",
                  backbone_seed=backbone_seed)
    if benchmark != "paths":
        params["benchmark"] = benchmark
    else:  # version 2: reversal twins are exact time reverses (earlier caches are regenerated)
        params["render"] = 2
    classes, groups, version = bench.classes, bench.groups, bench.version
    described = dict(version=version, classes=classes, order_pairs=groups, params=params,
                     reversal_pairs=bench.reversal_pairs)
    manifest = root / MANIFEST
    if manifest.is_file() and not force and \
            json.loads(manifest.read_text())["params"] == params and \
            all((root / s / "index.json").is_file() for s in ("train", "val")):
        return Headroom(root, generated=False, **described)
    for split in ("train", "val"):
        shutil.rmtree(root / split, ignore_errors=True)
    manifest.unlink(missing_ok=True)
    backbone = create_backbone("framewise_tiny", seed=backbone_seed).eval()
    info = {"backbone": "framewise_tiny", "backbone_kwargs": {"seed": backbone_seed},
            "weights": None, "num_frames": num_frames, "img_size": size,
            "dataset": version, "classes": classes}
    mean, std = 0.45, 0.225
    labels = range(len(classes))
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=clips_per_class * len(classes), desc=version, unit="clip")
    for split in ("train", "val"):
        ks = range(clips_per_class - n_val) if split == "train" else \
            range(clips_per_class - n_val, clips_per_class)
        with TokenShardWriter(root / split, {**info, "split": split},
                              dtype=torch.float32) as writer:
            for k in ks:
                clips = np.stack([
                    bench.render(c, clip_seed(seed, bench.seed_source(c), k),
                                 num_frames=num_frames, size=size, camera=camera,
                                 camera_level=camera_level)
                    for c in labels])  # (classes, T, S, S, 3)
                x = torch.from_numpy(clips).permute(0, 4, 1, 2, 3).float().div_(255)
                with torch.inference_mode():
                    tokens = backbone((x - mean) / std)
                writer.add(tokens, labels, [f"{split}_{k:04d}_c{c}" for c in labels])
                if bar is not None:
                    bar.update(len(classes))
    if bar is not None:
        bar.close()
    record = {"generator": "tagnet.train.headroom", "params": params, "classes": classes,
              "order_groups": groups}
    record["reversal_pairs"] = bench.reversal_pairs
    manifest.write_text(json.dumps(record, indent=1))
    return Headroom(root, **described)


__all__ = ["Headroom", "make_headroom", "clip_seed"]
