"""What a Telegram paid broadcast costs (campaigns/delivery/paid.py stars_cost): 0.1 Star per
message above the free 30 a second, ceil(0.1 * max(0, n - 30 * n / R))."""

from __future__ import annotations

import math
import random
from fractions import Fraction

import pytest

from campaigns.delivery.paid import stars_cost


@pytest.mark.parametrize(("receivers", "rate", "stars"), [
    (400, 200.0, 34),  # 400 - 30 * 2 s = 340 paid messages
    (1_000_000, 1000.0, 97_000),  # 1,000,000 - 30 * 1,000 s
    (10_000, 1000.0, 970),
    (31, 1000.0, 4),  # 31 - 0.93 = 30.07 messages: 3.007 Stars, rounded up
    (300, 1000.0, 30),  # 291 messages: 29.1 Stars, rounded up
    (60, 60.0, 3),  # half of each second is free
    (1000, 30.0, 0),  # at the free rate nothing is paid
    (1000, 20.0, 0),  # below it neither
    (0, 1000.0, 0),
])
def test_stars_are_a_tenth_of_the_messages_above_what_the_free_30_a_second_carry(receivers, rate, stars):
    assert stars_cost(receivers, rate) == stars


def test_no_ceiling_or_one_above_telegrams_1000_counts_at_1000():
    assert stars_cost(10_000, None) == stars_cost(10_000, 5000.0) == stars_cost(10_000, 1000.0) == 970


def test_the_formula_bounds_what_any_sending_at_or_under_the_ceiling_is_charged():
    # Telegram charges each second's messages above 30; the limiter keeps every second at or
    # under R. Whatever the spread, the charge stays within the forecast, and equals it
    # (before rounding) when every second is full.
    chance = random.Random(13)
    for _ in range(300):
        rate = chance.choice([31, 45, 100, 200, 999, 1000])
        seconds = []
        while sum(seconds) < 2000:
            seconds.append(chance.randint(0, rate))
        n = sum(seconds)
        charged = sum(Fraction(max(0, b - 30), 10) for b in seconds)
        assert charged <= stars_cost(n, float(rate))
    full = [200] * 7
    assert math.ceil(sum(Fraction(b - 30, 10) for b in full)) == stars_cost(sum(full), 200.0) == 119
