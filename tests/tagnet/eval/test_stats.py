"""Intervals and paired differences against closed forms and scipy's own t-test."""
import math

import pytest
from scipy import stats as sps

from tagnet.eval.stats import DEFAULT_SEEDS, paired_difference, t_interval, t_quantile


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
    assert d.interval.mean == pytest.approx(0.03) and d.effect  # [0.0025, 0.0575]: excludes 0


def test_no_effect_when_the_interval_contains_zero():
    row, ref = {0: 0.80, 1: 0.90, 2: 0.70}, {0: 0.78, 1: 0.86, 2: 0.76}
    d = paired_difference(row, ref)
    ci = sps.ttest_rel([0.80, 0.90, 0.70], [0.78, 0.86, 0.76]).confidence_interval(0.95)
    assert (d.interval.low, d.interval.high) == (pytest.approx(ci.low), pytest.approx(ci.high))
    assert d.interval.low < 0 < d.interval.high and not d.effect


def test_fewer_than_two_seeds_says_why():
    with pytest.raises(ValueError, match="needs at least 2 seeds, got 1: with one value there is"
                                         " no spread"):
        t_interval([0.9])
    with pytest.raises(ValueError, match=r"paired by seed\) needs at least 2 seeds, got 1"):
        paired_difference({0: 0.9, 1: 0.8}, {1: 0.7, 5: 0.1})


def test_sweeps_default_to_five_seeds():
    assert DEFAULT_SEEDS == (0, 1, 2, 3, 4)
