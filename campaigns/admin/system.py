"""The System page: the same report as `GET /health/` (campaigns/health.py), for operators
(`view_system_status`), with campaigns named and linked and times in the viewer's zone."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext

from .. import health
from ..models import Campaign

PERMISSION = "campaigns.view_system_status"


def system_view(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied
    report = health.system_report(now=timezone.now())
    names = Campaign.objects.in_bulk([c["id"] for c in report["campaigns"]]) if report["database"]["ok"] else {}
    campaigns = [{**c, "name": str(names[c["id"]]) if c["id"] in names else f"#{c['id']}",
                  "link": reverse("admin:campaigns_campaign_change", args=[c["id"]])} for c in report["campaigns"]]
    context = {
        **admin.site.each_context(request),
        "title": gettext("System status"),
        "report": report,
        # Campaigns are listed with their names below; the rest of the reasons at the top.
        "reasons": [r for r in report["reasons"] if r["check"] != "campaigns" or "campaign" not in r],
        "held_up": campaigns,
        "zone": timezone.get_current_timezone_name(),
    }
    return TemplateResponse(request, "admin/tact/system.html", context)
