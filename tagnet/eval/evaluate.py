"""Evaluate a model on a dataset and write the report files."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import Dataset

from tagnet.data import eval_loader
from tagnet.datasets.skips import SkipSummary
from tagnet.distributed import DistInfo
from tagnet.eval.inference import Predictions, predict
from tagnet.eval.metrics import classification_metrics
from tagnet.eval.report import write_json, write_per_class_csv, write_predictions_csv

#: The files of an evaluation report, in the order :func:`evaluate` writes them.
REPORT_FILES = ("metrics.json", "per_class.csv", "predictions.csv", "confusion.png", "tsne.png")


def evaluate(model: nn.Module, dataset: Dataset, class_names: Sequence[str], *,
             out_dir: str | Path | None = None, batch_size: int = 8, num_workers: int = 0,
             device: str | torch.device = "cpu", dist: DistInfo | None = None,
             topk: Sequence[int] = (1, 5), tsne: bool = False, tsne_max_points: int = 2000,
             title: str = "", progress: bool = False, extra: dict | None = None
             ) -> tuple[dict, Predictions]:
    """Metrics of ``model`` on ``dataset``; with ``out_dir`` also the report files.

    Files written (rank 0 only): ``metrics.json`` (top-k, MCA, MCA as mmaction2
    computes it, counts, the skipped clips, ``extra``), ``per_class.csv``,
    ``predictions.csv``, ``confusion.png`` and, with ``tsne``, ``tsne.png`` of the
    pre-logit features.

    Clips are never substituted: with ``on_error="skip"`` a clip that is missing or cannot
    be decoded is left out, ``num_samples`` and the per-class supports count the scored
    clips only, and ``metrics["skipped"]`` lists the others as ``{"path", "reason"}``
    (``num_skipped`` counts them). With ``on_error="raise"`` the first bad clip raises.

    Returns:
        ``(metrics without the confusion matrix, predictions)``
    """
    loader = eval_loader(dataset, batch_size, num_workers, dist)
    preds = predict(model, loader, device, features=tsne, dist=dist, progress=progress)
    metrics = classification_metrics(preds.scores, preds.labels, len(class_names), topk)
    cm = metrics.pop("confusion")
    metrics["loss"] = preds.loss
    skipped = skipped_clips(dataset, preds)
    metrics["num_skipped"] = len(skipped)
    metrics["skipped"] = [{"path": p, "reason": r} for p, r in skipped.items()]
    if out_dir is not None and (dist is None or dist.is_main):
        from tagnet.eval.plots import plot_confusion_matrix

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        write_json({**metrics, **(extra or {})}, out / "metrics.json")
        write_per_class_csv(cm, class_names, out / "per_class.csv")
        paths = preds.paths or [str(i) for i in range(preds.labels.numel())]
        write_predictions_csv(paths, preds.labels, preds.scores, class_names,
                              out / "predictions.csv", k=max(topk))
        plot_confusion_matrix(cm, class_names, out / "confusion.png", title=title)
        if tsne:
            from tagnet.eval.tsne import plot_tsne

            plot_tsne({title or "pre-logit features": (preds.features, preds.labels)},
                      out / "tsne.png", class_names, max_points=tsne_max_points)
    return metrics, preds


def skipped_clips(dataset: Dataset, preds: Predictions) -> SkipSummary:
    """The clips an evaluation left out: those the dataset dropped as missing when it was
    built (not known for a :class:`~torch.utils.data.Subset`) and those that failed to
    decode during :func:`~tagnet.eval.inference.predict`, each once, with its reason."""
    out = SkipSummary()
    if isinstance(getattr(dataset, "skipped", None), SkipSummary):
        for path, reason in dataset.skipped.items():
            out.add(path, reason, log_it=False)
    for path, reason in preds.skipped:
        out.add(path, reason, log_it=False)
    return out


__all__ = ["evaluate", "skipped_clips", "REPORT_FILES"]
