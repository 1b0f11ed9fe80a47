"""Campaign transitions: schedule (or submit for approval), approve, reject, pause, resume,
cancel; each one is a single audit entry with its actor, before and after."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from auditlog.context import disable_auditlog
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from channels.limits import PLATFORMS

from .. import links, selectors, windows
from ..audit import audit_record
from ..models import Campaign, Delivery, Draft, FrequencyPolicy, Segment, SendList
from . import series
from .content import content_problems
from .errors import ServiceError
from .manual_lists import manual_problems
from .media import media_frozen, media_problems
from .paid_broadcast import campaign_paid_problems
from .personal import campaign_personal_problems
from .sender_accounts import campaign_account_problems
from .variants import campaign_variant_problems, campaign_variants_copy, variants_freeze
from .whatsapp_templates import campaign_template_problems

# The content a campaign freezes from its draft: what an approver approves.
CONTENT = {"content_title": "title", "content_body": "body", "content_buttons": "buttons",
           "content_whatsapp_template": "whatsapp_template", "content_track_links": "track_links",
           "content_track_body_links": "track_body_links"}
_USERS = ("created_by", "submitted_by", "approved_by")


def _state(campaign: Campaign, *fields: str) -> dict[str, Any]:
    """The named fields of `campaign` as the audit log shows them (users by username)."""
    out: dict[str, Any] = {}
    for name in fields:
        value = getattr(campaign, name)
        out[name] = value.get_username() if name in _USERS and value is not None else value
    return out


def _save(campaign: Campaign, *, verb: str, actor: AbstractBaseUser | None, before: dict[str, Any],
          update_fields: list[str] | None = None, extra: dict[str, Any] | None = None) -> None:
    """Save a transition as one audit entry with its verb (not also as a plain "changed" one)."""
    with disable_auditlog():
        campaign.save(update_fields=update_fields)
    audit_record(campaign, verb=verb, actor=actor, before=before, after=_state(campaign, *before), extra=extra)


def campaign_problems(campaign: Campaign, *, now: datetime) -> dict[str, list[str]]:
    """Everything that keeps `campaign` from being scheduled now, by field."""
    problems: dict[str, list[str]] = {}
    unknown = [p for p in campaign.platforms if p not in PLATFORMS]
    if not campaign.platforms or unknown:
        problems.setdefault("platforms", []).append(
            _("choose platforms among %(platforms)s") % {"platforms": ", ".join(PLATFORMS)})
    if campaign.send_at <= now:
        problems.setdefault("send_at", []).append(
            _("send_at %(send_at)s UTC is in the past (now %(now)s UTC)")
            % {"send_at": f"{campaign.send_at:%Y-%m-%d %H:%M}", "now": f"{now:%Y-%m-%d %H:%M}"}
        )
    if campaign.expires_at is not None and campaign.expires_at <= campaign.send_at:
        problems.setdefault("expires_at", []).append(_("expires_at must be after send_at"))
    for field, messages in campaign_account_problems(campaign).items():  # an inactive or unreadable sender account
        problems.setdefault(field, []).extend(messages)
    for field, messages in series.series_problems(campaign, now=now).items():  # a bad or spent recurrence
        problems.setdefault(field, []).extend(messages)
    for field, messages in windows.timing_problems(  # spread and send window, against today's quiet hours
            spread_hours=campaign.spread_hours, window_start=campaign.send_window_start,
            window_end=campaign.send_window_end, send_at=campaign.send_at, expires_at=campaign.expires_at,
            quiet=FrequencyPolicy.current().quiet_hours()).items():
        problems.setdefault(field, []).extend(messages)
    # Measured with its tracked links as long as they will be (WhatsApp appends button URLs to the text).
    buttons, body = links.as_measured(campaign.draft.buttons or [], campaign.draft.body,
                                      track_buttons=campaign.draft.track_links,
                                      track_body=campaign.draft.track_body_links)
    content = content_problems(body, [p for p in campaign.platforms if p in PLATFORMS],
                               buttons=buttons, media_kind=campaign.draft.media_kind)
    if content:
        problems["draft"] = content
    personal = campaign_personal_problems(campaign)
    if "draft" in personal:  # a personalised text is measured as each person gets it, not as typed
        problems.pop("draft", None)
    for field, messages in personal.items():
        if messages:
            problems.setdefault(field, []).extend(messages)
    media = media_problems(campaign.draft, [p for p in campaign.platforms if p in PLATFORMS])
    if media:
        problems["media"] = media
    # Sent by hand from the app (no 24-hour window there): one text for all, no tracked links.
    template_problems = {} if campaign.manual else campaign_template_problems(campaign, now=now)
    for field, messages in [*template_problems.items(), *manual_problems(campaign).items()]:
        problems.setdefault(field, []).extend(messages)
    segment: Segment = campaign.segment
    if segment.max_size is not None:
        size = selectors.segment_size(segment)
        if size > segment.max_size:
            problems["segment"] = [
                _("segment '%(segment)s' has %(size)s people, over its max_size of %(max_size)s")
                % {"segment": segment, "size": size, "max_size": segment.max_size}
            ]
    if campaign.kind != Campaign.Kind.STANDARD:  # every row gets a variant: each pool is checked for its people
        problems.pop("coupons", None)
    for field, messages in campaign_variant_problems(campaign, now=now).items():  # A/B test, VIP offers
        problems.setdefault(field, []).extend(messages)
    # A paid broadcast's Stars are read from Telegram (forecast and getMyStarBalance) only
    # when nothing else keeps the campaign back.
    for field, messages in campaign_paid_problems(campaign, now=now, check_balance=not problems).items():
        problems.setdefault(field, []).extend(messages)
    return problems


def _freeze(campaign: Campaign, draft: Draft) -> None:
    for field, source in CONTENT.items():
        setattr(campaign, field, getattr(draft, source))
    campaign.content_media = media_frozen(draft)


@transaction.atomic
def campaign_schedule(*, campaign: Campaign, actor: AbstractBaseUser | None = None,
                      now: datetime | None = None) -> Campaign:
    """draft -> scheduled, freezing the draft's content; with TACT_REQUIRE_APPROVAL, draft ->
    awaiting_approval instead (another user approves). ServiceError says what is wrong."""
    now = now or timezone.now()
    campaign = Campaign.objects.select_for_update().select_related("draft", "segment").get(pk=campaign.pk)
    if campaign.status != Campaign.Status.DRAFT:
        raise ServiceError(
            _("only a draft campaign can be scheduled; this one is %(status)s") % {"status": campaign.status})
    problems = campaign_problems(campaign, now=now)
    if problems:
        raise ServiceError(problems)
    before = _state(campaign, "status")
    _freeze(campaign, campaign.draft)
    variants_freeze(campaign)  # each variant's content, as the campaign's
    series.series_arm(campaign, now=now, first=True)  # a series: send_at is its first occurrence
    campaign.approved_by, campaign.approved_at = None, None
    if settings.TACT_REQUIRE_APPROVAL:
        before |= _state(campaign, "submitted_by")
        campaign.status = Campaign.Status.AWAITING_APPROVAL
        campaign.submitted_by, campaign.submitted_at = actor, now
        _save(campaign, verb="submitted", actor=actor, before=before)
    else:
        campaign.status = Campaign.Status.SCHEDULED
        campaign.scheduled_at = now
        _save(campaign, verb="scheduled", actor=actor, before=before)
    return campaign


@transaction.atomic
def campaign_approve(*, campaign: Campaign, actor: AbstractBaseUser, now: datetime | None = None) -> Campaign:
    """awaiting_approval -> scheduled, by another user than the one who submitted it; the
    checks of scheduling run again (send_at may have passed meanwhile)."""
    now = now or timezone.now()
    campaign = Campaign.objects.select_for_update().select_related("draft", "segment").get(pk=campaign.pk)
    if campaign.status != Campaign.Status.AWAITING_APPROVAL:
        raise ServiceError(_("only a campaign awaiting approval can be approved; this one is %(status)s")
                           % {"status": campaign.status})
    if actor is None or not actor.is_authenticated:
        raise ServiceError({"approved_by": [_("an approval needs a signed-in approver")]})
    if campaign.submitted_by_id == actor.pk:
        raise ServiceError({"approved_by": [
            _("%(user)s submitted this campaign; another user must approve it") % {"user": actor.get_username()}]})
    problems = campaign_problems(campaign, now=now)
    if problems:
        raise ServiceError(problems)
    before = _state(campaign, "status", "approved_by")
    campaign.status = Campaign.Status.SCHEDULED
    series.series_arm(campaign, now=now, first=False)
    campaign.approved_by, campaign.approved_at = actor, now
    campaign.scheduled_at = now
    _save(campaign, verb="approved", actor=actor, before=before)
    return campaign


@transaction.atomic
def campaign_reject(*, campaign: Campaign, actor: AbstractBaseUser | None, reason: str) -> Campaign:
    """awaiting_approval -> draft, saying why; the marketer edits it and submits it again."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status != Campaign.Status.AWAITING_APPROVAL:
        raise ServiceError(_("only a campaign awaiting approval can be rejected; this one is %(status)s")
                           % {"status": campaign.status})
    reason = reason.strip()
    if not reason:
        raise ServiceError({"reason": [_("say why the campaign is rejected")]})
    before = _state(campaign, "status", "submitted_by")
    campaign.status = Campaign.Status.DRAFT
    campaign.submitted_by, campaign.submitted_at = None, None
    _save(campaign, verb="rejected", actor=actor, before=before, extra={"reason": reason})
    return campaign


