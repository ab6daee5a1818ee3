r"""Classification metrics of the paper and of mmaction2, on score matrices.

With :math:`C` the confusion matrix (rows: true class, columns: predicted),
:math:`n_c = \sum_j C_{cj}` the clips of class :math:`c` and
:math:`P = \{c : n_c > 0\}` the classes present in the ground truth:

.. math::
    \mathrm{recall}_c = C_{cc} / n_c, \qquad
    \mathrm{MCA} = \frac{1}{|P|} \sum_{c \in P} \mathrm{recall}_c .

MCA is the paper's "mean class accuracy" as the released evaluation computes it
(scikit-learn's ``balanced_accuracy_score``). mmaction2's
``mean_class_accuracy`` averages over every label that occurs in the
predictions *or* the ground truth, counting a predicted-only class as 0:

.. math::
    \mathrm{MCA}_{mm} = \frac{1}{|P \cup \hat P|} \sum_{c \in P} \mathrm{recall}_c ,

so it is lower whenever the model predicts a class that is absent from the
test set. Reports carry both, labelled.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def confusion_matrix(pred: Tensor, target: Tensor, num_classes: int) -> Tensor:
    """``(K, K)`` counts, ``cm[i, j]`` = clips of true class ``i`` predicted as ``j``."""
    pred, target = torch.as_tensor(pred).long(), torch.as_tensor(target).long()
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ")
    if pred.numel() and (min(pred.min(), target.min()) < 0
                         or max(pred.max(), target.max()) >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes}); got predictions in "
                         f"[{int(pred.min())}, {int(pred.max())}] and targets in "
                         f"[{int(target.min())}, {int(target.max())}]")
    flat = target * num_classes + pred
    return torch.bincount(flat, minlength=num_classes * num_classes).view(num_classes,
                                                                          num_classes)


def topk_accuracy(scores: Tensor, target: Tensor, ks: Sequence[int] = (1, 5)) -> dict[int, float]:
    """Fraction of clips whose true class is among the ``k`` highest scores, per ``k``.

    ``k`` larger than the number of classes is clamped (every clip is a hit).
    """
    scores, target = torch.as_tensor(scores), torch.as_tensor(target).long()
    if scores.dim() != 2 or scores.size(0) != target.numel():
        raise ValueError(f"scores must be (N, K) with N = {target.numel()} targets, "
                         f"got {tuple(scores.shape)}")
    kmax = min(max(ks), scores.size(1))
    top = scores.topk(kmax, dim=1).indices  # (N, kmax)
    hits = top.eq(target[:, None])
    return {k: hits[:, :min(k, kmax)].any(1).double().mean().item() for k in ks}


def per_class_accuracy(cm: Tensor) -> Tensor:
    """Recall of every class, ``NaN`` for classes absent from the ground truth."""
    cm = torch.as_tensor(cm)
    support = cm.sum(1).double()
    return torch.where(support > 0, cm.diag().double() / support.clamp(min=1),
                       torch.full_like(support, float("nan")))


def mean_class_accuracy(cm: Tensor) -> float:
    """The paper's MCA: mean recall over classes present in the ground truth."""
    recall = per_class_accuracy(cm)
    present = ~recall.isnan()
    return recall[present].mean().item() if present.any() else float("nan")


def mmaction2_mean_class_accuracy(cm: Tensor) -> float:
    """mmaction2's variant: the same sum of recalls over present classes, divided by the
    number of classes seen in the predictions or the ground truth."""
    cm = torch.as_tensor(cm)
    recall = per_class_accuracy(cm)
    seen = (cm.sum(0) > 0) | (cm.sum(1) > 0)
    if not seen.any():
        return float("nan")
    return (recall.nan_to_num(0.0).sum() / seen.sum()).item()


def classification_metrics(scores: Tensor, target: Tensor, num_classes: int | None = None,
                           topk: Sequence[int] = (1, 5)) -> dict:
    """Top-k accuracies, MCA (both variants) and the confusion matrix as a dict.

    Returns keys ``top1``, ``top5`` (one per ``k``), ``mca``, ``mca_mmaction2``,
    ``num_samples``, ``num_classes_present`` and ``confusion`` (a ``(K, K)`` tensor).
    Accuracies are fractions in [0, 1].
    """
    scores = torch.as_tensor(scores)
    num_classes = num_classes or scores.size(1)
    cm = confusion_matrix(scores.argmax(1), target, num_classes)
    out = {f"top{k}": v for k, v in topk_accuracy(scores, target, topk).items()}
    out.update(mca=mean_class_accuracy(cm), mca_mmaction2=mmaction2_mean_class_accuracy(cm),
               num_samples=int(cm.sum()), num_classes_present=int((cm.sum(1) > 0).sum()),
               confusion=cm)
    return out


__all__ = ["confusion_matrix", "topk_accuracy", "per_class_accuracy", "mean_class_accuracy",
           "mmaction2_mean_class_accuracy", "classification_metrics"]
