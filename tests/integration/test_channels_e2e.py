"""A campaign to a mixed audience on Telegram, WhatsApp and Viber through fakes of all three,
with the platforms' receipts and opt-outs coming back through our webhooks."""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from campaigns import services
from campaigns.models import Campaign, Delivery, Subscription
from tests.conftest import CampaignFactory, DraftFactory, SegmentFactory, SubscriberFactory, subscribe
from tests.fakes import viber as viber_fake
from tests.fakes import whatsapp as whatsapp_fake
from tests.fakes.telegram import FakeTelegram
from tests.fakes.viber import FakeViber, ViberConfig
from tests.fakes.whatsapp import FakeWhatsApp, WhatsAppConfig

from .engine import Engine, wait_until
from .test_delivery import _tags, finished, policy, statuses

pytestmark = pytest.mark.django_db(transaction=True)
S = Delivery.Status
APP_SECRET = "whatsapp-app-secret"
VIBER_TOKEN = "viber-auth-token"
TEMPLATE = {"name": "black_friday", "language": "ru", "parameters": ["−30%"]}


@pytest.fixture
def platforms(live_server, settings, tmp_path):
    settings.WHATSAPP_APP_SECRET = APP_SECRET
    settings.VIBER_AUTH_TOKEN = VIBER_TOKEN
    telegram = FakeTelegram().start()
    whatsapp = FakeWhatsApp(config=WhatsAppConfig(
        webhook_url=f"{live_server.url}/webhooks/whatsapp/", app_secret=APP_SECRET,
        statuses=("sent", "delivered", "read"), enforce_window=True,
    )).start()
    viber = FakeViber(token=VIBER_TOKEN, config=ViberConfig(
        webhook_url=f"{live_server.url}/webhooks/viber/", events=("delivered", "seen"),
    )).start()
    engine = Engine(tmp_path, {
        "TELEGRAM_BOT_TOKEN": "123456:TEST", "TELEGRAM_API_URL": telegram.base_url,
        "WHATSAPP_ACCESS_TOKEN": "wa-token", "WHATSAPP_PHONE_NUMBER_ID": whatsapp_fake.PHONE_NUMBER_ID,
        "WHATSAPP_API_URL": whatsapp.base_url,
        "VIBER_AUTH_TOKEN": VIBER_TOKEN, "VIBER_API_URL": viber.base_url,
        "TACT_LIST_SIZE_VIBER": "5", "TACT_LIST_SIZE_WHATSAPP": "4",
    })
    try:
        yield telegram, whatsapp, viber, engine
    finally:
        engine.stop()
        for server in (telegram, whatsapp, viber):
            server.stop()


def _person(platform: str, address: str, **kwargs) -> Subscription:
    person = SubscriberFactory()
    person.tags.add(*_tags("all"))
    return subscribe(person, platform, address, **kwargs)


def _launch(**fields) -> Campaign:
    segment = SegmentFactory(rules={"tags_all": ["all"], "tags_any": [], "platforms": [], "attributes": {}})
    # Untracked buttons: every Viber receiver gets the same message, so broadcasts are packed
    # (a tracked link is each person's own, and a message of one's own is a broadcast of one).
    draft = DraftFactory(body="−30% on everything today only\nDetails inside…", whatsapp_template=TEMPLATE,
                         track_links=False)
    send_at = timezone.now() + timedelta(seconds=1)
    campaign = CampaignFactory(segment=segment, draft=draft, platforms=["telegram", "whatsapp", "viber"],
                               send_at=send_at, **fields)
    return services.campaign_schedule(campaign=campaign, now=send_at - timedelta(seconds=5))


