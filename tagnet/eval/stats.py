r"""Statistics for comparing trained models over seeds: t intervals, exact sign-flip tests, Holm.

A lab compares configurations that are each trained with several seeds. For one
configuration with per-seed results :math:`x_1, \dots, x_n` the table shows the
mean :math:`\bar x`, the sample standard deviation :math:`s` (``n - 1`` in the
denominator) and the 95% Student-t interval

.. math::
    \bar x \pm t_{0.975,\, n-1}\, s / \sqrt n .

Two configurations trained with the same seeds are compared *paired by seed*:
:math:`d_i = x_i - r_i` for each seed in both. Beside the t interval of the
:math:`d_i`, each contrast gets the exact paired permutation (sign-flip) p-value
(:func:`sign_flip_pvalue`), which assumes nothing about the shape of the seed
distribution (seed outcomes can be bimodal: a run leaves a plateau or not):

.. math::
    p = \frac{1}{2^n} \#\Big\{ \varepsilon \in \{-1, 1\}^n :
        \Big|\sum_i \varepsilon_i d_i\Big| \ge \Big|\sum_i d_i\Big| \Big\}.

Its smallest value is :math:`2 / 2^n` (:func:`smallest_pvalue`): 5 seeds can
never give p < 0.05 (2/32 = 0.0625). A table of :math:`m` contrasts corrects for
multiplicity with Holm's step-down method (:func:`holm`); a contrast is called an
effect only when its Holm-adjusted p is below ``alpha`` (0.05).

Intervals need at least two seeds (with one there is no spread to estimate):
asking for one with fewer raises :class:`ValueError`.

:data:`DEFAULT_SEEDS` are the seeds sweeps use unless their config
(``train.sweep_seeds``) or the command line says otherwise.
"""
from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

#: Seeds of a sweep by default: five, so that a 95% interval has 4 degrees of freedom.
DEFAULT_SEEDS = (0, 1, 2, 3, 4)
#: Up to this many pairs :func:`sign_flip_pvalue` enumerates all 2^n sign patterns.
EXACT_MAX_PAIRS = 40
#: Above :data:`EXACT_MAX_PAIRS`, the number of random sign patterns it draws instead.
MONTE_CARLO_PATTERNS = 100_000
#: Significance level of the tables: an effect needs a Holm-adjusted p below it.
ALPHA = 0.05


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


def _signed_sums(d: np.ndarray) -> np.ndarray:
    """All :math:`2^k` sums :math:`\\sum_i \\varepsilon_i d_i` of ``d`` (k values), one
    doubling per value: ``(2^k,)``."""
    sums = np.zeros(1)
    for x in d:
        sums = np.concatenate([sums + x, sums - x])
    return sums