@transaction.atomic
def campaigns_withdraw_approval(*, draft: Draft, actor: AbstractBaseUser | None = None,
                                now: datetime | None = None) -> list[Campaign]:
    """After `draft` was edited: its campaigns awaiting approval, or approved and not yet
    started, take the new content and await approval again; the others keep what they froze.

    Whoever edited the content submits it anew: they cannot approve their own edit.
    """
    now = now or timezone.now()
    waiting = [Campaign.Status.AWAITING_APPROVAL]
    if settings.TACT_REQUIRE_APPROVAL:
        waiting += [Campaign.Status.SCHEDULED, Campaign.Status.PAUSED]
    withdrawn = []
    candidates = Campaign.objects.select_for_update().filter(
        draft=draft, status__in=waiting, started_at__isnull=True).order_by("pk")
    for campaign in candidates:
        if campaign.status != Campaign.Status.AWAITING_APPROVAL and campaign.approved_by_id is None:
            continue  # scheduled before approval was required: frozen, as without approval
        changed = [field for field, source in CONTENT.items() if getattr(campaign, field) != getattr(draft, source)]
        if campaign.content_media != media_frozen(draft):
            changed.append("content_media")
        if not changed:
            continue
        before = _state(campaign, "status", "approved_by", "submitted_by", *changed)
        _freeze(campaign, draft)
        campaign.status = Campaign.Status.AWAITING_APPROVAL
        campaign.approved_by, campaign.approved_at = None, None
        campaign.scheduled_at, campaign.paused_at = None, None
        if actor is not None and actor.is_authenticated:
            campaign.submitted_by, campaign.submitted_at = actor, now
        _save(campaign, verb="approval withdrawn", actor=actor, before=before,
              extra={"reason": f"draft “{draft}” edited"})
        withdrawn.append(campaign)
    return withdrawn


