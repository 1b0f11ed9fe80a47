"""Reads: who is in a segment, how big it is per platform, where a campaign stands."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import (
    Count,
    DateTimeField,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Sum,
)
from django.db.models.fields.json import KeyTransform

from channels.limits import PLATFORMS

from . import links, recurrence, rules
from .models import (
    Campaign,
    CampaignCount,
    CampaignVariant,
    Click,
    ConsentEvent,
    Delivery,
    InstallationSettings,
    Segment,
    Subscriber,
    Subscription,
)


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
    return rules_subscribers(segment.rules or {})


def rules_subscribers(rules: Mapping[str, Any]) -> QuerySet[Subscriber]:
    """Everybody a dynamic segment with these (validated) rules holds, saved or not."""
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
    return audience_sizes(segment_subscribers(segment))


def audience_sizes(qs: QuerySet[Subscriber]) -> dict[str, int]:
    """People of `qs`, in all (`total`) and reachable (opted in) per platform."""
    counts = qs.aggregate(
        total=Count("pk"),
        **{platform: Count("pk", filter=Q(_opted_in_on([platform]))) for platform in PLATFORMS},
    )
    return {key: counts[key] for key in ("total", *PLATFORMS)}


def tags_nobody_has(names: list[str]) -> list[str]:
    """The names, sorted, that no subscriber carries as a tag (yet)."""
    carried = set(Subscriber.tags.through.objects.filter(tag__name__in=names).values_list("tag__name", flat=True))
    return sorted(set(names) - carried)


def segment_size(segment: Segment) -> int:
    return segment_subscribers(segment).count()


def campaign_audience_zones(campaign: Campaign) -> list[tuple[str, int]]:
    """The campaign's reachable audience (opted in on one of its platforms) per time zone."""
    qs = segment_subscribers(campaign.segment).filter(_opted_in_on(campaign.platforms))
    return list(qs.order_by().values("timezone").annotate(people=Count("pk", distinct=True))
                .order_by("timezone").values_list("timezone", "people"))


STAT_KEYS = ("planned", "sent", "delivered", "read", "clicked", "failed", "held", "skipped", "uncertain",
             "opted_out_48h")
FATIGUE_WINDOW = timedelta(hours=48)


# The counters' shard (migration 0019): shard // COUNT_SLOTS is the platform's place in
# COUNT_PLATFORMS (3: any other); status "clicked" counts the rows whose clicked_at is set.
COUNT_SLOTS = 32
COUNT_PLATFORMS = ("telegram", "whatsapp", "viber")
CLICKED = "clicked"


def _opt_outs_since(campaign: Campaign) -> datetime:
    """No opt-out before this can follow one of the campaign's messages: its rows are sent
    after it started (a day's margin for clocks)."""
    return campaign.started_at - timedelta(days=1)


def campaign_opt_outs_after(campaign: Campaign, window: timedelta = FATIGUE_WINDOW) -> int:
    """People who opted out (or blocked us) within `window` after this campaign reached
    them: the fatigue signal."""
    if campaign.started_at is not None and connection.vendor == "postgresql":
        return campaigns_opt_outs_after([campaign], window).get(campaign.pk, 0)
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


