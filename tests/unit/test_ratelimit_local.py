"""Unit tests for channels/ratelimit.py's LocalRateLimiter, on a clock the tests move by hand.

Expected waits are worked out by hand in the comments (cap 30 at rate 30, window 1.05 s),
never copied from the code under test.
"""

from __future__ import annotations

import bisect
import random
import threading

import pytest

from channels.ratelimit import LocalRateLimiter, RedisRateLimiter, burst_cap, limiter_from_settings

US = 1_000_000
WINDOW_US = 1_050_000


class Clock:
    """A clock in whole microseconds that only the test moves."""

    def __init__(self, start: float = 1000.0):
        self.us = round(start * US)

    def __call__(self) -> float:
        return self.us / US

    def set(self, seconds: float) -> None:
        self.us = round(seconds * US)


def send_time(clock: Clock, wait: float) -> int:
    """When the sender fires, in microseconds: now + wait."""
    return clock.us + round(wait * US)


def busiest_window(sends: list[tuple[int, int]], length: int) -> int:
    """The largest number of sends in any half-open window [a, a + length).

    The busiest window can always be slid right until it starts at a send, so only
    windows starting at a send time are counted.
    """
    per_time: dict[int, int] = {}
    for at, n in sends:
        per_time[at] = per_time.get(at, 0) + n
    times = sorted(per_time)
    prefix = [0]
    for at in times:
        prefix.append(prefix[-1] + per_time[at])
    return max(prefix[bisect.bisect_left(times, at + length)] - prefix[i] for i, at in enumerate(times))


def utilisation(sends: list[tuple[int, int]], rate: float, cap: int) -> float:
    """Sends per second from the first send time to the last, as a share of `rate`.

    Sends at the last time are left out, and so is one more window's worth: the last
    window's bursts may sit a little before the last time, and counting them without
    the time they take would flatter the figure. What remains is a lower bound.
    """
    first = min(at for at, _ in sends)
    last = max(at for at, _ in sends)
    sent = sum(n for at, n in sends if at < last) - cap
    return sent / ((last - first) / US) / rate


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def limiter(clock: Clock) -> LocalRateLimiter:
    return LocalRateLimiter(clock=clock)


def test_waits_for_a_sequence_of_bursts(clock, limiter):
    # t=1000.0: 10 + 20 fill the window.
    assert limiter.reserve("tg", 10, 30) == 0.0
    assert limiter.reserve("tg", 20, 30) == 0.0
    # 30 + 5 > 30: once the 10 at 1000.0 leave, 20 + 5 fit -> 1000.0 + 1.05.
    assert limiter.reserve("tg", 5, 30) == 1.05
    # From 1001.05 the window (1000.0, 1001.05] holds only the 5: 5 + 6 fit.
    assert limiter.reserve("tg", 6, 30) == 1.05
    # t=1000.8: times never go backwards, so 1001.05; it holds 11, 11 + 19 = 30 fit.
    clock.set(1000.8)
    assert limiter.reserve("tg", 19, 30) == 0.25
    # 30 + 2 > 30: dropping the 5 at 1001.05 leaves 25 + 2 -> 1001.05 + 1.05 = 1002.10.
    assert limiter.reserve("tg", 2, 30) == 1.3
    # t=1010.0: everything has expired; a full burst goes at once, the next waits a window.
    clock.set(1010.0)
    assert limiter.reserve("tg", 30, 30) == 0.0
    assert limiter.reserve("tg", 1, 30) == 1.05


def test_bursts_that_do_not_divide_the_cap_leave_the_rest_unused(limiter):
    # 4 x 7 = 28 fit in a window; the fifth 7 would make 35 and waits for the window after.
    assert [limiter.reserve("tg", 7, 30) for _ in range(5)] == [0.0, 0.0, 0.0, 0.0, 1.05]


def test_keys_are_independent(limiter):
    assert limiter.reserve("telegram:1", 30, 30) == 0.0
    assert limiter.reserve("telegram:2", 30, 30) == 0.0
    assert limiter.reserve("telegram:1", 1, 30) == 1.05


def test_a_window_is_half_open(clock, limiter):
    assert limiter.reserve("a", 30, 30) == 0.0
    assert limiter.reserve("b", 30, 30) == 0.0
    # One microsecond before the window ends the 30 still count ...
    clock.us += WINDOW_US - 1
    assert limiter.reserve("a", 1, 30) == 0.000001
    # ... and when it ends they do not.
    clock.us += 1
    assert limiter.reserve("b", 30, 30) == 0.0


def test_fractional_and_slow_rates(clock, limiter):
    # 2.5/s: at most 2 in any second, so 2 per window.
    assert burst_cap(2.5) == 2
    assert limiter.reserve("wa", 2, 2.5) == 0.0
    assert limiter.reserve("wa", 1, 2.5) == 1.05
    # 20 per minute (a Telegram group): one send per 1.05 / (1/3) = 3.15 s.
    assert limiter.reserve("group", 1, 20 / 60) == 0.0
    assert limiter.reserve("group", 1, 20 / 60) == 3.15
    assert limiter.reserve("group", 1, 20 / 60) == 6.3


