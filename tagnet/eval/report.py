"""Evaluation outputs on disk: metrics JSON, per-class CSV, predictions CSV.

Every file is written atomically (:mod:`tagnet.datasets.atomic`): a write that fails (a
full disk) leaves the previous file whole.
"""
from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from tagnet.datasets.atomic import atomic_open, atomic_write
from tagnet.eval.metrics import per_class_accuracy


def jsonable(obj):
    """Tensors to lists, NaN to None, recursively, so ``json.dump`` writes strict JSON."""
    if isinstance(obj, Tensor):
        obj = obj.tolist()
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, float) and math.isnan(obj):
        return None
    return obj


def write_json(obj, path: str | Path) -> Path:
    """``obj`` as strict JSON (:func:`jsonable`), atomically; creates the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, json.dumps(jsonable(obj), indent=2) + "\n")


def write_per_class_csv(cm: Tensor, class_names: Sequence[str], path: str | Path) -> Path:
    """One row per class: ``class_id, class_name, support, correct, accuracy``.

    ``accuracy`` is empty for classes absent from the ground truth.
    """
    cm = torch.as_tensor(cm)
    recall = per_class_accuracy(cm)
    path = Path(path)
    with atomic_open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["class_id", "class_name", "support", "correct", "accuracy"])
        for i, name in enumerate(class_names):
            acc = "" if math.isnan(recall[i]) else f"{recall[i].item():.6f}"
            w.writerow([i, name, int(cm[i].sum()), int(cm[i, i]), acc])
    return path


def write_predictions_csv(paths: Sequence[str], target: Tensor, scores: Tensor,
                          class_names: Sequence[str], path: str | Path, k: int = 5) -> Path:
    """One row per clip: its file, true class, and the ``k`` best classes with scores."""
    scores = torch.as_tensor(scores)
    k = min(k, scores.size(1))
    top = scores.topk(k, dim=1)
    path = Path(path)
    with atomic_open(path, "w", newline="", errors="surrogateescape") as f:
        w = csv.writer(f)
        header = ["path", "label", "label_name", "pred", "pred_name", "correct"]
        for j in range(1, k + 1):
            header += [f"top{j}", f"top{j}_name", f"top{j}_score"]
        w.writerow(header)
        for i, p in enumerate(paths):
            y, yhat = int(target[i]), int(top.indices[i, 0])
            row = [p, y, class_names[y], yhat, class_names[yhat], int(y == yhat)]
            for j in range(k):
                c = int(top.indices[i, j])
                row += [c, class_names[c], f"{top.values[i, j].item():.6f}"]
            w.writerow(row)
    return path


def format_metrics(metrics: dict, topk: Sequence[int] = (1, 5)) -> str:
    """One line: ``top1 93.10  top5 99.20  MCA 92.40  MCA(mmaction2) 92.40  (n=...)``."""
    parts = [f"top{k} {100 * metrics[f'top{k}']:.2f}" for k in topk if f"top{k}" in metrics]
    parts.append(f"MCA {100 * metrics['mca']:.2f}")
    parts.append(f"MCA(mmaction2) {100 * metrics['mca_mmaction2']:.2f}")
    skipped = metrics.get("num_skipped", 0)
    note = f", {skipped} clip{'s' * (skipped != 1)} skipped" if skipped else ""
    return "  ".join(parts) + f"  (n={metrics['num_samples']}{note})"


def skipped_markdown(metrics: dict) -> str:
    """A markdown list of the clips an evaluation left out, with reasons ("" if none)."""
    rows = metrics.get("skipped") or []
    if not rows:
        return ""
    lines = [f"- `{r['path']}`: {r['reason']}" for r in rows]
    return (f"{len(rows)} clip{'s' * (len(rows) != 1)} left out (not scored, not counted in n):"
            "\n\n" + "\n".join(lines) + "\n")


__all__ = ["write_json", "write_per_class_csv", "write_predictions_csv", "jsonable",
           "format_metrics", "skipped_markdown"]
