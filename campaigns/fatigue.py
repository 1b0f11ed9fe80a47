"""The fatigue guard: campaigns a person received in a row without a read, click or reply.

The seed warns that after the tenth message in a row even a loyal customer unsubscribes.
Subscriber.unanswered counts them: +1 when a campaign's message to the person is recorded
`sent` (test sends do not count), 0 again when the person reads one (a platform's read
receipt), clicks a tracked link, or writes to us. At FrequencyPolicy.fatigue_threshold (empty:
off) the person is held out of campaigns, with a skipped ledger row saying why, until they
interact again.

Only the ORM and the models here: the engine's stages, the services and the webhooks all
call in, and none of them is imported back.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import connection
from django.db.models import Exists, F, OuterRef, QuerySet
from django.utils.translation import gettext

from . import selectors
from .models import Campaign, Delivery, FrequencyPolicy, Subscriber, Subscription

# The ledger's reason for a person held out (stored data: English).
REASON = "fatigue: {n} campaigns in a row without a read, click or reply"
REASON_PREFIX = "fatigue: "


def threshold() -> int | None:
    """The operator's threshold (FrequencyPolicy), or None when the guard is off."""
    return FrequencyPolicy.current().fatigue_threshold


def reason(unanswered: int) -> str:
    return REASON.format(n=unanswered)


# --- counting ---------------------------------------------------------------------------


def people_reached(subscriber_ids: Iterable[int]) -> int:
    """+1 for each person a campaign's message was just recorded `sent` to: one UPDATE.

    On PostgreSQL the rows are locked in id order first, as the sender's claim locks people,
    so two workers recording overlapping people cannot deadlock."""
    ids = sorted(set(subscriber_ids))
    if not ids:
        return 0
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE campaigns_subscriber SET unanswered = unanswered + 1 WHERE id IN "
                "(SELECT id FROM campaigns_subscriber WHERE id = ANY(%s) ORDER BY id FOR NO KEY UPDATE)",
                [ids],
            )
            return cursor.rowcount
    return Subscriber.objects.filter(pk__in=ids).update(unanswered=F("unanswered") + 1)


def people_not_reached(subscriber_ids: Iterable[int]) -> int:
    """-1 (not below 0) for people whose `sent` message the platform held back after all
    (WhatsApp 131049): it is sent again later and counted then."""
    return Subscriber.objects.filter(pk__in=sorted(set(subscriber_ids)), unanswered__gt=0).update(
        unanswered=F("unanswered") - 1)


def people_answered(subscribers: QuerySet | Iterable[int]) -> int:
    """The people read, clicked or wrote to us: their count starts again at 0.

    `subscribers`: ids, or a queryset of subscriber ids (`.values("subscriber_id")`)."""
    return Subscriber.objects.filter(pk__in=subscribers, unanswered__gt=0).update(unanswered=0)


def delivery_answered(delivery_id: int) -> int:
    """The person of this delivery read or clicked it."""
    return people_answered(Delivery.objects.filter(pk=delivery_id).values("subscriber_id"))


def address_answered(platform: str, address: str) -> int:
    """Whoever has this address on the platform wrote to us (any message is a reply, to any
    of the platform's sender accounts)."""
    from .account_filters import of_any_account

    return people_answered(Subscription.objects.filter(of_any_account(platform), platform=platform, address=address)
                           .values("subscriber_id"))


def state_text(unanswered: int) -> str:
    """A person's count as the subscriber page shows it, with what it means at the threshold."""
    limit = threshold()
    if limit is None:
        return gettext("%(n)s campaigns in a row without a read, click or reply (the fatigue guard is off)") % {
            "n": unanswered}
    if unanswered >= limit:
        return gettext("%(n)s campaigns in a row without a read, click or reply: held out of campaigns until they "
                       "read, click or write (threshold %(limit)s)") % {"n": unanswered, "limit": limit}
    return gettext("%(n)s campaigns in a row without a read, click or reply (held out from %(limit)s)") % {
        "n": unanswered, "limit": limit}


# --- holding out ------------------------------------------------------------------------


def tired_among(subscriber_ids: list[int], limit: int | None) -> dict[int, int]:
    """{id: unanswered} of the given people at or past `limit` (none when the guard is off)."""
    if limit is None or not subscriber_ids:
        return {}
    return dict(Subscriber.objects.filter(pk__in=subscriber_ids, unanswered__gte=limit)
                .values_list("pk", "unanswered"))


def held_out_count(campaign: Campaign) -> int:
    """The forecast's `held_back.fatigue`: people of the campaign's segment who would receive
    it (opted in on one of its platforms) but are at or past the threshold."""
    limit = threshold()
    if limit is None:
        return 0
    reachable = Exists(Subscription.objects.filter(
        subscriber_id=OuterRef("pk"), platform__in=campaign.platforms, status=Subscription.Status.OPTED_IN))
    return selectors.segment_subscribers(campaign.segment).filter(reachable, unanswered__gte=limit).count()


def forecast_note() -> str:
    """What the forecast's `held_back.fatigue` means, with the threshold in force."""
    limit = threshold()
    if limit is None:
        return gettext("the fatigue guard is off (frequency policy): nobody is held out for not answering")
    return gettext("received %(n)s or more campaigns in a row without a read, click or reply: held out until "
                   "they interact again") % {"n": limit}


def held_out_record(campaign: Campaign, held: Iterable[tuple[int, int, str]], *, now: datetime) -> int:
    """Skipped ledger rows for the people planning held out, so that "who was left out and
    why" shows them: `held` as (subscriber id, the subscription they would have got it on,
    reason). Outside every list (list number 0): nothing ever sends them."""
    held = list(held)
    if not held:
        return 0
    platforms = dict(Subscription.objects.filter(pk__in=[s for _, s, _ in held]).values_list("pk", "platform"))
    rows = [
        Delivery(campaign=campaign, subscriber_id=subscriber_id, subscription_id=subscription_id,
                 platform=platforms[subscription_id], send_list=None, list_number=0,
                 status=Delivery.Status.SKIPPED, reason=why, send_after=now)
        for subscriber_id, subscription_id, why in held
    ]
    # A redelivered plan pass finds them there already.
    return len(Delivery.objects.bulk_create(rows, batch_size=2000, ignore_conflicts=True))
