"""A campaign's variants in the engine: who gets which variant, what each row sends, and the
A/B test's decision.

VIP offers (kind `vip`): the audience is the union of the variants' groups (static segments
made by services.audience.segment_split_vip), and each person gets their own group's variant,
its coupon pool and its `{{ group_name }}` / `{{ group_size }}`.

A/B test (kind `ab_test`): when planned, `ab_test_share` % of the receivers (rounded half
up), drawn at random with the campaign's id as seed, are dealt evenly to the variants; the
remainder is planned without a variant in lists of its own and held ("waiting for the A/B
test's winner") until a winner is picked, by `ab_tests_decide` after `ab_wait_minutes` or by
the marketer; then it is released with the winner's variant, due at once. Lists are packed
per (platform, variant), so a list never mixes two messages.
"""

from __future__ import annotations

import logging
from array import array
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction
from django.db.models import Count, Q, QuerySet

from .. import personalise, selectors, stats
from ..audit import audit_record
from ..models import Campaign, CampaignVariant, CouponCode, Delivery, SendList, Subscriber
from .common import PENDING, S
from .outbound import Content, campaign_content, variant_content

log = logging.getLogger(__name__)

K = Campaign.Kind
# The remainder of an A/B test waits "for ever" until the winner is picked (never due).
AB_HOLD_UNTIL = datetime(2999, 12, 31, tzinfo=UTC)
WAITING_FOR_WINNER = "waiting for the A/B test's winner"
# Platforms that tell us a message was read (Telegram tells a bot nothing about reads).
READS_REPORTED = ("whatsapp", "viber")
WINNER_VERB = "A/B winner picked"
NO_COUPON = "no coupon code left in the campaign's pool"
NO_VARIANT_COUPON = "no coupon code left in the variant's pool"

Columns = tuple[array, array, array]  # time-zone index, subscriber id, subscription id (planning.py)


def campaign_variants(campaign: Campaign) -> list[CampaignVariant]:
    return list(CampaignVariant.objects.filter(campaign_id=campaign.pk).select_related("segment")
                .order_by("position", "pk"))


# --- audience ------------------------------------------------------------------------


def campaign_audience(campaign: Campaign) -> QuerySet[Subscriber]:
    """Whom the campaign is for: its segment, or for VIP offers the union of its groups."""
    if campaign.kind != K.VIP:
        return selectors.segment_subscribers(campaign.segment)
    groups = [v.segment for v in campaign_variants(campaign) if v.segment_id is not None]
    if not groups:
        return Subscriber.objects.none()
    anyone = Q()
    for group in groups:
        anyone |= Q(pk__in=selectors.segment_subscribers(group).values("pk"))
    return Subscriber.objects.filter(anyone)


def vip_members(campaign: Campaign) -> dict[int, CampaignVariant]:
    """subscriber id -> the variant of their VIP group (the first group, should they be in two:
    scheduling refuses that)."""
    owner: dict[int, CampaignVariant] = {}
    for variant in campaign_variants(campaign):
        if variant.segment_id is not None:
            for pk in selectors.segment_subscribers(variant.segment).values_list("pk", flat=True):
                owner.setdefault(pk, variant)
    return owner


def vip_overlap(variants: list[CampaignVariant]) -> tuple[int, int | None, list[str]]:
    """People in more than one of the variants' groups: how many, the first of them (by id)
    and the names of two of their groups."""
    seen: dict[int, CampaignVariant] = {}
    twice: dict[int, tuple[CampaignVariant, CampaignVariant]] = {}
    for variant in variants:
        if variant.segment_id is None:
            continue
        for pk in selectors.segment_subscribers(variant.segment).values_list("pk", flat=True):
            if pk in seen and seen[pk].segment_id != variant.segment_id:
                twice.setdefault(pk, (seen[pk], variant))
            seen.setdefault(pk, variant)
    if not twice:
        return 0, None, []
    first = min(twice)
    return len(twice), first, [str(v.segment) for v in twice[first]]


# --- planning ------------------------------------------------------------------------


