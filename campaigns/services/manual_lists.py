"""Lists for the phone apps: what keeps a manual campaign from being scheduled, and marking a
list sent by hand, which records it in the ledger so that caps and results still count."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import Min
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from .. import fatigue, links, personalise, phone_lists
from ..audit import audit_record
from ..models import Campaign, Delivery, Draft, SendList, Subscriber
from .errors import ServiceError

S = Delivery.Status
PENDING = (S.PLANNED, S.HELD)  # as campaigns/delivery/states.py (the engine imports services)


def manual_platform_problem(platforms: list[str] | set[str] | tuple[str, ...]) -> str:
    """Why these platforms cannot be sent by hand, or "" (Telegram has no lists to fill)."""
    others = sorted(p for p in platforms if p not in phone_lists.MANUAL_PLATFORMS)
    if not others:
        return ""
    return _("sending by hand from the phone apps works for WhatsApp and Viber only, not %(platforms)s") % {
        "platforms": ", ".join(others)}


def _draft_problems(draft: Draft, label: str) -> list[str]:
    problems = []
    texts = personalise.content_texts(draft.body, draft.buttons or [], None)
    found = sorted({p.variable for text in texts if "{" in text for p in _placeholders(text)})
    if found:
        problems.append(_("%(draft)s: one text goes to the whole list from the app, so it cannot hold per-person "
                          "placeholders (%(found)s); remove them") % {"draft": label, "found": ", ".join(found)})
    if links.tracked_links(draft.buttons or [], draft.body, track_buttons=draft.track_links,
                           track_body=draft.track_body_links):
        problems.append(_("%(draft)s: tracked links are per person and cannot be pasted into the app; turn off "
                          "counting clicks on buttons and links") % {"draft": label})
    return problems


def _placeholders(text: str) -> list[personalise.Placeholder]:
    try:
        return personalise.placeholders(text)
    except personalise.PlaceholderError:
        return []  # a broken placeholder is refused by the draft's own checks


def manual_problems(campaign: Campaign) -> dict[str, list[str]]:
    """What keeps a manual campaign from being scheduled, by field ({} when it is not manual)."""
    if not campaign.manual:
        return {}
    problems: dict[str, list[str]] = {}
    if problem := manual_platform_problem(campaign.platforms):
        problems["platforms"] = [problem]
    drafts = [(campaign.draft, _("the draft"))]
    drafts += [(v.draft, _("variant %(label)s") % {"label": v.label})
               for v in campaign.variants.select_related("draft") if v.draft_id != campaign.draft_id]
    for draft, label in drafts:
        problems.setdefault("draft", []).extend(_draft_problems(draft, label))
    if campaign.kind == Campaign.Kind.AB_TEST:
        problems["kind"] = [_("an A/B test picks its winner by clicks or reads, which the phone apps do not report")]
    return {field: messages for field, messages in problems.items() if messages}


# --- marking a list sent --------------------------------------------------------------------


@dataclass(frozen=True)
class Marked:
    """What marking a list sent did: rows now sent, rows skipped (opted out since), or nothing
    at all because it was marked before (`already`)."""

    send_list: SendList
    sent: int
    skipped: int
    already: bool


def _reason(actor: AbstractBaseUser | None) -> str:
    who = actor.get_username() if actor is not None and actor.is_authenticated else "someone"
    return f"sent by hand from the app by {who}"


@transaction.atomic
def send_list_mark_sent(*, campaign: Campaign, number: int, actor: AbstractBaseUser | None = None,
                        now: datetime | None = None) -> Marked:
    """Record that the marketer sent list `number` from the phone app: its rows still waiting
    whose subscription is still opted in become `sent` (they count against caps from now),
    the rest are skipped with the reason; the list is done, and so may the campaign be.
    Idempotent: a list marked before is left as it is (`already`). SendList.DoesNotExist
    when the campaign has no such list."""
    now = now or timezone.now()
    # The campaign's row first, as a cancel takes it: a cancel and a mark never cross.
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    send_list = SendList.objects.select_for_update().get(campaign=campaign, number=number)
    if send_list.marked_sent_at is not None:
        return Marked(send_list, 0, 0, already=True)
    if not campaign.manual:
        raise ServiceError(_("this campaign is sent by the workers, not by hand"))
    if campaign.status not in (Campaign.Status.RUNNING, Campaign.Status.PAUSED) \
            or send_list.state == SendList.State.DONE:
        raise ServiceError(_("list %(number)s is closed: the campaign is %(status)s; nothing was recorded")
                           % {"number": number, "status": campaign.get_status_display()})
    due = Delivery.objects.filter(send_list=send_list, status__in=PENDING).aggregate(t=Min("send_after"))["t"]
    if due is not None and now < due:
        raise ServiceError({"send_at": [
            _("list %(number)s is due at %(due)s UTC: send it from the app then, and mark it sent after")
            % {"number": number, "due": f"{due:%Y-%m-%d %H:%M}"}]})
    # Locks in the order an opt-out takes them (the subscription, then its rows), and the
    # people's rows as a worker's claim does (caps are checked under them): an opt-out or
    # another campaign's cap check commits before this or after it, never in between.
    people = sorted(set(Delivery.objects.filter(send_list=send_list, status__in=PENDING)
                        .values_list("subscriber_id", flat=True)))
    list(Subscriber.objects.select_for_update(no_key=True).filter(pk__in=people).order_by("pk").values_list("pk"))
    opted_in = _share_locked_opted_in(send_list.pk)
    rows = dict(Delivery.objects.select_for_update(of=("self",)).filter(send_list=send_list, status__in=PENDING)
                .values_list("pk", "subscription__status"))
    sendable = [pk for pk in rows if pk in opted_in]
    sent = Delivery.objects.filter(pk__in=sendable).update(status=S.SENT, sent_at=now, reason=_reason(actor),
                                                           updated_at=now)
    # the fatigue guard counts a message sent by hand like any other
    fatigue.people_reached(Delivery.objects.filter(pk__in=sendable).values_list("subscriber_id", flat=True))
    skipped = 0
    for status in sorted({status for pk, status in rows.items() if pk not in opted_in}):
        skipped += Delivery.objects.filter(pk__in=[pk for pk, st in rows.items() if st == status and pk not in opted_in]
                                           ).update(status=S.SKIPPED, updated_at=now,
                                                    reason=f"subscription {status} before the list was sent by hand")
    send_list.marked_sent_at, send_list.marked_sent_by = now, actor if actor and actor.is_authenticated else None
    send_list.state, send_list.next_due = SendList.State.DONE, None
    send_list.save(update_fields=["marked_sent_at", "marked_sent_by", "state", "next_due"])
    audit_record(campaign, verb="list marked sent", actor=actor,
                 extra={"list": number, "platform": send_list.platform, "sent": sent, "skipped": skipped})
    from ..delivery.sending import campaign_complete_if_done  # the engine imports services

    campaign_complete_if_done(campaign_id=campaign.pk)
    return Marked(send_list, sent, skipped, already=False)


def _share_locked_opted_in(send_list_id: int) -> set[int]:
    """The list's waiting rows whose subscription is opted in, those subscriptions share-locked."""
    if connection.vendor != "postgresql":
        return set(Delivery.objects.filter(send_list_id=send_list_id, status__in=PENDING,
                                           subscription__status="opted_in").values_list("pk", flat=True))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT d.id FROM campaigns_delivery d JOIN campaigns_subscription s ON s.id = d.subscription_id "
            "WHERE d.send_list_id = %s AND d.status = ANY(%s) AND s.status = 'opted_in' FOR SHARE OF s",
            [send_list_id, list(PENDING)],
        )
        return {row[0] for row in cursor.fetchall()}


