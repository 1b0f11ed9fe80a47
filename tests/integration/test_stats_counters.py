"""A campaign's stats come from counters the database keeps as ledger rows change
(CampaignCount, migration 0019), never from a GROUP BY over its ledger; the ledger's API
pages by cursor. Every test recounts the ledger the slow way and compares, exactly."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from django.db import connection
from django.db.models import Count
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns import selectors, services
from campaigns.delivery import campaign_plan
from campaigns.models import Campaign, CampaignCount, Delivery, FrequencyPolicy, Subscriber, Tag
from campaigns.services import privacy
from tests.conftest import CampaignFactory, SegmentFactory, SubscriberFactory, subscribe
from tests.fakes.telegram import FakeTelegram

from .engine import Engine, wait_until

TOKEN = "123456:TEST-token"
PLATFORMS = ("telegram", "whatsapp", "viber")


def counters(campaign: Campaign) -> dict[tuple[str, str], int]:
    """{(platform, status or "clicked"): n} summed over the shards, zeros left out."""
    sums: Counter[tuple[str, str]] = Counter()
    for status, shard, n in CampaignCount.objects.filter(campaign=campaign).values_list("status", "shard", "n"):
        sums[(PLATFORMS[shard // selectors.COUNT_SLOTS], status)] += n
    return {key: n for key, n in sums.items() if n}


def recount(campaign: Campaign) -> dict[tuple[str, str], int]:
    """The same counted from the ledger itself."""
    rows = Delivery.objects.filter(campaign=campaign)
    counts = {(p, s): n for p, s, n in rows.values_list("platform", "status").annotate(n=Count("pk"))
              .values_list("platform", "status", "n")}
    for platform, n in rows.filter(clicked_at__isnull=False).values_list("platform").annotate(n=Count("pk")) \
            .values_list("platform", "n"):
        counts[(platform, "clicked")] = n
    return counts


def stats_recounted(campaign: Campaign) -> dict[str, int]:
    """campaign_stats as it was computed before the counters: a GROUP BY over the ledger."""
    by_status = dict(Delivery.objects.filter(campaign=campaign).values_list("status").annotate(n=Count("pk")))
    read = by_status.get("read", 0)
    delivered = by_status.get("delivered", 0) + read
    return {
        "planned": sum(by_status.values()), "sent": by_status.get("sent", 0) + delivered, "delivered": delivered,
        "read": read, "clicked": Delivery.objects.filter(campaign=campaign, clicked_at__isnull=False).count(),
        "failed": by_status.get("failed", 0), "held": by_status.get("held", 0),
        "skipped": by_status.get("skipped", 0), "uncertain": by_status.get("uncertain", 0),
        "opted_out_48h": selectors.campaign_opt_outs_after(campaign) if campaign.started_at else 0,
    }


def _no_caps() -> None:
    policy = FrequencyPolicy.current()
    policy.max_per_day = policy.max_per_week = policy.fatigue_threshold = None
    policy.quiet_start = policy.quiet_end = datetime.min.time()
    policy.save()


def _people(n: int, tag: str = "all", first_chat: int = 5000) -> list[int]:
    label = Tag.objects.get_or_create(name=tag)[0]
    chats = []
    for i in range(n):
        person = SubscriberFactory(timezone="Europe/Moscow")
        person.tags.add(label)
        subscribe(person, "telegram", str(first_chat + i))
        chats.append(first_chat + i)
    return chats


def _campaign(tag: str = "all", **fields) -> Campaign:
    segment = SegmentFactory(rules={"tags_all": [tag], "tags_any": [], "platforms": [], "attributes": {}})
    return CampaignFactory(segment=segment, **fields)


# --- through real workers, with faults ---------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_stats_counters_equal_a_recount_of_the_ledger_after_a_campaign_with_faults(tmp_path):
    # given: 160 people on Telegram; the fake loses every 23rd answer after taking the message
    # (uncertain), answers 5 % with 429 (retried) and 5 % with 502 (uncertain); two people
    # blocked the bot and one deactivated (failed, suppressed); one answers 500 then works
    _no_caps()
    chats = _people(160)
    with FakeTelegram() as fake:
        fake.configure(lose_every=23, rate_429=0.05, rate_5xx=0.05, retry_after=1, seed=11,
                       chat_rules={chats[0]: "blocked", chats[1]: "blocked", chats[2]: "deactivated"},
                       queued={chats[3]: ("internal",)}, latency=0.02)
        engine = Engine(tmp_path, {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": fake.base_url,
                                   "TACT_RATE_TELEGRAM": "40", "TACT_SEND_BATCH": "20"}).start(workers=2)
        try:
            send_at = timezone.now() + timedelta(seconds=1)
            campaign = services.campaign_schedule(campaign=_campaign(send_at=send_at),
                                                  now=send_at - timedelta(seconds=5))
            wait_until(lambda: len(fake.sent()) >= 30, 120, "30 messages")
            # when: 15 people opt out while it runs
            for chat in chats[-15:]:
                services.opt_out_address(platform="telegram", address=str(chat),
                                         consent=services.Consent(source="test"))
            wait_until(lambda: Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.COMPLETED, 180,
                       "the campaign to complete")
            # and: people click the button of the message they received (the redirect counts it)
            client = Client()
            for call in fake.sent()[:12]:
                url = call.reply_markup["inline_keyboard"][0][0]["url"]
                assert client.get(urlsplit(url).path).status_code == 302
        except BaseException:
            print(engine.logs())
            raise
        finally:
            engine.stop()
    campaign.refresh_from_db()

    # then: the ledger holds every kind of outcome...
    statuses = Counter(Delivery.objects.filter(campaign=campaign).values_list("status", flat=True))
    assert statuses["sent"] and statuses["uncertain"] and statuses["failed"] == 3 and statuses["skipped"]
    assert sum(statuses.values()) == 160
    # ...and the counters equal its recount, exactly, per platform and status, clicks included
    assert counters(campaign) == recount(campaign)
    assert recount(campaign)[("telegram", "clicked")] == 12
    assert selectors.campaign_stats(campaign) == stats_recounted(campaign)
    assert selectors.campaign_stats_by_platform(campaign) == {
        "telegram": {k: v for k, v in stats_recounted(campaign).items() if k != "opted_out_48h"}}


# --- every other path that writes the ledger -----------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_counters_follow_planning_receipts_erasure_the_retention_purge_and_deletion():
    # given: a campaign planned by the engine's planning (COPY on PostgreSQL) for 30 people on
    # three platforms, one of them without consent
    _no_caps()
    label = Tag.objects.get_or_create(name="all")[0]
    people = []
    for i in range(30):
        person = SubscriberFactory(timezone="Europe/Moscow")
        person.tags.add(label)
        if i != 29:
            subscribe(person, PLATFORMS[i % 3])
        people.append(person)
    campaign = _campaign(platforms=list(PLATFORMS), send_at=timezone.now() - timedelta(minutes=1))
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.RUNNING, started_at=timezone.now())
    assert campaign_plan(campaign_id=campaign.pk) == 29
    assert counters(campaign) == recount(campaign) == {("telegram", "planned"): 10, ("whatsapp", "planned"): 10,
                                                       ("viber", "planned"): 9}

    # when: rows move as the sender, receipts and clicks move them (bulk_update, .update(), save)
    rows = list(Delivery.objects.filter(campaign=campaign).order_by("pk"))
    for row, status in zip(rows[:12], ["sending", "sent", "sent", "delivered", "read", "failed", "uncertain",
                                       "held", "sent", "sent", "delivered", "read"], strict=True):
        row.status = status
    Delivery.objects.bulk_update(rows[:12], ["status"])
    Delivery.objects.filter(pk__in=[r.pk for r in rows[1:5]]).update(clicked_at=timezone.now())
    rows[8].status = "read"
    rows[8].clicked_at = timezone.now()
    rows[8].save()
    Delivery.objects.filter(pk=rows[2].pk).update(clicked_at=None)  # nothing does this, but it would count
    assert counters(campaign) == recount(campaign)

    # when: two people are erased (a waiting row is skipped, the rest keep their status)
    for person in (people[27], people[28], rows[20].subscriber):  # not people[0]: their row is `sending`
        privacy.subscriber_erase(subscriber=person)
    assert counters(campaign) == recount(campaign)
    assert recount(campaign).get(("telegram", "skipped"), 0) + recount(campaign).get(("whatsapp", "skipped"), 0) \
        + recount(campaign).get(("viber", "skipped"), 0) >= 1

    # when: the campaign ended long ago and the retention purge removes its ledger
    before = selectors.campaign_stats(campaign)
    assert before == stats_recounted(campaign)
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.COMPLETED,
                                                   finished_at=timezone.now() - timedelta(days=400))
    privacy.retention_purge(batch=7)

    # then: no row left, nothing counted; the stats are the ones kept
    campaign.refresh_from_db()
    assert not Delivery.objects.filter(campaign=campaign).exists()
    assert counters(campaign) == {}
    assert selectors.campaign_stats(campaign) == before

    # and: deleting a campaign with a ledger deletes its counters with it
    other = _campaign(platforms=["telegram"], send_at=timezone.now())
    subscription = people[3].subscriptions.get()
    Delivery.objects.create(campaign=other, subscriber=people[3], subscription=subscription, platform="telegram",
                            list_number=1, send_after=other.send_at)
    assert counters(other) == {("telegram", "planned"): 1}
    other.delete()
    assert not CampaignCount.objects.filter(campaign_id=other.pk).exists()


# --- the list reads the counters -----------------------------------------------------------


def _delivery_scans(query: str, params: tuple | list | None) -> list[str]:
    """How PostgreSQL reaches campaigns_delivery in `query` when it may not scan tables
    whole: each access as "<node> <index condition>"."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN (FORMAT JSON) " + query, params)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    found = []

    def walk(node: dict) -> None:
        if node.get("Relation Name") == "campaigns_delivery":
            # a bitmap heap scan's condition is on its bitmap index scans
            conditions = [node.get("Index Cond", "")] + [c.get("Index Cond", "") for c in node.get("Plans", [])
                                                         if c["Node Type"] == "Bitmap Index Scan"]
            found.append(f"{node['Node Type']} {' '.join(conditions)}")
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return found


