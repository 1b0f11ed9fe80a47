"""Recurring campaigns (series): checks of the recurrence fields, and what scheduling, pausing,
resuming and cancelling a series does besides its own status.

A series never sends. Scheduled, it waits with `next_run_at` set; the beat's spawn step
(campaigns/delivery/series.py) makes each occurrence a run, an ordinary campaign with its own
ledger. Called from the transitions in services/campaigns.py, inside their transactions.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import personalise, recurrence, rules
from ..models import Campaign

# Runs of a paused or cancelled series that have not started yet (a local-time run is made
# up to 26 h ahead): they follow the series.
WAITING_RUNS = (Campaign.Status.SCHEDULED, Campaign.Status.AWAITING_APPROVAL)


def min_gap() -> timedelta:
    return timedelta(minutes=settings.TACT_RECURRENCE_MIN_GAP_MINUTES)


def recurrence_input_problems(*, rule: str, send_at: datetime | None, zone_name: str, until: datetime | None,
                              now: datetime) -> dict[str, list[str]]:
    """What is wrong with a campaign's recurrence fields as typed, by field (API and admin form)."""
    problems: dict[str, list[str]] = {}
    try:
        zone = recurrence.zone_for(rules.parse_timezone(zone_name).key if zone_name else "")
    except ValueError as exc:
        return {"timezone": [str(exc)]}
    if not rule.strip():
        if until is not None:
            problems["recurrence_until"] = [_("an end date needs a recurrence")]
        return problems
    if send_at is None:
        return problems  # send_at's own error says it
    if until is not None and until <= send_at:
        problems["recurrence_until"] = [_("the recurrence must end after send_at")]
        return problems
    found = recurrence.problems(rule, start=send_at, zone=zone, until=until, now=now, min_gap=min_gap())
    if found:
        problems["recurrence"] = found
    return problems


def series_problems(campaign: Campaign, *, now: datetime) -> dict[str, list[str]]:
    """What keeps a series from being scheduled now (part of campaign_problems)."""
    if not campaign.recurrence and not campaign.recurrence_until:
        return {}
    problems = recurrence_input_problems(rule=campaign.recurrence, send_at=campaign.send_at,
                                         zone_name=campaign.timezone, until=campaign.recurrence_until, now=now)
    draft = campaign.draft
    if campaign.recurrence and personalise.uses_coupon(
            personalise.content_texts(draft.body, draft.buttons or [], draft.whatsapp_template)):
        # A coupon pool belongs to one campaign: each run would start with an empty one.
        problems.setdefault("recurrence", []).append(
            _("a recurring campaign cannot give {{ coupon }} codes: each run would need its own pool"))
    return problems


def series_next_run(campaign: Campaign, *, now: datetime) -> datetime | None:
    """The first occurrence after now (at or after send_at) that has no run yet; missed ones are not made up."""
    rec = recurrence.of_campaign(campaign)
    after = max(now, campaign.runs.order_by("-occurrence").values_list("occurrence", flat=True).first() or now)
    if campaign.send_at > after:
        return recurrence.next_occurrence(rec, after=campaign.send_at, inclusive=True)
    return recurrence.next_occurrence(rec, after=after)


def series_arm(campaign: Campaign, *, now: datetime, first: bool) -> None:
    """Set (not save) when the series' next run is due. `first` (scheduling): send_at moves
    to the first occurrence, expires_at with it, so DTSTART is an occurrence."""
    if not campaign.recurrence:
        return
    if first:
        rec = recurrence.of_campaign(campaign)
        occurrence = recurrence.next_occurrence(rec, after=campaign.send_at, inclusive=True)
        if occurrence is not None and occurrence != campaign.send_at:
            if campaign.expires_at is not None:
                campaign.expires_at += occurrence - campaign.send_at
            campaign.send_at = occurrence
    campaign.next_run_at = series_next_run(campaign, now=now)


def series_paused(series: Campaign, *, actor: AbstractBaseUser | None) -> None:
    """A paused series spawns nothing; its runs that have not started wait with it."""
    from .campaigns import campaign_pause

    if not series.recurrence:
        return
    for run in series.runs.filter(status=Campaign.Status.SCHEDULED, started_at__isnull=True).order_by("pk"):
        campaign_pause(campaign=run, actor=actor)


def series_resumed(series: Campaign, *, actor: AbstractBaseUser | None, now: datetime | None = None) -> None:
    """Runs resume from now: a waiting run whose time has not come goes on, one whose time
    passed while paused is cancelled (never sent late), and next_run_at is the first
    occurrence after now; none left: the series is completed."""
    from ..delivery.planning import LOCAL_TIME_LEAD
    from .campaigns import campaign_cancel, campaign_resume

    if not series.recurrence:
        return
    now = now or timezone.now()
    for run in series.runs.filter(status=Campaign.Status.PAUSED, started_at__isnull=True).order_by("pk"):
        lead = LOCAL_TIME_LEAD if run.local_time else timedelta(0)  # a local-time run starts that early
        if run.send_at - lead > now:
            campaign_resume(campaign=run, actor=actor, now=now)
        else:
            campaign_cancel(campaign=run, actor=actor)
    series.next_run_at = series_next_run(series, now=now)
    fields = ["next_run_at", "updated_at"]
    if series.next_run_at is None:
        series.status, series.finished_at = Campaign.Status.COMPLETED, now
        fields += ["status", "finished_at"]
    series.save(update_fields=fields)


def series_cancelled(series: Campaign, *, actor: AbstractBaseUser | None) -> None:
    """No more runs; the runs that have not started are cancelled too (running ones go on:
    cancel them one by one)."""
    from .campaigns import campaign_cancel

    if not series.recurrence:
        return
    Campaign.objects.filter(pk=series.pk).update(next_run_at=None)
    series.next_run_at = None
    for run in series.runs.filter(status__in=[*WAITING_RUNS, Campaign.Status.PAUSED],
                                  started_at__isnull=True).order_by("pk"):
        campaign_cancel(campaign=run, actor=actor)
