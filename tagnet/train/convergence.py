r"""When a run has converged: the selection metric and the training loss have both
stopped moving, on a model that has left the trivial solution.

.. code-block:: text

    after every epoch e:  (selection score s_e, train loss l_e, lr factor f_e = lr_e / lr)
      window  = the shortest tail of epochs (j, e] with  sum f_i >= converge_window
      plateau = best s over epochs <= e  -  best s over epochs <= j  <=  converge_tol
      settled = min l over epochs <= j  -  min l over epochs <= e  <=  converge_loss_tol * L_0
      fitted  = l_e <= (1 - converge_fit) * L_0      (L_0: loss of predicting class frequencies)
      converged at e  <=>  a window with j >= 1 exists, plateau, settled and fitted

The selection metric is what picks the checkpoint, so its plateau is the heart of the
rule; but a small selection split is coarse (one clip of a 96-clip holdout is 1 point of
top-1) and saturates while the weights still improve on held-out clips, so the training
loss must have settled as well (measured against :math:`L_0`, so the tolerance means the
same on every dataset). A plateau alone is not enough for two more reasons:

* **A saddle is flat too.** A head that still predicts the class frequencies (loss
  :math:`L_0 = -\sum_c p_c \ln p_c`, :math:`\ln C` for balanced classes) can sit there for
  many epochs before it escapes; ``fitted`` asks for a training loss clearly below
  :math:`L_0`. A head that fits up to a ceiling passes (row B's best on the still-camera
  headroom benchmark, 37.5% top-1, has a loss of about :math:`L_0 / 2`); a head that
  never gets far from :math:`L_0` is reported as not converged (row B as measured there
  stays at :math:`0.86 L_0` and at chance after 60 epochs).
* **An annealed learning rate freezes any run.** At the end of a cosine schedule the lr is
  near 0 and every curve is flat. The window therefore counts epochs by their learning rate
  (an epoch at half the peak lr counts one half), so it stretches back over the schedule's
  tail: a run counts as converged only if its selection metric and its training loss had
  stopped moving while the optimiser still moved the weights. With a constant lr the
  window is the last ``converge_window`` epochs.

The best score and the lowest loss up to an epoch only change with a new record, so once
the rule holds it fails again only after a real improvement (more than the tolerances)
or a rise of the training loss above the ``fitted`` bound.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class EpochRecord:
    """What the rule reads of one epoch (1-based ``epoch``); stored in checkpoints."""

    epoch: int
    score: float  # selection metric on the selection split (nan: none / non-finite)
    train_loss: float
    lr_factor: float  # the epoch's lr / the base lr


@dataclass(frozen=True)
class ConvergenceRule:
    r"""The convergence rule of the module docstring.

    Args:
        window (float): :math:`k`, learning-rate-weighted epochs over which the selection
            metric must not rise by more than ``tol`` (``train.converge_window``).
        tol (float): the largest rise of the best selection score that still counts as a
            plateau, in the metric's units (top-1 0.02 = 2 points; ``train.converge_tol``).
        fit (float): the training loss must be at most ``(1 - fit)`` times the trivial
            loss :math:`L_0` (``train.converge_fit``).
        trivial_loss (float): :math:`L_0`, the loss of predicting the class frequencies.
        higher_is_better (bool): the selection metric's direction (``False`` for ``loss``).
        loss_tol (float): the largest fall of the lowest training loss over the window
            that still counts as settled, as a fraction of :math:`L_0`
            (``train.converge_loss_tol``).
    """

    window: float
    tol: float
    fit: float
    trivial_loss: float
    higher_is_better: bool = True
    loss_tol: float = 0.01

    def window_start(self, history: Sequence[EpochRecord], n: int | None = None) -> int | None:
        """``j``: the window after the first ``n`` records (default: all) is records
        ``j .. n - 1``, the shortest tail whose lr factors sum to ``window``; ``None`` if
        the records so far sum to less."""
        n = len(history) if n is None else n
        total = 0.0
        for j in range(n - 1, -1, -1):
            total += history[j].lr_factor
            if total >= self.window - 1e-9:
                return j
        return None

    def holds(self, history: Sequence[EpochRecord], n: int | None = None) -> bool:
        """Whether the run counts as converged after the first ``n`` records (default: all)."""
        n = len(history) if n is None else n
        j = self.window_start(history, n)
        if j is None or j < 1:  # no window yet, or no epoch before it to compare with
            return False
        sign = 1.0 if self.higher_is_better else -1.0
        best_now = max(_finite(sign * r.score) for r in history[:n])
        best_then = max(_finite(sign * r.score) for r in history[:j])
        if not math.isfinite(best_now):
            return False  # no finite selection score yet
        plateau = best_now - best_then <= self.tol + 1e-12
        loss = history[n - 1].train_loss
        fitted = math.isfinite(loss) and loss <= (1.0 - self.fit) * self.trivial_loss
        # the optimisation has stopped too: the lowest training loss fell by at most
        # loss_tol x L_0 over the window
        low_then = min(_low(r.train_loss) for r in history[:j])
        low_now = min(_low(r.train_loss) for r in history[:n])
        settled = low_then - low_now <= self.loss_tol * self.trivial_loss + 1e-12
        return plateau and fitted and settled

    def converged_since(self, history: Sequence[EpochRecord]) -> int | None:
        """The epoch that starts the final stretch of records after each of which the rule
        held (``None``: it does not hold after the last one)."""
        since = None
        for n in range(len(history), 0, -1):
            if not self.holds(history, n):
                break
            since = history[n - 1].epoch
        return since


def trivial_loss(labels: Sequence[int] | None, num_classes: int) -> float:
    r"""Cross-entropy of predicting the class frequencies: :math:`-\sum_c p_c \ln p_c`
    over ``labels`` (:math:`\ln C` when the labels are unknown or balanced)."""
    if not labels:
        return math.log(num_classes)
    counts: dict[int, int] = {}
    for y in labels:
        counts[int(y)] = counts.get(int(y), 0) + 1
    n = len(labels)
    return -sum(c / n * math.log(c / n) for c in counts.values())


def _finite(x: float) -> float:
    return x if math.isfinite(x) else -math.inf


def _low(x: float) -> float:
    return x if math.isfinite(x) else math.inf


__all__ = ["ConvergenceRule", "EpochRecord", "trivial_loss"]