@pytest.mark.django_db
def test_listing_fifty_campaigns_reads_the_counters_and_never_scans_the_ledger(admin_client_api, django_user_model):
    # given: 50 campaigns with ledgers (one purged: its counts are kept), and opt-outs after them
    people = [subscribe(SubscriberFactory(), "telegram", at=datetime(2026, 5, 1, tzinfo=UTC)) for _ in range(6)]
    sent_at = datetime(2026, 6, 3, 12, 0, tzinfo=UTC)
    campaigns = []
    for i in range(50):
        campaign = CampaignFactory(status=Campaign.Status.COMPLETED, started_at=sent_at - timedelta(minutes=i))
        for j, subscription in enumerate(people[: 1 + i % 6]):
            Delivery.objects.create(campaign=campaign, subscriber=subscription.subscriber, subscription=subscription,
                                    platform="telegram", list_number=1, status=["sent", "read", "failed"][j % 3],
                                    send_after=sent_at, sent_at=sent_at, clicked_at=sent_at if j == 1 else None)
        campaigns.append(campaign)
    Campaign.objects.filter(pk=campaigns[0].pk).update(stats_archive={"planned": 7, "sent": 7})
    services.subscription_opt_out(subscription=people[0], status="opted_out",
                                  consent=services.Consent(source="test", at=sent_at + timedelta(hours=3)))
    expected = {c.pk: stats_recounted(Campaign.objects.get(pk=c.pk)) for c in campaigns[1:]}

    # when: the API's list (50 a page) and the admin's list
    with CaptureQueriesContext(connection) as api_queries:
        listed = admin_client_api.get("/api/campaigns/").json()["results"]
    admin = Client()
    admin.force_login(django_user_model.objects.create_superuser("root", password="x-secret-123"))
    with CaptureQueriesContext(connection) as admin_queries:
        page = admin.get("/admin/campaigns/campaign/")

    # then: the stats are exact...
    assert len(listed) == 50 and page.status_code == 200
    stats = {c["id"]: c["stats"] for c in listed}
    assert stats[campaigns[0].pk]["planned"] == 7
    assert {pk: s for pk, s in stats.items() if pk != campaigns[0].pk} == expected
    assert sum(s["opted_out_48h"] for s in expected.values()) == 50 - 1  # person 0 got every campaign
    # ...from one query of the counters and one of the opt-outs, whatever the page's size; the
    # opt-outs' query reaches the ledger only row by row through a person's key
    for queries in (api_queries, admin_queries):
        counts = [q for q in queries.captured_queries if "campaigns_campaigncount" in q["sql"]]
        ledger = [q for q in queries.captured_queries if "campaigns_delivery" in q["sql"]]
        assert len(counts) == 1 and len(ledger) == 1, [q["sql"][:200] for q in ledger]
    ledger_sql = next(q["sql"] for q in api_queries.captured_queries if "campaigns_delivery" in q["sql"])
    scans = _delivery_scans(ledger_sql, None)
    assert scans and all("subscriber_id" in scan for scan in scans), scans


