"""Recurring campaigns over REST: the recurrence fields' checks on create and update (400
naming the field), a series' next occurrences, and the answer of GET .../{id}/runs/."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from rest_framework import serializers

from .. import selectors
from ..models import Campaign
from ..services.series import recurrence_input_problems

FIELDS = ("recurrence", "recurrence_until", "timezone", "send_at")


def recurrence_problems(attrs: dict[str, Any], instance: Campaign | None) -> dict[str, list[str]]:
    """The recurrence fields as they will be saved (the instance's where not sent), checked."""
    if instance is not None and not any(name in attrs for name in FIELDS):
        return {}

    def value(name: str, default: Any) -> Any:
        return attrs[name] if name in attrs else getattr(instance, name, default)

    return recurrence_input_problems(rule=value("recurrence", "") or "", send_at=value("send_at", None),
                                     zone_name=value("timezone", "") or "", until=value("recurrence_until", None),
                                     now=timezone.now())


def next_occurrences(campaign: Campaign) -> list[str]:
    """The next five occurrences of a series, ISO 8601 as every other time of the API."""
    field = serializers.DateTimeField()
    return [field.to_representation(at) for at in selectors.series_next_occurrences(campaign, now=timezone.now())]
