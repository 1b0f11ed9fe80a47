"""Campaign transitions: schedule, pause, resume, cancel."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from channels.limits import PLATFORMS

from .. import selectors
from ..models import Campaign, Delivery, Segment, SendList
from .content import content_problems
from .errors import ServiceError


def campaign_problems(campaign: Campaign, *, now: datetime) -> dict[str, list[str]]:
    """Everything that keeps `campaign` from being scheduled now, by field."""
    problems: dict[str, list[str]] = {}
    unknown = [p for p in campaign.platforms if p not in PLATFORMS]
    if not campaign.platforms or unknown:
        problems.setdefault("platforms", []).append(f"choose platforms among {', '.join(PLATFORMS)}")
    if campaign.send_at <= now:
        problems.setdefault("send_at", []).append(
            f"send_at {campaign.send_at:%Y-%m-%d %H:%M} UTC is in the past (now {now:%Y-%m-%d %H:%M} UTC)"
        )
    if campaign.expires_at is not None and campaign.expires_at <= campaign.send_at:
        problems.setdefault("expires_at", []).append("expires_at must be after send_at")
    content = content_problems(campaign.draft.body, [p for p in campaign.platforms if p in PLATFORMS],
                               buttons=campaign.draft.buttons)
    if content:
        problems["draft"] = content
    segment: Segment = campaign.segment
    if segment.max_size is not None:
        size = selectors.segment_size(segment)
        if size > segment.max_size:
            problems["segment"] = [
                f"segment '{segment}' has {size} people, over its max_size of {segment.max_size}"
            ]
    return problems


@transaction.atomic
def campaign_schedule(*, campaign: Campaign, now: datetime | None = None) -> Campaign:
    """draft -> scheduled, freezing the draft's content; ServiceError says what is wrong."""
    now = now or timezone.now()
    campaign = Campaign.objects.select_for_update().select_related("draft", "segment").get(pk=campaign.pk)
    if campaign.status != Campaign.Status.DRAFT:
        raise ServiceError(f"only a draft campaign can be scheduled; this one is {campaign.status}")
    problems = campaign_problems(campaign, now=now)
    if problems:
        raise ServiceError(problems)
    draft = campaign.draft
    campaign.content_title = draft.title
    campaign.content_body = draft.body
    campaign.content_buttons = draft.buttons
    campaign.content_whatsapp_template = draft.whatsapp_template
    campaign.status = Campaign.Status.SCHEDULED
    campaign.scheduled_at = now
    campaign.save()
    return campaign


CANCELLABLE = (Campaign.Status.SCHEDULED, Campaign.Status.RUNNING, Campaign.Status.PAUSED)


@transaction.atomic
def campaign_cancel(*, campaign: Campaign) -> Campaign:
    """Stop a campaign for good: nothing still waiting in its ledger will be sent."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status not in CANCELLABLE:
        raise ServiceError(f"a {campaign.status} campaign cannot be cancelled")
    now = timezone.now()
    campaign.status = Campaign.Status.CANCELLED
    campaign.cancelled_at = now
    campaign.save(update_fields=["status", "cancelled_at", "updated_at"])
    campaign.deliveries.filter(status__in=[Delivery.Status.PLANNED, Delivery.Status.HELD]).update(
        status=Delivery.Status.SKIPPED, reason="campaign cancelled", updated_at=now
    )
    campaign.send_lists.exclude(state=SendList.State.DONE).update(state=SendList.State.DONE)
    return campaign


@transaction.atomic
def campaign_pause(*, campaign: Campaign) -> Campaign:
    """Stop sending within one chunk (a fraction of a second); nothing is lost or resent."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status not in (Campaign.Status.SCHEDULED, Campaign.Status.RUNNING):
        raise ServiceError(f"a {campaign.status} campaign cannot be paused")
    campaign.status = Campaign.Status.PAUSED
    campaign.paused_at = timezone.now()
    campaign.save(update_fields=["status", "paused_at", "updated_at"])
    return campaign


@transaction.atomic
def campaign_resume(*, campaign: Campaign) -> Campaign:
    """Continue where it stopped: rows already sent are never sent again."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status != Campaign.Status.PAUSED:
        raise ServiceError(f"only a paused campaign can be resumed; this one is {campaign.status}")
    campaign.status = Campaign.Status.RUNNING if campaign.started_at else Campaign.Status.SCHEDULED
    campaign.paused_at = None
    # The marketer says it is fixed; the engine says so again if it is not.
    campaign.problem, campaign.problem_since = "", None
    campaign.save(update_fields=["status", "paused_at", "problem", "problem_since", "updated_at"])
    return campaign
