"""The forecast's timeline: how many messages go out in each hour, after local time, quiet
hours, the send window and the spread, from the number of receivers in each zone.

Rows are placed as planning places them (timing.row_time): zones in send-time order, row i
of n at its zone's time plus i * spread / n, moved into the window and out of quiet hours.
Planning spreads each platform's rows separately, in parallel; counted as one sequence here,
which is the same figure per hour when the platforms' audiences share their zones alike.
It does not model the rate ceilings (the forecast's `duration_seconds` does).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from .. import rules
from ..models import Campaign
from . import timing
from .planning import SendTimes

HOUR = timedelta(hours=1)
# A timeline of a huge audience is computed for at most this many rows (each standing for
# its share of the audience): at 1,000,000 over 168 hours, one per 30 s of the spread.
MAX_POINTS = 20_000
MAX_HOURS = 24 * 31  # hours filled with zeros between the first and the last message


def _hour(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def campaign_timeline(*, campaign: Campaign, receivers_by_zone: Mapping[str, int], now: datetime,
                      quiet: rules.QuietHours | None) -> list[dict]:
    """[{"hour": ISO start of the UTC hour, "count": messages expected in it}, ...], earliest
    first, every hour from the first message to the last (empty ones as 0). A time already
    past counts as now (it goes at once)."""
    counts = {tz: n for tz, n in receivers_by_zone.items() if n > 0}
    total = sum(counts.values())
    if not total or campaign.send_at is None:
        return []
    times = SendTimes(campaign, quiet)
    step = max(1, math.ceil(total / MAX_POINTS))
    per_hour: Counter[datetime] = Counter()
    position = 0
    # The packing order: zones by their send time (ties by name, as stable as the audience's order).
    for tz in sorted(counts, key=lambda z: (times.at(z), z)):
        n = counts[tz]
        if not campaign.spread_hours:
            per_hour[_hour(max(times.at(tz), now))] += n
        else:
            for first in range(0, n, step):
                at, _reason = timing.row_time(times, tz, position + first, total)
                per_hour[_hour(max(at, now))] += min(step, n - first)
        position += n
    hours = sorted(per_hour)
    if (hours[-1] - hours[0]) / HOUR < MAX_HOURS:
        hour, hours = hours[0], []
        while hour <= max(per_hour):
            hours.append(hour)
            hour += HOUR
    return [{"hour": hour.isoformat(), "count": per_hour.get(hour, 0)} for hour in hours]


def duration_seconds(campaign: Campaign, at_ceilings: float) -> float:
    """How long the sending takes: the time at the rate ceilings, or the spread when longer."""
    spread = (campaign.spread_hours or 0) * 3600
    return round(max(at_ceilings, spread), 1)
