"""Recurring campaigns: an RFC 5545 RRULE expanded in the campaign's own time zone.

Pure functions over plain values (no ORM, no I/O). The rule is expanded by python-dateutil
over naive wall-clock times in the zone (DTSTART = the campaign's send_at read in that zone),
and each wall time is then placed in the zone on its own day: a weekly 10:00 stays 10:00
local across a DST change (09:00 UTC in Berlin's winter, 08:00 UTC in its summer).

UNTIL (in UTC with a trailing Z, else in the zone) and COUNT are applied here rather than
by dateutil, so that dateutil always gets a finite window to search: a rule that can never
happen (BYMONTH=2;BYMONTHDAY=31) costs milliseconds, not the years up to 9999.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Protocol
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr
from django.conf import settings
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from . import rules

# How far beyond a moment the next occurrence is looked for (a leap day is at most 8 years away).
LOOKAHEAD = timedelta(days=366 * 10)
# At most this many occurrences are walked from DTSTART (dateutil always starts there): an
# hourly series for 20 years; past it the series is treated as over rather than slow.
MAX_WALK = 200_000
# Finer than hourly is spam, whatever the caps say.
REFUSED_FREQ = ("MINUTELY", "SECONDLY")
FREQS = ("YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY", *REFUSED_FREQ)
# Offered in the admin next to the text box.
PRESETS: tuple[tuple[str, str | Promise], ...] = (
    ("FREQ=WEEKLY;BYDAY=MO;BYHOUR=10;BYMINUTE=0", gettext_lazy("every Monday at 10:00")),
    ("FREQ=WEEKLY;BYDAY=TU,FR;BYHOUR=12;BYMINUTE=0", gettext_lazy("Tuesdays and Fridays at 12:00")),
    ("FREQ=DAILY;BYHOUR=9;BYMINUTE=30", gettext_lazy("every day at 09:30")),
    ("FREQ=WEEKLY;INTERVAL=2;BYDAY=WE;BYHOUR=18;BYMINUTE=0", gettext_lazy("every other Wednesday at 18:00")),
    ("FREQ=MONTHLY;BYMONTHDAY=1;BYHOUR=11;BYMINUTE=0", gettext_lazy("the 1st of each month at 11:00")),
    ("FREQ=MONTHLY;BYDAY=-1FR;BYHOUR=17;BYMINUTE=0;COUNT=6",
     gettext_lazy("the last Friday of the month at 17:00, 6 times")),
)
_UNTIL = re.compile(r"^(\d{8})(?:T(\d{6})(Z?))?$")


class RecurrenceError(ValueError):
    """The text is not a recurrence we accept; the message says why (translated)."""


@dataclass(frozen=True)
class Recurrence:
    """A parsed rule anchored at `start` (aware) in `zone`, ending at `until` (aware) and/or after `count`."""

    rule: rrule  # naive wall-clock times in `zone`; no UNTIL, no COUNT (applied here)
    zone: tzinfo
    start: datetime
    until: datetime | None
    count: int | None
    freq: str


class CampaignLike(Protocol):
    recurrence: str
    send_at: datetime
    timezone: str
    recurrence_until: datetime | None


def zone_for(name: str) -> ZoneInfo:
    """The campaign's zone: its own, else the installation's (settings.TIME_ZONE)."""
    return ZoneInfo(name or settings.TIME_ZONE)


def of_campaign(campaign: CampaignLike) -> Recurrence:
    """A campaign's rule anchored at its send_at (DTSTART) in its zone, ending at its recurrence_until."""
    return parse(campaign.recurrence, start=campaign.send_at, zone=zone_for(campaign.timezone),
                 until=campaign.recurrence_until)


def parse(text: str, *, start: datetime, zone: tzinfo, until: datetime | None = None) -> Recurrence:
    """`text` (an RRULE value, optionally after "RRULE:") anchored at `start`; `until` (the
    campaign's own end, aware) is combined with the rule's UNTIL. RecurrenceError if invalid."""
    value = text.strip()
    if value.upper().startswith("RRULE:"):
        value = value[len("RRULE:"):]
    if not value:
        raise RecurrenceError(_("empty rule"))
    if any(c in value for c in "\r\n") or ":" in value:
        raise RecurrenceError(_("give only the RRULE value (FREQ=...;...); DTSTART is the campaign's send_at"))
    parts: dict[str, str] = {}
    for part in value.upper().split(";"):
        name, sep, arg = part.partition("=")
        name, arg = name.strip(), arg.strip()
        if not sep or not name or not arg:
            raise RecurrenceError(_("“%(part)s” is not NAME=VALUE") % {"part": part})
        if name in parts:
            raise RecurrenceError(_("%(name)s is given twice") % {"name": name})
        parts[name] = arg
    freq = parts.get("FREQ")
    if freq is None:
        raise RecurrenceError(_("FREQ is missing (e.g. FREQ=WEEKLY)"))
    if freq not in FREQS:
        raise RecurrenceError(_("FREQ must be one of %(freqs)s") % {"freqs": ", ".join(FREQS[:5])})
    if freq in REFUSED_FREQ:
        raise RecurrenceError(_("FREQ=%(freq)s repeats more often than hourly: choose HOURLY or slower")
                              % {"freq": freq})
    if "UNTIL" in parts and "COUNT" in parts:
        raise RecurrenceError(_("give UNTIL or COUNT, not both"))
    count = _positive(parts.pop("COUNT", None), "COUNT", 100_000)
    _positive(parts.get("INTERVAL"), "INTERVAL", 1000)
    rule_until = _until(parts.pop("UNTIL", None), zone)
    ends = [u for u in (rule_until, until) if u is not None]
    start_wall = start.astimezone(zone).replace(tzinfo=None)
    try:
        rule = rrulestr(";".join(f"{k}={v}" for k, v in parts.items()), dtstart=start_wall)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        raise RecurrenceError(_("not a valid RRULE: %(error)s") % {"error": exc}) from exc
    if not isinstance(rule, rrule):
        raise RecurrenceError(_("give one RRULE"))
    return Recurrence(rule=rule, zone=zone, start=start, until=min(ends) if ends else None, count=count, freq=freq)


