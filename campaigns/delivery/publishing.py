"""Publish due channel posts: exactly once per channel, through the posts' ledger.

    planned  -> sending     claimed under SKIP LOCKED and committed before the platform call
    sending  -> published   the platform took it (message id); pinned after, when asked
             -> uncertain   no answer: it may be in the channel, so it is never posted again
             -> failed      refused; a refused account (admin right lost, token revoked) also
                            marks the channel, and nothing is retried blindly
             -> planned     provably not taken (TemporaryFailure, RateLimited): a short backoff

A `sending` row older than the lease belongs to a worker that died mid-call: `uncertain`.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from channels.base import (
    AccountRefused,
    ChannelError,
    RateLimited,
    TemporaryFailure,
    Uncertain,
)
from channels.brand import ChannelPost, brand_client_for

from ..models import BrandChannel, Post, Publication
from .common import db_now
from .post_content import post_buttons

log = logging.getLogger(__name__)
P = Publication.Status
LIVE = (Post.Status.SCHEDULED, Post.Status.PUBLISHING)
MAX_ATTEMPTS = 5
CLAIM = 20


def post_media(post: Post) -> dict | None:
    """The post's frozen media as a client sends it (with `public_url`, as outbound.media_for)."""
    if not post.content_media or not post.content_media.get("kind"):
        return None
    from ..services.media import media_public_url

    return {**post.content_media, "public_url": media_public_url(post.content_media)}


def publications_claim(*, now: datetime) -> list[int]:
    """Due planned publications of live posts -> sending, committed before any platform call."""
    with transaction.atomic():
        due = list(
            Publication.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status=P.PLANNED, publish_after__lte=now, post__status__in=LIVE)
            .order_by("publish_after", "pk")
            .values_list("pk", "post_id")[:CLAIM]
        )
        ids = [pk for pk, _post in due]
        Publication.objects.filter(pk__in=ids).update(status=P.SENDING, updated_at=now)
        Post.objects.filter(pk__in={post for _pk, post in due}, status=Post.Status.SCHEDULED).update(
            status=Post.Status.PUBLISHING, updated_at=now)
    return ids


def publication_publish(*, publication_id: int) -> str:
    """Post one claimed publication to its channel and record what happened; its status."""
    publication = Publication.objects.select_related("post", "channel").get(pk=publication_id)
    if publication.status != P.SENDING:
        return publication.status
    post, channel = publication.post, publication.channel
    if not channel.can_post:  # marked since scheduling (another post found the right gone): no call
        Publication.objects.filter(pk=publication.pk, status=P.SENDING).update(
            status=P.FAILED, reason=channel.problem or _("Tact cannot post in this channel"), updated_at=timezone.now())
        with transaction.atomic():
            post_settle(post_id=post.pk)
        return P.FAILED
    client = brand_client_for(channel)
    message = ChannelPost(text=post.content_body, buttons=post_buttons(publication), media=post_media(post),
                          silent=publication.silent, protect_content=post.protect_content)
    try:
        outcome = client.publish(message)
        error = outcome.error
    except ChannelError as exc:
        outcome, error = None, exc
    except Exception as exc:  # we cannot know whether it reached the channel: never post it again
        log.exception("publication %s: the platform call failed unexpectedly", publication_id)
        outcome, error = None, Uncertain(_("unexpected error during the call (%(error)s); it may be in the channel")
                                    % {"error": type(exc).__name__})
    if error is None and outcome is not None:
        reason = ""
        pinned_at = None
        if post.pin and outcome.message_id:
            pin_error = _pin(client, outcome.message_id)
            if pin_error:
                reason = _("published, not pinned: %(error)s") % {"error": pin_error}
            else:
                pinned_at = timezone.now()
        return _finish(publication, P.PUBLISHED, reason=reason, message_id=outcome.message_id,
                       published_at=timezone.now(), pinned_at=pinned_at)
    if isinstance(error, Uncertain):
        return _finish(publication, P.UNCERTAIN, reason=error.reason)
    if isinstance(error, AccountRefused):
        BrandChannel.objects.filter(pk=channel.pk).update(can_post=False, problem=error.reason,
                                                          checked_at=timezone.now(), updated_at=timezone.now())
        log.warning("channel %s marked: %s", channel.pk, error.reason)
        return _finish(publication, P.FAILED, reason=error.reason)
    if isinstance(error, TemporaryFailure | RateLimited) and publication.attempts + 1 < MAX_ATTEMPTS:
        wait = getattr(error, "retry_after", None) or settings.TACT_RETRY_BACKOFF_SECONDS * 2 ** publication.attempts
        return _finish(publication, P.PLANNED, reason=error.reason,
                       publish_after=timezone.now() + timedelta(seconds=wait))
    return _finish(publication, P.FAILED, reason=error.reason if error else _("no answer"))


def _pin(client: object, message_id: str) -> str:
    try:
        error = client.pin(message_id)  # type: ignore[attr-defined]
    except ChannelError as exc:
        error = exc
    return error.reason if error else ""


def _finish(publication: Publication, status: str, **fields: object) -> str:
    """Record the outcome (only over `sending`: a cancel cannot undo a call that was made)."""
    now = timezone.now()
    changes = {"status": status, "updated_at": now, "attempts": publication.attempts + 1, **fields}
    with transaction.atomic():
        Publication.objects.filter(pk=publication.pk, status=P.SENDING).update(**changes)
        post_settle(post_id=publication.post_id)
    log.info("publication %s of post %s in channel %s: %s", publication.pk, publication.post_id,
             publication.channel_id, status)
    return status


def post_settle(*, post_id: int) -> None:
    """publishing while any publication is planned or sending; when none is left, published
    if it went out (or may have: uncertain) in at least one channel, else failed."""
    post = Post.objects.select_for_update().get(pk=post_id)
    if post.status not in LIVE:
        return
    if not post.publications.filter(status__in=[P.PLANNED, P.SENDING]).exists():
        went_out = post.publications.filter(status__in=[P.PUBLISHED, P.UNCERTAIN]).exists()
        post.status = Post.Status.PUBLISHED if went_out else Post.Status.FAILED
        post.save(update_fields=["status", "updated_at"])


def publications_sweep(*, now: datetime) -> int:
    """`sending` rows older than the lease: the worker died mid-call, so `uncertain`."""
    lease = timedelta(seconds=settings.TACT_PUBLISHING_LEASE_SECONDS)
    stale = list(Publication.objects.filter(status=P.SENDING, updated_at__lt=now - lease)
                 .values_list("pk", "post_id"))
    for pk, post_id in stale:
        with transaction.atomic():
            Publication.objects.filter(pk=pk, status=P.SENDING).update(
                status=P.UNCERTAIN, reason=_("the worker stopped during the platform call; it may be in the channel"),
                updated_at=now)
            post_settle(post_id=post_id)
    return len(stale)


def publish_due(*, now: datetime | None = None) -> int:
    """The tick: settle stale calls, claim what is due and publish it; how many were claimed."""
    now = now or db_now()
    publications_sweep(now=now)
    ids = publications_claim(now=now)
    for publication_id in ids:
        publication_publish(publication_id=publication_id)
    return len(ids)