def split_by_variant(campaign: Campaign, by_platform: dict[str, Columns]) -> dict[int | None, dict[str, Columns]]:
    """The planned receivers (per platform, as planning collected them) per variant, in the
    variants' order; None: an A/B test's remainder. Each part is packed into its own lists."""
    variants = campaign_variants(campaign)
    parts: dict[int | None, dict[str, Columns]] = {v.pk: {} for v in variants}
    parts[None] = {}
    variant_of = _assigner(campaign, variants, sum(len(columns[1]) for columns in by_platform.values()))
    position = 0
    dropped = 0
    for platform, (zone_idx, subscriber_ids, subscription_ids) in by_platform.items():
        for i in range(len(subscriber_ids)):
            variant_id = variant_of(position, subscriber_ids[i])
            position += 1
            if variant_id is None and campaign.kind == K.VIP:
                dropped += 1  # left their group while we planned: not in the campaign any more
                continue
            columns = parts[variant_id].get(platform)
            if columns is None:
                columns = parts[variant_id][platform] = (array("i"), array("q"), array("q"))
            columns[0].append(zone_idx[i])
            columns[1].append(subscriber_ids[i])
            columns[2].append(subscription_ids[i])
    if dropped:
        log.warning("campaign %s: %s people left their VIP group while it was planned", campaign.pk, dropped)
    return {variant_id: part for variant_id, part in parts.items() if part}


def _assigner(campaign: Campaign, variants: list[CampaignVariant],
              total: int) -> Callable[[int, int], int | None]:
    """(position among all receivers, subscriber id) -> their variant's id, None: none."""
    if campaign.kind == K.VIP:
        owner = {pk: variant.pk for pk, variant in vip_members(campaign).items()}
        return lambda position, subscriber_id: owner.get(subscriber_id)
    if campaign.ab_winner_id is not None:  # a later zone's pass, after the decision: the winner for all
        return lambda position, subscriber_id: campaign.ab_winner_id
    codes = stats.ab_assignment(total, campaign.ab_test_share or 0, len(variants), seed=campaign.pk)
    ids = [None, *(v.pk for v in variants)]
    return lambda position, subscriber_id: ids[codes[position]]


def remainder_hold(campaign: Campaign, *, now: datetime) -> int:
    """An A/B test's remainder (rows without a variant) waits for the winner: held, never due."""
    if campaign.kind != K.AB_TEST or campaign.ab_winner_id is not None:
        return 0
    held = Delivery.objects.filter(campaign_id=campaign.pk, variant__isnull=True, status__in=PENDING).update(
        status=S.HELD, send_after=AB_HOLD_UNTIL, reason=WAITING_FOR_WINNER, updated_at=now)
    SendList.objects.filter(campaign_id=campaign.pk, variant__isnull=True).exclude(
        state=SendList.State.DONE).update(next_due=AB_HOLD_UNTIL)
    return held


def coupon_passes(campaign: Campaign, *, using: list[int] | None = None) -> list[tuple[list[int | None], int | None]]:
    """Which rows draw codes from which pool: (the rows of these variants, None for rows
    without one; the pool: a variant's own, or None for the campaign's common pool).

    A variant whose content uses {{ coupon }} draws from its own pool when it has one (a VIP
    group's), else from the common pool; an A/B test's remainder (who get the winner) draws
    from the common pool. `using`: the variants whose content uses it (default: as frozen)."""
    if campaign.kind == K.STANDARD:  # one pool, one message
        uses = personalise.uses_coupon(personalise.content_texts(
            campaign.content_body, campaign.content_buttons or [], campaign.content_whatsapp_template))
        return [([None], None)] if uses else []
    own = set(CouponCode.objects.filter(campaign_id=campaign.pk, variant__isnull=False)
              .values_list("variant_id", flat=True).distinct())
    if using is None:
        using = [v.pk for v in campaign_variants(campaign) if personalise.uses_coupon(personalise.content_texts(
            v.content_body, v.content_buttons or [], v.content_whatsapp_template))]
    passes: list[tuple[list[int | None], int | None]] = [([pk], pk) for pk in using if pk in own]
    common: list[int | None] = [pk for pk in using if pk not in own]
    if campaign.kind == K.AB_TEST and using:
        common.append(None)
    if common:
        passes.append((common, None))
    return passes


