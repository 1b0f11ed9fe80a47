"""Follow-ups of a campaign that went out.

- Resend to its `uncertain` rows: the platform may or may not have taken them, so some
  people may get the message twice; only when the marketer asks and confirms.
- Resend to rows that failed for a temporary reason (the sender gave up after its retries);
  never to permanent failures or people who are gone.
- A follow-up campaign: a new draft campaign over exactly the people who did not read (or did
  not click) within N hours, through a static segment of them.

A resend puts the rows back in line in the same campaign: consent, caps, quiet hours and the
deadline are checked again when they are sent, as for any row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from auditlog.context import disable_auditlog
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models import Min, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from ..audit import audit_record
from ..models import Campaign, Delivery, Draft, Segment, SendList, Subscription
from .errors import ServiceError

S = Delivery.Status
RESEND = ("uncertain", "failed")
# sending._judge's reason for a temporary failure that ran out of retries.
GAVE_UP = "gave up after"
RESENDABLE = (Campaign.Status.RUNNING, Campaign.Status.PAUSED, Campaign.Status.COMPLETED)

RULES = ("not_read", "not_clicked")
# Platforms that report reads. Telegram sends no read receipts: "did not read" leaves its
# people out (nobody can tell), and says how many; "did not click" counts everyone.
READ_PLATFORMS = ("whatsapp", "viber")
HOURS_MAX = 24 * 30
SENT_STATES = (S.SENT, S.DELIVERED, S.READ)


# --- resend -----------------------------------------------------------------------------


def resend_rows(campaign: Campaign, which: str) -> QuerySet[Delivery]:
    """The rows a resend of `which` would put back in line: `uncertain` ones, or those that
    failed for a temporary reason; only of people still opted in on that subscription."""
    rows = Delivery.objects.filter(campaign=campaign, send_list__isnull=False,
                                   subscription__status=Subscription.Status.OPTED_IN)
    if which == "uncertain":
        return rows.filter(status=S.UNCERTAIN)
    return rows.filter(status=S.FAILED, reason__startswith=GAVE_UP)


def resend_counts(campaign: Campaign) -> dict[str, int]:
    """{"uncertain": n, "failed": n}: what each resend would put back in line now."""
    return {which: resend_rows(campaign, which).count() for which in RESEND}


def _actor_name(actor: AbstractBaseUser | None) -> str:
    if actor is not None and getattr(actor, "is_authenticated", False):
        return actor.get_username()
    return "an unknown user"


@transaction.atomic
def campaign_resend(*, campaign: Campaign, which: str, confirm: bool = False,
                    actor: AbstractBaseUser | None = None, now: datetime | None = None) -> int:
    """Put the `uncertain` (only with `confirm`: some may get it twice) or temporarily
    `failed` rows back in line now; a completed campaign runs again until they are done.
    Returns how many rows; ServiceError by field when it cannot."""
    if which not in RESEND:
        raise ServiceError({"which": [_("choose %(choices)s") % {"choices": " or ".join(RESEND)}]})
    now = now or timezone.now()
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status not in RESENDABLE:
        raise ServiceError({"status": [_("a %(status)s campaign cannot resend; only a running, paused or "
                                         "completed one") % {"status": campaign.status}]})
    if campaign.manual:
        raise ServiceError({"status": [_("a campaign sent by hand from the phone apps is resent from the apps")]})
    if campaign.expires_at is not None and campaign.expires_at <= now:
        raise ServiceError({"status": [_("the campaign expired at %(at)s UTC: nothing would be sent")
                                       % {"at": f"{campaign.expires_at:%Y-%m-%d %H:%M}"}]})
    # Locked: a late outcome of the first attempt (the sender settles `uncertain` rows a
    # receipt proves) waits for us, then finds the rows no longer its own.
    rows = list(resend_rows(campaign, which).select_for_update(of=("self",)).order_by("pk")
                .values_list("pk", "send_list_id"))
    if not rows:
        nothing = (_("no uncertain rows to resend") if which == "uncertain"
                   else _("no rows failed for a temporary reason (permanent failures and people who left are "
                          "never resent)"))
        raise ServiceError({"which": [nothing]})
    if which == "uncertain" and not confirm:
        raise ServiceError({"confirm": [
            _("%(n)s people may or may not have received it already: some may get it twice. Confirm to resend.")
            % {"n": len(rows)}]})
    ids = [pk for pk, _list in rows]
    count = Delivery.objects.filter(pk__in=ids).update(
        status=S.PLANNED, attempts=0, reason=f"resent at {_actor_name(actor)}'s request", send_after=now,
        sent_at=None, platform_message_id="", updated_at=now)
    lists = sorted({list_id for _pk, list_id in rows})
    list(SendList.objects.select_for_update().filter(pk__in=lists).order_by("pk").values_list("pk"))
    # A list being sent right now keeps its task, which settles it after; the others wait, due now.
    SendList.objects.filter(pk__in=lists).exclude(state=SendList.State.QUEUED).update(
        state=SendList.State.WAITING, next_due=now)
    SendList.objects.filter(pk__in=lists, state=SendList.State.QUEUED).update(next_due=now)
    before = {"status": campaign.status}
    if campaign.status == Campaign.Status.COMPLETED:
        Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.RUNNING, finished_at=None,
                                                       updated_at=now)
        campaign.status = Campaign.Status.RUNNING
    audit_record(campaign, verb="resent", actor=actor, before=before, after={"status": campaign.status},
                 extra={"which": which, "rows": count})
    return count


# --- a follow-up campaign ------------------------------------------------------------------


@dataclass(frozen=True)
class FollowUp:
    """A follow-up campaign made, and who it leaves out for want of read receipts."""

    campaign: Campaign
    people: int
    no_read_receipts: int  # "did not read": people on platforms that report no reads (Telegram)


def rule_text(rule: str, hours: int) -> str:
    """The follow-up rule as a person reads it."""
    if rule == "not_read":
        return _("did not read within %(hours)s h") % {"hours": hours}
    return _("did not click within %(hours)s h") % {"hours": hours}


def rule_label(stored: str) -> str:
    """A campaign's `follow_up_rule` ("not_read:24h") as a person reads it."""
    rule, _sep, hours = stored.partition(":")
    if rule in RULES and hours.removesuffix("h").isdigit():
        return rule_text(rule, int(hours.removesuffix("h")))
    return stored


