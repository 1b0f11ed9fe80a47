"""Lists for the phone apps: a manual campaign is sent by the marketer, not by the workers.

Its audience is packed into WhatsApp broadcast lists (at most 256; the Business app's
broadcast lists only reach people who saved our number) and Viber groups (199 by default,
at most 250; a group is made from contacts, so it needs a phone number). Planning calls
`reachable` and `list_size`; the dispatcher and the sweeper leave these lists alone; the
marketer downloads each list (`list_contacts`, `list_text`) and marks it sent
(campaigns/services/manual_lists.py).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.db.models import Min
from django.utils.translation import gettext as _

from .. import rules, selectors
from ..models import Campaign, Delivery, SendList, Subscriber, Subscription
from ..phone_lists import MANUAL_PLATFORMS, Contact, text_to_paste
from .common import PENDING, S

# Why a person of a manual campaign's segment gets no row (stored data: English).
NOT_SAVED = "has not saved our number: a broadcast list cannot reach them"
NO_PHONE = "no phone number for a Viber group (no WhatsApp number, no attributes.phone)"
# Rows offered for download: waiting to be sent by hand, or recorded as sent by hand.
OFFERED = (*PENDING, S.SENT, S.DELIVERED, S.READ)


def list_size(platform: str) -> int:
    """The most people one list of the app holds (TACT_MANUAL_LIST_SIZE_WHATSAPP / _VIBER)."""
    return {"whatsapp": settings.TACT_MANUAL_LIST_SIZE_WHATSAPP,
            "viber": settings.TACT_MANUAL_LIST_SIZE_VIBER}[platform]


# --- who a phone app's list can reach ---------------------------------------------------


def _attribute_phone(attributes: object, region: str | None) -> str:
    raw = attributes.get("phone") if isinstance(attributes, dict) else None
    if not isinstance(raw, (str, int)) or not str(raw).strip():
        return ""
    try:
        return rules.normalize_phone(str(raw), region)
    except rules.AddressError:
        return ""


def viber_phones(subscriber_ids: Iterable[int]) -> dict[int, str]:
    """Each person's phone number for a Viber group, in E.164: their Viber address when it
    is a phone, else their WhatsApp number, else a valid attributes["phone"]; people without
    one are absent. (Viber subscriptions are mostly Viber user ids, not phone numbers.)"""
    ids = list(subscriber_ids)
    if not ids:
        return {}
    found: dict[int, str] = {}
    for subscriber_id, address in Subscription.objects.filter(
            subscriber_id__in=ids, platform="viber", address__startswith="+").values_list("subscriber_id", "address"):
        found[subscriber_id] = address
    for subscriber_id, address in Subscription.objects.filter(
            subscriber_id__in=ids, platform="whatsapp").exclude(address="").values_list("subscriber_id", "address"):
        found.setdefault(subscriber_id, address)
    missing = [pk for pk in ids if pk not in found]
    if missing:
        region = selectors.default_phone_region()
        for subscriber_id, attributes in Subscriber.objects.filter(pk__in=missing).values_list("pk", "attributes"):
            if phone := _attribute_phone(attributes, region):
                found[subscriber_id] = phone
    return found


def reachable(found: Iterable[tuple[int, int, str]]) -> tuple[list[tuple[int, int, str]], dict[int, str]]:
    """Of one audience page's opted-in subscriptions (subscriber, subscription, platform),
    those a phone app's list can reach, and per person why the others cannot."""
    rows = list(found)
    whatsapp = [subscription for _, subscription, platform in rows if platform == "whatsapp"]
    saved = set(Subscription.objects.filter(pk__in=whatsapp, saved_our_number=True).values_list("pk", flat=True))
    phones = viber_phones({subscriber for subscriber, _, platform in rows if platform == "viber"})
    kept: list[tuple[int, int, str]] = []
    why: dict[int, list[str]] = {}
    for subscriber, subscription, platform in rows:
        if platform == "whatsapp" and subscription not in saved:
            why.setdefault(subscriber, []).append(NOT_SAVED)
        elif platform == "viber" and subscriber not in phones:
            why.setdefault(subscriber, []).append(NO_PHONE)
        elif platform in MANUAL_PLATFORMS:
            kept.append((subscriber, subscription, platform))
    return kept, {subscriber: "; ".join(sorted(reasons)) for subscriber, reasons in why.items()}