def coupons_assign(campaign: Campaign, *, now: datetime) -> int:
    """Per pool (`coupon_passes`), each waiting row whose content uses {{ coupon }} gets one
    free code of its pool; a row left without one (the pool ran out) is skipped, never sent
    with an empty code.

    Runs under the plan's advisory lock; the free codes are also row-locked (SKIP LOCKED),
    so no code can go to two deliveries even if two passes overlapped."""
    assigned = 0
    for rows_of, pool in coupon_passes(campaign):
        assigned += _assign_pool(campaign, rows_of, pool, now)
        rows = Q(variant_id__in=[pk for pk in rows_of if pk is not None])
        if None in rows_of:
            rows |= Q(variant__isnull=True)
        left = Delivery.objects.filter(rows, campaign_id=campaign.pk, status__in=PENDING, coupon__isnull=True).update(
            status=S.SKIPPED, reason=NO_COUPON if pool is None else NO_VARIANT_COUPON, updated_at=now)
        if left:
            log.warning("campaign %s: %s deliveries skipped, a coupon pool ran out", campaign.pk, left)
    return assigned


def _assign_pool(campaign: Campaign, rows_of: list[int | None], pool: int | None, now: datetime) -> int:
    ids = [pk for pk in rows_of if pk is not None]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                """
                WITH wanting AS (
                    SELECT d.id, row_number() OVER (ORDER BY d.id) AS n
                    FROM campaigns_delivery d
                    WHERE d.campaign_id = %(campaign)s AND d.status IN (%(planned)s, %(held)s)
                      AND (d.variant_id = ANY(%(ids)s::bigint[]) OR (%(nulls)s AND d.variant_id IS NULL))
                      AND NOT EXISTS (SELECT 1 FROM campaigns_couponcode c WHERE c.delivery_id = d.id)
                ), free AS (
                    SELECT f.id, row_number() OVER (ORDER BY f.id) AS n
                    FROM (SELECT id FROM campaigns_couponcode
                          WHERE campaign_id = %(campaign)s AND delivery_id IS NULL AND assigned_at IS NULL
                            AND variant_id IS NOT DISTINCT FROM %(pool)s::bigint
                          ORDER BY id FOR UPDATE SKIP LOCKED) f
                )
                UPDATE campaigns_couponcode c SET delivery_id = wanting.id, assigned_at = %(now)s
                FROM wanting JOIN free ON free.n = wanting.n
                WHERE c.id = free.id
                """,
                {"campaign": campaign.pk, "planned": S.PLANNED, "held": S.HELD, "ids": ids,
                 "nulls": None in rows_of, "pool": pool, "now": now},
            )
            return cursor.rowcount
    rows = Q(variant_id__in=ids) | (Q(variant__isnull=True) if None in rows_of else Q(pk__in=[]))
    wanting = Delivery.objects.filter(rows, campaign_id=campaign.pk, status__in=PENDING, coupon__isnull=True)
    free = CouponCode.objects.filter(campaign_id=campaign.pk, variant_id=pool, delivery__isnull=True,
                                     assigned_at__isnull=True)
    pairs = list(zip(free.order_by("pk"), wanting.order_by("pk").values_list("pk", flat=True), strict=False))
    for code, delivery_id in pairs:
        code.delivery_id, code.assigned_at = delivery_id, now
    CouponCode.objects.bulk_update([c for c, _ in pairs], ["delivery_id", "assigned_at"], batch_size=2000)
    return len(pairs)


# --- sending -------------------------------------------------------------------------


def claimable(campaign: Campaign) -> Q:
    """Rows the sender may claim: of an A/B test, never one without a variant (the remainder
    before the winner is picked), whatever its status or time says."""
    return Q(variant__isnull=False) if campaign.kind == K.AB_TEST else Q()


def row_contents(campaign: Campaign) -> Callable[[int | None], Content]:
    """Each row's content by its variant (None: the campaign's own), each read once."""
    found: dict[int | None, Content] = {}

    def content_of(variant_id: int | None) -> Content:
        if variant_id not in found:
            if variant_id is None:
                found[variant_id] = campaign_content(campaign)
            else:
                variant = CampaignVariant.objects.select_related("segment").get(pk=variant_id)
                variant.campaign = campaign
                found[variant_id] = variant_content(variant)
        return found[variant_id]

    return content_of


