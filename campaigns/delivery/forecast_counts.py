"""The forecast's numbers in SQL: who receives a campaign on which platform, per time zone,
and who is held back by quiet hours or a cap, without reading the audience into Python.

A million people cost two grouped queries (about a second on PostgreSQL, `make bench`), not
a stream of pages (half a minute). The audience is the segment's query
(selectors.segment_subscribers); each person's platform is the first of the campaign's
platforms in the preference order on which they are opted in, as planning's
`audience_choices` picks it (one LEFT JOIN per platform: a person has one subscription on
each at most). Quiet hours and send times are per zone: computed in Python for the few
hundred zones found. A cap is judged per person against their counted deliveries of the last
8 days, with the zone's send time and its calendar day passed in as values
(rules.frequency_check's rules: a day cap counts sends of the same local day up to the send
time, a week cap those of the 7 days before it); its cost follows those recent sends.

`audience_counts_streamed` is the former page-by-page reading, kept for manual campaigns (whose
reachability lives in delivery/manual.py) and as the reference the SQL is tested against.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

from django.conf import settings
from django.db import connection, transaction

from .. import fatigue, rules, selectors
from ..models import Campaign, Delivery, Subscription
from .common import COUNTED, PAGE, WHATSAPP_WINDOW, current_policy, zone
from .planning import Choice, SendTimes, audience_choices

# Counted sends older than this cannot hold anybody (rules.frequency_check: a week and a day).
LOOKBACK = rules.WEEK + timedelta(days=1)


@dataclass
class AudienceCounts:
    audience: int = 0
    receivers: dict[str, int] = field(default_factory=dict)  # per platform
    receivers_by_zone: dict[str, int] = field(default_factory=dict)  # per time zone (the timeline's input)
    no_consent: int = 0
    quiet_hours: int = 0
    cap: int = 0
    templates_needed: int = 0  # WhatsApp receivers outside the 24-hour window at send time


def preference(campaign: Campaign) -> list[str]:
    """The campaign's platforms in the order a person's platform is chosen."""
    first = [p for p in settings.TACT_PLATFORM_PREFERENCE if p in campaign.platforms]
    return first + [p for p in campaign.platforms if p not in first]


def audience_counts(*, campaign: Campaign, now: datetime, policy: rules.FrequencyPolicy,
                    times: SendTimes) -> AudienceCounts:
    """The forecast's counts for `campaign` if it were sent at its time (`now` if that passed)."""
    if campaign.manual:
        return audience_counts_streamed(campaign=campaign, now=now, policy=policy, times=times)
    platforms = preference(campaign)
    counts = AudienceCounts(receivers=dict.fromkeys(platforms, 0))
    window_from = max(campaign.send_at, now) - WHATSAPP_WINDOW
    for tz, rank, tired, n, outside in _zone_rows(campaign, platforms, window_from):
        counts.audience += n
        if rank is None:
            counts.no_consent += n
        elif not tired:
            counts.receivers[platforms[rank]] += n
            counts.receivers_by_zone[tz] = counts.receivers_by_zone.get(tz, 0) + n
            counts.templates_needed += outside or 0
    for tz, n in counts.receivers_by_zone.items():
        if max(times.at(tz), now) != max(times.base(tz), now):
            counts.quiet_hours += n
    if counts.receivers_by_zone and (policy.max_per_day is not None or policy.max_per_week is not None):
        counts.cap = _capped(campaign, platforms, policy, times, now, list(counts.receivers_by_zone))
    return counts


def templates_needed(*, campaign: Campaign, now: datetime) -> int:
    """WhatsApp receivers outside the 24-hour window at send time (one grouped query)."""
    if "whatsapp" not in campaign.platforms:
        return 0
    if campaign.manual:
        policy, quiet = current_policy()
        return audience_counts_streamed(campaign=campaign, now=now, policy=policy,
                                        times=SendTimes(campaign, quiet)).templates_needed
    platforms = preference(campaign)
    window_from = max(campaign.send_at, now) - WHATSAPP_WINDOW
    return sum(outside or 0 for _, rank, tired, _, outside in _zone_rows(campaign, platforms, window_from)
               if rank is not None and not tired)


# --- SQL --------------------------------------------------------------------------------


def _audience_cte(campaign: Campaign) -> tuple[str, list]:
    """`aud(id, tz, unanswered)`: the segment's people, as the engine reads them."""
    sql, params = (selectors.segment_subscribers(campaign.segment).order_by()
                   .values_list("pk", "timezone", "unanswered").query.sql_with_params())
    return f"aud(id, tz, unanswered) AS ({sql})", list(params)