CANCELLABLE = (Campaign.Status.AWAITING_APPROVAL, Campaign.Status.SCHEDULED, Campaign.Status.RUNNING,
               Campaign.Status.PAUSED)


@transaction.atomic
def campaign_cancel(*, campaign: Campaign, actor: AbstractBaseUser | None = None) -> Campaign:
    """Stop a campaign for good: nothing still waiting in its ledger will be sent."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status not in CANCELLABLE:
        raise ServiceError(_("a %(status)s campaign cannot be cancelled") % {"status": campaign.status})
    now = timezone.now()
    before = _state(campaign, "status")
    campaign.status = Campaign.Status.CANCELLED
    campaign.cancelled_at = now
    _save(campaign, verb="cancelled", actor=actor, before=before,
          update_fields=["status", "cancelled_at", "updated_at"])
    campaign.deliveries.filter(status__in=[Delivery.Status.PLANNED, Delivery.Status.HELD]).update(
        status=Delivery.Status.SKIPPED, reason="campaign cancelled", updated_at=now
    )
    campaign.send_lists.exclude(state=SendList.State.DONE).update(state=SendList.State.DONE)
    series.series_cancelled(campaign, actor=actor)  # a series: no more runs
    return campaign


@transaction.atomic
def campaign_pause(*, campaign: Campaign, actor: AbstractBaseUser | None = None) -> Campaign:
    """Stop sending within one chunk (a fraction of a second); nothing is lost or resent."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status not in (Campaign.Status.SCHEDULED, Campaign.Status.RUNNING):
        raise ServiceError(_("a %(status)s campaign cannot be paused") % {"status": campaign.status})
    before = _state(campaign, "status")
    campaign.status = Campaign.Status.PAUSED
    campaign.paused_at = timezone.now()
    _save(campaign, verb="paused", actor=actor, before=before, update_fields=["status", "paused_at", "updated_at"])
    series.series_paused(campaign, actor=actor)  # a series: no runs meanwhile
    return campaign