def list_content(campaign: Campaign, send_list: SendList) -> Content:
    """What a list's rows receive (they all share one): its variant's, an A/B test's
    remainder the winner's, else the campaign's own."""
    variant_id = send_list.variant_id
    if variant_id is None and campaign.kind == K.AB_TEST:
        variant_id = Campaign.objects.filter(pk=campaign.pk).values_list("ab_winner_id", flat=True).first()
    return row_contents(campaign)(variant_id)


# --- results -------------------------------------------------------------------------


def _counts(rows: QuerySet[Delivery]) -> dict[str, int]:
    """sent (then delivered, read), clicked among the sent, and the same on the platforms
    that report reads (`read_sent`, `read_of_sent`); uncertain rows count on neither side."""
    gone = (S.SENT, S.DELIVERED, S.READ)
    reporting = Q(platform__in=READS_REPORTED)
    return rows.aggregate(
        planned=Count("pk"),
        waiting=Count("pk", filter=Q(status__in=PENDING)),
        sent=Count("pk", filter=Q(status__in=gone)),
        delivered=Count("pk", filter=Q(status__in=(S.DELIVERED, S.READ))),
        read=Count("pk", filter=Q(status=S.READ)),
        clicked=Count("pk", filter=Q(status__in=gone, clicked_at__isnull=False)),
        read_sent=Count("pk", filter=Q(reporting, status__in=gone)),
    )


def _hits(counts: dict[str, int], metric: str) -> tuple[int, int]:
    if metric == Campaign.AbMetric.READS:
        return counts["read"], counts["read_sent"]  # reads happen only where reported
    return counts["clicked"], counts["sent"]


def _percent(hits: int, total: int) -> str:
    return f"{hits} of {total} ({100 * hits / total:.1f}%)" if total else f"{hits} of 0"


def variant_results(campaign: Campaign) -> dict:
    """Per variant (an A/B test: its test share only): sent, delivered, read, clicked, the
    click and read rates, and its difference from the reference variant (the winner, else the
    best so far; a tie: the earlier one) with a 95 % Wald interval (stats.wald_difference);
    `rest`: an A/B test's remainder, waiting for or sent the winner."""
    variants = campaign_variants(campaign)
    metric = campaign.ab_metric or Campaign.AbMetric.CLICKS
    rows = Delivery.objects.filter(campaign_id=campaign.pk)
    pools = {variant_id: (total, free) for variant_id, total, free in CouponCode.objects.filter(
        campaign_id=campaign.pk, variant__isnull=False).values("variant_id").annotate(
        total=Count("pk"), free=Count("pk", filter=Q(assigned_at__isnull=True))).values_list(
        "variant_id", "total", "free")}
    per: list[dict] = []
    for variant in variants:
        # A variant's own lists: an A/B test's released remainder (lists without one) is `rest`.
        counts = _counts(rows.filter(send_list__variant_id=variant.pk))
        per.append({
            "id": variant.pk, "label": variant.label, "position": variant.position, "draft": variant.draft_id,
            "segment": variant.segment_id, "segment_name": str(variant.segment) if variant.segment_id else "",
            **{k: counts[k] for k in ("planned", "sent", "delivered", "read", "clicked", "read_sent")},
            "click_rate": stats.rate(counts["clicked"], counts["sent"]),
            "read_rate": stats.rate(counts["read"], counts["read_sent"]),
            "difference": None,
            "coupons": dict(zip(("total", "free"), pools.get(variant.pk, (0, 0)), strict=True)),
        })
    pairs = [_hits(v, metric) for v in per]
    reference = None
    if per:
        winner = next((i for i, v in enumerate(variants) if v.pk == campaign.ab_winner_id), None)
        reference = winner if winner is not None else stats.best_index(pairs)
        for i, v in enumerate(per):
            if i == reference:
                continue
            found = stats.wald_difference(*pairs[i], *pairs[reference])
            if found is not None:
                v["difference"] = {"vs": per[reference]["id"], "vs_label": per[reference]["label"],
                                   "difference": found.difference, "low": found.low, "high": found.high,
                                   "significant": found.significant}
    rest = None
    if campaign.kind == K.AB_TEST:
        counts = _counts(rows.filter(send_list__isnull=False, send_list__variant__isnull=True))
        rest = {k: counts[k] for k in ("planned", "waiting", "sent", "delivered", "read", "clicked")}
    return {
        "kind": campaign.kind, "metric": metric if campaign.kind == K.AB_TEST else None,
        "reads_reported_on": [p for p in campaign.platforms if p in READS_REPORTED],
        "reference": per[reference]["id"] if reference is not None else None,
        "winner": campaign.ab_winner_id, "decided_at": campaign.ab_decided_at, "decision": _decision(campaign),
        "variants": per, "rest": rest,
    }


