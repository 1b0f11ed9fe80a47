"""The audience: subscribers, their tags and subscriptions."""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.db import transaction

from .. import rules
from ..models import ConsentEvent, Subscriber, Subscription, Tag
from .consent import Consent, _record
from .errors import ServiceError


def tags_set(*, subscriber: Subscriber, names: Iterable[str]) -> None:
    wanted = sorted({n.strip() for n in names if n.strip()})
    existing = {t.name: t for t in Tag.objects.filter(name__in=wanted)}
    missing = [Tag(name=n) for n in wanted if n not in existing]
    if missing:
        Tag.objects.bulk_create(missing, ignore_conflicts=True)
        existing = {t.name: t for t in Tag.objects.filter(name__in=wanted)}
    subscriber.tags.set([existing[n] for n in wanted])


@transaction.atomic
def subscription_add(
    *,
    subscriber: Subscriber,
    platform: str,
    address: str,
    consent: Consent,
    saved_our_number: bool = False,
) -> Subscription:
    """A new opted-in subscription, with the consent that allows it, or ServiceError."""
    normalized = rules.normalize_address(platform, address, settings.TACT_DEFAULT_PHONE_REGION)
    taken = Subscription.objects.filter(platform=platform, address=normalized).select_related("subscriber").first()
    if taken is not None:
        raise ServiceError(f"{platform} address {normalized} already belongs to {taken.subscriber}")
    if subscriber.subscriptions.filter(platform=platform).exists():
        raise ServiceError(f"{subscriber} already has a {platform} subscription")
    subscription = Subscription.objects.create(
        subscriber=subscriber,
        platform=platform,
        address=normalized,
        status=Subscription.Status.OPTED_IN,
        saved_our_number=saved_our_number,
    )
    _record(subscription, ConsentEvent.Kind.OPT_IN, subscription.status, consent)
    return subscription