# --- /api/deliveries/ pages by cursor ------------------------------------------------------


def _ledger(campaign: Campaign, people: list, status: str = "planned") -> list[Delivery]:
    return Delivery.objects.bulk_create(
        Delivery(campaign=campaign, subscriber_id=s.subscriber_id, subscription=s, platform="telegram",
                 list_number=1, status=status, send_after=campaign.send_at) for s in people)


@pytest.fixture
def many_people(db):
    """1,005 subscriptions, made in bulk (the API pages are what is tested here)."""
    from campaigns.models import Subscription

    people = Subscriber.objects.bulk_create(
        Subscriber(name=f"P{i}", external_id=f"page-{i}", search_name=f"p{i}") for i in range(1005))
    return Subscription.objects.bulk_create(
        Subscription(subscriber=p, platform="telegram", address=str(700000 + p.pk), status="opted_out")
        for p in people)


def test_the_ledger_is_paged_by_cursor_up_to_a_thousand_rows(admin_client_api, many_people):
    campaign = CampaignFactory()
    rows = _ledger(campaign, many_people)

    first = admin_client_api.get("/api/deliveries/", {"campaign": campaign.pk, "page_size": 1000})
    assert first.status_code == 200
    body = first.json()
    assert set(body) == {"next", "previous", "results"} and len(body["results"]) == 1000
    second = admin_client_api.get(body["next"]).json()
    assert [r["id"] for r in body["results"] + second["results"]] == [r.pk for r in rows]
    assert second["next"] is None and len(second["results"]) == 5
    assert len(admin_client_api.get("/api/deliveries/").json()["results"]) == 100  # the default