def _tired_sql(column: str) -> tuple[str, list]:
    """Whether the fatigue guard holds the person out (planning's fatigue.tired_among)."""
    limit = fatigue.threshold()
    if limit is None:
        return "(1 = 0)", []
    return f"({column} >= %s)", [limit]


def _account_sql(alias: str, campaign: Campaign, platform: str) -> tuple[str, list]:
    """The subscription is of the account the campaign sends from on that platform."""
    account_id = campaign.account_id_for(platform)
    if account_id is None:
        return f"{alias}.account_id IS NULL", []
    return f"{alias}.account_id = %s", [account_id]


def _on_platforms(alias: str, campaign: Campaign, platforms: list[str]) -> tuple[str, list]:
    """A subscription on one of the platforms, of the account the campaign picked for it."""
    parts, params = [], []
    for platform in platforms:
        account_sql, account_params = _account_sql(alias, campaign, platform)
        parts.append(f"({alias}.platform = %s AND {account_sql})")
        params += [platform, *account_params]
    return " OR ".join(parts) or "1 = 0", params


def _in_list(values: list) -> str:
    return ", ".join(["%s"] * len(values))


def _dt(moment: datetime) -> object:
    return connection.ops.adapt_datetimefield_value(moment)


def _zone_rows(campaign: Campaign, platforms: list[str], window_from: datetime) -> list[tuple]:
    """(zone, platform rank or None, tired, people, WhatsApp receivers outside the window).

    One LEFT JOIN per platform (a person has at most one subscription on each) and booleans
    to group by: PostgreSQL then aggregates in parallel workers, with no per-person GROUP BY."""
    aud, aud_params = _audience_cte(campaign)
    joins, join_params, has = [], [], []
    for i, platform in enumerate(platforms):
        account_sql, account_params = _account_sql(f"s{i}", campaign, platform)
        joins.append(f"LEFT JOIN campaigns_subscription s{i} ON s{i}.subscriber_id = aud.id "
                     f"AND s{i}.platform = %s AND s{i}.status = %s AND {account_sql}")
        join_params += [platform, Subscription.Status.OPTED_IN, *account_params]
        has.append(f"(s{i}.id IS NOT NULL)")
    tired, tired_params = _tired_sql("aud.unanswered")
    if "whatsapp" in platforms:
        w = f"s{platforms.index('whatsapp')}"
        outside, outside_params = f"({w}.last_inbound_at IS NULL OR {w}.last_inbound_at < %s)", [_dt(window_from)]
    else:
        outside, outside_params = "(1 = 0)", []
    columns = ["aud.tz", *has, tired, outside]
    sql = (f"WITH {aud} SELECT {', '.join(columns)}, COUNT(*) FROM aud {' '.join(joins)} "
           f"GROUP BY {', '.join(str(i + 1) for i in range(len(columns)))}")
    params = [*aud_params, *tired_params, *outside_params, *join_params]  # in the order they appear
    rows = []
    for tz, *flags, tired_flag, outside_flag, n in _fetch(sql, params):
        rank = next((i for i, flag in enumerate(flags) if flag), None)
        rows.append((tz, rank, bool(tired_flag), n, n if rank is not None and platforms[rank] == "whatsapp"
                     and outside_flag else 0))
    return rows


def _fetch(sql: str, params: list) -> list[tuple]:
    """Run an analytical query; on PostgreSQL without JIT (compiling costs more than it saves here)."""
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL jit = off")
        cursor.execute(sql, params)
        return cursor.fetchall()


def _zone_bounds(times: SendTimes, now: datetime, zones: list[str]) -> list[tuple[str, datetime, datetime, datetime]]:
    """Per zone: the send time, the first instant of its local day, and a week before it."""
    out = []
    for tz in zones:
        at = max(times.at(tz), now)
        local = zone(tz)
        day_start = datetime.combine(at.astimezone(local).date(), time(0), tzinfo=local).astimezone(UTC)
        out.append((tz, at, day_start, at - rules.WEEK))
    return out


