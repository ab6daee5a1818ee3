"""Metrics against scikit-learn and closed forms, on literal arrays."""
import math
import warnings

import numpy as np
import pytest
import torch
from sklearn.metrics import balanced_accuracy_score, recall_score, top_k_accuracy_score
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

from tagnet.eval.metrics import (
    classification_metrics,
    confusion_matrix,
    mean_class_accuracy,
    mmaction2_mean_class_accuracy,
    per_class_accuracy,
    topk_accuracy,
)

# 5 classes. Class 3 never occurs in the ground truth but is predicted once;
# class 4 occurs but is never predicted. No ties in any row.
SCORES = torch.tensor([
    [0.70, 0.10, 0.05, 0.10, 0.05],  # y=0 pred 0
    [0.20, 0.50, 0.10, 0.15, 0.05],  # y=0 pred 1
    [0.05, 0.80, 0.05, 0.06, 0.04],  # y=1 pred 1
    [0.10, 0.60, 0.20, 0.04, 0.06],  # y=1 pred 1
    [0.10, 0.20, 0.40, 0.25, 0.05],  # y=2 pred 2
    [0.05, 0.10, 0.15, 0.60, 0.10],  # y=2 pred 3 (class 3 absent from the truth)
    [0.30, 0.05, 0.40, 0.05, 0.20],  # y=4 pred 2 (class 4 never predicted)
    [0.45, 0.20, 0.05, 0.05, 0.25],  # y=4 pred 0
])
LABELS = torch.tensor([0, 0, 1, 1, 2, 2, 4, 4])
PRED = SCORES.argmax(1)


def test_confusion_matrix_matches_sklearn():
    cm = confusion_matrix(PRED, LABELS, 5)
    expected = sk_confusion_matrix(LABELS.numpy(), PRED.numpy(), labels=list(range(5)))
    assert cm.tolist() == expected.tolist()
    assert cm.tolist() == [[1, 1, 0, 0, 0], [0, 2, 0, 0, 0], [0, 0, 1, 1, 0], [0, 0, 0, 0, 0],
                           [1, 0, 1, 0, 0]]


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_topk_matches_sklearn(k):
    ours = topk_accuracy(SCORES, LABELS, ks=(k,))[k]
    theirs = top_k_accuracy_score(LABELS.numpy(), SCORES.numpy(), k=k, labels=list(range(5)))
    assert ours == pytest.approx(theirs, abs=1e-12)


def test_topk_values_and_k_beyond_classes():
    acc = topk_accuracy(SCORES, LABELS, ks=(1, 2, 5, 10))
    assert acc[1] == 4 / 8 and acc[2] == 7 / 8 and acc[5] == 1.0 and acc[10] == 1.0


def test_mca_is_balanced_accuracy_over_present_classes():
    cm = confusion_matrix(PRED, LABELS, 5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns about predicted-only class 3
        expected = balanced_accuracy_score(LABELS.numpy(), PRED.numpy())
    assert mean_class_accuracy(cm) == pytest.approx(expected, abs=1e-12)
    # recalls over present classes 0, 1, 2, 4: 1/2, 1, 1/2, 0
    assert mean_class_accuracy(cm) == pytest.approx((0.5 + 1 + 0.5 + 0) / 4)


def test_per_class_recall_matches_sklearn_and_nan_for_absent_class():
    recall = per_class_accuracy(confusion_matrix(PRED, LABELS, 5))
    present = [0, 1, 2, 4]
    expected = recall_score(LABELS.numpy(), PRED.numpy(), labels=present, average=None,
                            zero_division=0)
    assert recall[present].tolist() == pytest.approx(expected.tolist())
    assert math.isnan(recall[3])


def test_mmaction2_variant_divides_by_classes_seen_anywhere():
    cm = confusion_matrix(PRED, LABELS, 5)
    # classes seen in predictions or truth: 0, 1, 2, 3, 4 -> 5; class 3 counts as 0
    assert mmaction2_mean_class_accuracy(cm) == pytest.approx((0.5 + 1 + 0.5 + 0 + 0) / 5)
    # without a predicted-only class the two definitions agree
    keep = PRED != 3
    cm2 = confusion_matrix(PRED[keep], LABELS[keep], 5)
    assert mmaction2_mean_class_accuracy(cm2) == pytest.approx(mean_class_accuracy(cm2))


def test_mmaction2_variant_by_its_own_recipe():
    """Re-derive mmaction2's number the way its docs describe: confusion matrix over the
    union of labels in predictions and ground truth, hit / count per row, 0 for empty rows."""
    y, p = LABELS.numpy(), PRED.numpy()
    seen = np.unique(np.concatenate([y, p]))
    cm = sk_confusion_matrix(y, p, labels=seen)
    counts, hits = cm.sum(1), np.diag(cm)
    expected = np.mean([h / c if c else 0.0 for c, h in zip(counts, hits, strict=True)])
    assert mmaction2_mean_class_accuracy(confusion_matrix(PRED, LABELS, 5)) == \
        pytest.approx(expected)


def test_classification_metrics_bundle():
    m = classification_metrics(SCORES, LABELS, topk=(1, 5))
    assert m["top1"] == 0.5 and m["top5"] == 1.0
    assert m["num_samples"] == 8 and m["num_classes_present"] == 4
    assert m["confusion"].shape == (5, 5)


def test_labels_out_of_range_raise():
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        confusion_matrix(torch.tensor([0, 3]), torch.tensor([0, 1]), 3)
