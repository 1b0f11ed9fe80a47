"""Results of channel posts: clicks on their tracked buttons, Telegram reaction counts, and the
channels' subscriber counts, sampled daily and around each post (joins and leaves).

A post reaches everyone with one message, so every click on its tracked button counts
(Publication.clicks), not the first per person as for a campaign's deliveries; nothing about
the request is stored. Reaction counts are what Telegram last said (message_reaction_count
updates replace each other; an older one is ignored). Subscriber counts come from the platform
(channels/brand.py `subscriber_count`) into ChannelSample, beat-driven and stateless: a channel
is sampled when its last sample is a day old, a few minutes before each of its posts goes out,
and once an hour after each post was published.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, Q

from .. import links
from ..delivery.post_content import post_links, post_slug
from ..models import BrandChannel, ChannelSample, Post, Publication

log = logging.getLogger(__name__)

# A sample taken this long before a post goes out is its "before"; beat samples every few minutes.
SAMPLE_BEFORE = timedelta(minutes=10)
# The "after" sample: this long after a post was published, tried until AFTER_GIVE_UP has passed.
SAMPLE_AFTER = timedelta(hours=1)
AFTER_GIVE_UP = timedelta(hours=3)
# The daily sample: taken when the channel's last one is this old (a few minutes' slack under a day).
SAMPLE_DAILY = timedelta(hours=23, minutes=50)


# --- clicks -------------------------------------------------------------------------


@dataclass(frozen=True)
class PostTarget:
    """Where a valid post token leads."""

    url: str  # the button's URL with the UTM parameters: the redirect's Location
    publication_id: int
    link: int


def post_link_target(token: str) -> PostTarget | None:
    """Where a post's token leads, or None for a token that is not a post's or a link that does not exist."""
    read = links.post_token_read(token)
    if read is None:
        return None
    publication = Publication.objects.select_related("post__draft", "channel").filter(pk=read.publication_id).first()
    if publication is None:
        return None
    urls = post_links(publication.post)
    if read.link >= len(urls):
        return None
    url = links.with_utm(urls[read.link], platform=publication.channel.platform, campaign=post_slug(publication.post),
                         medium=links.UTM_MEDIUM_POST)
    return PostTarget(url=url, publication_id=publication.pk, link=read.link)


def post_link_click(*, token: str, count: bool = True) -> str | None:
    """The address a post's token redirects to (None: not a post's token), the click counted
    when `count`: every click, in one UPDATE (concurrent clicks are all counted)."""
    target = post_link_target(token)
    if target is None:
        return None
    if count:
        Publication.objects.filter(pk=target.publication_id).update(clicks=F("clicks") + 1)
    return target.url


# --- reactions ----------------------------------------------------------------------


def telegram_channels(*, chat_id: int, username: str = "") -> Q:
    """The brand channels an update's chat is: by numeric id, or by @username as an operator may have entered it."""
    which = Q(chat=str(chat_id))
    if username:
        which |= Q(chat__iexact=f"@{username}")
    return Q(platform=BrandChannel.Platform.TELEGRAM) & which


def publication_reactions_record(*, chat_id: int, username: str, message_id: int, counts: dict[str, int],
                                 at: datetime, record: Callable[[], bool] | None = None) -> bool:
    """Store a Telegram post's reaction counts as of `at`; False (nothing stored) when the
    message is no publication of ours or Tact already has counts newer than `at`. `record`
    (the update's key, channels.inbound.first_time) is called once the publication is found."""
    channels = BrandChannel.objects.filter(telegram_channels(chat_id=chat_id, username=username))
    with transaction.atomic():
        # The row lock orders concurrent updates of one post: the newer counts win.
        publication = (Publication.objects.select_for_update()
                       .filter(channel__in=channels, message_id=str(message_id)).order_by("pk").first())
        if publication is None:
            return False
        if record is not None and not record():
            return False  # this very update was handled before
        if publication.reactions_at is not None and at < publication.reactions_at:
            return False
        publication.reactions, publication.reactions_at = counts, at
        publication.save(update_fields=["reactions", "reactions_at", "updated_at"])
    return True


# --- subscriber counts --------------------------------------------------------------


def channel_sample_take(*, channel: BrandChannel, at: datetime) -> ChannelSample | None:
    """Ask the platform for the channel's subscriber count now and record it (None: the
    platform gives none). The platform's errors propagate."""
    from channels.brand import brand_client_for

    count = brand_client_for(channel).subscriber_count()
    if count is None:
        return None
    sample = ChannelSample.objects.create(channel=channel, at=at, subscribers=count)
    BrandChannel.objects.filter(pk=channel.pk).update(subscribers=count)
    return sample


def channels_to_sample(*, now: datetime) -> list[BrandChannel]:
    """The channels due a sample: the daily one, the one right before a post, the one an hour after."""
    last = {row["channel"]: row["at"] for row in
            ChannelSample.objects.order_by("channel", "-at").distinct("channel").values("channel", "at")}
    due: dict[int, BrandChannel] = {}
    for channel in BrandChannel.objects.order_by("pk"):
        taken = last.get(channel.pk)
        if taken is None or taken <= now - SAMPLE_DAILY:
            due[channel.pk] = channel
    coming = (Publication.objects.filter(status=Publication.Status.PLANNED, post__status=Post.Status.SCHEDULED,
                                         publish_after__lte=now + SAMPLE_BEFORE)
              .select_related("channel"))
    for publication in coming:
        taken = last.get(publication.channel_id)
        if taken is None or taken < now - SAMPLE_BEFORE:
            due.setdefault(publication.channel_id, publication.channel)
    published = (Publication.objects.filter(status=Publication.Status.PUBLISHED,
                                            published_at__lte=now - SAMPLE_AFTER,
                                            published_at__gt=now - AFTER_GIVE_UP)
                 .select_related("channel"))
    for publication in published:
        taken = last.get(publication.channel_id)
        if taken is None or taken < publication.published_at + SAMPLE_AFTER:
            due.setdefault(publication.channel_id, publication.channel)
    return list(due.values())


def channel_samples_due(*, now: datetime) -> int:
    """Sample every channel due one (beat, every TACT_CHANNEL_SAMPLE_SECONDS); one channel's
    failure is logged and never stops the others. Returns how many samples were recorded."""
    recorded = 0
    for channel in channels_to_sample(now=now):
        try:
            recorded += channel_sample_take(channel=channel, at=now) is not None
        except Exception:
            log.exception("subscriber count of brand channel %s not sampled", channel.pk)
    return recorded


# --- what the marketer reads --------------------------------------------------------


@dataclass(frozen=True)
class PublicationResult:
    publication: Publication
    clicks: int
    reactions: dict[str, int]
    before: int | None  # subscribers at the last sample at or before publishing
    after: int | None  # subscribers at the first sample an hour or more after publishing

    @property
    def change(self) -> int | None:
        return None if self.before is None or self.after is None else self.after - self.before


def publication_results(publications: list[Publication]) -> list[PublicationResult]:
    """Clicks, reactions and the subscriber count before → after of each publication."""
    out = []
    for publication in publications:
        before = after = None
        if publication.published_at is not None:
            samples = ChannelSample.objects.filter(channel_id=publication.channel_id)
            before = (samples.filter(at__lte=publication.published_at).order_by("-at")
                      .values_list("subscribers", flat=True).first())
            after = (samples.filter(at__gte=publication.published_at + SAMPLE_AFTER).order_by("at")
                     .values_list("subscribers", flat=True).first())
        out.append(PublicationResult(publication, publication.clicks, dict(publication.reactions or {}),
                                     before, after))
    return out