def campaigns_opt_outs_after(campaigns: list[Campaign], window: timedelta = FATIGUE_WINDOW) -> dict[int, int]:
    """`campaign_opt_outs_after` of several started campaigns in one query that starts from
    the opt-outs since each campaign started and finds each person's row by its key (campaign,
    person): its cost follows the opt-outs, not the size of the ledger."""
    started = [c for c in campaigns if c.started_at is not None]
    if not started:
        return {}
    if connection.vendor != "postgresql":
        return {c.pk: campaign_opt_outs_after(c, window) for c in started}
    values = ", ".join(["(%s::bigint, %s::timestamptz)"] * len(started))
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT p.campaign_id, count(DISTINCT d.id)
            FROM (VALUES {values}) AS p(campaign_id, since)
            JOIN campaigns_consentevent e ON e.kind = %s AND e.at >= p.since
            JOIN campaigns_subscription s ON s.id = e.subscription_id
            JOIN campaigns_delivery d ON d.campaign_id = p.campaign_id AND d.subscriber_id = s.subscriber_id
            WHERE d.sent_at IS NOT NULL AND d.sent_at <= e.at AND d.sent_at >= e.at - %s
            GROUP BY p.campaign_id
            """,
            [v for c in started for v in (c.pk, _opt_outs_since(c))] + [ConsentEvent.Kind.OPT_OUT, window],
        )
        return dict(cursor.fetchall())


def _ledger_counts(campaign_ids: list[int]) -> dict[int, dict[str, dict[str, int]]]:
    """{campaign: {platform: {status or "clicked": rows}}} from the counters (a few rows per
    campaign, whatever the size of its ledger)."""
    out: dict[int, dict[str, dict[str, int]]] = {pk: {} for pk in campaign_ids}
    if not campaign_ids:
        return out
    rows = (CampaignCount.objects.filter(campaign_id__in=campaign_ids).order_by()
            .annotate(code=ExpressionWrapper(F("shard") / COUNT_SLOTS, output_field=IntegerField()))
            .values("campaign_id", "code", "status").annotate(total=Sum("n"))
            .values_list("campaign_id", "code", "status", "total"))
    for campaign_id, code, status, total in rows:
        platform = COUNT_PLATFORMS[code] if code < len(COUNT_PLATFORMS) else "other"
        if total:
            out[campaign_id].setdefault(platform, {})[status] = total
    return out


def _stats_of(counts: Mapping[str, int]) -> dict[str, int]:
    """The stats (without opt-outs) from rows per status and "clicked". `planned` counts every
    row planned; `sent` includes those since delivered or read, `delivered` those since read."""
    by_status = {k: v for k, v in counts.items() if k != CLICKED}
    read = by_status.get(Delivery.Status.READ, 0)
    delivered = by_status.get(Delivery.Status.DELIVERED, 0) + read
    return {
        "planned": sum(by_status.values()),
        "sent": by_status.get(Delivery.Status.SENT, 0) + delivered,
        "delivered": delivered,
        "read": read,
        "clicked": counts.get(CLICKED, 0),
        "failed": by_status.get(Delivery.Status.FAILED, 0),
        "held": by_status.get(Delivery.Status.HELD, 0),
        "skipped": by_status.get(Delivery.Status.SKIPPED, 0),
        "uncertain": by_status.get(Delivery.Status.UNCERTAIN, 0),
    }


def _all_platforms(by_platform: Mapping[str, Mapping[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for counts in by_platform.values():
        for status, n in counts.items():
            total[status] = total.get(status, 0) + n
    return total


def campaigns_stats(campaigns: list[Campaign]) -> dict[int, dict[str, int]]:
    """`campaign_stats` of a page of campaigns in two queries (the counters, the opt-outs)."""
    live = [c for c in campaigns if c.stats_archive is None]
    counts = _ledger_counts([c.pk for c in live])
    opt_outs = campaigns_opt_outs_after(live)
    out = {}
    for campaign in campaigns:
        if campaign.stats_archive is not None:
            # An archive kept before clicks were counted has none.
            out[campaign.pk] = {**dict.fromkeys(STAT_KEYS, 0), **campaign.stats_archive}
        else:
            out[campaign.pk] = {**_stats_of(_all_platforms(counts[campaign.pk])),
                                "opted_out_48h": opt_outs.get(campaign.pk, 0)}
    return out


def campaign_stats(campaign: Campaign) -> dict[str, int]:
    """Ledger counts by outcome, read from the counters the database keeps (CampaignCount).
    `planned` counts every row planned; `sent` includes those since delivered or read,
    `delivered` those since read. Once the retention purge removed the campaign's ledger, the
    counts it kept (`stats_archive`). `clicked`: deliveries with a click on any of their
    tracked links. `opted_out_48h`: people who opted out within 48 hours after it reached them."""
    return campaigns_stats([campaign])[campaign.pk]


def campaign_stats_by_platform(campaign: Campaign) -> dict[str, dict[str, int]]:
    """Ledger counts per chosen platform, as `campaign_stats` counts them (without opt-outs)."""
    counts = _ledger_counts([campaign.pk])[campaign.pk]
    return {platform: _stats_of(counts.get(platform, {}))
            for platform in [*campaign.platforms, *(p for p in counts if p not in campaign.platforms)]}


def campaign_link_clicks(campaign: Campaign) -> list[dict[str, int | str]]:
    """Per tracked link of what was sent, in link order: {"variant" (the label of the variant
    whose content holds the link: an A/B test's or a VIP group's; "" for the campaign's own),
    "link", "url" (as written in that content), "clicks" (deliveries that clicked it),
    "people" (different people among them)}. A campaign with variants lists each variant's
    links in the variants' order (link 0 of A and link 0 of B are different links)."""
    found = {
        (variant, link): (url, clicks, people)
        for variant, link, url, clicks, people in Click.objects.filter(delivery__campaign=campaign)
        .values("delivery__variant_id", "link")
        .annotate(u=Max("url"), n=Count("pk"), p=Count("delivery__subscriber", distinct=True))
        .order_by().values_list("delivery__variant_id", "link", "u", "n", "p")
    }
    sources: list[tuple[int | None, str, list, str, bool, bool]] = [
        (v.pk, v.label, v.content_buttons or [], v.content_body, v.content_track_links, v.content_track_body_links)
        for v in CampaignVariant.objects.filter(campaign=campaign).order_by("position", "id")]
    if not sources or any(variant is None for variant, _link in found):
        sources.insert(0, (None, "", campaign.content_buttons or [], campaign.content_body,
                           campaign.content_track_links, campaign.content_track_body_links))
    out: list[dict[str, int | str]] = []
    for variant, label, buttons, body, track, track_body in sources:
        tracked = links.tracked_links(buttons, body, track_buttons=track, track_body=track_body)
        mine = {link for v, link in found if v == variant}
        for link in sorted(set(range(len(tracked))) | mine):
            url, clicks, people = found.get((variant, link), ("", 0, 0))
            out.append({"variant": label, "link": link, "url": tracked[link] if link < len(tracked) else url,
                        "clicks": clicks, "people": people})
    return out


# --- installation settings -----------------------------------------------------------

# Within a request or an import (default_phone_region_cached), the setting is read once.
_region_cache: ContextVar[dict[str, str | None] | None] = ContextVar("tact_phone_region", default=None)


def _phone_region_read() -> str | None:
    region = (
        InstallationSettings.objects.filter(pk=InstallationSettings.SINGLETON_ID)
        .values_list("default_phone_region", flat=True).first()
    )
    return (region or "").upper() or settings.TACT_DEFAULT_PHONE_REGION


def default_phone_region() -> str | None:
    """The region for phone numbers written without a country code: the operator's setting
    (InstallationSettings), else TACT_DEFAULT_PHONE_REGION; None: such numbers are refused."""
    cache = _region_cache.get()
    if cache is None:
        return _phone_region_read()
    if "region" not in cache:
        cache["region"] = _phone_region_read()
    return cache["region"]


@contextmanager
def default_phone_region_cached() -> Iterator[None]:
    """default_phone_region() read at most once inside (a request, an import), not per row."""
    if _region_cache.get() is not None:
        yield
        return
    token = _region_cache.set({})
    try:
        yield
    finally:
        _region_cache.reset(token)


# --- search ----------------------------------------------------------------------------


def _search_q(terms: rules.SearchTerms, *, person: str, by_address: bool) -> Q:
    """Who the terms find: name words (all of them, any case), the external id, and with
    `by_address` the address (a phone in any format, a chat id, a Viber id). `person` is the
    path to the subscriber's fields ("" or "subscriber__")."""
    found = Q(**{f"{person}external_id__icontains": terms.text})
    if terms.words:
        found |= Q(*(Q(**{f"{person}search_name__contains": word}) for word in terms.words))
    if by_address:
        found |= _address_q(terms, of_subscribers=not person)
    return found


def _address_q(terms: rules.SearchTerms, *, of_subscribers: bool) -> Q:
    at = Q(address__icontains=terms.text)
    if terms.phones:
        at |= Q(address__in=terms.phones)
    if terms.digits:
        at |= Q(address__contains=terms.digits)
    if of_subscribers:  # one EXISTS, so a person with two matching subscriptions is listed once
        return Q(Exists(Subscription.objects.filter(at, subscriber_id=OuterRef("pk"))))
    return at


def subscribers_search(queryset: QuerySet[Subscriber], query: str, *, by_address: bool = True) -> QuerySet[Subscriber]:
    """The people of `queryset` a search box query finds (rules.search_terms); addresses are
    searched only `by_address` (users who may see them)."""
    terms = rules.search_terms(query, default_phone_region() if by_address else None)
    if not terms.text:
        return queryset
    return queryset.filter(_search_q(terms, person="", by_address=by_address))


def subscriptions_search(queryset: QuerySet[Subscription], query: str, *,
                         by_address: bool = True) -> QuerySet[Subscription]:
    """The subscriptions of `queryset` whose address or person a search box query finds."""
    terms = rules.search_terms(query, default_phone_region() if by_address else None)
    if not terms.text:
        return queryset
    return queryset.filter(_search_q(terms, person="subscriber__", by_address=by_address))


# --- recurring campaigns (series) ---------------------------------------------------


def series_next_occurrences(campaign: Campaign, *, now: datetime, count: int = 5) -> list[datetime]:
    """A series' next `count` occurrences (aware, UTC) from where it stands: a scheduled one
    from its next_run_at, a paused one from now (resuming skips what passed), a draft from
    its send_at; none for a finished series or a campaign that does not repeat."""
    if not campaign.recurrence or campaign.send_at is None or campaign.status in (
            Campaign.Status.COMPLETED, Campaign.Status.CANCELLED):
        return []
    try:
        rec = recurrence.of_campaign(campaign)
    except (ValueError, KeyError):  # a bad rule or an unknown zone: the form says so
        return []
    if campaign.status == Campaign.Status.SCHEDULED and campaign.next_run_at is not None:
        return recurrence.occurrences(rec, after=campaign.next_run_at, count=count, inclusive=True)
    if campaign.send_at > now:
        return recurrence.occurrences(rec, after=campaign.send_at, count=count, inclusive=True)
    return recurrence.occurrences(rec, after=now, count=count)


def series_runs(campaign: Campaign) -> QuerySet[Campaign]:
    """A series' runs, the latest occurrence first."""
    return campaign.runs.select_related("draft", "segment").order_by("-occurrence", "-pk")
