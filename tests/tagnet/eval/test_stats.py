"""Intervals, paired differences, sign-flip p-values and Holm against closed forms and scipy."""
import math

import numpy as np
import pytest
from scipy import stats as sps

from tagnet.eval.stats import (
    DEFAULT_SEEDS,
    MONTE_CARLO_PATTERNS,
    holm,
    paired_difference,
    seeds_needed,
    sign_flip_pvalue,
    smallest_pvalue,
    t_interval,
    t_quantile,
)


def test_t_quantile_matches_closed_forms():
    # df = 1 is the Cauchy distribution: F^-1(p) = tan(pi (p - 1/2))
    assert t_quantile(0.975, 1) == pytest.approx(math.tan(math.pi * 0.475), rel=1e-12)
    # df = 2: F^-1(p) = (2p - 1) / sqrt(2 p (1 - p))
    p = 0.975
    assert t_quantile(p, 2) == pytest.approx((2 * p - 1) / math.sqrt(2 * p * (1 - p)), rel=1e-12)
    assert t_quantile(0.975, 4) == pytest.approx(2.7764451051977987, rel=1e-12)


def test_interval_by_hand():
    iv = t_interval([0.90, 0.92, 0.94, 0.96, 0.98])
    s = math.sqrt(sum((x - 0.94) ** 2 for x in [0.90, 0.92, 0.94, 0.96, 0.98]) / 4)
    half = 2.7764451051977987 * s / math.sqrt(5)
    assert (iv.n, iv.mean) == (5, pytest.approx(0.94))
    assert iv.std == pytest.approx(s) and iv.low == pytest.approx(0.94 - half)
    assert iv.high == pytest.approx(0.94 + half)


def test_paired_difference_equals_scipys_paired_t_test():
    row = {0: 0.81, 1: 0.85, 2: 0.79, 3: 0.88, 4: 0.83, 7: 0.5}   # seed 7 has no partner
    ref = {0: 0.78, 1: 0.80, 2: 0.80, 3: 0.84, 4: 0.79}
    d = paired_difference(row, ref)
    seeds = [0, 1, 2, 3, 4]
    ci = sps.ttest_rel([row[s] for s in seeds], [ref[s] for s in seeds]).confidence_interval(0.95)
    assert d.seeds == (0, 1, 2, 3, 4)
    assert (d.interval.low, d.interval.high) == (pytest.approx(ci.low), pytest.approx(ci.high))
    assert d.interval.mean == pytest.approx(0.03) and d.interval.excludes_zero  # [0.0025, 0.0575]
    # differences +3 +5 -1 +4 +4 (points, sum 15): of the 32 sign patterns the observed one
    # and the one flipping -1 (sum 17) reach |sum| >= 15, and their mirror images: p = 4 / 32
    assert d.diffs == pytest.approx((0.03, 0.05, -0.01, 0.04, 0.04))
    assert d.p_value == 4 / 32


def test_no_effect_when_the_interval_contains_zero():
    row, ref = {0: 0.80, 1: 0.90, 2: 0.70}, {0: 0.78, 1: 0.86, 2: 0.76}
    d = paired_difference(row, ref)
    ci = sps.ttest_rel([0.80, 0.90, 0.70], [0.78, 0.86, 0.76]).confidence_interval(0.95)
    assert (d.interval.low, d.interval.high) == (pytest.approx(ci.low), pytest.approx(ci.high))
    assert d.interval.low < 0 < d.interval.high and not d.interval.excludes_zero


def test_fewer_than_two_seeds_says_why():
    with pytest.raises(ValueError, match="needs at least 2 seeds, got 1: with one value there is"
                                         " no spread"):
        t_interval([0.9])
    with pytest.raises(ValueError, match=r"paired by seed\) needs at least 2 seeds, got 1"):
        paired_difference({0: 0.9, 1: 0.8}, {1: 0.7, 5: 0.1})


def test_sweeps_default_to_five_seeds():
    assert DEFAULT_SEEDS == (0, 1, 2, 3, 4)


def _scipy_sign_flip(d):
    """scipy's exact paired permutation test of the mean difference (all 2^n sign patterns)."""
    d = np.asarray(d, dtype=float)
    res = sps.permutation_test((d, np.zeros_like(d)), lambda x, y, axis: np.mean(x - y, axis=axis),
                               permutation_type="samples", vectorized=True, n_resamples=np.inf,
                               alternative="two-sided")
    return res.pvalue


HAND_MADE = [
    [0.05, -0.02, 0.11, 0.07, 0.03],
    [0.3, 0.3, -0.3, 0.3, 0.1, -0.1],                # tied |d|
    [0.0, 0.02, 0.0, 0.04, 0.01],                    # zero differences
    [0.1, 0.2, -0.3, 0.0],                           # sum 0: p = 1
    [0.40, 0.38, -0.02, 0.41, 0.39, 0.40, 0.37, -0.03, 0.42, 0.40],   # bimodal, 10 seeds
    [0.125, -0.25, 0.375, 0.0625, 0.5, -0.125, 0.25, 0.1875, -0.0625, 0.3125, 0.4375,
     -0.375, 0.03125, 0.625, 0.15625, -0.09375],   # 16 seeds, odd count split in halves
    [0.1, 0.2, 0.3] * 3 + [-0.6],                    # sums equal only in exact arithmetic
]


