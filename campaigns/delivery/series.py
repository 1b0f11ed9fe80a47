"""Spawn the runs of recurring campaigns (series) when their occurrences come due.

A series never sends: on each beat tick, before due campaigns start, every scheduled series
whose `next_run_at` has come (a local-time one 26 h ahead, as planning starts local-time
campaigns) gets a run for that occurrence: an ordinary scheduled campaign with the series'
settings and frozen content, its own ledger and stats. Then `next_run_at` moves to the next
occurrence, or the series is completed.

Exactly one run per occurrence, however many beats tick at once: the series row is locked
with SKIP LOCKED (a second tick passes it by) and the (series, occurrence) pair is unique.
Occurrences missed while nothing ticked (beat down) are not sent late in a burst: only the
latest one that has come is run.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from auditlog.context import disable_auditlog
from django.db import IntegrityError, transaction
from django.db.models import Q

from .. import recurrence
from ..audit import audit_record
from ..models import Campaign, CampaignVariant
from .planning import LOCAL_TIME_LEAD

log = logging.getLogger(__name__)

# A run's own state, never copied from its series; every other field (draft, segment,
# platforms, local time, the campaign kind's settings, the frozen content) is.
RUN_STATE = frozenset({
    "id", "name", "status", "series", "occurrence", "next_run_at", "recurrence", "recurrence_until", "send_at",
    "expires_at", "stats_archive", "scheduled_at", "started_at", "finished_at", "cancelled_at", "planned_at",
    "paused_at", "problem", "problem_since", "planned_through", "next_plan_at", "created_at", "updated_at",
    "ab_winner", "ab_decided_at",
})
VARIANT_STATE = frozenset({"id", "campaign", "created_at"})


def series_spawn_runs(*, now: datetime) -> list[int]:
    """Make the runs of the series whose next occurrence is due; returns the new runs' ids."""
    made: list[int] = []
    with transaction.atomic():
        due = list(
            Campaign.objects.select_for_update(skip_locked=True)
            .filter(status=Campaign.Status.SCHEDULED, series__isnull=True, next_run_at__isnull=False)
            .exclude(recurrence="")
            .filter(Q(next_run_at__lte=now) | Q(local_time=True, next_run_at__lte=now + LOCAL_TIME_LEAD))
            .order_by("next_run_at")[:20]
        )
        for series in due:
            run = _spawn(series, now=now)
            if run is not None:
                made.append(run.pk)
    return made


def _spawn(series: Campaign, *, now: datetime) -> Campaign | None:
    """The run of the series' due occurrence (None if it exists already); next_run_at advanced."""
    try:
        rec = recurrence.of_campaign(series)
    except (ValueError, KeyError) as exc:  # validated when scheduled (rule, zone); kept safe all the same
        log.warning("series %s: recurrence %r no longer parses (%s): completed", series.pk, series.recurrence, exc)
        _advance(series, None, now=now)
        return None
    occurrence = series.next_run_at
    missed = recurrence.between(rec, after=occurrence, through=now)
    if missed:
        log.info("series %s: %s occurrence(s) missed, running only the one at %s", series.pk, len(missed),
                 f"{missed[-1]:%Y-%m-%d %H:%M} UTC")
        occurrence = missed[-1]
    run = None
    try:
        with transaction.atomic():  # a savepoint: a run that exists already leaves the rest intact
            run = _make_run(series, occurrence, now=now)
    except IntegrityError:
        log.info("series %s: the run at %s exists already", series.pk, occurrence)
        run = None
    _advance(series, recurrence.next_occurrence(rec, after=occurrence), now=now)
    return run


def _advance(series: Campaign, next_run_at: datetime | None, *, now: datetime) -> None:
    series.next_run_at = next_run_at
    fields = ["next_run_at", "updated_at"]
    if next_run_at is None:
        series.status, series.finished_at = Campaign.Status.COMPLETED, now
        fields += ["status", "finished_at"]
    series.save(update_fields=fields)


def _make_run(series: Campaign, occurrence: datetime, *, now: datetime) -> Campaign:
    shift: timedelta = occurrence - series.send_at
    run = Campaign(**{f.attname: getattr(series, f.attname) for f in Campaign._meta.concrete_fields
                      if f.name not in RUN_STATE})
    local_day = occurrence.astimezone(recurrence.zone_for(series.timezone))
    run.name = f"{series.name} — {local_day:%Y-%m-%d}"[: Campaign._meta.get_field("name").max_length]
    run.series, run.occurrence = series, occurrence
    run.send_at = occurrence
    run.expires_at = series.expires_at + shift if series.expires_at is not None else None
    run.status, run.scheduled_at = Campaign.Status.SCHEDULED, now
    with disable_auditlog():
        run.save()
        for variant in CampaignVariant.objects.filter(campaign=series).order_by("position", "pk"):
            CampaignVariant.objects.create(campaign=run, **{
                f.attname: getattr(variant, f.attname) for f in CampaignVariant._meta.concrete_fields
                if f.name not in VARIANT_STATE})
    audit_record(run, verb="created", after={"name": run.name, "status": run.status, "send_at": run.send_at},
                 extra={"series": series.pk, "occurrence": occurrence.isoformat()})
    log.info("series %s: run %s for %s", series.pk, run.pk, f"{occurrence:%Y-%m-%d %H:%M} UTC")
    return run
