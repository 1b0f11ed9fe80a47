"""No phone number, chat id, name or message text in the logs: representative flows through
the web process (webhooks, the API) and a real worker (campaign, replies, failures), then
every line either process logged is searched for them."""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from campaigns import services
from campaigns.logs import RedactFilter, masked
from campaigns.models import (
    Campaign,
    Delivery,
    FrequencyPolicy,
    Subscriber,
    Subscription,
    Tag,
)
from tests.conftest import CampaignFactory, DraftFactory, SegmentFactory
from tests.fakes.telegram import FakeTelegram

from .engine import Engine, wait_until

pytestmark = pytest.mark.django_db(transaction=True)
TOKEN = "123456:TEST-token"
SECRET = "tg-webhook-secret"

# The people of this test: nothing of this may be logged.
ZINAIDA = 700555001  # opts in with /start
PETR = 700555002  # /start, then /stop; has blocked the bot, so our replies fail
STRANGER = 700555009  # /stop without ever having subscribed
GROUP = -100700555777  # a group chat where someone writes /start
IMPORTED_CHAT = "700555003"
IMPORTED_PHONE = "+79161234567"
BLOCKED_CHAT = "700555004"  # imported; blocked the bot before the campaign
GONE_CHAT = "700555005"  # imported; the chat no longer exists
NAMES = ("Zinaida", "Quartermain", "zq_private", "Petr", "Vasilchikov", "Yaroslava", "Ostrogradskaya")
BODY = "Midnight orchid sale for Zinaida\nOnly tonight, in the garden shop"


@pytest.fixture
def fake():
    with FakeTelegram() as server:
        server.configure(chat_rules={PETR: "blocked", int(BLOCKED_CHAT): "blocked", int(GONE_CHAT): "not_found"})
        yield server