@pytest.mark.parametrize(("query", "field"), [
    ({"page_size": 1001}, "page_size"), ({"page_size": 0}, "page_size"), ({"page_size": "ten"}, "page_size"),
    ({"cursor": "cD0tNQ=="}, "cursor"), ({"cursor": "cD1hYmM="}, "cursor"), ({"cursor": "cj14"}, "cursor"),
    ({"cursor": "%%%"}, "cursor"),
])
def test_a_page_size_past_a_thousand_or_a_made_up_cursor_is_refused_naming_it(admin_client_api, query, field):
    answer = admin_client_api.get("/api/deliveries/", query)

    assert answer.status_code == 400
    assert list(answer.json()) == [field]


def test_pages_keep_their_order_and_never_repeat_a_row_while_rows_are_written(admin_client_api, many_people):
    # given: 300 rows of a campaign, and rows of another one that the filter leaves out
    campaign, other = CampaignFactory(), CampaignFactory()
    _ledger(campaign, many_people[:300])
    _ledger(other, many_people[300:400])
    seen: list[int] = []
    url, params = "/api/deliveries/", {"campaign": campaign.pk, "status": "planned", "page_size": 37}
    added = 0
    # when: between pages, new rows are planned and earlier ones change status
    while url:
        body = admin_client_api.get(url, params).json()
        seen += [r["id"] for r in body["results"]]
        assert all(r["campaign"] == campaign.pk and r["status"] == "planned" for r in body["results"])
        url, params = body["next"], None
        Delivery.objects.filter(pk=seen[-1]).update(status="sent")  # a row already seen moves on
        if added < 5:
            _ledger(campaign, many_people[400 + 10 * added: 410 + 10 * added])
            added += 1

    # then: id order, no row twice, and every row that was planned the whole time was seen
    assert seen == sorted(set(seen))
    assert set(seen) == set(Delivery.objects.filter(campaign=campaign).values_list("pk", flat=True))
    assert len(seen) == 350


def test_the_ledger_filters_still_apply_to_cursor_pages(admin_client_api, many_people):
    campaign = CampaignFactory()
    _ledger(campaign, many_people[:10], status="sent")
    _ledger(campaign, many_people[10:14], status="failed")

    failed = admin_client_api.get("/api/deliveries/", {"campaign": campaign.pk, "status": "failed"}).json()
    by_person = admin_client_api.get("/api/deliveries/", {"subscriber": many_people[3].subscriber_id}).json()

    assert [r["status"] for r in failed["results"]] == ["failed"] * 4
    assert [r["subscriber"] for r in by_person["results"]] == [many_people[3].subscriber_id]
    assert Delivery.objects.filter(campaign=campaign).count() == 14
