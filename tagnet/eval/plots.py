"""PNG figures: confusion matrix, training curves, t-SNE panels (matplotlib, no pyplot).

Figures are built with :class:`matplotlib.figure.Figure` directly, so no GUI
backend and no global pyplot state are involved. :func:`save_figure` writes every PNG
atomically: a failed write leaves the previous file.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import Tensor


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def save_figure(fig, path: str | Path, **kwargs) -> Path:
    """``fig.savefig`` to a temporary file renamed onto ``path`` (the format is ``path``'s
    suffix, PNG when it has none)."""
    from tagnet.datasets.atomic import atomic_path

    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    with atomic_path(path, keep_suffix=True) as tmp:
        fig.savefig(tmp, format=fmt, **kwargs)
    return path


def plot_confusion_matrix(cm: Tensor, class_names: Sequence[str], path: str | Path,
                          normalize: bool = True, title: str = "") -> Path:
    """Row-normalised (per true class) confusion matrix as a heat map.

    Class names label the axes up to 40 classes; beyond that only ids are shown.
    """
    cm = torch.as_tensor(cm).double()
    if normalize:
        cm = cm / cm.sum(1, keepdim=True).clamp(min=1)
    k = cm.size(0)
    side = min(4 + 0.25 * k, 20)
    fig = _figure(side + 1, side)
    ax = fig.add_subplot()
    im = ax.imshow(cm.numpy(), cmap="Blues", vmin=0, vmax=1 if normalize else None)
    fig.colorbar(im, ax=ax, shrink=0.8, label="fraction of true class" if normalize else "clips")
    if k <= 40:
        ax.set_xticks(range(k), [str(n) for n in class_names], rotation=90, fontsize=7)
        ax.set_yticks(range(k), [str(n) for n in class_names], fontsize=7)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title or "confusion matrix")
    return save_figure(fig, path)


def read_log(path: str | Path) -> list[dict]:
    """Records of a run's ``log.jsonl``."""
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def plot_training_curves(runs: Mapping[str, Sequence[dict]], path: str | Path) -> Path:
    """Loss and accuracy per epoch for one or more runs (name -> log records).

    Uses the ``"epoch"`` records of :class:`~tagnet.train.logger.RunLogger`: train
    loss / accuracy and, when present, the selection split's loss / top-1.
    """
    fig = _figure(10, 4)
    ax_loss, ax_acc = fig.subplots(1, 2)
    for name, records in runs.items():
        epochs = [r for r in records if r.get("kind") == "epoch"]
        if not epochs:
            continue
        x = [r["epoch"] for r in epochs]
        line, = ax_loss.plot(x, [r["train_loss"] for r in epochs], label=f"{name} train")
        ax_acc.plot(x, [100 * r["train_top1"] for r in epochs], color=line.get_color(),
                    label=f"{name} train")
        if "val_loss" in epochs[0]:
            ax_loss.plot(x, [r["val_loss"] for r in epochs], "--", color=line.get_color(),
                         label=f"{name} {epochs[0].get('val_split', 'val')}")
            ax_acc.plot(x, [100 * r["val_top1"] for r in epochs], "--", color=line.get_color(),
                        label=f"{name} {epochs[0].get('val_split', 'val')}")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="top-1 (%)", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return save_figure(fig, path)


def plot_embeddings(panels: Mapping[str, tuple[Tensor, Tensor]], path: str | Path,
                    class_names: Sequence[str] | None = None) -> Path:
    """Side-by-side 2-D scatter plots coloured by class (the paper's Fig. 3 layout).

    Args:
        panels: title -> ``(points (N, 2), labels (N,))``.
        class_names: legend entries (shown up to 20 classes).
    """
    fig = _figure(4.2 * len(panels) + (1.8 if class_names else 0), 4.2)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    num_classes = max(int(torch.as_tensor(lab).max()) + 1 for _, lab in panels.values())
    cmap = "tab10" if num_classes <= 10 else "tab20" if num_classes <= 20 else "nipy_spectral"
    for ax, (title, (points, labels)) in zip(axes, panels.items(), strict=True):
        points, labels = torch.as_tensor(points), torch.as_tensor(labels)
        sc = ax.scatter(points[:, 0], points[:, 1], c=labels, cmap=cmap, s=9,
                        vmin=-0.5, vmax=num_classes - 0.5)
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    if class_names is not None and len(class_names) <= 20:
        handles = [axes[-1].scatter([], [], color=sc.cmap(sc.norm(i)), s=12, label=n)
                   for i, n in enumerate(class_names)]
        fig.legend(handles=handles, loc="outside right center", fontsize=7)
    return save_figure(fig, path)


__all__ = ["plot_confusion_matrix", "plot_training_curves", "plot_embeddings", "read_log",
           "save_figure"]
