"""The delivery engine end to end: real worker and beat processes, PostgreSQL, Redis and a
fake Telegram Bot API over real HTTP. Each test breaks an invariant of DESIGN.md on purpose."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import redis
from django.db.models import Count
from django.utils import timezone

from campaigns import services
from campaigns.models import Campaign, ConsentEvent, Delivery, FrequencyPolicy, SendList, Subscription
from channels.models import OutboxMessage
from tests.conftest import CampaignFactory, SegmentFactory, SubscriberFactory, subscribe
from tests.fakes.telegram import FakeTelegram

from .engine import TEST_REDIS_URL, Engine, wait_until

pytestmark = pytest.mark.django_db(transaction=True)
TOKEN = "123456:TEST-token"
S = Delivery.Status


@pytest.fixture
def fake():
    with FakeTelegram() as server:
        yield server


@pytest.fixture
def engine_factory(tmp_path, fake):
    engines: list[Engine] = []

    def make(workers: int = 1, **env: str) -> Engine:
        engine = Engine(tmp_path, {
            "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": fake.base_url, **env,
        })
        engines.append(engine)
        return engine.start(workers)

    yield make
    for engine in engines:
        engine.stop()


def policy(*, per_day: int | None = None, per_week: int | None = None, quiet: bool = False) -> None:
    p = FrequencyPolicy.current()
    p.max_per_day, p.max_per_week = per_day, per_week
    if not quiet:
        p.quiet_start = p.quiet_end = datetime.min.time()
    p.save()


def telegram_people(n: int, *, tag: str = "all", first_chat: int = 1000) -> list[int]:
    chats = []
    for i in range(n):
        person = SubscriberFactory(timezone="Europe/Moscow")
        person.tags.add(*_tags(tag))
        subscribe(person, "telegram", str(first_chat + i))
        chats.append(first_chat + i)
    return chats


def _tags(*names: str):
    from campaigns.models import Tag

    return [Tag.objects.get_or_create(name=n)[0] for n in names]


def launch(platforms=("telegram",), tag: str = "all", **fields) -> Campaign:
    """A campaign due now, scheduled through the service (send_at just passed)."""
    segment = SegmentFactory(rules={"tags_all": [tag], "tags_any": [], "platforms": [], "attributes": {}})
    send_at = timezone.now() + timedelta(seconds=1)
    campaign = CampaignFactory(segment=segment, platforms=list(platforms), send_at=send_at, **fields)
    return services.campaign_schedule(campaign=campaign, now=send_at - timedelta(seconds=5))


def finished(campaign: Campaign, timeout: float, engine: Engine) -> Campaign:
    try:
        wait_until(lambda: Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.COMPLETED,
                   timeout, f"campaign {campaign.pk} to complete")
    except AssertionError:
        print(engine.logs())
        print(Counter(Delivery.objects.filter(campaign=campaign).values_list("status", flat=True)))
        raise
    return Campaign.objects.get(pk=campaign.pk)


def statuses(campaign: Campaign) -> dict[str, int]:
    return dict(Counter(Delivery.objects.filter(campaign=campaign).values_list("status", flat=True)))


def test_every_eligible_person_gets_exactly_one_message_and_the_rest_none(engine_factory, fake):
    # given: 23 on Telegram, 2 of them opted out; WhatsApp people with and without our
    # number saved; people reachable only on a platform the campaign does not use
    policy()
    chats = telegram_people(23)
    out = Subscription.objects.filter(platform="telegram", address__in=[str(chats[0]), str(chats[1])])
    for subscription in out:
        services.subscription_opt_out(subscription=subscription, consent=services.Consent(source="test"))
    saved, unsaved, viber_only = [], [], []
    for i in range(9):
        person = SubscriberFactory()
        person.tags.add(*_tags("all"))
        saved.append(subscribe(person, "whatsapp", f"+7999555{i:04d}", saved_our_number=True).address)
    for i in range(3):
        person = SubscriberFactory()
        person.tags.add(*_tags("all"))
        unsaved.append(subscribe(person, "whatsapp", f"+7999666{i:04d}", saved_our_number=False).address)
        viber_only.append(subscribe(SubscriberFactory(), "viber", f"+7998777{i:04d}").address)
    # and a person on both Telegram and WhatsApp: Telegram comes first in the preference
    both = SubscriberFactory()
    both.tags.add(*_tags("all"))
    subscribe(both, "telegram", "5555")
    subscribe(both, "whatsapp", "+79995550099", saved_our_number=True)

    # when
    engine = engine_factory(TACT_LIST_SIZE_TELEGRAM="5", TACT_LIST_SIZE_WHATSAPP="4")
    # (none of them wrote to us in the last 24 hours: WhatsApp takes only an approved template)
    template = {"name": "black_friday", "language": "ru", "parameters": ["−30%"]}
    campaign = finished(launch(platforms=("telegram", "whatsapp"), draft__whatsapp_template=template), 60, engine)

    # then: Telegram got exactly one message per eligible chat, and none to the opted-out
    eligible = {int(c) for c in chats[2:]} | {5555}
    assert fake.count_by_chat() == {chat: 1 for chat in eligible}
    assert [c.text for c in fake.sent()][:1] == [campaign.content_body]
    # WhatsApp (sandbox, no credentials) got everybody once: the Cloud API sends one to one,
    # so whether they saved our number does not matter
    assert sorted(OutboxMessage.objects.values_list("address", flat=True)) == sorted(saved + unsaved)
    # the WhatsApp sandbox reports some delivered a second or two after sending: all left as sent or beyond
    counts = statuses(campaign)
    assert set(counts) <= {S.SENT, S.DELIVERED, S.READ}
    assert sum(counts.values()) == len(eligible) + len(saved) + len(unsaved)
    assert counts[S.SENT] >= len(eligible)  # Telegram reports no receipts
    # lists: 22 Telegram people in lists of at most 5, 9 WhatsApp people in lists of at most 4
    sizes = {
        (platform, n)
        for platform, n in SendList.objects.filter(campaign=campaign)
        .values("platform", "number").annotate(n=Count("deliveries")).values_list("platform", "n")
    }
    by_platform = Counter(
        SendList.objects.filter(campaign=campaign).values_list("platform", flat=True)
    )
    assert by_platform == {"telegram": 5, "whatsapp": 3}
    assert max(n for p, n in sizes if p == "telegram") <= 5
    assert max(n for p, n in sizes if p == "whatsapp") <= 4
    assert campaign.finished_at is not None


def sent_count(fake: FakeTelegram) -> int:
    return len(fake.sent())


def test_a_worker_killed_mid_campaign_leaves_nobody_twice_and_the_campaign_completes(engine_factory, fake):
    # given: 150 people at 30 messages/s (5 s of sending), slowed responses so calls are in flight
    policy()
    chats = telegram_people(150)
    fake.configure(latency=0.15)
    engine = engine_factory()
    campaign = launch()
    first = engine.workers[0]

    # when: kill -9 the worker in the middle, then start another
    wait_until(lambda: sent_count(fake) >= 40, 60, "40 messages")
    engine.kill_worker(first)
    killed_at = sent_count(fake)
    engine.start_worker()
    campaign = finished(campaign, 90, engine)

    # then: nobody has two messages at the platform; everybody else got one
    by_chat = fake.count_by_chat(delivered_only=False)
    assert max(by_chat.values()) == 1
    counts = statuses(campaign)
    uncertain = counts.get(S.UNCERTAIN, 0)
    assert counts.get(S.SENT, 0) + uncertain == 150
    # at most the calls in flight when it died: one chunk (a fifth of a second at 30/s)
    assert uncertain <= 6
    sent_chats = {int(a) for a in Delivery.objects.filter(campaign=campaign, status=S.SENT)
                  .values_list("subscription__address", flat=True)}
    assert sent_chats <= set(by_chat)
    assert set(by_chat) <= set(chats)
    assert killed_at < 150


def test_a_redis_flush_mid_campaign_loses_nobody_and_sends_nobody_twice(engine_factory, fake):
    policy()
    chats = telegram_people(120)
    engine = engine_factory()
    campaign = launch()

    wait_until(lambda: sent_count(fake) >= 30, 60, "30 messages")
    redis.Redis.from_url(TEST_REDIS_URL).flushdb()
    campaign = finished(campaign, 90, engine)

    assert fake.count_by_chat(delivered_only=False) == {chat: 1 for chat in chats}
    assert statuses(campaign) == {S.SENT: 120}


def test_two_campaigns_racing_for_the_same_people_never_pass_a_cap_of_one_a_day(engine_factory, fake):
    # given: a cap of 1 a day; two campaigns to the same 60 people at once, two workers
    policy(per_day=1)
    chats = telegram_people(60)
    engine = engine_factory(workers=2, TACT_RATE_TELEGRAM="")
    expires = timezone.now() + timedelta(seconds=40)
    first = launch(expires_at=expires)
    second = launch(expires_at=expires)

    first, second = finished(first, 90, engine), finished(second, 90, engine)

    # then: everybody got exactly one message, from one campaign or the other
    assert fake.count_by_chat(delivered_only=False) == {chat: 1 for chat in chats}
    a, b = statuses(first), statuses(second)
    assert a.get(S.SENT, 0) + b.get(S.SENT, 0) == 60
    # the other campaign's row for each person was held by the cap, then skipped at expiry
    assert a.get(S.SKIPPED, 0) + b.get(S.SKIPPED, 0) == 60
    reasons = set(Delivery.objects.filter(status=S.SKIPPED).values_list("reason", flat=True))
    assert all(r.startswith("daily cap until ") and r.endswith("after expiry") for r in reasons), reasons


def test_injected_429_and_5xx_delay_but_never_lose_a_message_and_the_ceiling_holds(engine_factory, fake):
    # given: 10 % of answers are 429 (retry_after 1) or 502; a ceiling of 30/s
    policy()
    chats = telegram_people(240)
    fake.configure(rate_429=0.05, rate_5xx=0.05, retry_after=1, seed=7)
    engine = engine_factory(workers=2, TACT_RATE_TELEGRAM="30")

    campaign = finished(launch(), 120, engine)

    # then: a 429 is retried after its pause; a 502 is ambiguous (the platform may have
    # taken the message), so that row is `uncertain` and never resent by itself
    uncertain = set(Delivery.objects.filter(campaign=campaign, status=S.UNCERTAIN)
                    .values_list("subscription__address", flat=True))
    failed_502 = {str(c.chat_id) for c in fake.calls() if c.status == 502}
    assert uncertain == failed_502 and uncertain
    delivered = Counter(c.chat_id for c in fake.sent())
    assert delivered == {chat: 1 for chat in chats if str(chat) not in uncertain}
    assert all(n == 1 for chat, n in Counter(c.chat_id for c in fake.calls() if c.status != 429).items())
    assert statuses(campaign) == {S.SENT: 240 - len(uncertain), S.UNCERTAIN: len(uncertain)}
    refused = [c for c in fake.calls() if not c.delivered]
    assert {c.status for c in refused} == {429, 502}
    # and the platform never saw more than 30 requests in any one-second window
    assert fake.max_in_any_window(1.0) <= 30


def test_an_opt_out_during_a_campaign_stops_messages_to_that_person_at_once(engine_factory, fake):
    policy()
    chats = telegram_people(180)
    engine = engine_factory()
    campaign = launch()
    wait_until(lambda: sent_count(fake) >= 20, 60, "20 messages")

    # when: the last 30 people opt out while the campaign runs
    leaving = chats[-30:]
    committed = {}
    for chat in leaving:
        services.opt_out_address(platform="telegram", address=str(chat), consent=services.Consent(source="test"))
        committed[chat] = time.time()
    campaign = finished(campaign, 90, engine)

    # then: nothing reached any of them after their opt-out was committed
    late = [c for c in fake.calls() if c.chat_id in committed and c.wall > committed[c.chat_id]]
    assert late == []
    received = set(fake.count_by_chat(delivered_only=False))
    skipped = Delivery.objects.filter(campaign=campaign, status=S.SKIPPED)
    assert {int(a) for a in skipped.values_list("subscription__address", flat=True)} == set(leaving) - received
    assert skipped.count() >= 20  # most of them had not been reached yet
    assert ConsentEvent.objects.filter(kind="opt_out").count() == 30


def test_pause_stops_within_seconds_resume_sends_the_rest_once_and_cancel_stops_for_good(engine_factory, fake):
    policy()
    chats = telegram_people(150)
    engine = engine_factory()
    campaign = launch()
    wait_until(lambda: sent_count(fake) >= 30, 60, "30 messages")

    services.campaign_pause(campaign=campaign)
    time.sleep(2)  # what was in flight lands
    at_pause = sent_count(fake)
    time.sleep(3)
    assert sent_count(fake) == at_pause  # nothing more while paused
    assert at_pause < 150

    services.campaign_resume(campaign=campaign)
    finished(campaign, 90, engine)
    assert fake.count_by_chat(delivered_only=False) == {chat: 1 for chat in chats}

    # cancel: a second campaign to the same people stops for good
    fake.reset()
    again = launch()
    wait_until(lambda: sent_count(fake) >= 20, 60, "20 messages")
    services.campaign_cancel(campaign=again)
    time.sleep(2)
    at_cancel = sent_count(fake)
    time.sleep(3)
    assert sent_count(fake) == at_cancel < 150
    again.refresh_from_db()
    assert again.status == Campaign.Status.CANCELLED
    counts = statuses(again)
    assert counts[S.SKIPPED] == 150 - at_cancel
    assert counts[S.SENT] == at_cancel


def test_a_campaign_past_expires_at_skips_what_is_left(engine_factory, fake):
    policy()
    telegram_people(300)  # 10 s at 30/s
    engine = engine_factory()
    campaign = launch(expires_at=timezone.now() + timedelta(seconds=5))

    campaign = finished(campaign, 60, engine)

    counts = statuses(campaign)  # on a loaded machine nothing may have gone out in 5 s: all skipped then
    assert counts.get(S.SENT, 0) == sent_count(fake)
    assert counts.get(S.SENT, 0) + counts[S.SKIPPED] == 300
    assert counts[S.SKIPPED] > 50
    assert set(Delivery.objects.filter(campaign=campaign, status=S.SKIPPED).values_list("reason", flat=True)) == {
        "expired before it could be sent"
    }


def test_blocked_deactivated_and_unknown_chats_are_suppressed_and_never_sent_again(engine_factory, fake):
    policy()
    chats = telegram_people(10)
    fake.configure(chat_rules={chats[0]: "blocked", chats[1]: "deactivated", chats[2]: "not_found"})
    engine = engine_factory()

    first = finished(launch(), 60, engine)

    assert statuses(first) == {S.SENT: 7, S.FAILED: 3}
    status = dict(Subscription.objects.filter(address__in=[str(c) for c in chats[:3]]).values_list("address", "status"))
    assert status == {str(chats[0]): "blocked", str(chats[1]): "unreachable", str(chats[2]): "unreachable"}
    # blocking the bot is the person's withdrawal; a deactivated or unknown chat is a bounce,
    # recorded as a suppression, not as a withdrawal of consent
    events = ConsentEvent.objects.exclude(kind="opt_in").values_list("kind", "status", "source", "by_person")
    assert sorted(events) == [("opt_out", "blocked", "telegram:delivery", True),
                              ("suppress", "unreachable", "telegram:delivery", False),
                              ("suppress", "unreachable", "telegram:delivery", False)]

    # a second campaign does not even try them
    fake.reset()
    finished(launch(), 60, engine)
    assert set(fake.count_by_chat(delivered_only=False)) == set(chats[3:])


def test_a_slow_answer_is_waited_for_and_no_answer_at_all_is_uncertain_not_resent(engine_factory, fake):
    policy()
    chats = telegram_people(8)
    fake.configure(slow_chats=frozenset(chats[:2]), slow_latency=4.0, latency=0.3)
    engine = engine_factory(TACT_SEND_TIMEOUT="2")

    campaign = finished(launch(), 60, engine)

    # the 0.3 s answers count as sent; the 4 s ones ran past the 2 s timeout: uncertain, once
    assert statuses(campaign) == {S.SENT: 6, S.UNCERTAIN: 2}
    assert fake.count_by_chat(delivered_only=False) == {chat: 1 for chat in chats}
    reasons = set(Delivery.objects.filter(status=S.UNCERTAIN).values_list("reason", flat=True))
    assert len(reasons) == 1 and next(iter(reasons)).startswith("no answer from Telegram")


def test_a_platform_that_cannot_be_reached_says_so_in_the_ledger_and_sends_nothing(engine_factory, fake):
    # given: the bot's token points at a server that is not there
    policy()
    telegram_people(5)
    engine_factory(TELEGRAM_API_URL="http://127.0.0.1:9/bot")

    campaign = launch()
    wait_until(lambda: Delivery.objects.filter(
        campaign=campaign, reason__startswith="waiting for the platform: cannot connect to telegram").count() == 5,
        60, "the ledger to say why nothing moves")

    # then: nothing was sent or given up on; the rows wait for the platform to come back,
    # and the campaign says why
    assert statuses(campaign) == {S.PLANNED: 5}
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING
    assert campaign.problem.startswith("cannot connect to telegram")
    assert fake.calls() == []
    assert Delivery.objects.filter(campaign=campaign, send_after__gt=timezone.now()).count() == 5


def test_a_local_time_campaign_reaches_each_zone_at_its_own_wall_clock(engine_factory, fake):
    # given: New Yorkers first (the lowest ids), then people in UTC; send_at's wall clock is
    # read in UTC (TIME_ZONE), so it is due now in UTC and hours later in New York
    policy()
    from campaigns.models import Subscriber

    there = telegram_people(3, first_chat=200)
    Subscriber.objects.filter(subscriptions__address__in=[str(c) for c in there]).update(timezone="America/New_York")
    here = telegram_people(4, first_chat=100)
    Subscriber.objects.filter(subscriptions__address__in=[str(c) for c in here]).update(timezone="UTC")
    engine_factory()

    campaign = launch(local_time=True)
    wait_until(lambda: len(fake.sent()) == 4, 60, "the UTC people")
    time.sleep(2)

    # then: UTC got it now; New York is not even planned yet: its audience is read near its
    # own wall-clock time, in a later pass
    assert fake.count_by_chat() == {chat: 1 for chat in here}
    assert not Delivery.objects.filter(campaign=campaign, subscription__address__in=[str(c) for c in there]).exists()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING and campaign.planned_at is None
    wall = campaign.send_at.astimezone(UTC).replace(tzinfo=None)
    new_york = wall.replace(tzinfo=ZoneInfo("America/New_York")).astimezone(UTC)
    assert campaign.send_at < campaign.next_plan_at < new_york


def test_rows_due_first_are_sent_first_whoever_has_the_lowest_ids(engine_factory, fake):
    # given: quiet hours around Tokyo's current hour; Tokyo people have the LOWEST ids and
    # share lists of 5 with Londoners (UTC in winter) who may be written to now
    now = timezone.now()
    tokyo_hour = now.astimezone(ZoneInfo("Asia/Tokyo")).hour
    p = FrequencyPolicy.current()
    p.max_per_day = p.max_per_week = None
    p.quiet_start = datetime.min.time().replace(hour=(tokyo_hour - 1) % 24)
    p.quiet_end = datetime.min.time().replace(hour=(tokyo_hour + 2) % 24)
    p.save()
    from campaigns.models import Subscriber

    tokyo = telegram_people(3, first_chat=300)
    Subscriber.objects.filter(subscriptions__address__in=[str(c) for c in tokyo]).update(timezone="Asia/Tokyo")
    london = telegram_people(7, first_chat=400)
    Subscriber.objects.filter(subscriptions__address__in=[str(c) for c in london]).update(timezone="Europe/London")
    engine_factory(TACT_LIST_SIZE_TELEGRAM="5")

    campaign = launch()
    wait_until(lambda: len(fake.sent()) == 7, 60, "the Londoners")
    time.sleep(2)

    # then: every Londoner got it now, none waited for Tokyo's quiet hours to end
    assert fake.count_by_chat() == {chat: 1 for chat in london}
    rows = Delivery.objects.filter(campaign=campaign, subscription__address__in=[str(c) for c in tokyo])
    quiet_end = rules_wall(now, tokyo_hour + 2, "Asia/Tokyo")
    assert {(d.status, d.send_after) for d in rows} == {(S.PLANNED, quiet_end)}
    assert all(d.reason.startswith("quiet hours in Asia/Tokyo until ") for d in rows)
    # lists are packed by send time: the Tokyo rows share a list of their own
    assert {d.send_list_id for d in rows} != set() and len({d.send_list_id for d in rows}) == 1
    tokyo_list = SendList.objects.get(pk=rows[0].send_list_id)
    assert tokyo_list.next_due == quiet_end and tokyo_list.state == SendList.State.WAITING


def rules_wall(now: datetime, hour: int, zone: str) -> datetime:
    """The next moment clocks in `zone` show `hour`:00 after `now`, in UTC."""
    tz = ZoneInfo(zone)
    local = now.astimezone(tz)
    day = local.date() + timedelta(days=hour // 24)
    at = datetime.combine(day, datetime.min.time().replace(hour=hour % 24), tzinfo=tz)
    if at <= now:
        at += timedelta(days=1)
    return at.astimezone(UTC)
