"""Repair what dead workers and a lost broker leave behind; nothing is resent silently."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction

from ..models import Campaign, Delivery, SendList
from .common import PENDING, S
from .planning import PLAN_LOCK
from .sending import campaign_complete_if_done


def sweep(*, now: datetime, enqueue_send: Callable[[int, str], None], enqueue_plan: Callable[[int], None]) -> dict[str, int]:
    """Repair what dead workers and a lost broker leave behind; nothing is resent silently."""
    report: dict[str, int] = {}
    sending_cutoff = now - timedelta(seconds=settings.TACT_SENDING_LEASE_SECONDS)
    report["uncertain"] = Delivery.objects.filter(status=S.SENDING, updated_at__lt=sending_cutoff).update(
        status=S.UNCERTAIN, reason="the worker stopped during the platform call; not resent", updated_at=now
    )
    # Lists whose task went silent (worker killed, broker flushed): enqueue them again.
    list_cutoff = now - timedelta(seconds=settings.TACT_LIST_LEASE_SECONDS)
    with transaction.atomic():
        silent = list(
            SendList.objects.select_for_update(skip_locked=True).filter(
                state=SendList.State.QUEUED, heartbeat_at__lt=list_cutoff, campaign__status=Campaign.Status.RUNNING
            ).exclude(campaign__manual=True)[:1000]  # the phone apps' lists are sent by hand
        )
        SendList.objects.filter(pk__in=[s.pk for s in silent]).update(heartbeat_at=now)
        for send_list in silent:
            transaction.on_commit(lambda pk=send_list.pk, p=send_list.platform: enqueue_send(pk, p))
    report["requeued_lists"] = len(silent)
    # Running campaigns whose plan task was lost: not waiting for a later zone, quiet for
    # a lease, and no plan pass running now (a long plan holds the advisory lock).
    candidates = Campaign.objects.filter(
        status=Campaign.Status.RUNNING, planned_at__isnull=True, next_plan_at__isnull=True,
        started_at__lt=list_cutoff, updated_at__lt=list_cutoff,
    ).values_list("pk", flat=True)
    lost_plans = [pk for pk in candidates if not _plan_running(pk)]
    for pk in lost_plans:
        enqueue_plan(pk)
    report["replanned"] = len(lost_plans)
    # Past their deadline: what is still waiting is skipped.
    expired = Campaign.objects.filter(status=Campaign.Status.RUNNING, expires_at__lte=now)
    report["expired"] = Delivery.objects.filter(campaign__in=expired, status__in=PENDING).update(
        status=S.SKIPPED, reason="expired before it could be sent", updated_at=now
    )
    SendList.objects.filter(campaign__in=expired, state=SendList.State.WAITING).update(state=SendList.State.DONE)
    completed = 0
    for pk in Campaign.objects.filter(status=Campaign.Status.RUNNING, planned_at__isnull=False).values_list("pk", flat=True):
        completed += campaign_complete_if_done(campaign_id=pk)
    report["completed"] = completed
    return report



def _plan_running(campaign_id: int) -> bool:
    """Whether a plan pass holds the campaign's advisory lock right now."""
    if connection.vendor != "postgresql":
        return False
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [PLAN_LOCK, campaign_id])
        return not cursor.fetchone()[0]
