"""Personalised campaigns end to end: real workers, the fake Telegram over HTTP. Each person
receives their own rendering, and each of 1,000 people their own coupon, once."""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns import services
from campaigns.models import Campaign, CouponCode, Delivery
from campaigns.services import coupons as coupon_service
from tests.conftest import (
    CampaignFactory,
    DraftFactory,
    SegmentFactory,
    SubscriberFactory,
    subscribe,
)
from tests.fakes.telegram import FakeTelegram

from .engine import Engine
from .test_delivery import TOKEN, _tags, finished, policy, statuses

pytestmark = pytest.mark.django_db(transaction=True)
S = Delivery.Status


@pytest.fixture
def fake():
    with FakeTelegram() as server:
        yield server


@pytest.fixture
def engine_factory(tmp_path, fake):
    engines: list[Engine] = []

    def make(workers: int = 1, **env: str) -> Engine:
        engine = Engine(tmp_path, {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": fake.base_url, **env})
        engines.append(engine)
        return engine.start(workers)

    yield make
    for engine in engines:
        engine.stop()


def _person(chat: int, name: str = "", attributes: dict | None = None) -> int:
    person = SubscriberFactory(name=name, attributes=attributes or {})
    person.tags.add(*_tags("crowd"))
    subscribe(person, "telegram", str(chat))
    return person.pk


def _campaign(body: str, buttons: list[dict]) -> Campaign:
    segment = SegmentFactory(rules={"tags_all": ["crowd"], "tags_any": [], "platforms": [], "attributes": {}})
    return CampaignFactory(segment=segment, draft=DraftFactory(body=body, buttons=buttons), platforms=["telegram"],
                           send_at=timezone.now() + timedelta(seconds=2))


def _schedule(campaign: Campaign) -> Campaign:
    return services.campaign_schedule(campaign=campaign, now=campaign.send_at - timedelta(seconds=5))


def test_each_person_receives_their_own_rendering_and_no_braces(engine_factory, fake):
    policy()
    _person(501, "Анна Каренина", {"city": "Москва"})
    _person(502, "Boris", {})
    _person(503, "", {"city": "Kazan"})
    campaign = _campaign('Привет, {{ first_name|default:"друг" }}!\n{{ name }} из {{ attributes.city|default:"вашего города" }}',
                         [{"text": "Shop, {{ first_name|default:\"friend\" }}", "url": "https://shop.example/"}])
    engine = engine_factory(TACT_RATE_TELEGRAM="")

    campaign = finished(_schedule(campaign), 60, engine)

    texts = {c.chat_id: c.text for c in fake.sent()}
    assert texts == {
        501: "Привет, Анна!\nАнна Каренина из Москва",
        502: "Привет, Boris!\nBoris из вашего города",
        503: "Привет, друг!\n из Kazan",
    }
    buttons = {c.chat_id: c.reply_markup["inline_keyboard"][0][0]["text"] for c in fake.sent()}
    assert buttons == {501: "Shop, Анна", 502: "Shop, Boris", 503: "Shop, friend"}
    assert not any("{{" in c.text or "}}" in c.text for c in fake.calls())
    assert statuses(campaign) == {S.SENT: 3}


def test_a_thousand_people_each_get_one_unique_coupon_with_two_workers(engine_factory, fake):
    policy()
    chats = list(range(20_000, 21_000))
    random.Random(10).shuffle(chats)  # ids in an order that does not flatter the code
    for chat in chats:
        _person(chat, f"Person {chat}")
    campaign = _campaign("{{ first_name }}, your code: {{ coupon }}",
                         [{"text": "Copy code", "copy_text": "{{ coupon }}"}])
    codes = [f"CODE-{n:05d}" for n in random.Random(11).sample(range(100_000), 1_050)]
    coupon_service.coupons_add(campaign=campaign, codes=codes)
    engine = engine_factory(workers=2, TACT_RATE_TELEGRAM="")

    campaign = finished(_schedule(campaign), 180, engine)

    sent = fake.sent()
    assert Counter(c.chat_id for c in sent) == {chat: 1 for chat in chats}
    code_of_chat = {c.chat_id: c.text.rsplit(": ", 1)[1] for c in sent}
    # every code at most once, each one of the pool
    assert len(set(code_of_chat.values())) == 1_000 and set(code_of_chat.values()) <= set(codes)
    # the copy button copies the same code as the text shows
    assert {c.chat_id: c.reply_markup["inline_keyboard"][0][0]["copy_text"]["text"] for c in sent} == code_of_chat
    # each delivery's recorded code is the code in its text at the fake
    recorded = dict(CouponCode.objects.filter(campaign=campaign, delivery__isnull=False)
                    .values_list("delivery__subscription__address", "code"))
    assert recorded == {str(chat): code for chat, code in code_of_chat.items()}
    assert coupon_service.coupon_counts(campaign) == {"total": 1_050, "assigned": 1_000, "free": 50}
    assert statuses(campaign) == {S.SENT: 1_000}
