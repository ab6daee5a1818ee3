"""The benchmark with headroom: PathSynth clips -> frozen frame-wise backbone -> cached tokens.

.. code-block:: text

    render_paths (tagnet.datasets.synth_paths), in memory, no video files
      -> normalise (mean 0.45, std 0.225) -> framewise_tiny (frozen, seeded weights)
      -> token grids (64, T, S/8, S/8), float32 -> token shards root/train, root/val

Heads are then trained on the cached tokens only (``model.arch=tag_features``), so a
run takes seconds on a CPU. Because the backbone sees one frame at a time and the
classes of a group share their frames, row B of Table 4 (no encoder, mean pool)
gets identical pooled features for a clip and its reordered twins: it is at chance
inside each group by construction, while heads with positional encoding and an
encoder can learn order, path and place. ``tagnet ablate --config headroom`` runs on
it; :func:`make_headroom` is cached by its parameters (generate the cache once before
starting several sweeps on the same ``root`` in parallel: generation takes no lock).
"""
from __future__ import annotations

import json
import shutil
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


def clip_seed(seed: int, source: int, k: int) -> int:
    """The seed of clip ``k`` of every class of a group: twins share it."""
    return int(np.random.default_rng([seed, 1, source, k]).integers(2**62))


def make_headroom(root, *, clips_per_class: int = 48, num_frames: int = 8, size: int = 32,
                  seed: int = 0, camera: str | None = None, camera_level: float = 4.0,
                  val_fraction: float = 0.25, backbone_seed: int = 0, progress: bool = True,
                  force: bool = False, benchmark: str = "paths") -> Headroom:
    """Render PathSynth, run the frozen frame-wise backbone once, write token shards.

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
        benchmark (str): ``"paths"`` (the only one; the config key that selects it).
    """
    from tagnet.backbones import TokenShardWriter, create_backbone
    from tagnet.datasets.synth_paths import (
        CAMERAS,
        CLASSES,
        order_groups,
        render_paths,
        source_index,
    )

    if benchmark != "paths":
        raise ValueError(f"data.synth.benchmark {benchmark!r} is unknown; known: paths (the "
                         "benchmark with headroom), or leave it out for FineSynth")
    if camera not in CAMERAS:
        raise ValueError(f"camera {camera!r} is unknown; known: None, pan, shake")
    n_val = int(round(clips_per_class * val_fraction))
    if not 0 < n_val < clips_per_class:
        raise ValueError(f"val_fraction {val_fraction} leaves no train or no val clips")
    root = Path(root).expanduser()
    params = dict(format=FORMAT, clips_per_class=clips_per_class, num_frames=num_frames,
                  size=size, seed=seed, camera=camera, camera_level=float(camera_level),
                  val_fraction=val_fraction, backbone="framewise_tiny",
                  backbone_seed=backbone_seed)
    classes = [name for name, _, _ in CLASSES]
    groups = order_groups()
    manifest = root / MANIFEST
    if manifest.is_file() and not force and \
            json.loads(manifest.read_text())["params"] == params and \
            all((root / s / "index.json").is_file() for s in ("train", "val")):
        return Headroom(root, "pathsynth", classes, groups, params, generated=False)
    for split in ("train", "val"):
        shutil.rmtree(root / split, ignore_errors=True)
    manifest.unlink(missing_ok=True)
    backbone = create_backbone("framewise_tiny", seed=backbone_seed).eval()
    info = {"backbone": "framewise_tiny", "backbone_kwargs": {"seed": backbone_seed},
            "weights": None, "num_frames": num_frames, "img_size": size,
            "dataset": "pathsynth", "classes": classes}
    mean, std = 0.45, 0.225
    jobs = [(c, k) for k in range(clips_per_class) for c in range(len(CLASSES))]
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(jobs), desc="pathsynth", unit="clip")
    for split in ("train", "val"):
        ks = range(clips_per_class - n_val) if split == "train" else \
            range(clips_per_class - n_val, clips_per_class)
        with TokenShardWriter(root / split, {**info, "split": split},
                              dtype=torch.float32) as writer:
            for k in ks:
                clips = np.stack([
                    render_paths(c, clip_seed(seed, source_index(c), k), num_frames=num_frames,
                                 size=size, camera=camera, camera_level=camera_level)
                    for c in range(len(CLASSES))])  # (classes, T, S, S, 3)
                x = torch.from_numpy(clips).permute(0, 4, 1, 2, 3).float().div_(255)
                with torch.inference_mode():
                    tokens = backbone((x - mean) / std)
                writer.add(tokens, range(len(CLASSES)),
                           [f"{split}_{k:04d}_c{c}" for c in range(len(CLASSES))])
                if bar is not None:
                    bar.update(len(CLASSES))
    if bar is not None:
        bar.close()
    manifest.write_text(json.dumps({"generator": "tagnet.train.headroom", "params": params,
                                    "classes": classes, "order_groups": groups}, indent=1))
    return Headroom(root, "pathsynth", classes, groups, params)


__all__ = ["Headroom", "make_headroom", "clip_seed"]
