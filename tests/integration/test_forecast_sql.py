"""The forecast counted in SQL equals the person-by-person reading it replaced, exactly.

A mixed audience (three platforms and their preference, no consent, opted out, time zones
from UTC-10 to UTC+14 and one that does not exist, the WhatsApp window, tired people, erased
people) with a history of sends of other campaigns in every state around the caps' edges;
judged for several policies, quiet hours, local time and send times.
"""

import random
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from campaigns import services
from campaigns.delivery import campaign_forecast
from campaigns.delivery.common import current_policy
from campaigns.delivery.forecast_counts import audience_counts, audience_counts_streamed, templates_needed
from campaigns.delivery.planning import SendTimes
from campaigns.models import Campaign, Delivery, FrequencyPolicy, Subscriber, Tag
from tests.conftest import CampaignFactory, SegmentFactory, SubscriberFactory, subscribe

pytestmark = pytest.mark.django_db

NOW = datetime(2030, 6, 3, 10, 30, tzinfo=UTC)
ZONES = ["Europe/Moscow", "America/Los_Angeles", "Asia/Tokyo", "Pacific/Kiritimati", "Pacific/Honolulu",
         "America/St_Johns", "Asia/Kathmandu", "UTC", "Mars/Olympus_Mons"]
STATUSES = [s.value for s in Delivery.Status]


def _audience(seed: int = 7, people: int = 180) -> None:
    """The mixed audience, tagged "all", and other campaigns' sends to it over nine days."""
    rng = random.Random(seed)
    tag = Tag.objects.get_or_create(name="all")[0]
    earlier = [CampaignFactory(status=Campaign.Status.COMPLETED) for _ in range(4)]
    ids = list(range(people))
    rng.shuffle(ids)  # not in an order that flatters the code
    for i in ids:
        person = SubscriberFactory(timezone=rng.choice(ZONES), external_id=f"mix-{seed}-{i}")
        person.tags.add(tag)
        platforms = [p for p in ("telegram", "whatsapp", "viber") if rng.random() < 0.45]
        subscriptions = [subscribe(person, p) for p in platforms]
        for subscription in subscriptions:
            if rng.random() < 0.15:  # opted out again: no consent on that platform
                services.subscription_opt_out(subscription=subscription, status="opted_out", consent=services.Consent(
                    source="test", at=datetime(2026, 11, 5, tzinfo=UTC)))
            elif subscription.platform == "whatsapp":
                subscription.last_inbound_at = rng.choice([None, NOW - timedelta(hours=2), NOW - timedelta(hours=23),
                                                           NOW - timedelta(hours=30), NOW + timedelta(hours=1)])
                subscription.save(update_fields=["last_inbound_at"])
        if rng.random() < 0.1:
            Subscriber.objects.filter(pk=person.pk).update(unanswered=rng.choice([2, 3, 9]))
        if rng.random() < 0.03:
            Subscriber.objects.filter(pk=person.pk).update(erased_at=NOW - timedelta(days=1))
        if not subscriptions:
            continue
        for campaign in rng.sample(earlier, rng.randint(0, 4)):
            sent_at = NOW - timedelta(hours=rng.choice([0.5, 3, 10, 20, 26, 47, 100, 150, 167.5, 168.5, 190, 200]))
            Delivery.objects.create(campaign=campaign, subscriber=person, subscription=subscriptions[0],
                                    platform=subscriptions[0].platform, list_number=1, status=rng.choice(STATUSES),
                                    send_after=sent_at, sent_at=sent_at)


def _policy(per_day: int | None, per_week: int | None, quiet: bool, fatigue: int | None = None) -> None:
    policy = FrequencyPolicy.current()
    policy.max_per_day, policy.max_per_week, policy.fatigue_threshold = per_day, per_week, fatigue
    policy.quiet_start, policy.quiet_end = (time(21), time(9)) if quiet else (time(0), time(0))
    policy.save()


def _counts(campaign: Campaign, now: datetime):
    policy, quiet = current_policy()
    return (audience_counts(campaign=campaign, now=now, policy=policy, times=SendTimes(campaign, quiet)),
            audience_counts_streamed(campaign=campaign, now=now, policy=policy, times=SendTimes(campaign, quiet)))


