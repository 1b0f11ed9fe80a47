"""Each row's send time for a spread or windowed campaign, and why it is later than send_at.

Planning gives row i of n (in the order rows are packed) its zone's base time plus
i * spread / n, then moves it into the send window and out of quiet hours in the person's
zone (campaigns/windows.py). The sender applies the same window and quiet hours again when it
claims a row, so a held or retried row never goes out at an hour the window closes.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from .. import rules, windows
from ..models import Campaign
from .common import zone

if TYPE_CHECKING:
    from .planning import SendTimes


def campaign_window(campaign: Campaign) -> windows.SendWindow | None:
    return windows.send_window(campaign.send_window_start, campaign.send_window_end)


def allowed_at(campaign: Campaign, moment: datetime, tz: str, quiet: rules.QuietHours | None) -> windows.Allowed:
    """The earliest moment from `moment` inside the campaign's window and outside quiet hours."""
    return windows.allowed(moment, zone(tz), campaign_window(campaign), quiet)


def moved_text(allowed: windows.Allowed, tz: str) -> str:
    """Why a row moved, e.g. "quiet hours in Europe/Moscow until 09:00 local (2026-03-10 06:00 UTC)"."""
    return (f"{allowed.reason} in {tz} until {allowed.at.astimezone(zone(tz)):%H:%M} local "
            f"({allowed.at:%Y-%m-%d %H:%M} UTC)")


def _offset_text(seconds: float) -> str:
    whole = int(seconds)
    return f"+{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def row_time(times: SendTimes, tz: str, position: int, count: int) -> tuple[datetime, str]:
    """Row `position` of `count` (packing order) in zone `tz`: its send time and the ledger's
    reason (stored data: English). Without a spread, the zone's time and reason."""
    campaign = times.campaign
    if not campaign.spread_hours:
        return times.at(tz), times.reason(tz)
    base = times.base(tz)
    offset = windows.spread_offset(position, count, campaign.spread_hours)
    moment = base + offset
    allowed = allowed_at(campaign, moment, tz, times.quiet)
    parts = []
    if campaign.local_time and base != campaign.send_at:
        parts.append(f"local time: {base.astimezone(zone(tz)):%H:%M} in {tz}")
    parts.append(f"spread over {campaign.spread_hours:g} h: {_offset_text(offset.total_seconds())}")
    if allowed.at != moment:
        parts.append(moved_text(allowed, tz))
    return allowed.at, "; ".join(parts)