def _positive(value: str | None, name: str, most: int) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or not 1 <= int(value) <= most:
        raise RecurrenceError(_("%(name)s must be a whole number from 1 to %(most)s") % {"name": name, "most": most})
    return int(value)


def _until(value: str | None, zone: tzinfo) -> datetime | None:
    """UNTIL as an instant: with Z in UTC, else a wall time in the zone; a date alone is its whole day."""
    if value is None:
        return None
    match = _UNTIL.match(value)
    if match is None:
        raise RecurrenceError(_("UNTIL must look like 20261231T235959Z or 20261231"))
    day_text, time_text, utc = match.groups()
    try:
        day = datetime.strptime(day_text, "%Y%m%d").date()
        at = datetime.strptime(time_text, "%H%M%S").time() if time_text else time(23, 59, 59)
    except ValueError as exc:
        raise RecurrenceError(_("UNTIL is not a real date and time: %(error)s") % {"error": exc}) from exc
    if utc:
        return datetime.combine(day, at, tzinfo=UTC)
    return rules.wall_clock(day, at, zone)


def _walk(rec: Recurrence, *, through: datetime) -> Iterator[datetime]:
    """Every occurrence from the start up to `through` (aware, UTC), in order."""
    if rec.until is not None:
        through = min(through, rec.until)
    # A day of slack: the naive bound must not cut a wall time that DST places before `through`.
    bound = (through.astimezone(rec.zone).replace(tzinfo=None) + timedelta(days=1))
    try:
        walls = rec.rule.replace(until=bound)
    except (ValueError, OverflowError):
        return
    n = 0
    try:
        for wall in walls:
            n += 1
            if (rec.count is not None and n > rec.count) or n > MAX_WALK:
                return
            at = rules.wall_clock(wall.date(), wall.time(), rec.zone)
            if at > through:
                return
            yield at
    except (ValueError, OverflowError):  # past year 9999
        return


def occurrences(rec: Recurrence, *, after: datetime, count: int, inclusive: bool = False) -> list[datetime]:
    """The next `count` occurrences after `after` (or at it, with `inclusive`), aware UTC."""
    out: list[datetime] = []
    if count < 1:
        return out
    try:
        through = after + LOOKAHEAD
    except OverflowError:
        through = datetime.max.replace(tzinfo=UTC) - timedelta(days=2)
    for at in _walk(rec, through=through):
        if at > after or (inclusive and at == after):
            out.append(at)
            if len(out) >= count:
                break
    return out


def next_occurrence(rec: Recurrence, *, after: datetime, inclusive: bool = False) -> datetime | None:
    found = occurrences(rec, after=after, count=1, inclusive=inclusive)
    return found[0] if found else None


def between(rec: Recurrence, *, after: datetime, through: datetime) -> list[datetime]:
    """The occurrences in (after, through]."""
    return [at for at in _walk(rec, through=through) if at > after]


def problems(text: str, *, start: datetime, zone: tzinfo, until: datetime | None, now: datetime,
             min_gap: timedelta) -> list[str]:
    """Why `text` cannot be a campaign's recurrence starting at `start`, or [] when it can:
    not a valid rule, finer than hourly, runs closer together than `min_gap`, or no
    occurrence left after `now` (and at or after `start`)."""
    try:
        rec = parse(text, start=start, zone=zone, until=until)
    except RecurrenceError as exc:
        return [str(exc)]
    found = occurrences(rec, after=max(start, now), count=1, inclusive=start > now)
    if not found:
        return [_("the rule has no occurrence after %(moment)s UTC (check UNTIL, COUNT and the end date)")
                % {"moment": f"{max(start, now):%Y-%m-%d %H:%M}"}]
    first = occurrences(rec, after=found[0], count=50, inclusive=True)
    gaps = [b - a for a, b in zip(first, first[1:], strict=False)]
    if gaps and min(gaps) < min_gap:
        return [_("runs would be %(gap)s minutes apart; at least %(least)s minutes between runs")
                % {"gap": int(min(gaps).total_seconds() // 60), "least": int(min_gap.total_seconds() // 60)}]
    return []