@pytest.mark.parametrize(("per_day", "per_week", "quiet", "local_time", "send_in", "platforms", "fatigue"), [
    (1, 3, True, False, timedelta(hours=3), ["telegram", "whatsapp", "viber"], None),
    (2, None, False, True, timedelta(hours=2), ["viber", "telegram"], 3),
    (None, 2, True, True, timedelta(hours=-5), ["whatsapp", "telegram"], None),
    (1, 1, False, False, timedelta(0), ["telegram"], None),
    (None, None, True, False, timedelta(days=6), ["whatsapp", "viber", "telegram"], 9),
])
def test_the_sql_forecast_counts_exactly_what_reading_person_by_person_counts(
        per_day, per_week, quiet, local_time, send_in, platforms, fatigue):
    # given: the mixed audience; the campaign's own earlier rows never count against a cap
    _audience()
    _policy(per_day, per_week, quiet, fatigue)
    segment = SegmentFactory(rules={"tags_all": ["all"], "tags_any": [], "platforms": [], "attributes": {}})
    campaign = CampaignFactory(segment=segment, platforms=platforms, send_at=NOW + send_in, local_time=local_time)
    someone = Subscriber.objects.filter(subscriptions__status="opted_in").first()
    Delivery.objects.create(campaign=campaign, subscriber=someone, subscription=someone.subscriptions.first(),
                            platform=someone.subscriptions.first().platform, list_number=1, status="sent",
                            send_after=NOW, sent_at=NOW - timedelta(hours=1))

    # when
    in_sql, streamed = _counts(campaign, NOW)

    # then: the same numbers, and numbers that say something (each part is exercised)
    assert in_sql == streamed
    assert in_sql.audience == Subscriber.objects.filter(erased_at__isnull=True).count()
    assert in_sql.no_consent > 0 and sum(in_sql.receivers.values()) > 0
    if per_day or per_week:
        assert in_sql.cap > 0
    if "whatsapp" in platforms:
        assert 0 < in_sql.templates_needed <= in_sql.receivers["whatsapp"]
        assert templates_needed(campaign=campaign, now=NOW) == in_sql.templates_needed


def test_a_static_segment_is_counted_in_sql_as_it_is_read():
    _audience(seed=11, people=60)
    _policy(1, 3, True)
    segment = SegmentFactory(kind="static", rules={})
    segment.members.set(Subscriber.objects.order_by("-pk")[:35])
    campaign = CampaignFactory(segment=segment, platforms=["telegram", "viber"], send_at=NOW + timedelta(hours=2))

    in_sql, streamed = _counts(campaign, NOW)

    assert in_sql == streamed and in_sql.audience == 35


def test_the_forecast_answers_the_same_keys_with_the_counts_in_sql(admin_client_api):
    # given: 3 on Telegram (one sent to today by another campaign), 1 on WhatsApp outside its
    # window, 1 with no consent
    _policy(1, 3, False)
    tag = Tag.objects.get_or_create(name="all")[0]
    # a zone where it is day now: the send earlier today and the campaign fall on one local day
    zone = next(z for z in ("Europe/Moscow", "America/New_York", "Asia/Tokyo")
                if 6 <= datetime.now(UTC).astimezone(ZoneInfo(z)).hour < 18)
    people = [SubscriberFactory(timezone=zone) for _ in range(5)]
    for person in people:
        person.tags.add(tag)
    telegram = [subscribe(p, "telegram") for p in people[:3]]
    subscribe(people[3], "whatsapp")
    earlier = CampaignFactory(status=Campaign.Status.COMPLETED)
    sent_at = datetime.now(UTC) - timedelta(minutes=5)
    Delivery.objects.create(campaign=earlier, subscriber=people[0], subscription=telegram[0], platform="telegram",
                            list_number=1, status="delivered", send_after=sent_at, sent_at=sent_at)
    segment = SegmentFactory(rules={"tags_all": ["all"], "tags_any": [], "platforms": [], "attributes": {}})
    campaign = CampaignFactory(segment=segment, platforms=["telegram", "whatsapp"],
                               send_at=datetime.now(UTC) + timedelta(minutes=30))

    # when
    body = admin_client_api.get(f"/api/campaigns/{campaign.pk}/forecast/").json()
    direct = campaign_forecast(campaign=campaign, now=datetime.now(UTC))

    # then
    assert (body["audience"], body["receivers"]) == (5, 4)
    assert body["platforms"]["telegram"]["receivers"] == 3
    assert body["platforms"]["whatsapp"]["receivers"] == 1
    assert body["platforms"]["whatsapp"]["templates_needed"] == 1
    assert (body["held_back"]["cap"], body["held_back"]["no_consent"], body["held_back"]["quiet_hours"]) == (1, 1, 0)
    assert direct["held_back"] == body["held_back"]


def test_sends_dated_after_the_earliest_send_time_are_counted_exactly_too():
    # given: the mixed audience, and sends of another campaign dated a few hours ahead of now
    # (a clock ahead, or now before the history): the counts up to the earliest send time
    # cannot judge them, the per-zone join does
    _audience(seed=13, people=120)
    _policy(1, 2, True)
    later = CampaignFactory(status=Campaign.Status.COMPLETED)
    for i, person in enumerate(Subscriber.objects.filter(subscriptions__status="opted_in").distinct()[:40]):
        subscription = person.subscriptions.filter(status="opted_in").first()
        sent_at = NOW + timedelta(hours=1 + i % 12)
        Delivery.objects.create(campaign=later, subscriber=person, subscription=subscription,
                                platform=subscription.platform, list_number=1, status="sent", send_after=sent_at,
                                sent_at=sent_at)
    segment = SegmentFactory(rules={"tags_all": ["all"], "tags_any": [], "platforms": [], "attributes": {}})
    campaign = CampaignFactory(segment=segment, platforms=["telegram", "whatsapp", "viber"],
                               send_at=NOW + timedelta(minutes=30))

    # when
    in_sql, streamed = _counts(campaign, NOW)

    # then
    assert in_sql == streamed and in_sql.cap > 0
