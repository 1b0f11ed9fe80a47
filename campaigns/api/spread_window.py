"""A campaign's spread and send window over REST: the window's hours as "HH:MM" strings, and
the checks a create or update runs on the three fields (400 naming the field)."""

from __future__ import annotations

import re
from datetime import time

from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .. import windows
from ..models import Campaign, FrequencyPolicy

HOUR_MINUTE = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")
FIELDS = ("spread_hours", "send_window_start", "send_window_end")


# A plain string (JSON Schema's "time" format wants seconds and an offset, and would be a lie).
@extend_schema_field({"type": "string", "nullable": True, "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$",
                      "example": "10:00"})
class HourMinuteField(serializers.Field):
    """A local wall-clock time as "HH:MM" (00:00-23:59), or null."""

    default_error_messages = {"invalid": gettext_lazy("a local time as HH:MM, e.g. 10:00")}

    def __init__(self, **kwargs: object) -> None:
        kwargs.setdefault("allow_null", True)
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data: object) -> time:
        if not isinstance(data, str) or not HOUR_MINUTE.fullmatch(data):
            self.fail("invalid")
        return time(int(data[:2]), int(data[3:]))

    def to_representation(self, value: time) -> str:
        return f"{value:%H:%M}"


class SpreadHoursField(serializers.FloatField):
    """Hours to spread the sending over (0.01-168), or null."""

    def __init__(self, **kwargs: object) -> None:
        kwargs.setdefault("allow_null", True)
        kwargs.setdefault("required", False)
        kwargs.setdefault("min_value", windows.SPREAD_HOURS_MIN)
        kwargs.setdefault("max_value", windows.SPREAD_HOURS_MAX)
        super().__init__(**kwargs)


def spread_window_problems(attrs: dict, instance: Campaign | None) -> dict[str, list[str]]:
    """The spread and window checks on the values a create or (partial) update leaves."""

    def value(name: str) -> object:
        return attrs[name] if name in attrs else getattr(instance, name, None)

    if not any(name in attrs for name in (*FIELDS, "send_at", "expires_at")):
        return {}
    return windows.timing_problems(
        spread_hours=value("spread_hours"), window_start=value("send_window_start"),
        window_end=value("send_window_end"), send_at=value("send_at"), expires_at=value("expires_at"),
        quiet=FrequencyPolicy.current().quiet_hours())