@pytest.mark.parametrize("n, rate", [(31, 30), (2, 1.9), (2, 0.5), (0, 30), (-1, 30), (1.5, 30), (True, 30)])
def test_a_burst_the_cap_cannot_hold_is_refused(limiter, n, rate):
    with pytest.raises(ValueError):
        limiter.reserve("tg", n, rate)
    # Nothing was reserved: a full burst still goes at once.
    assert limiter.reserve("tg", burst_cap(rate), rate) == 0.0


@pytest.mark.parametrize("rate", [0, -30, float("nan"), float("inf")])
def test_a_rate_that_is_not_positive_is_refused(limiter, rate):
    with pytest.raises(ValueError):
        limiter.reserve("tg", 1, rate)


def test_a_window_shorter_than_a_second_is_refused():
    with pytest.raises(ValueError):
        LocalRateLimiter(window=0.99)


def test_block_delays_the_next_reservation(clock, limiter):
    limiter.block("tg", 3.0)
    assert limiter.reserve("tg", 30, 30) == 3.0
    # The window from 1003.0 is full, so the next burst goes a window later.
    assert limiter.reserve("tg", 1, 30) == 3.0 + 1.05
    # Another key is not blocked.
    assert limiter.reserve("wa", 1, 80) == 0.0


def test_a_shorter_block_does_not_shorten_a_longer_one(clock, limiter):
    limiter.block("tg", 5.0)
    clock.set(1001.0)
    limiter.block("tg", 1.0)
    assert limiter.reserve("tg", 1, 30) == 4.0


def test_a_block_ends(clock, limiter):
    limiter.block("tg", 2.0)
    clock.set(1002.0)
    assert limiter.reserve("tg", 1, 30) == 0.0


@pytest.mark.parametrize("rate, window", [(30, 1.05), (80, 1.05), (2.5, 1.05), (0.5, 1.05), (30, 1.0)])
def test_random_bursts_never_overfill_a_window(clock, rate, window):
    limiter = LocalRateLimiter(window=window, clock=clock)
    cap = burst_cap(rate)
    length = round(window * US) if rate >= 1 else round(window * US / rate)
    rng = random.Random(20251124)
    sends: list[tuple[int, int]] = []
    for _ in range(10_000):
        # Senders ask at various moments: at once, a little later, or after an idle gap.
        clock.us += rng.choice([0, 0, 0, rng.randint(1, 50_000), rng.randint(0, 3 * length)])
        if rng.random() < 0.002:
            seconds = rng.uniform(0, 3)
            limiter.block("tg", seconds)
            wait = limiter.reserve("tg", 1, rate)
            assert wait >= seconds
            sends.append((send_time(clock, wait), 1))
            continue
        n = rng.randint(1, cap)
        sends.append((send_time(clock, limiter.reserve("tg", n, rate)), n))

    assert busiest_window(sends, length) == cap
    # Hence at most floor(rate) (or one, below 1/s) in any 1.0 s, whatever the phase.
    assert busiest_window(sends, US) <= cap


@pytest.mark.parametrize(
    "sizes, expected",
    [
        # A full window's worth every 1.05 s: 30 / 1.05 / 30 = 95.2%.
        ([1], 0.95),
        ([5], 0.95),
        ([30], 0.95),
        # Bursts that do not divide 30 leave the end of a window empty.
        ([1, 2, 3], 0.90),
        ([1, 2, 3, 4, 5], 0.90),
    ],
)
def test_a_long_run_uses_at_least_90_percent_of_the_rate(clock, sizes, expected):
    limiter = LocalRateLimiter(clock=clock)
    rng = random.Random(7)
    sends: list[tuple[int, int]] = []
    for _ in range(20_000):
        n = rng.choice(sizes)
        at = send_time(clock, limiter.reserve("tg", n, 30))
        sends.append((at, n))
        # Several senders: each asks again at some moment before its previous send.
        clock.us = max(clock.us, at - rng.randint(0, 2 * US))

    assert busiest_window(sends, US) <= 30
    assert utilisation(sends, 30, cap=30) >= expected


def test_threads_share_one_limiter(clock, limiter):
    sends: list[tuple[int, int]] = []
    record = threading.Lock()

    def sender(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(300):
            n = rng.randint(1, 10)
            at = send_time(clock, limiter.reserve("tg", n, 30))
            with record:
                sends.append((at, n))

    threads = [threading.Thread(target=sender, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert len(sends) == 8 * 300
    assert busiest_window(sends, WINDOW_US) <= 30


def test_idle_keys_are_forgotten(clock, limiter):
    for i in range(LocalRateLimiter._SWEEP_EVERY - 1):
        limiter.reserve(f"chat:{i}", 1, 1)
    limiter.block("blocked", 1.0)
    clock.set(1010.0)
    limiter.reserve("tg", 1, 30)  # the 1024th reservation sweeps

    assert set(limiter._reservations) == {"tg"}
    assert limiter._blocked == {}


def test_limiter_from_settings_without_redis_is_one_local_limiter(settings):
    settings.REDIS_URL = ""
    first = limiter_from_settings()
    assert isinstance(first, LocalRateLimiter)
    assert limiter_from_settings() is first


def test_limiter_from_settings_with_redis_is_shared(settings):
    settings.REDIS_URL = "redis://127.0.0.1:6379/14"
    limiter = limiter_from_settings()  # connects lazily: no network here
    assert isinstance(limiter, RedisRateLimiter)
    assert limiter_from_settings() is limiter