def follow_up_rows(campaign: Campaign, *, rule: str, hours: int, now: datetime) -> tuple[QuerySet[Delivery], int]:
    """(The rows whose people the follow-up reaches, how many "did not read" leaves out for
    want of read receipts). Reached: sent at least `hours` ago and, by now, not read (on a
    platform that reports reads) or not clicked."""
    due = Delivery.objects.filter(campaign=campaign, status__in=SENT_STATES, sent_at__lte=now - timedelta(hours=hours),
                                  subscriber__erased_at__isnull=True)
    if rule == "not_clicked":
        return due.filter(clicked_at__isnull=True), 0
    unread = due.filter(status__in=(S.SENT, S.DELIVERED))
    return unread.filter(platform__in=READ_PLATFORMS), unread.exclude(platform__in=READ_PLATFORMS).count()


def _checked(rule: str, hours: object, send_at: datetime | None, now: datetime) -> None:
    problems: dict[str, list[str]] = {}
    if rule not in RULES:
        problems["rule"] = [_("choose %(choices)s") % {"choices": " or ".join(RULES)}]
    if not isinstance(hours, int) or isinstance(hours, bool) or not 1 <= hours <= HOURS_MAX:
        problems["hours"] = [_("a whole number of hours from 1 to %(max)s") % {"max": HOURS_MAX}]
    if send_at is not None and send_at <= now:
        problems["send_at"] = [_("send_at %(send_at)s UTC is in the past") % {"send_at": f"{send_at:%Y-%m-%d %H:%M}"}]
    if problems:
        raise ServiceError(problems)


