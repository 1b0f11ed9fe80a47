"""A campaign's sender account per platform in the admin: the pickers (that platform's active
accounts only), the form's checks, and the "Channels" table saying which account each platform
sends from, live or sandbox."""

from __future__ import annotations

from django import forms
from django.db.models import Q
from django.utils.safestring import SafeString
from django.utils.translation import gettext

from channels.limits import PLATFORMS

from .. import accounts
from ..models import Campaign, SenderAccount
from ..services import sender_accounts as service
from .common import _table

FIELDS = [service.account_field(p) for p in PLATFORMS]  # telegram_account, whatsapp_account, viber_account


def shown(obj: Campaign | None) -> bool:
    """The pickers are shown once there is an account to pick (or the campaign has one)."""
    return SenderAccount.objects.exists() or (obj is not None and any(obj.account_id_for(p) for p in PLATFORMS))


def fieldsets(obj: Campaign | None) -> list[tuple[str, dict]]:
    if not shown(obj):
        return []
    return [(gettext("Sender accounts"), {
        "fields": FIELDS,
        "description": gettext("Which bot or number each platform sends from; empty: the default one (the "
                               "environment's). Only the subscribers of that account are in the audience."),
    })]


def limit_choices(form: forms.ModelForm) -> None:
    """Each picker offers its platform's active accounts (and the one picked already, so that the
    form says it became inactive rather than that it is not a choice)."""
    for platform in PLATFORMS:
        field = form.fields.get(service.account_field(platform))
        if field is None:
            continue
        current = form.instance.account_id_for(platform) if form.instance.pk else None
        field.queryset = SenderAccount.objects.filter(
            Q(platform=platform) & (Q(active=True) | Q(pk=current))).order_by("name")
        field.empty_label = gettext("the default (the environment's)")


def clean_accounts(form: forms.ModelForm, data: dict) -> None:
    """An account for a platform not chosen, or an inactive one: an error on its field."""
    chosen = data.get("platforms")
    for platform in PLATFORMS:
        name = service.account_field(platform)
        account = data.get(name)
        if name not in form.fields or account is None:
            continue
        if problem := service.picked_account_problem(platform, account):
            form.add_error(name, problem)
        elif chosen is not None and platform not in chosen:
            form.add_error(name, gettext("%(platform)s is not among the chosen platforms: tick it, or leave this "
                                         "empty") % {"platform": service.platform_name(platform)})


def account_of(campaign: Campaign, platform: str) -> SenderAccount | None:
    return getattr(campaign, service.account_field(platform)) if campaign.account_id_for(platform) else None


def sends_through(platform: str, account: SenderAccount | None) -> str:
    """Live or sandbox for that account (its own credentials), or why it cannot send."""
    try:
        sandbox = accounts.channel(platform, account).sandbox
    except accounts.AccountUnavailable:
        return service.picked_account_problem(platform, account) or gettext("unavailable")
    return gettext("SANDBOX: no credentials, messages go to the outbox") if sandbox else gettext("live")


def account_name(account: SenderAccount | None) -> str:
    if account is None:
        return gettext("default (the environment's)")
    return f"{account.name} ({account.slug})"


def channels_table(campaign: Campaign, platform_names) -> SafeString:
    """Per platform: the account it sends from, and whether that is live or the sandbox."""
    rows = []
    for platform in campaign.platforms or PLATFORMS:
        account = account_of(campaign, platform)
        rows.append([platform_names([platform]), account_name(account), sends_through(platform, account)])
    return _table([gettext("platform"), gettext("sender account"), gettext("sends through")], rows)
