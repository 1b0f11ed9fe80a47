"""`GET /health/` (no login, JSON, no personal data) and `GET /metrics` (Prometheus; only from
TACT_METRICS_ALLOWED_IPS or with `Authorization: Bearer <TACT_METRICS_TOKEN>`)."""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST

from . import health, metrics
from .api.auth import client_ip


@never_cache
@require_safe
def health_view(request: HttpRequest) -> JsonResponse:
    """200 when everything is well, 503 with the reasons otherwise."""
    report = health.system_report(now=timezone.now())
    return JsonResponse(report, status=200 if report["status"] == "ok" else 503,
                        json_dumps_params={"ensure_ascii": False})


def metrics_allowed(request: HttpRequest) -> bool:
    """The scraper's token (compared in constant time), or a client address on the allowed list."""
    token = settings.TACT_METRICS_TOKEN
    if token and hmac.compare_digest(request.headers.get("Authorization", "").encode(),
                                     f"Bearer {token}".encode()):
        return True
    try:
        address = ipaddress.ip_address(client_ip(request))
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(allowed, strict=False)
               for allowed in settings.TACT_METRICS_ALLOWED_IPS)


@never_cache
@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not metrics_allowed(request):
        return HttpResponse(_("/metrics answers only the addresses in TACT_METRICS_ALLOWED_IPS, or a request "
                              "with Authorization: Bearer <TACT_METRICS_TOKEN>.") + "\n",
                            status=403, content_type="text/plain; charset=utf-8")
    return HttpResponse(metrics.exposition(), content_type=CONTENT_TYPE_LATEST)
