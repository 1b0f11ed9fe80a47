"""The cadence guard of a brand channel ("regularly but not often"): at most N posts a day,
at least M minutes between posts, no notifying post in the channel's night hours. Pure rules:
the caller passes the channel's policy and the times of its other posts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo

from django.utils.translation import gettext as _

from .rules import QuietHours, out_of_quiet_hours, wall_clock

SILENT = "silent"
MOVE = "move"
# Each move is forward and a day's posts are finite, so the search settles long before this.
_MAX_MOVES = 1000


@dataclass(frozen=True)
class CadencePolicy:
    max_posts_per_day: int
    min_gap_minutes: int
    night_start: time
    night_end: time
    night_policy: str  # "silent" or "move"
    tz: tzinfo

    @property
    def night(self) -> QuietHours:
        return QuietHours(start=self.night_start, end=self.night_end)


@dataclass(frozen=True)
class CadenceDecision:
    allowed: bool
    reason: str = ""  # why not (for the marketer), when not allowed
    next_slot: datetime | None = None  # the next allowed time, when not allowed
    silent: bool = False  # allowed, and goes out without notification (asked for, or night hours with "silent")
    rule: str = ""  # the rule broken: "day", "gap" or "night"; "" when allowed


def cadence_check(policy: CadencePolicy, at: datetime, *, silent: bool, others: list[datetime]) -> CadenceDecision:
    """Whether a post at `at` keeps the policy, given the times of the channel's other
    scheduled or published posts; when not, why, and the earliest time at or after `at`
    (in UTC) that does."""
    others_utc = sorted(o.astimezone(UTC) for o in others)
    at_utc = at.astimezone(UTC)
    broken = _broken_rule(policy, at_utc, silent, others_utc)
    if broken is None:
        return CadenceDecision(allowed=True,
                               silent=silent or policy.night.contains(at_utc.astimezone(policy.tz).time()))
    rule, reason, _moved = broken
    return CadenceDecision(allowed=False, reason=reason, rule=rule,
                           next_slot=_next_slot(policy, at_utc, silent, others_utc))


def _broken_rule(
    policy: CadencePolicy, at: datetime, silent: bool, others: list[datetime]
) -> tuple[str, str, datetime | None] | None:
    """The first rule a post at `at` (UTC) breaks: its name, the reason in words and the
    earliest moment that rule alone would allow (None: never); None when it breaks none."""
    local = at.astimezone(policy.tz)
    day = local.date()
    same_day = sum(1 for o in others if o.astimezone(policy.tz).date() == day)
    if same_day >= policy.max_posts_per_day:
        reason = _("the channel already has %(count)s posts on %(day)s (at most %(max)s a day)") % {
            "count": same_day, "day": day.isoformat(), "max": policy.max_posts_per_day}
        moved = wall_clock(day + timedelta(days=1), time(0), policy.tz) if policy.max_posts_per_day > 0 else None
        return "day", reason, moved
    gap = timedelta(minutes=policy.min_gap_minutes)
    near = [o for o in others if abs(o - at) < gap]
    if near:
        reason = _("another post at %(time)s is within %(gap)s minutes (at least %(gap)s minutes between posts)") % {
            "time": f"{near[0].astimezone(policy.tz):%H:%M}", "gap": policy.min_gap_minutes}
        return "gap", reason, max(near) + gap
    if not silent and policy.night_policy == MOVE and policy.night.contains(local.time()):
        reason = _("%(time)s is in the channel's night hours (%(start)s–%(end)s)") % {
            "time": f"{local:%H:%M}", "start": f"{policy.night_start:%H:%M}", "end": f"{policy.night_end:%H:%M}"}
        return "night", reason, out_of_quiet_hours(at, policy.tz, policy.night)
    return None


def _next_slot(policy: CadencePolicy, at: datetime, silent: bool, others: list[datetime]) -> datetime | None:
    """The earliest moment at or after `at` that breaks no rule; None when none ever will."""
    candidate = at
    for _attempt in range(_MAX_MOVES):
        broken = _broken_rule(policy, candidate, silent, others)
        if broken is None:
            return candidate
        moved = broken[2]
        if moved is None or moved <= candidate:
            return None
        candidate = moved
    return None
