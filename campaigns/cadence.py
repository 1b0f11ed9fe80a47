"""The cadence guard of a brand channel ("regularly but not often"): at most N posts a day,
at least M minutes between posts, no notifying post in the channel's night hours. Pure rules:
the caller passes the channel's policy and the times of its other posts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, tzinfo


@dataclass(frozen=True)
class CadencePolicy:
    max_posts_per_day: int
    min_gap_minutes: int
    night_start: time
    night_end: time
    night_policy: str  # "silent" or "move"
    tz: tzinfo


@dataclass(frozen=True)
class CadenceDecision:
    allowed: bool
    reason: str = ""  # why not (for the marketer), when not allowed
    next_slot: datetime | None = None  # the next allowed time, when not allowed
    silent: bool = False  # allowed, but posted silently (night hours, policy "silent")


def cadence_check(policy: CadencePolicy, at: datetime, *, silent: bool, others: list[datetime]) -> CadenceDecision:
    """Whether a post at `at` keeps the policy, given the times of the channel's other
    scheduled or published posts. (The cadence engineer implements this.)"""
    raise NotImplementedError