def sign_flip_pvalue(diffs: Sequence[float], *, n_patterns: int = MONTE_CARLO_PATTERNS,
                     seed: int = 0) -> float:
    r"""Two-sided paired permutation (sign-flip) p-value of the mean of ``diffs``.

    Under the null hypothesis that the two paired configurations are exchangeable
    within each seed, every difference is equally likely to carry either sign, so
    the :math:`2^n` sign patterns :math:`\varepsilon` are equally likely and

    .. math::
        p = \frac{1}{2^n} \#\Big\{ \varepsilon :
            \Big|\sum_i \varepsilon_i d_i\Big| \ge \Big|\sum_i d_i\Big| - \tau \Big\},
        \qquad \tau = 10^{-12} \sum_i |d_i| ,

    the observed pattern included (so :math:`p \ge 2 / 2^n`). The tolerance
    :math:`\tau` makes sums that are equal in exact arithmetic but differ by
    floating-point rounding count as ties (``0.1 + 0.2`` vs ``0.3``). This is
    :func:`scipy.stats.permutation_test` with ``permutation_type="samples"`` on the
    pairs and the mean difference as statistic (its two-sided p, twice the smaller
    tail, equals this one because the sign-flip null is symmetric about 0).

    Ties and zeros: tied :math:`|d_i|` need no special care (patterns are counted,
    not ranked). A zero difference is kept: both of its signs give the same sum, so
    it doubles the count and the total alike and p equals the p without it; the
    smallest reachable p is then :math:`2 / 2^{n_{\neq 0}}`. All differences zero
    (or an observed mean within :math:`\tau` of 0) gives ``p = 1``.

    Exact for up to :data:`EXACT_MAX_PAIRS` (40) pairs, vectorised by meeting in
    the middle: the :math:`2^{\lfloor n/2 \rfloor}` signed sums of the first half are
    matched against the sorted sums of the second half with two binary searches
    (at most :math:`2^{20}` values each, 8 MB). Above that, ``n_patterns`` random
    sign patterns drawn from ``numpy.random.default_rng(seed)`` (the observed one
    counted once more, :math:`p = (1 + \#) / (1 + N)`, which is never 0 and is a
    valid p-value; Phipson & Smyth, 2010).

    Args:
        diffs (sequence of float): paired differences ``x_i - r_i``; NaNs are left out.
        n_patterns (int): random sign patterns above :data:`EXACT_MAX_PAIRS` pairs.
        seed (int): seed of those patterns.

    Returns:
        float: p in ``[2 / 2^n, 1]``; 1.0 for no pairs.

    Example:
        >>> sign_flip_pvalue([0.1, 0.2, 0.3, 0.1, 0.4])   # all 5 positive: 2 / 32
        0.0625
    """
    d = np.asarray([float(x) for x in diffs if not math.isnan(float(x))], dtype=np.float64)
    n = len(d)
    tol = 1e-12 * float(np.abs(d).sum())
    observed = abs(float(d.sum()))
    if n == 0 or observed <= tol:
        return 1.0
    thr = observed - tol
    if n > EXACT_MAX_PAIRS:
        rng = np.random.default_rng(seed)
        hits = 0
        for start in range(0, n_patterns, 10_000):  # 10k x n signs at a time
            signs = rng.choice(np.array([-1.0, 1.0]), size=(min(10_000, n_patterns - start), n))
            hits += int((np.abs(signs @ d) >= thr).sum())
        return (1 + hits) / (1 + n_patterns)
    first = _signed_sums(d[: n // 2])
    second = np.sort(_signed_sums(d[n // 2:]))
    # |a + b| >= thr with thr > 0: b >= thr - a or b <= -thr - a (disjoint)
    above = second.size - np.searchsorted(second, thr - first, side="left")
    below = np.searchsorted(second, -thr - first, side="right")
    return float(int(above.sum() + below.sum()) / 2.0 ** n)


def smallest_pvalue(n: int) -> float:
    """The smallest two-sided sign-flip p with ``n`` non-zero paired differences: ``2 / 2^n``
    (1 for ``n <= 1``). With 5 seeds it is 0.0625, so no correction can make it < 0.05."""
    return min(1.0, 2.0 / 2.0 ** n)


def seeds_needed(m: int, alpha: float = ALPHA) -> int:
    r"""The fewest seeds with which a sign-flip contrast can survive Holm over ``m`` contrasts:
    the smallest ``n`` with :math:`m \cdot 2 / 2^n < \alpha` (11 for m = 35, 8 for m = 4).

    Holm multiplies the smallest p by ``m``; a contrast needs all its signs to agree to reach
    ``2 / 2^n``.
    """
    n = 1
    while m * smallest_pvalue(n) >= alpha:
        n += 1
    return n


def holm(pvalues: Sequence[float]) -> list[float]:
    r"""Holm's step-down adjusted p-values of ``m`` contrasts, in the order given.

    With the p-values sorted, :math:`p_{(1)} \le \dots \le p_{(m)}`,

    .. math::
        \tilde p_{(i)} = \max_{j \le i} \min\big(1, (m - j + 1)\, p_{(j)}\big),

    and a contrast is rejected at level :math:`\alpha` when :math:`\tilde p < \alpha`:
    the family-wise error rate stays below :math:`\alpha` for any dependence between
    the contrasts (Holm, 1979). Not the Benjamini-Hochberg FDR adjustment of
    ``scipy.stats.false_discovery_control``. NaN p-values (contrasts that could not
    be computed) stay NaN and are not counted in ``m``; ties keep their order.

    Example:
        >>> holm([0.01, 0.04, 0.03])   # 3 * 0.01, max(0.03, 2 * 0.03), max(0.06, 1 * 0.04)
        [0.03, 0.06, 0.06]
    """
    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    idx = np.flatnonzero(~np.isnan(p))
    if idx.size:
        order = idx[np.argsort(p[idx], kind="stable")]
        m = idx.size
        scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
        out[order] = np.maximum.accumulate(scaled)
    return out.tolist()


@dataclass(frozen=True)
class PairedDifference:
    """``row - reference`` over the seeds both have: t interval and sign-flip p.

    Whether it is called an effect depends on the other contrasts of its table
    (:func:`holm`), so it is not decided here.
    """

    interval: Interval
    seeds: tuple[int, ...]
    p_value: float
    diffs: tuple[float, ...] = ()


def paired_difference(values: Mapping[int, float], reference: Mapping[int, float],
                      confidence: float = 0.95, what: str = "a difference"
                      ) -> PairedDifference:
    """Difference of two configurations paired by seed: ``{seed: value}`` each.

    Only seeds present in both (with non-NaN values) count; raises ``ValueError``
    when fewer than 2 remain. ``p_value`` is :func:`sign_flip_pvalue` of the
    differences (in seed order, ``diffs``).
    """
    seeds = tuple(sorted(s for s in values if s in reference
                         and not math.isnan(values[s]) and not math.isnan(reference[s])))
    diffs = tuple(float(values[s]) - float(reference[s]) for s in seeds)
    return PairedDifference(t_interval(diffs, confidence, what=f"{what} (paired by seed)"),
                            seeds, sign_flip_pvalue(diffs), diffs)


def fmt_interval(iv: Interval, scale: float = 100.0, signed: bool = False) -> str:
    """``"93.1 [91.0, 95.2]"`` (values scaled, e.g. fractions to percent)."""
    f = "{:+.1f}" if signed else "{:.1f}"
    return (f"{f.format(scale * iv.mean)} [{f.format(scale * iv.low)}, "
            f"{f.format(scale * iv.high)}]")


def fmt_p(p: float) -> str:
    """A p-value with three significant digits: ``0.0625``, ``0.00195``, ``1``; ``-`` for NaN."""
    return "-" if math.isnan(p) else f"{p:.3g}"


__all__ = ["DEFAULT_SEEDS", "ALPHA", "EXACT_MAX_PAIRS", "MONTE_CARLO_PATTERNS", "Interval",
           "PairedDifference", "t_interval", "paired_difference", "sign_flip_pvalue",
           "smallest_pvalue", "seeds_needed", "holm", "t_quantile", "fmt_interval", "fmt_p"]
