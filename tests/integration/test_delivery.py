"""The delivery engine end to end: real worker and beat processes, PostgreSQL, Redis and a
fake Telegram Bot API over real HTTP. Each test breaks an invariant of DESIGN.md on purpose."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta

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
    campaign = finished(launch(platforms=("telegram", "whatsapp")), 60, engine)

    # then: Telegram got exactly one message per eligible chat, and none to the opted-out
    eligible = {int(c) for c in chats[2:]} | {5555}
    assert fake.count_by_chat() == {chat: 1 for chat in eligible}
    assert [c.text for c in fake.sent()][:1] == [campaign.content_body]
    # WhatsApp (sandbox, no credentials) got the saved numbers only, once each
    assert sorted(OutboxMessage.objects.values_list("address", flat=True)) == sorted(saved)
    assert statuses(campaign) == {S.SENT: len(eligible) + len(saved)}
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