# --- downloads ----------------------------------------------------------------------------

FORMATS = {"vcard": ("vcf", "text/vcard; charset=utf-8"), "csv": ("csv", "text/csv; charset=utf-8")}


@dataclass(frozen=True)
class ListFile:
    filename: str
    content_type: str
    content: bytes


def send_list_download(*, campaign: Campaign, number: int, kind: str,
                       actor: AbstractBaseUser | None = None) -> ListFile:
    """List `number` as a vCard file or a CSV with the text to paste (`kind`: vcard, csv),
    audit-logged: it holds phone numbers. SendList.DoesNotExist when there is no such list."""
    from ..delivery.manual import list_contacts, list_text  # the engine imports services

    send_list = SendList.objects.select_related("campaign", "variant").get(campaign=campaign, number=number)
    contacts = list_contacts(send_list)
    extension, content_type = FORMATS[kind]
    if kind == "vcard":
        content = phone_lists.vcards(contacts)
    else:
        content = phone_lists.csv_file(contacts, list_text(send_list))
    slug = slugify(campaign.name) or "campaign"
    audit_record(campaign, verb="list downloaded", actor=actor,
                 extra={"list": number, "platform": send_list.platform, "format": kind, "people": len(contacts)})
    return ListFile(f"{slug}-{campaign.pk}-list-{number}-{send_list.platform}.{extension}", content_type, content)