@transaction.atomic
def campaign_resume(*, campaign: Campaign, actor: AbstractBaseUser | None = None,
                    now: datetime | None = None) -> Campaign:
    """Continue where it stopped: rows already sent are never sent again (a series: from its
    next occurrence after `now`)."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status != Campaign.Status.PAUSED:
        raise ServiceError(
            _("only a paused campaign can be resumed; this one is %(status)s") % {"status": campaign.status})
    before = _state(campaign, "status")
    campaign.status = Campaign.Status.RUNNING if campaign.started_at else Campaign.Status.SCHEDULED
    campaign.paused_at = None
    # The marketer says it is fixed; the engine says so again if it is not.
    campaign.problem, campaign.problem_since = "", None
    _save(campaign, verb="resumed", actor=actor, before=before,
          update_fields=["status", "paused_at", "problem", "problem_since", "updated_at"])
    series.series_resumed(campaign, actor=actor, now=now)  # a series: from the next occurrence after now
    return campaign


@transaction.atomic
def campaign_duplicate(*, campaign: Campaign, actor: AbstractBaseUser | None = None,
                       now: datetime | None = None) -> Campaign:
    """A new draft with the same draft, segment, platforms and timing. A send_at already
    past moves forward by whole days (same time of day, at least an hour ahead), and
    expires_at with it; the content is frozen again when the copy is scheduled."""
    now = now or timezone.now()
    original = Campaign.objects.get(pk=campaign.pk)
    shift = timedelta(0)
    while original.send_at + shift < now + timedelta(hours=1):
        shift += timedelta(days=1)
    copy = Campaign(
        name=(_("%(name)s (copy)") % {"name": original.name})[: Campaign._meta.get_field("name").max_length],
        draft_id=original.draft_id, segment_id=original.segment_id, platforms=list(original.platforms),
        send_at=original.send_at + shift, local_time=original.local_time,
        expires_at=original.expires_at + shift if original.expires_at is not None else None,
        spread_hours=original.spread_hours, send_window_start=original.send_window_start,
        send_window_end=original.send_window_end, manual=original.manual, paid_broadcast=original.paid_broadcast,
        timezone=original.timezone, recurrence=original.recurrence,  # a series' copy is a series (a run's: once)
        recurrence_until=original.recurrence_until + shift if original.recurrence_until is not None else None,
        telegram_account_id=original.telegram_account_id, whatsapp_account_id=original.whatsapp_account_id,
        viber_account_id=original.viber_account_id,  # the same bots and numbers
        created_by=actor if actor is not None and actor.is_authenticated else None,
    )
    with disable_auditlog():
        copy.save()
    campaign_variants_copy(source=original, target=copy)  # kind, A/B settings, variants
    audit_record(copy, verb="created", actor=actor, after=_state(copy, "name", "status", "send_at"),
                 extra={"copied_from": original.pk})
    return copy
