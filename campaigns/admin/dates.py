"""Moments shown to a person in the admin: in their own zone (UserZoneMiddleware), labelled with it."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone


def viewer_time(value: datetime) -> str:
    """"2030-01-01 12:00 Asia/Vladivostok": the moment in the viewer's current zone, named."""
    return f"{timezone.localtime(value):%Y-%m-%d %H:%M} {timezone.get_current_timezone_name()}"