@transaction.atomic
def campaign_follow_up(*, campaign: Campaign, rule: str, hours: int, draft: Draft | None = None,
                       send_at: datetime | None = None, actor: AbstractBaseUser | None = None,
                       now: datetime | None = None) -> FollowUp:
    """A new draft campaign over exactly the people of `campaign` who did not read
    (`not_read`) or did not click (`not_clicked`) within `hours`: a static segment of them,
    the same platforms, `draft` (else the campaign's), `send_at` (else in an hour)."""
    now = now or timezone.now()
    _checked(rule, hours, send_at, now)
    rows, no_receipts = follow_up_rows(campaign, rule=rule, hours=hours, now=now)
    people = sorted(set(rows.values_list("subscriber_id", flat=True)))
    if not people:
        sent = Delivery.objects.filter(campaign=campaign, status__in=SENT_STATES)
        first = sent.aggregate(t=Min("sent_at"))["t"]
        if first is None:
            raise ServiceError({"hours": [_("nothing of this campaign was sent yet")]})
        if first > now - timedelta(hours=hours):
            raise ServiceError({"hours": [
                _("%(hours)s hours have not passed yet for anyone: the first message went out at %(first)s UTC; "
                  "ask again after %(after)s UTC")
                % {"hours": hours, "first": f"{first:%Y-%m-%d %H:%M}",
                   "after": f"{first + timedelta(hours=hours):%Y-%m-%d %H:%M}"}]})
        why = _("everyone it reached read it") if rule == "not_read" else _("everyone it reached clicked")
        if no_receipts:
            why = _("%(why)s, and Telegram (%(n)s people) reports no reads: try “did not click”") % {
                "why": why, "n": no_receipts}
        raise ServiceError({"rule": [_("nobody qualifies: %(why)s") % {"why": why}]})
    length = Segment._meta.get_field("name").max_length
    segment = Segment.objects.create(
        name=(_("%(campaign)s — %(rule)s") % {"campaign": campaign.name, "rule": rule_text(rule, hours)})[:length],
        kind=Segment.Kind.STATIC, rules={})
    Through = Segment.members.through
    Through.objects.bulk_create([Through(segment_id=segment.pk, subscriber_id=pk) for pk in people], batch_size=5000)
    follow_up = Campaign(
        name=(_("%(name)s — follow-up") % {"name": campaign.name})[:Campaign._meta.get_field("name").max_length],
        draft=draft or campaign.draft, segment=segment, platforms=list(campaign.platforms),
        send_at=send_at or now + timedelta(hours=1), local_time=campaign.local_time, timezone=campaign.timezone,
        follow_up_of=campaign, follow_up_rule=f"{rule}:{hours}h",
        # from the same bots and numbers: its people are subscribed to those
        telegram_account_id=campaign.telegram_account_id, whatsapp_account_id=campaign.whatsapp_account_id,
        viber_account_id=campaign.viber_account_id,
        created_by=actor if actor is not None and getattr(actor, "is_authenticated", False) else None,
    )
    with disable_auditlog():
        follow_up.save()
    audit_record(follow_up, verb="created", actor=actor,
                 after={"name": follow_up.name, "status": follow_up.status, "send_at": follow_up.send_at},
                 extra={"follow_up_of": campaign.pk, "rule": follow_up.follow_up_rule, "people": len(people)})
    return FollowUp(follow_up, len(people), no_receipts)


def follow_up_note(made: FollowUp) -> str:
    """What the follow-up reaches, and whom "did not read" leaves out (Telegram has no read receipts)."""
    note = _("A draft campaign over %(n)s people who %(rule)s.") % {
        "n": made.people, "rule": rule_label(made.campaign.follow_up_rule)}
    if made.no_read_receipts:
        note += " " + _("%(n)s people got it on Telegram, which reports no reads: they are not in it (a follow-up "
                        "by “did not click” reaches them).") % {"n": made.no_read_receipts}
    return note
