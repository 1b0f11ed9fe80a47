"""A click on a tracked link: where it leads, and counting it once per delivery and link.

No IP address, user agent or anything else about the request is stored or logged: a Click is
(delivery, link index, URL as the marketer wrote it, time), and Delivery.clicked_at is the first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from .. import fatigue, links
from ..delivery.outbound import campaign_content, delivery_links
from ..delivery.variants import row_contents
from ..models import Campaign, Click, Delivery, Subscriber


@dataclass(frozen=True)
class Target:
    """Where a valid token leads."""

    url: str  # the person's own URL with the UTM parameters: the redirect's Location
    label: str  # the URL as the campaign's content has it (not personalised): what a Click records
    campaign_id: int
    delivery_id: int | None  # None once the retention purge removed the delivery
    link: int


def link_target(token: str) -> Target | None:
    """Where a token leads, or None for a token that is not ours or a link that does not exist."""
    read = links.token_read(token)
    if read is None:
        return None
    campaign = Campaign.objects.filter(pk=read.campaign_id).first()
    if campaign is None:
        return None
    delivery = (Delivery.objects.filter(pk=read.delivery_id, campaign_id=campaign.pk)
                .select_related("subscriber", "coupon").first())
    # A variant's person (A/B test, VIP offer) got the variant's links.
    content = row_contents(campaign)(delivery.variant_id) if delivery is not None else campaign_content(campaign)
    if delivery is not None:
        coupon = coupon_row.code if (coupon_row := getattr(delivery, "coupon", None)) else ""
        urls = delivery_links(content, subscriber=delivery.subscriber, coupon=coupon)
    else:  # the ledger was purged: the link as anyone would get it
        urls = delivery_links(content, subscriber=Subscriber())
    if read.link >= len(urls):
        return None
    labels = links.tracked_links(content.buttons, content.body, track_buttons=content.track_links,
                                 track_body=content.track_body_links)
    return Target(
        url=links.with_utm(urls[read.link], platform=read.platform, campaign=content.slug),
        # Never the person's own URL (it may carry their coupon or name): the content's, or nothing.
        label=labels[read.link] if len(labels) == len(urls) else "",
        campaign_id=campaign.pk, delivery_id=delivery.pk if delivery is not None else None, link=read.link,
    )


def click_record(*, target: Target, at: datetime) -> bool:
    """Count a click once per delivery and link, and date the delivery's first click; True
    when this click was the first on that link."""
    if target.delivery_id is None:
        return False
    with transaction.atomic():
        _, created = Click.objects.get_or_create(
            delivery_id=target.delivery_id, link=target.link, defaults={"url": target.label, "at": at})
        if created:
            Delivery.objects.filter(pk=target.delivery_id, clicked_at__isnull=True).update(clicked_at=at)
        fatigue.delivery_answered(target.delivery_id)  # any click is an answer: the fatigue guard starts again
    return created


def link_click(*, token: str, at: datetime, count: bool = True) -> str | None:
    """The address a token redirects to (None: 404), the click counted when `count`."""
    target = link_target(token)
    if target is None:
        return None
    if count:
        click_record(target=target, at=at)
    return target.url
