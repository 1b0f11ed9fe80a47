"""Reads: who is in a segment, how big it is per platform, where a campaign stands."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import (
    Count,
    DateTimeField,
    Exists,
    ExpressionWrapper,
    OuterRef,
    Q,
    QuerySet,
)
from django.db.models.fields.json import KeyTransform

from channels.limits import PLATFORMS

from .models import Campaign, ConsentEvent, Delivery, Segment, Subscriber, Subscription


def _opted_in_on(platforms: list[str] | tuple[str, ...]) -> Exists:
    return Exists(
        Subscription.objects.filter(
            subscriber_id=OuterRef("pk"), platform__in=platforms, status=Subscription.Status.OPTED_IN
        )
    )


def _tagged(names: list[str]) -> Exists:
    return Exists(
        Subscriber.tags.through.objects.filter(subscriber_id=OuterRef("pk"), tag__name__in=names)
    )


def segment_subscribers(segment: Segment) -> QuerySet[Subscriber]:
    """Everybody in the segment, whatever their consent (consent is checked per platform)."""
    if segment.kind == Segment.Kind.STATIC:
        return Subscriber.objects.filter(static_segments=segment)
    rules = segment.rules or {}
    qs = Subscriber.objects.filter(erased_at__isnull=True)
    for tag in rules.get("tags_all") or []:
        qs = qs.filter(_tagged([tag]))
    if rules.get("tags_any"):
        qs = qs.filter(_tagged(rules["tags_any"]))
    if rules.get("platforms"):
        qs = qs.filter(_opted_in_on(rules["platforms"]))
    for i, (key, value) in enumerate((rules.get("attributes") or {}).items()):
        # An alias keeps any key name (even "contains") from being read as a lookup.
        qs = qs.alias(**{f"_attr{i}": KeyTransform(key, "attributes")}).filter(**{f"_attr{i}": value})
    return qs


def segment_sizes(segment: Segment) -> dict[str, int]:
    """People in the segment, in all (`total`) and reachable (opted in) per platform."""
    qs = segment_subscribers(segment)
    counts = qs.aggregate(
        total=Count("pk"),
        **{platform: Count("pk", filter=Q(_opted_in_on([platform]))) for platform in PLATFORMS},
    )
    return {key: counts[key] for key in ("total", *PLATFORMS)}


def segment_size(segment: Segment) -> int:
    return segment_subscribers(segment).count()


STAT_KEYS = ("planned", "sent", "delivered", "read", "failed", "held", "skipped", "uncertain", "opted_out_48h")
FATIGUE_WINDOW = timedelta(hours=48)


def campaign_opt_outs_after(campaign: Campaign, window: timedelta = FATIGUE_WINDOW) -> int:
    """People who opted out (or blocked us) within `window` after this campaign reached
    them: the fatigue signal."""
    return (
        Delivery.objects.filter(campaign=campaign, sent_at__isnull=False)
        .filter(
            Exists(
                ConsentEvent.objects.filter(
                    subscription__subscriber_id=OuterRef("subscriber_id"),
                    kind=ConsentEvent.Kind.OPT_OUT,
                    at__gte=OuterRef("sent_at"),
                    at__lte=ExpressionWrapper(OuterRef("sent_at") + window, output_field=DateTimeField()),
                )
            )
        )
        .count()
    )


def campaign_stats(campaign: Campaign) -> dict[str, int]:
    """Ledger counts by outcome. `planned` counts every row planned; `sent` includes
    those since delivered or read, `delivered` those since read. Once the retention purge
    removed the campaign's ledger, the counts it kept (`stats_archive`)."""
    if campaign.stats_archive is not None:
        return dict(campaign.stats_archive)
    by_status = dict(
        Delivery.objects.filter(campaign=campaign)
        .values_list("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    read = by_status.get(Delivery.Status.READ, 0)
    delivered = by_status.get(Delivery.Status.DELIVERED, 0) + read
    return {
        "planned": sum(by_status.values()),
        "sent": by_status.get(Delivery.Status.SENT, 0) + delivered,
        "delivered": delivered,
        "read": read,
        "failed": by_status.get(Delivery.Status.FAILED, 0),
        "held": by_status.get(Delivery.Status.HELD, 0),
        "skipped": by_status.get(Delivery.Status.SKIPPED, 0),
        "uncertain": by_status.get(Delivery.Status.UNCERTAIN, 0),
        "opted_out_48h": campaign_opt_outs_after(campaign) if campaign.started_at else 0,
    }
