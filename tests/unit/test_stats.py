"""A/B test arithmetic (campaigns/stats.py): the test share, the random split, the winner, and
the 95 % Wald interval of a difference of two proportions."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from campaigns.stats import Z95, ab_assignment, best_index, rate, sample_size, split_sizes, ties, wald_difference


@pytest.mark.parametrize(("receivers", "share", "tested"), [
    (100, 50, 50), (5, 50, 3), (3, 50, 2), (7, 10, 1), (4, 10, 0), (10, 100, 10), (0, 50, 0), (9, 0, 0),
    (1, 1, 0), (50, 1, 1), (1000, 33, 330),
])
def test_the_test_share_is_rounded_half_up(receivers, share, tested):
    assert sample_size(receivers, share) == tested


def test_split_sizes_are_even_and_the_first_variants_take_the_odd_ones():
    assert split_sizes(10, 2) == [5, 5]
    assert split_sizes(11, 3) == [4, 4, 3]
    assert split_sizes(2, 4) == [1, 1, 0, 0]
    assert split_sizes(0, 2) == [0, 0]


def test_the_assignment_tests_the_share_evenly_at_random_and_is_reproducible():
    codes = ab_assignment(1001, 50, 3, seed=42)
    counts = Counter(codes)
    assert counts[0] == 1001 - 501  # 50 % of 1001 is 500.5: 501 test
    assert [counts[1], counts[2], counts[3]] == [167, 167, 167]
    assert list(ab_assignment(1001, 50, 3, seed=42)) == list(codes)
    assert list(ab_assignment(1001, 50, 3, seed=43)) != list(codes)
    # at random: not the first half of the audience, and no variant owns a block of it
    assert 0 < sum(1 for c in codes[:500] if c) < 500
    firsts = [codes.index(v) for v in (1, 2, 3)]
    assert max(firsts) < 50


def test_the_assignment_of_everyone_and_of_nobody():
    assert sorted(Counter(ab_assignment(8, 100, 2, seed=1)).items()) == [(1, 4), (2, 4)]
    assert set(ab_assignment(8, 0, 2, seed=1)) == {0}
    assert len(ab_assignment(0, 50, 2, seed=1)) == 0


def test_the_best_rate_wins_and_a_tie_goes_to_the_earlier_variant():
    assert best_index([(2, 20), (9, 20)]) == 1
    assert best_index([(5, 20), (5, 20)]) == 0
    assert best_index([(1, 3), (2, 6), (3, 9)]) == 0  # equal rates, compared exactly
    assert best_index([(0, 0), (0, 10)]) == 0  # nothing yet on either side: a tie
    assert best_index([(0, 0), (1, 10)]) == 1
    assert ties([(1, 3), (2, 6), (1, 4)], 0) == [1]
    assert ties([(2, 20), (9, 20)], 1) == []


def test_rate():
    assert rate(3, 12) == 0.25
    assert rate(0, 0) is None


def test_the_wald_interval_of_a_difference_by_hand():
    # 45/100 vs 30/100: d = 0.15, SE = sqrt(.45*.55/100 + .3*.7/100) = sqrt(0.004575)
    found = wald_difference(45, 100, 30, 100)
    se = math.sqrt(0.45 * 0.55 / 100 + 0.30 * 0.70 / 100)
    assert found.difference == pytest.approx(0.15)
    assert found.low == pytest.approx(0.15 - 1.959964 * se, abs=1e-6)
    assert found.high == pytest.approx(0.15 + 1.959964 * se, abs=1e-6)
    assert (round(found.low, 4), round(found.high, 4)) == (0.0174, 0.2826)
    assert found.significant


def test_an_interval_that_holds_zero_is_not_significant_and_is_symmetric():
    found = wald_difference(12, 50, 10, 50)
    assert found.low < 0 < found.high and not found.significant
    assert found.difference == pytest.approx(0.04)
    assert found.high - found.difference == pytest.approx(found.difference - found.low)
    mirrored = wald_difference(10, 50, 12, 50)
    assert (mirrored.low, mirrored.high) == pytest.approx((-found.high, -found.low))


def test_unequal_sizes_and_the_degenerate_cases():
    found = wald_difference(30, 60, 10, 40)
    se = math.sqrt(0.5 * 0.5 / 60 + 0.25 * 0.75 / 40)
    assert (found.low, found.high) == pytest.approx((0.25 - Z95 * se, 0.25 + Z95 * se))
    same = wald_difference(0, 10, 0, 20)  # both 0 %: no spread at all
    assert (same.difference, same.low, same.high) == (0, 0, 0)
    assert wald_difference(1, 0, 1, 10) is None
    assert wald_difference(1, 10, 0, 0) is None
