r"""Statistics for comparing trained models over seeds: t intervals and paired differences.

A lab compares configurations that are each trained with several seeds. For one
configuration with per-seed results :math:`x_1, \dots, x_n` the table shows the
mean :math:`\bar x`, the sample standard deviation :math:`s` (``n - 1`` in the
denominator) and the 95% Student-t interval

.. math::
    \bar x \pm t_{0.975,\, n-1}\, s / \sqrt n .

Two configurations trained with the same seeds are compared *paired by seed*:
:math:`d_i = x_i - r_i` for each seed in both, and the interval above on the
:math:`d_i`. A difference is called an effect only when its interval excludes 0.
Intervals need at least two seeds (with one there is no spread to estimate):
asking for one with fewer raises :class:`ValueError`.

:data:`DEFAULT_SEEDS` are the seeds sweeps use unless told otherwise.
"""
from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

#: Seeds of a sweep by default: five, so that a 95% interval has 4 degrees of freedom.
DEFAULT_SEEDS = (0, 1, 2, 3, 4)


def t_quantile(p: float, df: int) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom (scipy.stats.t.ppf)."""
    from scipy.stats import t

    return float(t.ppf(p, df))


@dataclass(frozen=True)
class Interval:
    """Mean, sample std and a two-sided t interval of ``n`` values."""

    mean: float
    std: float
    low: float
    high: float
    n: int
    confidence: float = 0.95

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def _need_two(values: Sequence[float], what: str) -> list[float]:
    vals = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    if len(vals) < 2:
        raise ValueError(
            f"a confidence interval for {what} needs at least 2 seeds, got {len(vals)}: with "
            "one value there is no spread to estimate the run-to-run noise from; train with "
            "more seeds (e.g. --seeds 0 1 2 3 4) or ask for no intervals")
    return vals


def t_interval(values: Sequence[float], confidence: float = 0.95, what: str = "a mean"
               ) -> Interval:
    r"""Mean, sample std and the Student-t interval :math:`\bar x \pm t\, s/\sqrt n`.

    NaN values are left out. Raises ``ValueError`` with fewer than 2 values.

    Example:
        >>> iv = t_interval([1.0, 2.0, 3.0])
        >>> round(iv.low, 4), round(iv.high, 4)   # 2 -+ 4.3027 * 1 / sqrt(3)
        (-0.4841, 4.4841)
    """
    vals = _need_two(values, what)
    n, mean, std = len(vals), statistics.fmean(vals), statistics.stdev(vals)
    half = t_quantile(0.5 + confidence / 2, n - 1) * std / math.sqrt(n)
    return Interval(mean, std, mean - half, mean + half, n, confidence)


@dataclass(frozen=True)
class PairedDifference:
    """``row - reference`` over the seeds both have, with its t interval."""

    interval: Interval
    seeds: tuple[int, ...]

    @property
    def effect(self) -> bool:
        """True when the interval excludes 0: only then is the difference called an effect."""
        return self.interval.excludes_zero


def paired_difference(values: Mapping[int, float], reference: Mapping[int, float],
                      confidence: float = 0.95, what: str = "a difference"
                      ) -> PairedDifference:
    """Difference of two configurations paired by seed: ``{seed: value}`` each.

    Only seeds present in both (with non-NaN values) count; raises ``ValueError``
    when fewer than 2 remain.
    """
    seeds = tuple(sorted(s for s in values if s in reference
                         and not math.isnan(values[s]) and not math.isnan(reference[s])))
    diffs = [values[s] - reference[s] for s in seeds]
    return PairedDifference(t_interval(diffs, confidence, what=f"{what} (paired by seed)"),
                            seeds)


def fmt_interval(iv: Interval, scale: float = 100.0, signed: bool = False) -> str:
    """``"93.1 [91.0, 95.2]"`` (values scaled, e.g. fractions to percent)."""
    f = "{:+.1f}" if signed else "{:.1f}"
    return (f"{f.format(scale * iv.mean)} [{f.format(scale * iv.low)}, "
            f"{f.format(scale * iv.high)}]")


__all__ = ["DEFAULT_SEEDS", "Interval", "PairedDifference", "t_interval", "paired_difference",
           "t_quantile", "fmt_interval"]
