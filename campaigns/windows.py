"""Spread and send windows: pure time rules over plain values, no ORM and no I/O.

A spread campaign sends its rows evenly over N hours from each row's own send time
(Telegram advises it for large broadcasts), instead of all at once at the rate ceiling. A
send window (e.g. 10:00-20:00, or 20:00-02:00 across midnight) keeps messages to those local
hours of each person, on top of the quiet hours: a time outside the window or inside quiet
hours moves to the earliest moment that is inside the one and outside the other.
Unit-tested in tests/unit/test_windows.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo

from django.utils.translation import gettext as _

from .rules import QUIET_HOURS, QuietHours, out_of_quiet_hours, wall_clock

SPREAD_HOURS_MIN = 0.01
SPREAD_HOURS_MAX = 168.0
DAY = 24 * 3600
# Each step moves to the next boundary (an end of quiet hours or a start of the window), at
# most four a day: a reachable moment is found within a few steps, or never.
MAX_STEPS = 16


@dataclass(frozen=True)
class SendWindow:
    start: time  # e.g. 10:00
    end: time  # e.g. 20:00; a window that crosses midnight when end < start (20:00-02:00)

    def __post_init__(self) -> None:
        if _seconds(self.start) == _seconds(self.end):
            raise ValueError("a send window's start and end differ")

    def contains(self, at: time) -> bool:
        at = at.replace(tzinfo=None, fold=0)
        start, end = self.start.replace(tzinfo=None), self.end.replace(tzinfo=None)
        if start < end:
            return start <= at < end
        return at >= start or at < end

    @property
    def label(self) -> str:
        return f"send window {self.start:%H:%M}-{self.end:%H:%M}"


def send_window(start: time | None, end: time | None) -> SendWindow | None:
    """The window of a campaign's two fields; None when either is empty or they are equal
    (validation refuses those before scheduling)."""
    if start is None or end is None or _seconds(start) == _seconds(end):
        return None
    return SendWindow(start, end)


def into_window(moment: datetime, tz: tzinfo, window: SendWindow | None) -> datetime:
    """`moment`, or the next start of the window in the person's zone when it falls outside."""
    if window is None:
        return moment
    local = moment.astimezone(tz)
    if window.contains(local.time()):
        return moment
    # Outside: before today's start, or after today's (or a wrapping window's) end.
    start = window.start.replace(tzinfo=None)
    day = local.date() if local.time().replace(tzinfo=None) < start else local.date() + timedelta(days=1)
    opens = wall_clock(day, start, tz)
    if opens < moment:
        # The start falls in an hour the clocks repeat and we are in its second pass.
        opens = datetime.combine(day, start.replace(fold=1), tzinfo=tz).astimezone(UTC)
    return max(opens, moment)


@dataclass(frozen=True)
class Allowed:
    """The earliest moment a message may go, and what moved it there (empty: nothing)."""

    at: datetime
    moved_by: tuple[str, ...] = ()  # rules.QUIET_HOURS and/or the window's label, in the order met

    @property
    def reason(self) -> str:
        return " and ".join(self.moved_by)


def allowed(moment: datetime, tz: tzinfo, window: SendWindow | None, quiet: QuietHours | None) -> Allowed:
    """The earliest moment at or after `moment` inside the window and outside quiet hours.

    A window that lies entirely inside quiet hours (refused at scheduling; possible only if
    the policy changed since) is ignored: quiet hours are the promise to the person."""
    at = moment
    moved: list[str] = []
    for _step in range(MAX_STEPS):
        after_quiet = out_of_quiet_hours(at, tz, quiet)
        if after_quiet != at and QUIET_HOURS not in moved:
            moved.append(QUIET_HOURS)
        after_window = into_window(after_quiet, tz, window)
        if window is not None and after_window != after_quiet and window.label not in moved:
            moved.append(window.label)
        if after_window == at:
            return Allowed(at, tuple(moved))
        at = after_window
    fallback = out_of_quiet_hours(moment, tz, quiet)
    return Allowed(fallback, (QUIET_HOURS,) if fallback != moment else ())


def spread_offset(position: int, count: int, hours: float | None) -> timedelta:
    """Row `position` (0-based) of `count` rows spread evenly over `hours`: position * hours / count."""
    if not hours or count <= 0:
        return timedelta(0)
    if not 0 <= position < count:
        raise ValueError(f"position {position} is outside 0..{count - 1}")
    return timedelta(seconds=hours * 3600 * position / count)


# --- checks before saving and scheduling ----------------------------------------------


def _seconds(at: time) -> int:
    return at.hour * 3600 + at.minute * 60 + at.second


def _intervals(start: time, end: time) -> list[tuple[int, int]]:
    """A daily span as seconds-of-day intervals: one, or two when it crosses midnight."""
    s, e = _seconds(start), _seconds(end)
    if s == e:
        return []
    if s < e:
        return [(s, e)]
    return [(s, DAY), (0, e)]


def open_seconds(window: SendWindow, quiet: QuietHours | None) -> int:
    """Seconds of a day inside the window and outside quiet hours (by the wall clock)."""
    spans = _intervals(window.start, window.end)
    total = sum(e - s for s, e in spans)
    if quiet is None:
        return total
    overlap = sum(max(0, min(e1, e2) - max(s1, s2))
                  for s1, e1 in spans for s2, e2 in _intervals(quiet.start, quiet.end))
    return total - overlap


def timing_problems(*, spread_hours: float | None, window_start: time | None, window_end: time | None,
                    send_at: datetime | None, expires_at: datetime | None,
                    quiet: QuietHours | None = None) -> dict[str, list[str]]:
    """What is wrong with a campaign's spread and send window, by field (empty: nothing)."""
    problems: dict[str, list[str]] = {}
    if spread_hours is not None:
        if not math.isfinite(spread_hours) or not SPREAD_HOURS_MIN <= spread_hours <= SPREAD_HOURS_MAX:
            problems["spread_hours"] = [_("spread over %(min)s to %(max)s hours, or leave it empty")
                                        % {"min": SPREAD_HOURS_MIN, "max": int(SPREAD_HOURS_MAX)}]
        elif send_at is not None and expires_at is not None and send_at + timedelta(hours=spread_hours) > expires_at:
            left = (expires_at - send_at).total_seconds() / 3600
            problems["spread_hours"] = [
                _("a spread of %(spread)s h ends after expires_at, %(left)s h after send_at: "
                  "spread over fewer hours or expire later")
                % {"spread": f"{spread_hours:g}", "left": f"{left:.2f}".rstrip("0").rstrip(".")}]
    if (window_start is None) != (window_end is None):
        missing = "send_window_end" if window_end is None else "send_window_start"
        problems[missing] = [_("set both the send window's start and end (e.g. 10:00-20:00), or neither")]
    elif window_start is not None and window_end is not None:
        if _seconds(window_start) == _seconds(window_end):
            problems["send_window_end"] = [_("the send window's start and end must differ; "
                                             "leave both empty to send at any hour")]
        elif quiet is not None and open_seconds(SendWindow(window_start, window_end), quiet) == 0:
            problems["send_window_start"] = [
                _("the send window %(start)s-%(end)s lies entirely inside the quiet hours %(quiet_start)s-%(quiet_end)s: "
                  "nothing could ever be sent; choose hours outside the quiet hours")
                % {"start": f"{window_start:%H:%M}", "end": f"{window_end:%H:%M}",
                   "quiet_start": f"{quiet.start:%H:%M}", "quiet_end": f"{quiet.end:%H:%M}"}]
    return problems