@pytest.fixture
def engine(tmp_path, fake, settings):
    settings.TELEGRAM_BOT_TOKEN = TOKEN
    settings.TELEGRAM_API_URL = fake.base_url
    settings.TELEGRAM_WEBHOOK_SECRET = SECRET
    engine = Engine(tmp_path, {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": fake.base_url})
    yield engine.start()
    engine.stop()


@pytest.fixture
def unfiltered(monkeypatch):
    """The configured handlers' RedactFilter taken off in this process: it edits the record
    it masks, which caplog would then see; here the log calls themselves must be clean."""
    for handler in logging.getLogger().handlers:
        monkeypatch.setattr(handler, "filters", [f for f in handler.filters if not isinstance(f, RedactFilter)])


def telegram_update(update_id: int, chat: dict, person: dict, text: str) -> dict:
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": int(time.time()), "chat": chat, "from": person, "text": text,
        "entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]}}


def person(chat_id: int, first: str, last: str, username: str) -> dict:
    return {"id": chat_id, "is_bot": False, "first_name": first, "last_name": last, "username": username,
            "language_code": "en"}


def private(chat_id: int, who: dict) -> dict:
    return {"id": chat_id, "type": "private", "first_name": who["first_name"]}


def post_update(web: Client, update: dict) -> int:
    return web.post("/webhooks/telegram/", data=json.dumps(update), content_type="application/json",
                    headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}).status_code


def import_csv(api, *rows: str):
    header = ("external_id,name,timezone,language,tags,platform,address,saved_our_number,"
              "consent_source,consent_text,consent_at")
    data = "\n".join((header, *rows)).encode() + b"\n"
    return api.post("/api/subscribers/import/", {"file": SimpleUploadedFile("people.csv", data, "text/csv")},
                    format="multipart")


def no_caps_or_quiet_hours() -> None:
    policy = FrequencyPolicy.current()
    policy.max_per_day = policy.max_per_week = None
    policy.quiet_start = policy.quiet_end = datetime.min.time()
    policy.save()


def worker_logs(engine: Engine) -> str:
    return "\n".join(path.read_text() for path in engine._logs)


def test_no_address_name_or_message_text_reaches_the_logs_of_web_or_worker(engine, fake, admin_client_api,
                                                                            unfiltered, caplog):
    caplog.set_level(logging.INFO)
    web = Client(raise_request_exception=False)
    zinaida = person(ZINAIDA, "Zinaida", "Quartermain", "zq_private")
    petr = person(PETR, "Petr", "Vasilchikov", "petr_v")

    # opt-ins and opt-outs through the Telegram webhook, a command in a group, a stranger's /stop
    answers = [
        post_update(web, telegram_update(1, private(ZINAIDA, zinaida), zinaida, "/start vip")),
        post_update(web, telegram_update(2, private(PETR, petr), petr, "/start")),
        post_update(web, telegram_update(3, private(PETR, petr), petr, "/stop")),
        post_update(web, telegram_update(4, {"id": GROUP, "type": "group", "title": "Deals"}, zinaida, "/start")),
        post_update(web, telegram_update(5, private(STRANGER, petr), petr, "/stop")),
    ]
    # an import through the API: people on Telegram and WhatsApp, and a row it refuses
    imported = import_csv(
        admin_client_api,
        f"c1,Yaroslava Ostrogradskaya,Europe/Moscow,ru,vip,telegram,{IMPORTED_CHAT},,crm,Yes please,2026-11-01T10:00:00Z",
        f"c1,Yaroslava Ostrogradskaya,Europe/Moscow,ru,vip,whatsapp,{IMPORTED_PHONE},,crm,Yes please,2026-11-01T10:00:00Z",
        f"c2,Zinaida Two,Europe/Moscow,ru,vip,telegram,{BLOCKED_CHAT},,crm,Yes please,2026-11-01T10:00:00Z",
        f"c3,Zinaida Three,Europe/Moscow,ru,vip,telegram,{GONE_CHAT},,crm,Yes please,2026-11-01T10:00:00Z",
        "c4,Yaroslava Bad,Europe/Moscow,ru,vip,whatsapp,+7916123,,crm,Yes please,2026-11-01T10:00:00Z",
    )
    # the replies are sent (and fail for Petr, who blocked the bot) by the worker
    wait_until(lambda: len(fake.calls()) >= 4, 30, "the replies to /start, /start, /stop and the stranger's /stop")

    # a campaign to everyone tagged vip, sent by the worker: delivered, blocked, gone
    Subscriber.objects.get(subscriptions__address=str(ZINAIDA)).tags.add(Tag.objects.get(name="vip"))
    no_caps_or_quiet_hours()
    send_at = timezone.now() + timedelta(seconds=1)
    campaign = CampaignFactory(
        draft=DraftFactory(body=BODY), platforms=["telegram"], send_at=send_at,
        segment=SegmentFactory(rules={"tags_all": ["vip"], "tags_any": [], "platforms": [], "attributes": {}}))
    services.campaign_schedule(campaign=campaign, now=send_at - timedelta(seconds=5))
    wait_until(lambda: Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.COMPLETED, 60,
               "the campaign to complete")

    # the flows did what they should
    assert answers == [200] * 5
    assert imported.status_code == 200, imported.content
    assert sorted(Delivery.objects.filter(campaign=campaign).values_list("subscription__address", "status")) == [
        (str(ZINAIDA), "sent"), (IMPORTED_CHAT, "sent"), (BLOCKED_CHAT, "failed"), (GONE_CHAT, "failed")]
    assert Subscription.objects.get(address=str(PETR)).status == "opted_out"
    assert [c.text for c in fake.sent() if c.chat_id == ZINAIDA][-1] == BODY

    # then: neither the web process nor the worker logged any of it
    web_logs = caplog.text
    worker = worker_logs(engine)
    secrets = [str(ZINAIDA), str(PETR), str(STRANGER), str(GROUP), IMPORTED_CHAT, IMPORTED_PHONE,
               IMPORTED_PHONE[1:], "+7916123", BLOCKED_CHAT, GONE_CHAT, *NAMES, "Midnight orchid", "garden shop"]
    for secret in secrets:
        assert secret not in web_logs, (secret, web_logs)
        assert secret not in worker, (secret, worker[-6000:])
    # ... while the log calls were made, with masked addresses
    assert f"telegram /start in group chat {masked(GROUP)} ignored" in web_logs
    assert f"telegram opt-out from unknown address {masked(STRANGER)} ignored" in web_logs
    assert f"telegram reply to {masked(PETR)} not sent" in worker
    assert "Task campaigns.tasks.send_list[" in worker


def test_the_safety_net_masks_what_a_log_call_lets_through():
    # given: the handler of the configured logging (LOGGING), and a careless log call
    handler = next(h for h in logging.getLogger().handlers if any(isinstance(f, RedactFilter) for f in h.filters))
    record = logging.LogRecord("campaigns.x", logging.WARNING, __file__, 1, "sending to %s (chat %d) failed",
                               ("+79161234567", 700555001), None)

    # when
    handler.filter(record)

    # then
    assert record.getMessage() == "sending to +*********67 (chat *******01) failed"
