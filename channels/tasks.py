"""Celery tasks of the channels: ids and words in, one call, the retry policy on the decorator."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from . import inbound, pending
from .base import RateLimited, TemporaryFailure


# Enqueued on the platform's queue (inbound.reply_later). Only failures that provably sent
# nothing are retried, with growing waits (1 s, 2 s, ... 10 min, about 2 hours in all).
@shared_task(ignore_result=True, acks_late=True, autoretry_for=(TemporaryFailure, RateLimited),
             retry_backoff=True, retry_backoff_max=600, max_retries=15)
def send_reply(platform: str, address: str, text: str, account_id: int | None = None) -> None:
    """A confirmation to a person who wrote to us (/start, /stop, STOP, START ...), from the
    sender account they wrote to (None: the platform's default account)."""
    inbound.reply_send(platform=platform, address=address, text=text, account_id=account_id)


@shared_task(ignore_result=True)
def retry_pending() -> None:
    """Handle the kept callbacks that are due (beat, every TACT_SWEEP_SECONDS; a failed
    run is simply the next one's work)."""
    pending.pending_retry_due(now=timezone.now())