def _capped(campaign: Campaign, platforms: list[str], policy: rules.FrequencyPolicy, times: SendTimes,
            now: datetime, zones: list[str]) -> int:
    """Receivers a cap holds at their send time, judged from counted sends of other campaigns:
    the recent sends joined to their people's zones, counted per person (hash joins, no loop
    per person); none to count when nobody was sent anything lately."""
    counted = _in_list(list(COUNTED))
    recent = f"d.status IN ({counted}) AND d.sent_at >= %s AND d.campaign_id <> %s"
    recent_params = [*COUNTED, _dt(now - LOOKBACK), campaign.pk]
    if not _fetch(f"SELECT 1 FROM campaigns_delivery d WHERE {recent} LIMIT 1", recent_params):
        return 0
    aud, aud_params = _audience_cte(campaign)
    tired, tired_params = _tired_sql("aud.unanswered")
    on_platforms, on_params = _on_platforms("s", campaign, platforms)
    bounds = _zone_bounds(times, now, zones)
    values = ", ".join(["(%s, %s, %s, %s)"] * len(bounds))
    value_params = [v for tz, at, day, week in bounds for v in (tz, _dt(at), _dt(day), _dt(week))]
    over = []
    over_params: list = []
    if policy.max_per_day is not None:  # sends of the same local day, up to the send time
        over.append("SUM(CASE WHEN d.sent_at >= z.day_start THEN 1 ELSE 0 END) >= %s")
        over_params.append(policy.max_per_day)
    if policy.max_per_week is not None:  # sends of the 7 days before the send time
        over.append("SUM(CASE WHEN d.sent_at > z.week_start THEN 1 ELSE 0 END) >= %s")
        over_params.append(policy.max_per_week)
    sql = f"""
        WITH {aud},
        zones(tz, at, day_start, week_start) AS (VALUES {values})
        SELECT COUNT(*) FROM (
            SELECT aud.id FROM aud
            JOIN zones z ON z.tz = aud.tz
            JOIN campaigns_delivery d ON d.subscriber_id = aud.id AND d.sent_at <= z.at
            WHERE {recent} AND NOT {tired}
            GROUP BY aud.id
            HAVING {" OR ".join(over)}
        ) held
        WHERE EXISTS (SELECT 1 FROM campaigns_subscription s WHERE s.subscriber_id = held.id
                      AND s.status = %s AND ({on_platforms}))
    """
    params = [*aud_params, *value_params, *recent_params, *tired_params, *over_params,
              Subscription.Status.OPTED_IN, *on_params]
    return _fetch(sql, params)[0][0]


# --- the reference: page by page --------------------------------------------------------


def _outside_window(subscription_ids: list[int], campaign: Campaign, now: datetime) -> int:
    if not subscription_ids:
        return 0
    return Subscription.objects.filter(pk__in=subscription_ids).exclude(
        last_inbound_at__gte=max(campaign.send_at, now) - WHATSAPP_WINDOW).count()


def audience_counts_streamed(*, campaign: Campaign, now: datetime, policy: rules.FrequencyPolicy,
                             times: SendTimes) -> AudienceCounts:
    """The same counts, reading the audience in pages as planning does (person by person)."""
    counts = AudienceCounts(receivers=dict.fromkeys(preference(campaign), 0))
    by_zone: dict[str, int] = defaultdict(int)
    page: list[Choice] = []

    def judge(choices: list[Choice]) -> None:
        people = [c.subscriber_id for c in choices if c.platform]
        on_whatsapp = [c.subscription_id for c in choices if c.platform == "whatsapp"]
        counts.templates_needed += _outside_window(on_whatsapp, campaign, now)
        past: dict[int, list[datetime]] = defaultdict(list)
        for subscriber_id, sent_at in Delivery.objects.filter(
            subscriber_id__in=people, status__in=COUNTED, sent_at__gte=now - LOOKBACK
        ).exclude(campaign=campaign).values_list("subscriber_id", "sent_at"):
            past[subscriber_id].append(sent_at)
        for c in choices:
            if c.platform is None:
                if c.subscription_id is None:  # one with a subscription is held out by the fatigue guard
                    counts.no_consent += 1
                continue
            counts.receivers[c.platform] = counts.receivers.get(c.platform, 0) + 1
            by_zone[c.timezone] += 1
            at = max(times.at(c.timezone), now)
            if at != max(times.base(c.timezone), now):
                counts.quiet_hours += 1
            if past[c.subscriber_id] and not rules.frequency_check(past[c.subscriber_id], policy, at,
                                                                   zone(c.timezone)).allowed:
                counts.cap += 1

    for choice in audience_choices(campaign):
        counts.audience += 1
        page.append(choice)
        if len(page) >= PAGE:
            judge(page)
            page = []
    judge(page)
    counts.receivers_by_zone = dict(by_zone)
    return counts
