"""Moments shown to a person in the admin: in their own zone (UserZoneMiddleware), labelled with it."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone
from django.utils.translation import gettext


def viewer_time(value: datetime) -> str:
    """"2030-01-01 12:00 Asia/Vladivostok": the moment in the viewer's current zone, named."""
    return f"{timezone.localtime(value):%Y-%m-%d %H:%M} {timezone.get_current_timezone_name()}"


def zone_badge(request) -> list[str] | None:
    """The label in the header of every admin page (settings.UNFOLD["ENVIRONMENT"]): the zone the page's
    dates and times are shown and entered in, so that a time in a list or a form never stands unlabelled."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return None
    return [gettext("Times in %(zone)s") % {"zone": timezone.get_current_timezone_name()}, "info"]
