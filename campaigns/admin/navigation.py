"""The admin's sidebar (settings.UNFOLD["SIDEBAR"]["navigation"]): each page shown to whoever may view it."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

Page = tuple[Promise, str, str, str]  # title, icon, "app_label.model" (or a URL name), the view permission

GROUPS: list[tuple[Promise, list[Page]]] = [
    (_("Audience"), [
        (_("Subscribers"), "person", "campaigns.subscriber", "campaigns.view_subscriber"),
        (_("Subscriptions"), "forum", "campaigns.subscription", "campaigns.view_subscription"),
        (_("Consent events"), "verified", "campaigns.consentevent", "campaigns.view_consentevent"),
        (_("Tags"), "sell", "campaigns.tag", "campaigns.view_tag"),
        (_("Import jobs"), "upload_file", "campaigns.importjob", "campaigns.view_importjob"),
    ]),
    (_("Content"), [
        (_("Segments"), "group_work", "campaigns.segment", "campaigns.view_segment"),
        (_("Drafts"), "edit_note", "campaigns.draft", "campaigns.view_draft"),
        (_("WhatsApp templates"), "chat", "campaigns.whatsapptemplate", "campaigns.view_whatsapptemplate"),
    ]),
    (_("Campaigns"), [
        (_("Campaigns"), "campaign", "campaigns.campaign", "campaigns.view_campaign"),
        (_("Deliveries"), "outbox", "campaigns.delivery", "campaigns.view_delivery"),
        (_("Send lists"), "list_alt", "campaigns.sendlist", "campaigns.view_sendlist"),
        (_("Test sends"), "send", "campaigns.testsend", "campaigns.view_testsend"),
    ]),
    (_("Channel posts"), [
        (_("Brand channels"), "cell_tower", "campaigns.brandchannel", "campaigns.view_brandchannel"),
        (_("Channel posts"), "podcasts", "campaigns.post", "campaigns.view_post"),
        (_("Content calendar"), "calendar_month", "admin-post-calendar", "campaigns.view_post"),
    ]),
    (_("System"), [
        (_("System status"), "monitor_heart", "admin-system", "campaigns.view_system_status"),
        (_("Frequency policy and quiet hours"), "schedule", "campaigns.frequencypolicy",
         "campaigns.view_frequencypolicy"),
        (_("Installation settings"), "tune", "campaigns.installationsettings", "campaigns.view_installationsettings"),
        (_("Sender accounts"), "smart_toy", "campaigns.senderaccount", "campaigns.view_senderaccount"),
        (_("Audit log"), "history", "auditlog.logentry", "auditlog.view_logentry"),
        (_("Users"), "manage_accounts", "auth.user", "auth.view_user"),
        (_("Groups"), "groups", "auth.group", "auth.view_group"),
        (_("API tokens"), "key", "authtoken.tokenproxy", "authtoken.view_tokenproxy"),
        (_("Login attempts"), "lock", "axes.accessattempt", "axes.view_accessattempt"),
        (_("Sandbox outbox"), "inbox", "tact_channels.outboxmessage", "tact_channels.view_outboxmessage"),
    ]),
]


def _may(permission: str) -> Callable[[HttpRequest], bool]:
    return lambda request: request.user.has_perm(permission)


def _link(label: str) -> str:
    """A model's changelist ("app_label.model") or a page of its own (a URL name)."""
    return reverse(f"admin:{label.replace('.', '_')}_changelist") if "." in label else reverse(label)


def sidebar(request: HttpRequest) -> list[dict]:
    """unfold's navigation: groups of links to changelists."""
    return [
        {"title": title, "separator": True, "items": [
            {"title": name, "icon": icon, "permission": _may(permission),
             "link": _link(label)}
            for name, icon, label, permission in pages
        ]}
        for title, pages in GROUPS
    ]