def test_a_mixed_campaign_reaches_everyone_once_on_each_platform_with_receipts(platforms):
    telegram, whatsapp, viber, engine = platforms
    policy()
    chats = [str(7000 + i) for i in range(10)]
    for chat in chats:
        _person("telegram", chat)
    phones = [f"+7999123{i:04d}" for i in range(8)]
    recent = timezone.now() - timedelta(hours=2)
    for i, phone in enumerate(phones):
        subscription = _person("whatsapp", phone, saved_our_number=True)
        if i < 4:  # these four wrote to us two hours ago: inside the 24-hour window
            Subscription.objects.filter(pk=subscription.pk).update(last_inbound_at=recent)
    whatsapp.open_window(*[p.lstrip("+") for p in phones[:4]])
    viber_ids = [f"viberUser{i:02d}AAAA==" for i in range(12)]
    for user in viber_ids:
        _person("viber", user)

    engine.start()
    campaign = finished(_launch(), 90, engine)

    # exactly once at each platform
    assert telegram.count_by_chat() == {int(c): 1 for c in chats}
    assert whatsapp.count_by_recipient() == {p.lstrip("+"): 1 for p in phones}
    assert viber.count_by_receiver() == {u: 1 for u in viber_ids}
    # WhatsApp: free text inside the window, the approved template outside it
    kinds = {c.wa_id: (c.type, c.template) for c in whatsapp.sent()}
    assert kinds == {**{p.lstrip("+"): ("text", None) for p in phones[:4]},
                     **{p.lstrip("+"): ("template", "black_friday") for p in phones[4:]}}
    # Viber: broadcast_message calls of at most 5 receivers (its list size here)
    broadcasts = [c for c in viber.calls() if c.method == "broadcast_message"]
    assert sorted(len(c.receivers) for c in broadcasts) == [4, 4, 4]

    # receipts come back through the webhooks: WhatsApp read, Viber seen
    wait_until(lambda: Delivery.objects.filter(campaign=campaign, status=S.READ).count() == 20, 30,
               "WhatsApp and Viber receipts")
    counts = statuses(campaign)
    assert counts == {S.SENT: 10, S.READ: 20}
    stats = __import__("campaigns.selectors", fromlist=["x"]).campaign_stats(campaign)
    assert (stats["sent"], stats["delivered"], stats["read"]) == (30, 20, 20)
    assert Delivery.objects.filter(campaign=campaign, status=S.READ, delivered_at__isnull=True).count() == 0


def test_an_opt_out_by_webhook_during_a_campaign_stops_messages_to_that_person(platforms, live_server):
    telegram, whatsapp, viber, engine = platforms
    policy()
    # 60 Viber people in lists of 5 at 1 broadcast/s: the campaign takes about 12 s
    viber_ids = [f"viberUser{i:02d}BBBB==" for i in range(60)]
    for user in viber_ids:
        _person("viber", user)
    engine.env["TACT_RATE_VIBER"] = "1"
    engine.start()
    campaign = _launch()
    try:
        wait_until(lambda: len(viber.delivered()) >= 10, 60, "the first Viber lists")
    except AssertionError:
        print(engine.logs())
        print(statuses(campaign), [(c.method, c.status, len(c.receivers)) for c in viber.calls()][:20])
        raise

    # the last 10 unsubscribe in Viber; Viber calls our webhook
    leaving = viber_ids[-10:]
    committed = {}
    for user in leaving:
        body, headers = viber_fake.signed(viber_fake.unsubscribed_payload(user), VIBER_TOKEN)
        assert httpx.post(f"{live_server.url}/webhooks/viber/", content=body, headers=headers).status_code == 200
        committed[user] = time.time()
    finished(campaign, 90, engine)

    late = [(c.wall, r) for c in viber.calls() for r in c.accepted if r in committed and c.wall > committed[r]]
    assert late == []
    assert set(Subscription.objects.filter(address__in=leaving).values_list("status", flat=True)) == {"opted_out"}
    reached = Counter(viber.delivered())
    assert max(reached.values()) == 1
    skipped = Delivery.objects.filter(campaign=campaign, status=S.SKIPPED)
    assert set(skipped.values_list("subscription__address", flat=True)) == set(leaving) - set(reached)
    assert skipped.count() >= 5
