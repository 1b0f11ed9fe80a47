"""Per-request context for the domain's reads."""

from __future__ import annotations

from collections.abc import Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.http import HttpRequest, HttpResponse
from django.utils import timezone, translation

from .selectors import default_phone_region_cached


class PhoneRegionMiddleware:
    """The operator's default phone region is read at most once per request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with default_phone_region_cached():
            return self.get_response(request)


class UserZoneMiddleware:
    """A signed-in user's own time zone and language (their UserProfile), else TIME_ZONE and the browser's."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        profile = None
        if request.user.is_authenticated:
            try:
                profile = request.user.tact_profile
            except ObjectDoesNotExist:
                pass
        zone = _zone(profile.timezone) if profile is not None else None
        # Activated or reset on every request: a thread serves many users.
        if zone is None:
            timezone.deactivate()
        else:
            timezone.activate(zone)
        if profile is not None and profile.language in dict(settings.LANGUAGES):
            translation.activate(profile.language)
            request.LANGUAGE_CODE = translation.get_language()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


def _zone(name: str) -> ZoneInfo | None:
    """The IANA zone of that name; None for an empty or unknown name (the installation's zone applies)."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None