def _decision(campaign: Campaign) -> str:
    """Why the winner won, as said when it was picked (the audit entry's reason)."""
    if campaign.ab_winner_id is None:
        return ""
    from auditlog.models import LogEntry

    entry = (LogEntry.objects.get_for_object(campaign).filter(additional_data__verb=WINNER_VERB)
             .order_by("-timestamp", "-pk").first())
    return (entry.additional_data or {}).get("reason", "") if entry is not None else ""


def winner_by_metric(campaign: Campaign, results: dict) -> tuple[int, str]:
    """The variant with the best rate of the campaign's metric and why (English, stored);
    a tie goes to the earlier variant, and the reason says so."""
    per = results["variants"]
    metric = campaign.ab_metric or Campaign.AbMetric.CLICKS
    pairs = [_hits(v, metric) for v in per]
    best = stats.best_index(pairs)
    name = "click rate" if metric == Campaign.AbMetric.CLICKS else "read rate"
    others = "; ".join(f"{v['label']} {_percent(*pairs[i])}" for i, v in enumerate(per) if i != best)
    why = f"{per[best]['label']} by {name}: {_percent(*pairs[best])}" + (f" vs {others}" if others else "")
    if tied := stats.ties(pairs, best):
        why += f"; tied with {', '.join(per[i]['label'] for i in tied)}: the earlier variant wins a tie"
    return per[best]["id"], why


# --- the decision --------------------------------------------------------------------


def ab_release(*, campaign_id: int, variant_id: int, why: str, now: datetime, actor=None) -> bool:
    """Make `variant_id` the winner and send it to the remainder: their rows take the winner's
    variant and are due now, their lists wake up. False when a winner was picked already
    (whoever came first wins) or the campaign no longer sends."""
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign_id)
        if campaign.ab_winner_id is not None or campaign.status not in (Campaign.Status.RUNNING,
                                                                         Campaign.Status.PAUSED):
            return False
        variant = CampaignVariant.objects.get(pk=variant_id, campaign_id=campaign_id)
        campaign.ab_winner, campaign.ab_decided_at = variant, now
        Campaign.objects.filter(pk=campaign_id).update(ab_winner=variant, ab_decided_at=now, updated_at=now)
        released = Delivery.objects.filter(campaign_id=campaign_id, variant__isnull=True, status__in=PENDING).update(
            variant=variant, status=S.PLANNED, send_after=now, reason=f"the A/B test's winner: {variant.label}",
            updated_at=now)
        # Their lists wake up (one whose rows all ended meanwhile is found empty and closed).
        SendList.objects.filter(campaign_id=campaign_id, variant__isnull=True, state=SendList.State.WAITING).update(
            next_due=now)
        audit_record(campaign, verb=WINNER_VERB, actor=actor, before={"ab_winner": None},
                     after={"ab_winner": variant.label}, extra={"reason": why, "released": released})
    log.info("campaign %s: A/B winner %s (%s); %s rows released", campaign_id, variant.label, why, released)
    return True


def ab_tests_decide(*, now: datetime) -> list[int]:
    """Running A/B tests whose wait is over and whose winner is picked automatically: pick the
    winner by the campaign's metric and release the remainder with it (beat's tick)."""
    decided = []
    due = Campaign.objects.filter(kind=K.AB_TEST, status=Campaign.Status.RUNNING, ab_auto=True,
                                  ab_winner__isnull=True, ab_wait_minutes__isnull=False, started_at__isnull=False,
                                  started_at__lte=now).order_by("pk")
    for campaign in due[:50]:
        if campaign.started_at + timedelta(minutes=campaign.ab_wait_minutes) > now:
            continue
        if not Delivery.objects.filter(campaign_id=campaign.pk).exists():
            continue  # not planned yet
        variant_id, why = winner_by_metric(campaign, variant_results(campaign))
        if ab_release(campaign_id=campaign.pk, variant_id=variant_id, why=why, now=now):
            decided.append(campaign.pk)
    return decided
