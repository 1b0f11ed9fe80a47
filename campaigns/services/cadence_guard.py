"""The cadence guard's reads for one brand channel: its policy and the times of its other posts."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings

from ..cadence import CadencePolicy
from ..models import BrandChannel, Post, Publication

# Publications that take (or took) a place in the channel's cadence.
COUNTED = (Publication.Status.PLANNED, Publication.Status.SENDING, Publication.Status.PUBLISHED)


def channel_zone(channel: BrandChannel) -> ZoneInfo:
    """The channel's own zone, else the installation's (settings.TIME_ZONE)."""
    try:
        return ZoneInfo(channel.timezone) if channel.timezone else ZoneInfo(settings.TIME_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(settings.TIME_ZONE)


def channel_policy(channel: BrandChannel) -> CadencePolicy:
    """The channel's cadence policy as the pure rules read it."""
    return CadencePolicy(
        max_posts_per_day=channel.max_posts_per_day,
        min_gap_minutes=channel.min_gap_minutes,
        night_start=channel.night_start,
        night_end=channel.night_end,
        night_policy=channel.night_policy,
        tz=channel_zone(channel),
    )


def channel_post_times(channel: BrandChannel, exclude_post: Post | None = None) -> list[datetime]:
    """When the channel's planned, sending and published posts go (or went) out, but `exclude_post`'s."""
    publications = Publication.objects.filter(channel=channel, status__in=COUNTED)
    if exclude_post is not None and exclude_post.pk is not None:
        publications = publications.exclude(post=exclude_post)
    return list(publications.order_by("publish_after").values_list("publish_after", flat=True))
