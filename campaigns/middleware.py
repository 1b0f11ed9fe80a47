"""Per-request context for the domain's reads."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from .selectors import default_phone_region_cached


class PhoneRegionMiddleware:
    """The operator's default phone region is read at most once per request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with default_phone_region_cached():
            return self.get_response(request)
