"""Celery tasks: ids in, one service call, the retry policy on the decorator."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from . import delivery, health
from .delivery.publishing import publish_due
from .delivery.sandbox_clicks import sandbox_clicks_apply
from .delivery.sandbox_receipts import sandbox_receipts_apply
from .delivery.series import series_spawn_runs
from .delivery.variants import ab_tests_decide
from .services import channel_results, import_jobs, privacy, whatsapp_templates


def _enqueue_plan(campaign_id: int) -> None:
    plan.apply_async((campaign_id,), queue="celery")


def _enqueue_send(list_id: int, platform: str) -> None:
    send_list.apply_async((list_id,), queue=platform)


@shared_task(ignore_result=True)
def tick() -> None:
    """Spawn due runs of recurring campaigns, start due campaigns and enqueue due lists (beat, every few seconds)."""
    now = timezone.now()
    health.heartbeat_record(health.BEAT_TICK, now=now)  # beat's sign of life for /health/
    series_spawn_runs(now=now)  # first: a run due now starts in this same tick
    delivery.campaigns_start_due(now=now, enqueue_plan=_enqueue_plan)
    ab_tests_decide(now=now)  # A/B tests whose wait is over: the winner goes to the rest in this tick
    delivery.lists_dispatch(now=now, enqueue_send=_enqueue_send)


@shared_task(ignore_result=True, acks_late=True, autoretry_for=(OperationalError, InterfaceError),
             retry_backoff=True, max_retries=5)
def plan(campaign_id: int) -> None:
    delivery.campaign_plan(campaign_id=campaign_id)
    delivery.lists_dispatch(now=timezone.now(), enqueue_send=_enqueue_send)


@shared_task(ignore_result=True, acks_late=True, autoretry_for=(OperationalError, InterfaceError),
             retry_backoff=True, max_retries=5)
def send_list(list_id: int) -> None:
    delivery.list_send(list_id=list_id)


@shared_task(ignore_result=True)
def sweep() -> None:
    delivery.sweep(now=timezone.now(), enqueue_send=_enqueue_send, enqueue_plan=_enqueue_plan)


@shared_task(ignore_result=True)
def sandbox_receipts() -> None:
    """Delivered and read receipts, and clicks, for the sandbox's messages, once due (beat, every tick)."""
    sandbox_receipts_apply(now=timezone.now())
    sandbox_clicks_apply(now=timezone.now())


def _enqueue_import(job_id: int) -> None:
    import_run.apply_async((job_id,), queue="celery")


@shared_task(ignore_result=True, acks_late=True, autoretry_for=(OperationalError, InterfaceError),
             retry_backoff=True, max_retries=5)
def import_run(job_id: int) -> None:
    """Import a CSV job's file; a rerun continues after the last committed chunk."""
    import_jobs.import_job_run(job_id=job_id)


@shared_task(ignore_result=True)
def import_sweep() -> None:
    import_jobs.import_jobs_sweep(now=timezone.now(), enqueue=_enqueue_import)


@shared_task(ignore_result=True, autoretry_for=(OperationalError, InterfaceError), retry_backoff=True, max_retries=3)
def purge() -> None:
    """Delete what is older than the retention settings (beat, daily; safe to run again)."""
    privacy.retention_purge(now=timezone.now())


@shared_task(ignore_result=True)
def whatsapp_templates_sync() -> None:
    """Sync the WhatsApp Business account's templates (beat, hourly); a failure changes
    nothing and is logged, the next run tries again."""
    try:
        whatsapp_templates.whatsapp_templates_sync(now=timezone.now())
    except whatsapp_templates.TemplateSyncError as exc:
        if exc.kind != "config":  # no account configured: nothing to sync, nothing to say
            logging.getLogger(__name__).warning("WhatsApp templates not synced: %s", exc.message)


@shared_task(ignore_result=True)
def publish_posts() -> None:
    """Publish due channel posts, once per channel (beat, every tick)."""
    publish_due()


@shared_task(ignore_result=True)
def channel_samples() -> None:
    """Sample brand channels' subscriber counts: daily, before and an hour after each post (beat)."""
    channel_results.channel_samples_due(now=timezone.now())
