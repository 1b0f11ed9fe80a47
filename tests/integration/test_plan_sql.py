"""A standard campaign planned in SQL (delivery/plan_sql.py) gets exactly the ledger the
person-by-person planner writes (TACT_PLAN_IN_SQL=False): the same people on the same
platforms and subscriptions, the same lists (numbers, sizes, next due times, accounts), the
same send times and reasons, in the same order (ids), the same held-out rows and coupons.

A mixed audience: three platforms and their preference, subscriptions of a second Telegram
bot, opted out, no consent, erased, tired people (the fatigue guard), time zones from UTC-10
to UTC+14 and one that does not exist; quiet hours, a send window, local time in passes, lists
small enough to need several per platform. Then the ledger's references are checked per
statement (migration 0021): a row referring to nothing is refused, and so is deleting what
rows still refer to.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta

import pytest
from django.db import IntegrityError, connection, transaction

from campaigns import services
from campaigns.delivery import planning
from campaigns.models import (
    Campaign,
    CouponCode,
    Delivery,
    FrequencyPolicy,
    SenderAccount,
    SendList,
    Subscriber,
    Subscription,
    Tag,
)
from campaigns.services.sender_accounts import account_save
from tests.conftest import CampaignFactory, SegmentFactory, SubscriberFactory, subscribe

pytestmark = pytest.mark.django_db

NOW = datetime(2030, 6, 3, 5, 30, tzinfo=UTC)
ZONES = ["Europe/Moscow", "America/Los_Angeles", "Asia/Tokyo", "Pacific/Kiritimati", "Pacific/Honolulu",
         "America/St_Johns", "Asia/Kathmandu", "UTC", "Mars/Olympus_Mons"]


@pytest.fixture
def small_lists(settings):
    settings.TACT_SEND_BATCH = 7  # Telegram's lists
    settings.TACT_LIST_SIZE = {"whatsapp": 5, "viber": 4}


def _vip_bot() -> SenderAccount:
    return account_save(account=SenderAccount(), values={"platform": "telegram", "name": "VIP bot", "slug": "vip",
                                                         "active": True, "rate_per_second": None},
                        credentials={"token": "111111:vip-bot-token"})


def _audience(seed: int = 5, people: int = 160) -> tuple[Tag, SenderAccount]:
    rng = random.Random(seed)
    tag = Tag.objects.get_or_create(name="all")[0]
    vip = _vip_bot()
    ids = list(range(people))
    rng.shuffle(ids)  # ids not in zone order
    for i in ids:
        person = SubscriberFactory(timezone=rng.choice(ZONES), external_id=f"plan-{seed}-{i}")
        person.tags.add(tag)
        for platform in ("telegram", "whatsapp", "viber"):
            if rng.random() < 0.5:
                subscription = subscribe(person, platform)
                if rng.random() < 0.15:
                    services.subscription_opt_out(subscription=subscription, consent=services.Consent(
                        source="test", text="STOP", at=datetime(2026, 11, 2, tzinfo=UTC)))
        if rng.random() < 0.3:
            services.subscription_add(subscriber=person, platform="telegram", address=f"{900000 + person.pk}",
                                      consent=services.Consent(source="test", text="Yes", at=datetime(2026, 11, 1,
                                                                                                      tzinfo=UTC)),
                                      account=vip)
        if rng.random() < 0.12:
            Subscriber.objects.filter(pk=person.pk).update(unanswered=rng.choice([3, 4, 9]))
        if rng.random() < 0.04:
            Subscriber.objects.filter(pk=person.pk).update(erased_at=NOW - timedelta(days=1))
    return tag, vip


def _policy(quiet: bool, fatigue: int | None) -> None:
    policy = FrequencyPolicy.current()
    policy.max_per_day, policy.max_per_week, policy.fatigue_threshold = 1, 3, fatigue
    policy.quiet_start, policy.quiet_end = (time(21), time(9)) if quiet else (time(0), time(0))
    policy.save()


def _ledger(campaign: Campaign) -> tuple[list, list, list]:
    rows = list(Delivery.objects.filter(campaign=campaign).order_by("id").values_list(
        "subscriber_id", "subscription_id", "platform", "send_list__number", "list_number", "status", "reason",
        "send_after", "attempts", "platform_message_id", "variant_id", "sent_at"))
    lists = list(SendList.objects.filter(campaign=campaign).order_by("number").values_list(
        "number", "platform", "size", "next_due", "state", "account_id", "variant_id"))
    coupons = list(CouponCode.objects.filter(campaign=campaign).order_by("id").values_list(
        "code", "delivery__subscriber_id"))
    return rows, lists, coupons


def _plan_all(campaign: Campaign, first: datetime) -> list[int]:
    """Every pass of the campaign, each at the time beat would run it; the rows each wrote."""
    written = []
    now = first
    for _ in range(60):
        written.append(planning.campaign_plan(campaign_id=campaign.pk, now=now))
        campaign.refresh_from_db()
        if campaign.planned_at is not None:
            return written
        now = max(now, campaign.next_plan_at)
    raise AssertionError("the passes never ended")


@pytest.mark.parametrize(("platforms", "quiet", "fatigue", "local_time", "window", "on_vip"), [
    (["telegram", "whatsapp", "viber"], True, 3, False, None, False),
    (["viber", "telegram"], False, None, False, None, True),
    (["whatsapp", "telegram", "viber"], True, 4, True, None, False),
    (["telegram"], True, None, True, (time(10), time(19)), True),
    (["viber", "whatsapp"], False, 3, False, (time(20), time(2)), False),
])
def test_planning_in_sql_writes_the_ledger_planning_person_by_person_writes(
        settings, small_lists, platforms, quiet, fatigue, local_time, window, on_vip):
    # given: the mixed audience and two identical campaigns to it, a pool of coupons each
    tag, vip = _audience()
    _policy(quiet, fatigue)
    segment = SegmentFactory(rules={"tags_all": [tag.name], "tags_any": [], "platforms": [], "attributes": {}})
    twins = []
    for _ in range(2):
        campaign = CampaignFactory(
            segment=segment, platforms=platforms, send_at=NOW + timedelta(hours=2), local_time=local_time,
            send_window_start=window[0] if window else None, send_window_end=window[1] if window else None,
            telegram_account=vip if on_vip else None, status=Campaign.Status.RUNNING, started_at=NOW,
            content_body="Your code: {{ coupon }}")
        CouponCode.objects.bulk_create(CouponCode(campaign=campaign, code=f"CODE-{i:03d}") for i in range(90))
        twins.append(campaign)
    in_sql, streamed = twins
    first = NOW - timedelta(days=2) if local_time else NOW + timedelta(hours=2)

    # when: one is planned in SQL, the other person by person, pass by pass
    settings.TACT_PLAN_IN_SQL = True
    passes_sql = _plan_all(in_sql, first)
    settings.TACT_PLAN_IN_SQL = False
    passes_streamed = _plan_all(streamed, first)

    # then: the same rows, lists and coupons, in the same order, and rows worth comparing
    rows, lists, coupons = _ledger(in_sql)
    assert (passes_sql, rows, lists, coupons) == (passes_streamed, *_ledger(streamed))
    assert len(lists) > len(platforms) and sum(passes_sql) > 40
    assert {r[2] for r in rows if r[3] is not None} == set(platforms)  # in a list: planned, or out of coupons
    assert {r[5] for r in rows} <= {"planned", "skipped"}
    assert any(r[5] == "skipped" and r[6].startswith("fatigue:") for r in rows) == (fatigue is not None)
    assert any(r[6] for r in rows if r[5] == "planned") == bool(quiet or local_time or window)
    assert len({r[0] for r in rows}) == len(rows)  # one row per person
    if local_time:
        assert len(passes_sql) > 2
    accounts = {p: a for _, p, _, _, _, a, _ in lists}
    assert accounts.get("telegram", vip.pk if on_vip else None) == (vip.pk if on_vip else None)
    on_telegram = {r[1] for r in rows if r[2] == "telegram"}
    assert set(Subscription.objects.filter(pk__in=on_telegram).values_list("account_id", flat=True)) <= {
        vip.pk if on_vip else None}


def test_a_second_plan_of_the_same_pass_writes_nothing(small_lists):
    # given: a planned campaign
    tag, _ = _audience(seed=8, people=40)
    _policy(quiet=False, fatigue=None)
    segment = SegmentFactory(rules={"tags_all": [tag.name], "tags_any": [], "platforms": [], "attributes": {}})
    campaign = CampaignFactory(segment=segment, platforms=["telegram", "viber"], send_at=NOW,
                               status=Campaign.Status.RUNNING, started_at=NOW)
    first = planning.campaign_plan(campaign_id=campaign.pk, now=NOW)
    before = _ledger(campaign)

    # when: the task runs again (a redelivered message)
    again = planning.campaign_plan(campaign_id=campaign.pk, now=NOW)

    # then: nothing more
    assert first == len(before[0]) > 0 and again == 0 and _ledger(campaign) == before


def _one_row(campaign: Campaign, person: Subscriber, subscription: Subscription, **values) -> None:
    Delivery.objects.create(campaign=campaign, subscriber=person, subscription=subscription, platform="telegram",
                            list_number=1, send_after=NOW, **values)


def test_a_ledger_row_must_refer_to_rows_that_exist():
    person = SubscriberFactory()
    subscription = subscribe(person)
    campaign = CampaignFactory()
    other = SubscriberFactory()
    cases = {
        "campaign": {"campaign_id": 10**9},
        "send list": {"send_list_id": 10**9},
        "variant": {"variant_id": 10**9},
        "subscription": {"subscription_id": 10**9},
        "subscriber": {"subscriber_id": 10**9},
    }
    for what, wrong in cases.items():
        values = {"campaign_id": campaign.pk, "subscriber_id": person.pk, "subscription_id": subscription.pk} | wrong
        with pytest.raises(IntegrityError, match=f"its {what} {10**9} does not exist"), transaction.atomic():
            Delivery.objects.create(platform="telegram", list_number=1, send_after=NOW, **values)
    # a subscription of someone else (both exist) was allowed by the foreign keys, and still is
    _one_row(campaign, other, subscription)
    row = Delivery.objects.get(campaign=campaign)
    # an update that points a row at nothing is refused when it commits
    with pytest.raises(IntegrityError, match="it now refers to does not exist"), transaction.atomic():
        Delivery.objects.filter(pk=row.pk).update(send_list_id=10**9)
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert Delivery.objects.filter(campaign=campaign).count() == 1


def test_deleting_what_ledger_rows_refer_to_is_refused_but_deleting_it_with_them_is_not():
    person = SubscriberFactory()
    subscription = subscribe(person)
    campaign = CampaignFactory()
    send_list = SendList.objects.create(campaign=campaign, platform="telegram", number=1, size=1)
    _one_row(campaign, person, subscription, send_list=send_list)
    deletes = {  # what is deleted, and the statements that do it
        ("campaigns_sendlist", send_list.pk): ["DELETE FROM campaigns_sendlist WHERE id = %s"],
        ("campaigns_campaign", campaign.pk): ["UPDATE campaigns_delivery SET send_list_id = NULL "
                                              "WHERE campaign_id = %s",
                                              "DELETE FROM campaigns_sendlist WHERE campaign_id = %s",
                                              "DELETE FROM campaigns_campaign WHERE id = %s"],
    }
    for (table, pk), statements in deletes.items():
        with pytest.raises(IntegrityError, match=f"delete from {table}: campaigns_delivery still refers to {pk}"), \
                transaction.atomic():
            with connection.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement, [pk])
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert Delivery.objects.filter(campaign=campaign, send_list=send_list).count() == 1
    # Django deletes the rows first (on_delete=CASCADE): allowed
    campaign.delete()
    assert not Delivery.objects.filter(subscriber=person).exists()
    assert not SendList.objects.filter(pk=send_list.pk).exists()
