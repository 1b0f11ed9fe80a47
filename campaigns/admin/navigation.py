"""The admin's sidebar (settings.UNFOLD["SIDEBAR"]["navigation"]): each page shown to whoever may view it."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest
from django.urls import reverse

Page = tuple[str, str, str, str]  # title, icon, "app_label.model", the view permission

GROUPS: list[tuple[str, list[Page]]] = [
    ("Audience", [
        ("Subscribers", "person", "campaigns.subscriber", "campaigns.view_subscriber"),
        ("Subscriptions", "forum", "campaigns.subscription", "campaigns.view_subscription"),
        ("Consent events", "verified", "campaigns.consentevent", "campaigns.view_consentevent"),
        ("Tags", "sell", "campaigns.tag", "campaigns.view_tag"),
        ("Import jobs", "upload_file", "campaigns.importjob", "campaigns.view_importjob"),
    ]),
    ("Content", [
        ("Segments", "group_work", "campaigns.segment", "campaigns.view_segment"),
        ("Drafts", "edit_note", "campaigns.draft", "campaigns.view_draft"),
    ]),
    ("Campaigns", [
        ("Campaigns", "campaign", "campaigns.campaign", "campaigns.view_campaign"),
        ("Deliveries", "outbox", "campaigns.delivery", "campaigns.view_delivery"),
        ("Send lists", "list_alt", "campaigns.sendlist", "campaigns.view_sendlist"),
    ]),
    ("System", [
        ("Frequency policy and quiet hours", "schedule", "campaigns.frequencypolicy",
         "campaigns.view_frequencypolicy"),
        ("Installation settings", "tune", "campaigns.installationsettings", "campaigns.view_installationsettings"),
        ("Audit log", "history", "auditlog.logentry", "auditlog.view_logentry"),
        ("Users", "manage_accounts", "auth.user", "auth.view_user"),
        ("Groups", "groups", "auth.group", "auth.view_group"),
        ("API tokens", "key", "authtoken.tokenproxy", "authtoken.view_tokenproxy"),
        ("Login attempts", "lock", "axes.accessattempt", "axes.view_accessattempt"),
        ("Sandbox outbox", "inbox", "tact_channels.outboxmessage", "tact_channels.view_outboxmessage"),
    ]),
]


def _may(permission: str) -> Callable[[HttpRequest], bool]:
    return lambda request: request.user.has_perm(permission)


def sidebar(request: HttpRequest) -> list[dict]:
    """unfold's navigation: groups of links to changelists."""
    return [
        {"title": title, "separator": True, "items": [
            {"title": name, "icon": icon, "permission": _may(permission),
             "link": reverse(f"admin:{label.replace('.', '_')}_changelist")}
            for name, icon, label, permission in pages
        ]}
        for title, pages in GROUPS
    ]
