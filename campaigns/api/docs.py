"""The browsable API docs (Swagger UI, Redoc): for logged-in staff, from our own static files."""

from __future__ import annotations

from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponseBase
from django.urls import reverse
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView
from rest_framework.exceptions import NotAuthenticated


class _LoginFirst:
    """An anonymous visitor of an HTML page is sent to the admin login and comes back."""

    def handle_exception(self, exc: Exception) -> HttpResponseBase:
        if isinstance(exc, NotAuthenticated):
            return redirect_to_login(self.request.get_full_path(), reverse("admin:login"))
        return super().handle_exception(exc)


class SwaggerView(_LoginFirst, SpectacularSwaggerView):
    """Swagger UI at /api/docs/."""


class RedocView(_LoginFirst, SpectacularRedocView):
    """Redoc at /api/redoc/, without the web fonts the stock page fetches from Google."""

    template_name = "tact/redoc.html"