@pytest.mark.parametrize("d", HAND_MADE, ids=lambda d: f"n{len(d)}")
def test_sign_flip_p_equals_scipys_exact_permutation_test(d):
    assert sign_flip_pvalue(d) == pytest.approx(_scipy_sign_flip(d), rel=1e-12, abs=0)


def test_sign_flip_p_closed_forms():
    assert sign_flip_pvalue([0.1, 0.2, 0.3, 0.1, 0.4]) == 2 / 32      # all 5 positive
    assert sign_flip_pvalue([-0.1, -0.2, -0.3, -0.1, -0.4]) == 2 / 32
    assert sign_flip_pvalue([0.1] * 10) == 2 / 1024
    # a zero difference doubles count and total alike: the p of the other four
    assert sign_flip_pvalue([0.1, 0.2, 0.0, 0.3, 0.4]) == 2 / 16
    assert sign_flip_pvalue([0.0, 0.0, 0.0]) == sign_flip_pvalue([]) == 1.0
    assert sign_flip_pvalue([0.12]) == 1.0                           # one seed: 2 / 2
    assert sign_flip_pvalue([0.1, float("nan"), 0.2]) == 2 / 4      # NaN left out
    # 3 of 4 positive with equal |d|: |sum| >= 2|d| for the 2 * (1 + 4) patterns with at
    # most one sign against the majority
    assert sign_flip_pvalue([0.2, 0.2, -0.2, 0.2]) == 10 / 16
    assert [smallest_pvalue(n) for n in (0, 1, 4, 5, 10)] == [1.0, 1.0, 2 / 16, 2 / 32, 2 / 1024]
    # Holm over m contrasts needs m * 2 / 2^n < 0.05
    assert [seeds_needed(m) for m in (1, 2, 4, 35)] == [6, 7, 8, 11]


def test_meet_in_the_middle_equals_brute_force_enumeration():
    rng = np.random.default_rng(3)
    d = rng.normal(0.02, 0.1, size=13)
    signs = 1 - 2 * ((np.arange(2 ** 13)[:, None] >> np.arange(13)) & 1)
    brute = np.mean(np.abs(signs @ d) >= abs(d.sum()) * (1 - 1e-12))
    assert sign_flip_pvalue(d) == brute


def test_above_the_exact_limit_a_seeded_monte_carlo(monkeypatch):
    import tagnet.eval.stats as stats

    d = [0.05, -0.02, 0.11, 0.07, 0.03, 0.04, -0.01, 0.06, 0.02, 0.08]
    exact = sign_flip_pvalue(d)                        # 2^10 patterns
    monkeypatch.setattr(stats, "EXACT_MAX_PAIRS", 5)
    mc = sign_flip_pvalue(d, n_patterns=20_000, seed=1)
    assert mc == sign_flip_pvalue(d, n_patterns=20_000, seed=1)       # seeded
    assert abs(mc - exact) < 4 * math.sqrt(exact * (1 - exact) / 20_000)
    # never 0: (1 + hits) / (1 + N), and 45 positive differences leave only the observed
    monkeypatch.undo()
    assert sign_flip_pvalue([0.1] * 45) == 1 / (1 + MONTE_CARLO_PATTERNS)


def test_holm_equals_the_step_down_formula_by_hand():
    p = [0.01, 0.04, 0.03, 0.005, 0.2]
    # sorted: 0.005 (x5), 0.01 (x4), 0.03 (x3), 0.04 (x2), 0.2 (x1), then running maximum
    by_hand = {3: 0.025, 0: 0.04, 2: 0.09, 1: 0.09, 4: 0.2}
    assert holm(p) == pytest.approx([by_hand[i] for i in range(5)], rel=1e-15)
    assert holm([0.5, 0.6]) == [1.0, 1.0]                 # min(1, .) before the maximum
    assert holm([0.02]) == [0.02]                         # one contrast: unchanged
    out = holm([float("nan"), 0.02, 0.01])                # NaN: not counted in m
    assert math.isnan(out[0]) and out[1:] == [0.02, 0.02]
    # Benjamini-Hochberg (scipy's false_discovery_control) is another adjustment
    assert not np.allclose(sps.false_discovery_control(p), holm(p))


def test_holm_formula_on_random_p_values():
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 0.2, size=12)
    order = np.argsort(p)
    m = len(p)
    expected = np.empty(m)
    for i in range(m):
        expected[order[i]] = max(min(1.0, (m - j) * p[order[j]]) for j in range(i + 1))
    assert holm(p) == pytest.approx(expected.tolist(), rel=1e-15)
