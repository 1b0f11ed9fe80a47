"""A list whose claim was late waits for a fresh slot rather than burning slots forever.

On a loaded machine every claim takes longer than LATE_SEND, so each burst needs a fresh
slot after its claim. At a low ceiling shared by two lists, that slot is two windows away;
when the sender refused to wait that long it put its rows back and reserved yet another
slot, and at 1/s nothing was ever sent (CI: "timed out waiting for the first Viber lists")."""

from __future__ import annotations

import pytest

from campaigns.delivery.sending import SHORT_WAIT, short_wait
from channels.ratelimit import LocalRateLimiter


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.mark.parametrize("rate", [0.5, 1, 2, 3])
def test_two_lists_at_a_low_ceiling_find_their_fresh_slot_within_the_wait_allowed(rate):
    clock = Clock()
    limiter = LocalRateLimiter(clock=clock)
    first = limiter.reserve("viber", 1, rate)  # list A's slot: now
    limiter.reserve("viber", 1, rate)  # list B's slot: a window later
    assert first == 0
    clock.t += 0.04  # A's claim took 40 ms: too late for its slot
    fresh = limiter.reserve("viber", 1, rate)
    if rate <= 1:  # one send a window: the fresh slot is two windows away
        assert fresh > SHORT_WAIT  # the old rule put A's rows back here, for ever
    assert fresh <= short_wait(rate, 1)


def test_at_a_high_ceiling_the_wait_allowed_stays_a_second():
    assert short_wait(30, 6) == SHORT_WAIT
    assert short_wait(80, 16) == SHORT_WAIT
    assert short_wait(1, 1) == pytest.approx(2.625)