# --- what a list offers ------------------------------------------------------------------


def list_contacts(send_list: SendList) -> list[Contact]:
    """The list's people as contacts, in the ledger's order: only rows still to send (or sent
    by hand) whose subscription is still opted in; an opt-out leaves the file at once."""
    rows = list(
        Delivery.objects.filter(send_list=send_list, status__in=OFFERED,
                                subscription__status=Subscription.Status.OPTED_IN)
        .order_by("pk").values_list("subscriber_id", "subscriber__name", "subscriber__external_id",
                                    "subscription__address")
    )
    phones = viber_phones(r[0] for r in rows) if send_list.platform == "viber" else {}
    contacts = []
    for subscriber_id, name, external_id, address in rows:
        phone = address if send_list.platform == "whatsapp" else phones.get(subscriber_id, "")
        if phone:
            contacts.append(Contact(name=name or external_id or "", phone=phone))
    return contacts


def list_text(send_list: SendList) -> str:
    """The text to paste into the app for this list: its variant's content, or the campaign's."""
    source = send_list.variant if send_list.variant_id else send_list.campaign
    return text_to_paste(source.content_body, source.content_buttons or [])


# A list as the marketer sees it: still to send from the app, marked sent, or closed unsent
# (the campaign was cancelled or expired first).
TO_SEND, SENT_BY_HAND, CLOSED = "to_send", "sent", "closed"


def list_state(send_list: SendList) -> str:
    if send_list.marked_sent_at is not None:
        return SENT_BY_HAND
    return CLOSED if send_list.state == SendList.State.DONE else TO_SEND


def campaign_lists(campaign: Campaign) -> list[dict]:
    """The campaign's lists for the phone apps: number, platform, size, state and who marked
    each sent; `due` is its earliest row's send time."""
    lists = (SendList.objects.filter(campaign=campaign).select_related("marked_sent_by")
             .annotate(due=Min("deliveries__send_after")).order_by("number"))
    return [{"number": s.number, "platform": s.platform, "size": s.size, "state": list_state(s), "due": s.due,
             "marked_sent_at": s.marked_sent_at,
             "marked_sent_by": s.marked_sent_by.get_username() if s.marked_sent_by else None}
            for s in lists]


# --- the forecast --------------------------------------------------------------------------


def forecast_lists(campaign: Campaign, forecast: dict) -> dict:
    """A manual campaign's forecast: lists and their sizes per platform, the people the apps
    cannot reach counted apart from those without consent, and no sending time (the
    marketer sends). Reads the audience as planning does."""
    from .planning import audience_choices  # planning calls this module

    receivers = dict.fromkeys(campaign.platforms, 0)
    excluded = {"whatsapp_not_saved": 0, "no_phone": 0}
    for choice in audience_choices(campaign):
        if choice.platform is not None:
            receivers[choice.platform] = receivers.get(choice.platform, 0) + 1
        elif NOT_SAVED in choice.excluded:
            excluded["whatsapp_not_saved"] += 1
        elif NO_PHONE in choice.excluded:
            excluded["no_phone"] += 1
    held = forecast.setdefault("held_back", {})
    # forecast_counts reads a manual campaign through audience_choices too, and counted those
    # the phone apps cannot reach as "no consent": they move to their own lines.
    held["no_consent"] = max(0, held.get("no_consent", 0) - sum(excluded.values()))
    held.update(excluded)
    lists = {}
    for platform, n in receivers.items():
        size = list_size(platform) if platform in MANUAL_PLATFORMS else None
        sizes = rules.list_sizes(n, size) if size else []
        lists[platform] = {"list_size": size, "sizes": sizes}
        entry = forecast.setdefault("platforms", {}).setdefault(platform, {})
        entry.update({"receivers": n, "lists": len(sizes), "list_size": size, "seconds": None,
                      "rate_per_second": None})
        if platform == "whatsapp":
            entry["templates_needed"] = 0  # the app's broadcast lists have no 24-hour window
    forecast["receivers"] = sum(receivers.values())
    forecast["duration_seconds"] = 0
    forecast["manual"] = {"lists": lists}
    forecast.setdefault("notes", {}).update({
        "whatsapp_not_saved": _("WhatsApp broadcast lists only reach people who saved our number: not in a list"),
        "no_phone": _("a Viber group is made from phone contacts, and no phone number is known: not in a list"),
    })
    return forecast
