"""When each zone of a local-time campaign's audience gets it, on the campaign page."""

from __future__ import annotations

from datetime import UTC
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone
from django.utils.safestring import SafeString
from django.utils.translation import gettext

from .. import rules, selectors
from ..delivery import timing
from ..delivery.common import current_policy, zone
from ..models import Campaign
from .common import _table


def city_name(tz: str) -> str:
    """The place a zone is named after: "America/Argentina/Buenos_Aires" -> "Buenos Aires"."""
    return tz.rsplit("/", 1)[-1].replace("_", " ")


def local_times_html(campaign: Campaign) -> SafeString | str:
    """One row per zone of the audience (earliest first), or one line for a plain campaign."""
    viewer = timezone.get_current_timezone()
    viewer_name = timezone.get_current_timezone_name()
    if campaign.send_at is None:
        return "-"
    if not campaign.local_time:
        return gettext("Everyone gets it at %(time)s (%(zone)s).") % {
            "time": f"{timezone.localtime(campaign.send_at, viewer):%Y-%m-%d %H:%M}", "zone": viewer_name}
    if campaign.pk is None:
        return gettext("Save the campaign to see when each zone of its audience gets it.")
    _, quiet = current_policy()
    campaign_tz = ZoneInfo(campaign.timezone or settings.TIME_ZONE)
    rows = []
    for tz, people in selectors.campaign_audience_zones(campaign):
        local = zone(tz)
        at = rules.local_send_time(campaign.send_at, local, local_time=True, campaign_tz=campaign_tz, quiet=None)
        at = timing.allowed_at(campaign, at, tz, quiet).at  # out of quiet hours, into the send window
        rows.append((at, [city_name(tz), f"{at.astimezone(local):%Y-%m-%d %H:%M}",
                          f"{at.astimezone(UTC):%Y-%m-%d %H:%M} UTC", f"{at.astimezone(viewer):%Y-%m-%d %H:%M}",
                          people]))
    if not rows:
        return gettext("Nobody in the audience is opted in on the campaign's platforms yet.")
    rows.sort(key=lambda row: (row[0], row[1][0]))
    headers = [gettext("zone"), gettext("local time there"), "UTC",
               gettext("your time (%(zone)s)") % {"zone": viewer_name}, gettext("people")]
    return _table(headers, [cells for _, cells in rows])
