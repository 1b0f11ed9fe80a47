"""A rate limiter shared by every worker process: keeps one platform account under its ceiling.

A sender reserves a burst of n sends on a key (say "telegram:<bot id>"), sleeps for the
returned number of seconds, then fires the n requests at once. The limiter keeps, per key,
the reservations (time, count) of the last `window` seconds, future-dated ones included,
and places each new burst at the earliest time at which no half-open window of `window`
seconds holds more than `cap` sends, where

    cap = max(1, floor(rate))        sends per window
    window = 1.05 s                  (stretched to window / rate when rate < 1)

Because a window is 1.05 s rather than 1 s, the platform, counting arrivals in any 1.0 s,
sees at most floor(rate) even when a burst arrives up to 50 ms late; the price is the same
5%: a steady sender gets cap / 1.05 s, about 95% of the ceiling. A whole burst must fit in
one window, so n > cap is refused with ValueError; bursts that do not divide the cap leave
the remainder of each window unused (n = 7 at cap 30 fits four bursts, 28 sends, per window).

Reservation times never go backwards, so the check only ever looks at the window ending at
the new reservation. Reservations already handed out are never recalled: after a 429 a
sender calls block() and reserves again.

RedisRateLimiter keeps the state in Redis and decides with one Lua script on Redis's own
clock, so all hosts agree. Keys expire shortly after their last reservation; if Redis loses
them (restart without persistence, FLUSHALL) the limiter starts afresh, which can let one
extra window's worth through once: accepted, the platform answers that with a retry_after.
LocalRateLimiter runs the same algorithm in one process, for machines without Redis; it
does not limit across processes, so a worker with several processes multiplies the ceiling.
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from functools import lru_cache
from typing import Protocol

import redis

DEFAULT_WINDOW = 1.05
_US = 1_000_000  # both implementations count in whole microseconds: no float drift at the edges
_EXPIRY_MARGIN_MS = 1_000  # idle Redis keys outlive their last reservation by this much


class RateLimiter(Protocol):
    def reserve(self, key: str, n: int, rate: float) -> float:
        """Reserve n sends on `key` at `rate` per second; return seconds to wait (>= 0) before sending all n at once."""
        ...

    def block(self, key: str, seconds: float) -> None:
        """Nobody sends on `key` for `seconds` from now (the platform's retry_after)."""
        ...


def burst_cap(rate: float) -> int:
    """The most sends one reservation (and one window) may hold at `rate` per second."""
    if not (math.isfinite(rate) and rate > 0):
        raise ValueError(f"rate must be a positive number, got {rate!r}")
    return max(1, math.floor(rate))


def _cap_and_span(n: int, rate: float, window: float) -> tuple[int, int]:
    """Validate a reservation; return (cap, window length in microseconds) for `rate`."""
    cap = burst_cap(rate)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if n > cap:
        raise ValueError(f"a burst of {n} exceeds the cap of {cap} per window at rate {rate}; reserve smaller bursts")
    span = round(window * _US)
    if rate < 1:
        # Below one per second a window holds one send and lasts window / rate.
        span = round(span / rate)
    return cap, span


def _check_window(window: float) -> float:
    if not (math.isfinite(window) and window >= 1.0):
        # A window shorter than the platform's 1 s could not keep its count.
        raise ValueError(f"window must be at least 1.0 s, got {window!r}")
    return window


def _check_block(seconds: float) -> int:
    if not (math.isfinite(seconds) and seconds >= 0):
        raise ValueError(f"seconds must be a non-negative number, got {seconds!r}")
    return math.ceil(seconds * _US)


def _place(reservations: deque[tuple[int, int]], now: int, blocked_until: int, n: int, cap: int, span: int) -> int:
    """The time for a burst of n; `reservations` holds (time, count) in time order, none expired.

    The Lua script in RedisRateLimiter takes the same steps in the same order.
    """
    t0 = max(now, blocked_until, reservations[-1][0] if reservations else now)
    # Times never go backwards, so the window ending at t0 is the tail: at most cap entries.
    in_window: list[tuple[int, int]] = []
    for t, count in reversed(reservations):
        if t <= t0 - span:
            break
        in_window.append((t, count))
    in_window.reverse()
    total = sum(count for _, count in in_window)
    if total + n <= cap:
        return t0
    for t, count in in_window:
        total -= count
        if total + n <= cap:
            # The window is half-open: at t + span the reservation at t has left it.
            return t + span
    raise AssertionError("unreachable: n <= cap")


class LocalRateLimiter:
    """The limiter for one process (threads included): no Redis, nothing shared between processes."""

    _SWEEP_EVERY = 1024  # reservations between sweeps of keys nobody has used lately

    def __init__(self, window: float = DEFAULT_WINDOW, clock: Callable[[], float] = time.monotonic):
        self.window = _check_window(window)
        self._clock = clock
        self._lock = threading.Lock()
        self._reservations: dict[str, deque[tuple[int, int]]] = {}
        self._spans: dict[str, int] = {}
        self._blocked: dict[str, int] = {}
        self._calls = 0

    def _now(self) -> int:
        return round(self._clock() * _US)

    def reserve(self, key: str, n: int, rate: float) -> float:
        """Reserve n sends on `key` at `rate` per second; return seconds to wait (>= 0) before sending all n at once."""
        cap, span = _cap_and_span(n, rate, self.window)
        with self._lock:
            now = self._now()
            reservations = self._reservations.setdefault(key, deque())
            while reservations and reservations[0][0] <= now - span:
                reservations.popleft()
            at = _place(reservations, now, self._blocked.get(key, 0), n, cap, span)
            reservations.append((at, n))
            self._spans[key] = span
            self._calls += 1
            if self._calls % self._SWEEP_EVERY == 0:
                self._sweep(now)
        return max(0, at - now) / _US

    def block(self, key: str, seconds: float) -> None:
        """Nobody sends on `key` for `seconds` from now (the platform's retry_after)."""
        duration = _check_block(seconds)
        with self._lock:
            until = self._now() + duration
            if until > self._blocked.get(key, 0):
                self._blocked[key] = until

    def _sweep(self, now: int) -> None:
        """Forget keys whose reservations and block have all expired (as Redis's PEXPIRE does)."""
        for key in list(self._reservations):
            reservations = self._reservations[key]
            if (not reservations or reservations[-1][0] <= now - self._spans[key]) and self._blocked.get(key, 0) <= now:
                del self._reservations[key], self._spans[key]
                self._blocked.pop(key, None)
        for key in [k for k, until in self._blocked.items() if until <= now and k not in self._reservations]:
            del self._blocked[key]


# KEYS: reservations (sorted set), blocked-until (string). ARGV: n, cap, span (µs), random token.
# Members are "time:n:token" so that equal times stay distinct. Returns the wait in µs.
# Numbers go to Redis through string.format('%d'): Lua's own tostring keeps 14 digits only.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = tonumber(ARGV[1])
local cap = tonumber(ARGV[2])
local span = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now - span))
local t0 = now
local blocked = tonumber(redis.call('GET', KEYS[2]) or '0')
if blocked > t0 then t0 = blocked end
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] and tonumber(last[2]) > t0 then t0 = tonumber(last[2]) end
local entries = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. string.format('%d', t0 - span), '+inf', 'WITHSCORES')
local counts = {}
local total = 0
for i = 1, #entries, 2 do
  local count = tonumber(string.match(entries[i], '^%d+:(%d+):'))
  counts[#counts + 1] = count
  total = total + count
end
local at = t0
if total + n > cap then
  for i = 1, #counts do
    total = total - counts[i]
    if total + n <= cap then
      at = tonumber(entries[2 * i]) + span
      break
    end
  end
end
local stamp = string.format('%d', at)
redis.call('ZADD', KEYS[1], stamp, stamp .. ':' .. ARGV[1] .. ':' .. ARGV[4])
redis.call('PEXPIRE', KEYS[1], math.ceil((at + span - now) / 1000) + tonumber(ARGV[5]))
return at - now
"""

# KEYS: blocked-until. ARGV: duration (µs), expiry margin (ms). Never shortens a block.
_BLOCK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local untl = now + tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if untl > current then
  redis.call('SET', KEYS[1], string.format('%d', untl), 'PX', math.ceil(tonumber(ARGV[1]) / 1000) + tonumber(ARGV[2]))
end
return 0
"""


class RedisRateLimiter:
    """The limiter shared by every process that talks to the same Redis."""

    def __init__(self, client: redis.Redis, window: float = DEFAULT_WINDOW):
        self.window = _check_window(window)
        self._client = client
        self._reserve = client.register_script(_RESERVE)
        self._block = client.register_script(_BLOCK)

    @staticmethod
    def _keys(key: str) -> list[str]:
        # The {hash tag} keeps both keys of one limiter in the same Redis Cluster slot.
        return [f"tact:ratelimit:{{{key}}}:reservations", f"tact:ratelimit:{{{key}}}:blocked"]

    def reserve(self, key: str, n: int, rate: float) -> float:
        """Reserve n sends on `key` at `rate` per second; return seconds to wait (>= 0) before sending all n at once."""
        cap, span = _cap_and_span(n, rate, self.window)
        waited = self._reserve(keys=self._keys(key), args=[n, cap, span, secrets.token_hex(8), _EXPIRY_MARGIN_MS])
        return max(0, int(waited)) / _US

    def block(self, key: str, seconds: float) -> None:
        """Nobody sends on `key` for `seconds` from now (the platform's retry_after)."""
        duration = _check_block(seconds)
        if duration:
            self._block(keys=self._keys(key)[1:], args=[duration, _EXPIRY_MARGIN_MS])


_LOCAL = LocalRateLimiter()


@lru_cache(maxsize=4)
def _redis_limiter(url: str) -> RedisRateLimiter:
    # One client (and connection pool) per URL; redis-py re-creates its pool after a fork.
    return RedisRateLimiter(redis.Redis.from_url(url))


def limiter_from_settings() -> RateLimiter:
    """The shared Redis limiter when settings.REDIS_URL is set, else this process's local one."""
    from django.conf import settings

    url = settings.REDIS_URL
    return _redis_limiter(url) if url else _LOCAL
