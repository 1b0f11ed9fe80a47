"""The inbound webhooks (API.md "Webhooks", PLATFORMS.md "Inbound webhooks") end to end:
Django's test client posts what Telegram, WhatsApp and Viber would post, and the tests read
back the database (subscribers, subscriptions, consent events, the delivery ledger, the
sandbox outbox, the record of handled and of kept callbacks), the Celery queues in Redis,
and what the bot said through the fakes.

The rules under test: a bad or missing signature answers 403 and changes nothing; a repeated
callback changes nothing the second time; an unknown or malformed payload answers 200 (so the
platform stops retrying) and changes nothing; an opt-out skips the person's queued messages
in the same request; nothing is sent to a platform while a webhook is handled (replies are
enqueued on the platform's queue when the transaction commits); a callback that cannot be
handled now is kept and handled later by the periodic task; one that cannot even be kept
answers 503.

The reply tasks are taken from their queue and run in the test process, called directly as a
worker would call them (no eager mode): `send_replies()`.
"""

from __future__ import annotations

import base64
import copy
import json
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
import redis
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client, TestCase
from django.utils import timezone

from campaigns.models import ConsentEvent, Delivery, SendList, Subscriber, Subscription
from channels import tasks
from channels.base import RateLimited, TemporaryFailure
from channels.inbound import CONSENT_TEXT, TEXTS
from channels.models import EarlyReceipt, InboundEvent, OutboxMessage, PendingUpdate
from tests.conftest import CampaignFactory, SubscriberFactory, subscribe
from tests.fakes import viber as vb
from tests.fakes import whatsapp as wa
from tests.fakes.telegram import FakeTelegram
from tests.fakes.whatsapp import FakeWhatsApp

pytestmark = pytest.mark.django_db

TG_URL = "/webhooks/telegram/"
WA_URL = "/webhooks/whatsapp/"
VB_URL = "/webhooks/viber/"

TG_TOKEN = "123456:TEST"
TG_SECRET = "tg-webhook_Secret-42"
WA_APP_SECRET = "wa-app-secret-0123456789"
WA_VERIFY_TOKEN = "wa-verify-token-xyz"
WA_ACCESS_TOKEN = "EAAG-test-access-token"
VB_AUTH_TOKEN = "445da6az1s345z78-dazcczb2542zv51a-e0vc5fva17480im9"

S = Delivery.Status
SUB = Subscription.Status
KIND = ConsentEvent.Kind

# The consent of the subscriptions the tests start from, and the platforms' clocks: all in
# the past, the webhooks later than the consent (now is late November 2026).
CONSENT_AT = datetime(2026, 11, 1, tzinfo=UTC)
TS = int(datetime(2026, 11, 20, 10, 0, tzinfo=UTC).timestamp())  # WhatsApp: seconds
TS_MS = TS * 1000  # Viber: milliseconds
SEND_AFTER = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)

WA_ID = "79990001122"  # WhatsApp's wa_id: the digits, no plus
WA_PHONE = "+79990001122"  # how we store it (E.164)
WA_NEW_ID = "79990003344"  # a number we do not know yet
WA_OTHER_ID = "79990005566"
WA_OTHER_PHONE = "+79990005566"
VIBER_ID = "Rk1x9a+bQ2lYtT0ZcVnWmw=="
VIBER_OTHER_ID = "pttm25kSGUo1919sBORWyA=="

MISSING = object()  # "send no signature header at all"


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def at_ms(milliseconds: int) -> datetime:
    return datetime.fromtimestamp(milliseconds / 1000, tz=UTC)


def just_now(moment: datetime) -> bool:
    """`moment` is the time the webhook was handled (within the last minute)."""
    return timedelta(0) <= timezone.now() - moment < timedelta(seconds=60)


# ---- what the database holds ---------------------------------------------------------


def world() -> dict[str, list]:
    """Every row a webhook may write, with the fields it may change: compare before/after."""
    return {
        "subscribers": list(
            Subscriber.objects.order_by("id").values_list("id", "external_id", "name", "timezone", "language")
        ),
        "subscriptions": list(
            Subscription.objects.order_by("id").values_list(
                "id", "subscriber_id", "platform", "address", "status", "last_inbound_at", "updated_at"
            )
        ),
        "consent_events": list(
            ConsentEvent.objects.order_by("id").values_list(
                "id", "subscription_id", "kind", "status", "source", "text", "evidence", "at"
            )
        ),
        "deliveries": list(
            Delivery.objects.order_by("id").values_list(
                "id", "status", "reason", "delivered_at", "read_at", "updated_at"
            )
        ),
        "outbox": list(OutboxMessage.objects.order_by("id").values_list("id", "platform", "address", "text")),
        "inbound_events": sorted(InboundEvent.objects.values_list("platform", "key")),
        "early_receipts": list(EarlyReceipt.objects.order_by("id").values_list("platform", "message_id", "status")),
        "pending_updates": list(PendingUpdate.objects.order_by("id").values_list("id", "platform", "attempts")),
        "queued_replies": queued_replies(),
    }


def events_of(subscription: Subscription) -> list[tuple]:
    return list(subscription.consent_events.order_by("id").values_list("kind", "status", "source"))


def outbox() -> list[tuple]:
    return list(OutboxMessage.objects.order_by("id").values_list("platform", "address", "text", "delivery_id"))


def make_delivery(subscription: Subscription, status: str, *, message_id: str = "") -> Delivery:
    """One ledger row of a campaign of its own (one row per campaign and person), in a list."""
    campaign = CampaignFactory(platforms=[subscription.platform], status="running")
    send_list = SendList.objects.create(campaign=campaign, platform=subscription.platform, number=1, size=1,
                                        state=SendList.State.DONE)
    return Delivery.objects.create(
        campaign=campaign,
        subscriber=subscription.subscriber,
        subscription=subscription,
        platform=subscription.platform,
        send_list=send_list,
        list_number=1,
        status=status,
        send_after=SEND_AFTER,
        platform_message_id=message_id,
        sent_at=SEND_AFTER if status not in (S.PLANNED, S.HELD) else None,
        attempts=0 if status in (S.PLANNED, S.HELD) else 1,
    )


def subscription_on(platform: str, address: str, *, language: str = "en", name: str = "Anna") -> Subscription:
    return subscribe(SubscriberFactory(name=name, language=language), platform, address, at=CONSENT_AT)


# ---- the replies waiting in Celery's queues (Redis) ------------------------------------

QUEUES = ("telegram", "whatsapp", "viber", "celery")


def broker() -> redis.Redis:
    return redis.Redis.from_url(django_settings.CELERY_BROKER_URL)


def _decoded(raw: bytes) -> tuple[str, str, list]:
    message = json.loads(raw)
    args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
    return message["headers"]["task"], message["properties"]["delivery_info"]["routing_key"], args


def queued_replies() -> list[tuple[str, list]]:
    """The tasks waiting in the queues, oldest first: (queue, [task name, *args])."""
    found = []
    for queue in QUEUES:
        for raw in reversed(broker().lrange(queue, 0, -1)):
            task, _, args = _decoded(raw)
            found.append((queue, [task, *args]))
    return found


def take_replies() -> list[list]:
    """Take the reply tasks off their queues, as a worker would: their arguments."""
    taken = []
    for queue in QUEUES:
        while (raw := broker().rpop(queue)) is not None:
            task, routed, args = _decoded(raw)
            assert (task, routed) == ("channels.tasks.send_reply", queue)
            taken.append(args)
    return taken


def send_replies() -> int:
    """Run the waiting reply tasks here, called directly as a worker calls them; how many ran."""
    taken = take_replies()
    for args in taken:
        tasks.send_reply(*args)
    return len(taken)


# ---- fixtures ------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def platform_settings(settings):
    """Webhook secrets set; no platform credentials (WhatsApp replies go to the sandbox
    outbox) unless a test sets them."""
    settings.TELEGRAM_BOT_TOKEN = ""
    settings.TELEGRAM_WEBHOOK_SECRET = TG_SECRET
    settings.WHATSAPP_APP_SECRET = WA_APP_SECRET
    settings.WHATSAPP_VERIFY_TOKEN = WA_VERIFY_TOKEN
    settings.WHATSAPP_ACCESS_TOKEN = ""
    settings.WHATSAPP_PHONE_NUMBER_ID = ""
    settings.VIBER_AUTH_TOKEN = VB_AUTH_TOKEN
    return settings


@pytest.fixture(autouse=True)
def empty_queues() -> Iterator[None]:
    """No task left from another test in this test's Redis database."""
    broker().delete(*QUEUES)
    yield
    broker().delete(*QUEUES)


@pytest.fixture
def web() -> Client:
    """Django's test client; an exception in a view answers 500 instead of failing the test
    from inside the client, so that a test can say which status it expected."""
    return Client(raise_request_exception=False)


def post(client: Client, url: str, body: bytes, headers: dict):
    """POST as the platform does; what the request's transactions commit is committed, with
    what they enqueue on commit (the test's own transaction never commits)."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(url, data=body, content_type="application/json", headers=headers)


@pytest.fixture
def tg(settings) -> Iterator[FakeTelegram]:
    """A fake Bot API, the bot pointed at it."""
    with FakeTelegram() as fake:
        settings.TELEGRAM_BOT_TOKEN = TG_TOKEN
        settings.TELEGRAM_API_URL = fake.base_url
        settings.TELEGRAM_WEBHOOK_SECRET = TG_SECRET
        yield fake


def free_port() -> int:
    """A loopback port where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def database_busy(*models: type) -> Iterator[None]:
    """Another session holds the models' tables locked (reads pass; writes and row locks wait), and
    ours gives up on a lock after 200 ms: the database fails the statements that need them,
    as a busy or failing database does. Needs committed data (transaction=True)."""
    params = connection.settings_dict
    other = psycopg.connect(dbname=params["NAME"], user=params["USER"], password=params["PASSWORD"] or None,
                            host=params["HOST"] or "127.0.0.1", port=params["PORT"] or 5432)
    try:
        other.execute(f"LOCK TABLE {', '.join(m._meta.db_table for m in models)} IN EXCLUSIVE MODE")
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '200ms'")
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")
        other.rollback()
        other.close()


def kept() -> list[tuple]:
    return list(PendingUpdate.objects.order_by("id").values_list("platform", "body", "attempts"))


def time_passes() -> None:
    """The kept callbacks' time to be tried again has come."""
    PendingUpdate.objects.update(next_try_at=timezone.now() - timedelta(seconds=1))


# ---- Telegram updates, as the Bot API documents them ---------------------------------

BOT_USER = {"id": 123456, "is_bot": True, "first_name": "Fake Bot", "username": "fake_bot"}
CHAT_RU = 700100200
CHAT_EN = 700100300
GROUP = -1001234567890
PEOPLE = {
    CHAT_RU: {"first_name": "Иван", "last_name": "Петров", "username": "ivan_p", "language_code": "ru"},
    CHAT_EN: {"first_name": "John", "last_name": "Smith", "username": "jsmith", "language_code": "en"},
}


def tg_user(chat_id: int) -> dict:
    return {"id": chat_id, "is_bot": False, **PEOPLE[chat_id]}


def tg_chat(chat_id: int) -> dict:
    person = PEOPLE[chat_id]
    return {"id": chat_id, "type": "private", "first_name": person["first_name"],
            "last_name": person["last_name"], "username": person["username"]}


def tg_command(update_id: int, chat_id: int, text: str, *, date: int | None = None) -> dict:
    """A `message` update with a command: {"update_id", "message": {"message_id", "date",
    "chat", "from", "text", "entities": [{"type": "bot_command", "offset": 0, "length"}]}}."""
    command = text.split()[0]
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id % 100000,
            "date": int(time.time()) if date is None else date,
            "chat": tg_chat(chat_id),
            "from": tg_user(chat_id),
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(command)}],
        },
    }


def tg_group_command(update_id: int, chat_id: int, text: str, chat_type: str) -> dict:
    """The same command written by a person in a group or a supergroup, or posted in a
    channel (a channel's message has no `from`)."""
    update = tg_command(update_id, CHAT_RU, text)
    update["message"]["chat"] = {"id": chat_id, "type": chat_type, "title": "Deals"}
    if chat_type == "channel":
        del update["message"]["from"]
    return update


def tg_member(status: str) -> dict:
    member = {"user": BOT_USER, "status": status}
    if status == "kicked":
        member["until_date"] = 0
    return member


def tg_my_chat_member(update_id: int, chat_id: int, new_status: str, old_status: str = "member") -> dict:
    """A `my_chat_member` update: the user changed the bot's status in their private chat
    ("kicked" = blocked the bot, "member" = unblocked it)."""
    return {
        "update_id": update_id,
        "my_chat_member": {
            "chat": tg_chat(chat_id),
            "from": tg_user(chat_id),
            "date": int(time.time()),
            "old_chat_member": tg_member(old_status),
            "new_chat_member": tg_member(new_status),
        },
    }


def post_telegram(client: Client, update: dict | bytes, secret: object = TG_SECRET):
    body = update if isinstance(update, bytes) else json.dumps(update).encode()
    headers = {} if secret is MISSING else {"X-Telegram-Bot-Api-Secret-Token": secret}
    return post(client, TG_URL, body, headers)


def replies(fake: FakeTelegram) -> list[tuple[int, str]]:
    """Every sendMessage the bot made (whatever the fake answered)."""
    return [(c.chat_id, c.text) for c in fake.calls()]


# ---- Telegram ------------------------------------------------------------------------


def test_telegram_start_with_payload_subscribes_a_new_user_and_replies_in_russian(web, tg, settings):
    update = tg_command(1001, CHAT_RU, "/start vip")
    assert update["message"]["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]

    response = post_telegram(web, update)

    assert response.status_code == 200
    subscriber = Subscriber.objects.get()
    assert (subscriber.name, subscriber.language, subscriber.timezone) == ("Иван Петров", "ru", settings.TIME_ZONE)
    subscription = Subscription.objects.get()
    assert (subscription.subscriber_id, subscription.platform, subscription.address, subscription.status) == (
        subscriber.id, "telegram", str(CHAT_RU), SUB.OPTED_IN,
    )
    event = ConsentEvent.objects.get()
    assert event.subscription_id == subscription.id
    assert (event.kind, event.status, event.source) == (KIND.OPT_IN, SUB.OPTED_IN, "telegram_start")
    assert event.text == CONSENT_TEXT["telegram"]["ru"]  # the bot description shown in Russian
    assert event.evidence == {"payload": "vip", "user_id": CHAT_RU, "username": "ivan_p", "language_code": "ru"}
    assert event.at == at(update["message"]["date"])  # when the person pressed Start, by Telegram's clock
    # Nothing was asked of the Bot API while the update was handled: the reply waits in
    # the telegram queue.
    assert tg.method_counts() == {}
    assert queued_replies() == [
        ("telegram", ["channels.tasks.send_reply", "telegram", str(CHAT_RU), TEXTS["welcome"]["ru"]]),
    ]

    assert send_replies() == 1
    assert replies(tg) == [(CHAT_RU, TEXTS["welcome"]["ru"])]
    assert tg.sent()[0].status == 200
    assert OutboxMessage.objects.count() == 0

    # Telegram delivers the same update again (it got no answer in time): nothing new.
    before = world()
    again = post_telegram(web, update)
    assert again.status_code == 200
    assert world() == before
    assert (Subscriber.objects.count(), Subscription.objects.count(), ConsentEvent.objects.count()) == (1, 1, 1)
    assert send_replies() == 0
    assert replies(tg) == [(CHAT_RU, TEXTS["welcome"]["ru"])]


@pytest.mark.parametrize("secret", ["wrong-secret", TG_SECRET + "x", TG_SECRET.upper(), "", MISSING],
                         ids=["wrong", "longer", "other-case", "empty", "missing"])
def test_telegram_update_with_a_wrong_or_missing_secret_is_refused(web, tg, secret):
    update = tg_command(2001, CHAT_RU, "/start vip")
    before = world()

    response = post_telegram(web, update, secret=secret)

    assert response.status_code == 403
    assert world() == before
    assert Subscriber.objects.count() == 0
    assert queued_replies() == []
    assert tg.method_counts() == {}  # not even getMe: the bot was never touched

    # The refused request did not use up the update_id: the genuine one is handled.
    assert post_telegram(web, update).status_code == 200
    assert Subscription.objects.get().status == SUB.OPTED_IN
    assert send_replies() == 1
    assert replies(tg) == [(CHAT_RU, TEXTS["welcome"]["ru"])]


def test_telegram_webhook_without_a_configured_secret_refuses_everything(web, tg, settings):
    settings.TELEGRAM_WEBHOOK_SECRET = ""
    before = world()
    for secret in ("", "anything", MISSING):
        assert post_telegram(web, tg_command(2101, CHAT_RU, "/start"), secret=secret).status_code == 403
    assert world() == before
    assert tg.method_counts() == {}


@pytest.mark.parametrize("chat_id, language", [(CHAT_RU, "ru"), (CHAT_EN, "en")])
def test_telegram_stop_then_start_again_in_the_users_language(web, tg, chat_id, language):
    assert post_telegram(web, tg_command(3001, chat_id, "/start")).status_code == 200
    subscription = Subscription.objects.get(platform="telegram", address=str(chat_id))
    assert subscription.subscriber.language == language
    person = {"user_id": chat_id, "username": PEOPLE[chat_id]["username"], "language_code": language}

    assert post_telegram(web, tg_command(3002, chat_id, "/stop")).status_code == 200
    subscription.refresh_from_db()
    assert subscription.status == SUB.OPTED_OUT
    stop = subscription.consent_events.order_by("id").last()
    assert (stop.kind, stop.status, stop.source, stop.text) == (KIND.OPT_OUT, SUB.OPTED_OUT, "telegram_stop", "/stop")
    assert stop.evidence == person

    assert post_telegram(web, tg_command(3003, chat_id, "/start")).status_code == 200
    subscription.refresh_from_db()
    assert subscription.status == SUB.OPTED_IN
    assert events_of(subscription) == [
        (KIND.OPT_IN, SUB.OPTED_IN, "telegram_start"),
        (KIND.OPT_OUT, SUB.OPTED_OUT, "telegram_stop"),
        (KIND.OPT_IN, SUB.OPTED_IN, "telegram_start"),
    ]
    first, _, again = subscription.consent_events.order_by("id")
    assert again.id != first.id and again.evidence == {"payload": "", **person}

    # /start while subscribed: told so, no new consent event.
    assert post_telegram(web, tg_command(3004, chat_id, "/start")).status_code == 200
    assert ConsentEvent.objects.count() == 3
    assert (Subscriber.objects.count(), Subscription.objects.count()) == (1, 1)
    assert tg.method_counts() == {}
    assert send_replies() == 4
    assert replies(tg) == [
        (chat_id, TEXTS["welcome"][language]),
        (chat_id, TEXTS["stopped"][language]),
        (chat_id, TEXTS["welcome"][language]),
        (chat_id, TEXTS["already"][language]),
    ]


def test_telegram_help_and_a_command_addressed_to_the_bot_by_name(web, tg):
    subscription = subscription_on("telegram", str(CHAT_EN), language="en")

    assert post_telegram(web, tg_command(3051, CHAT_EN, "/help")).status_code == 200
    assert post_telegram(web, tg_command(3052, CHAT_EN, "/stop@fake_bot")).status_code == 200

    subscription.refresh_from_db()
    assert subscription.status == SUB.OPTED_OUT
    assert events_of(subscription) == [(KIND.OPT_IN, SUB.OPTED_IN, "test"), (KIND.OPT_OUT, SUB.OPTED_OUT, "telegram_stop")]
    assert send_replies() == 2
    assert replies(tg) == [(CHAT_EN, TEXTS["help"]["en"]), (CHAT_EN, TEXTS["stopped"]["en"])]


def test_telegram_repeated_stop_update_changes_nothing_and_is_not_answered_twice(web, tg):
    subscription = subscription_on("telegram", str(CHAT_RU), language="ru")
    stop = tg_command(3101, CHAT_RU, "/stop")
    assert post_telegram(web, stop).status_code == 200
    assert send_replies() == 1
    assert replies(tg) == [(CHAT_RU, TEXTS["stopped"]["ru"])]
    before = world()

    assert post_telegram(web, stop).status_code == 200

    assert world() == before
    subscription.refresh_from_db()
    assert subscription.status == SUB.OPTED_OUT
    assert ConsentEvent.objects.filter(kind=KIND.OPT_OUT).count() == 1
    assert send_replies() == 0
    assert replies(tg) == [(CHAT_RU, TEXTS["stopped"]["ru"])]


def test_telegram_stop_redelivered_after_a_later_start_changes_nothing(web, tg):
    """Telegram re-sends an update it got no answer for: an old /stop arriving after the
    person's later /start must not opt them out again."""
    subscription = subscription_on("telegram", str(CHAT_EN), language="en")
    stop = tg_command(3201, CHAT_EN, "/stop")
    assert post_telegram(web, stop).status_code == 200
    assert post_telegram(web, tg_command(3202, CHAT_EN, "/start")).status_code == 200
    assert send_replies() == 2
    before = world()

    assert post_telegram(web, stop).status_code == 200

    assert world() == before
    subscription.refresh_from_db()
    assert subscription.status == SUB.OPTED_IN
    assert replies(tg) == [(CHAT_EN, TEXTS["stopped"]["en"]), (CHAT_EN, TEXTS["welcome"]["en"])]


def test_telegram_kicked_blocks_the_subscription_without_a_reply(web, tg):
    subscription = subscription_on("telegram", str(CHAT_RU), language="ru")
    update = tg_my_chat_member(4001, CHAT_RU, "kicked")

    response = post_telegram(web, update)

    assert response.status_code == 200
    subscription.refresh_from_db()
    assert subscription.status == SUB.BLOCKED
    assert events_of(subscription) == [
        (KIND.OPT_IN, SUB.OPTED_IN, "test"),
        (KIND.OPT_OUT, SUB.BLOCKED, "telegram_blocked"),
    ]
    event = subscription.consent_events.order_by("id").last()
    assert event.text == "blocked the bot"
    assert event.evidence == {"from": CHAT_RU}
    assert event.at == at(update["my_chat_member"]["date"])
    assert queued_replies() == []

    # The same update again, then another "kicked" with a new update_id: no second event.
    before = world()
    assert post_telegram(web, update).status_code == 200
    assert world() == before
    assert post_telegram(web, tg_my_chat_member(4002, CHAT_RU, "kicked")).status_code == 200
    subscription.refresh_from_db()
    assert subscription.status == SUB.BLOCKED
    assert ConsentEvent.objects.count() == 2
    assert queued_replies() == []
    assert tg.method_counts() == {}


def test_telegram_unblocking_alone_is_no_consent(web, tg):
    """Unblocking ("member" after "kicked") does not opt anyone back in: /start does."""
    subscription = subscription_on("telegram", str(CHAT_RU), language="ru")
    assert post_telegram(web, tg_my_chat_member(4101, CHAT_RU, "kicked")).status_code == 200
    before = [row for row in world()["consent_events"]]

    assert post_telegram(web, tg_my_chat_member(4102, CHAT_RU, "member", old_status="kicked")).status_code == 200

    subscription.refresh_from_db()
    assert subscription.status == SUB.BLOCKED
    assert world()["consent_events"] == before
    assert queued_replies() == []
    assert tg.method_counts() == {}


@pytest.mark.parametrize("chat_type", ["group", "supergroup", "channel"])
@pytest.mark.parametrize("text", ["/start", "/start vip", "/start@fake_bot", "/stop", "/help"])
def test_telegram_commands_outside_a_private_chat_subscribe_nobody_and_change_nothing(web, tg, chat_type, text):
    subscription = subscription_on("telegram", str(CHAT_RU), language="ru")
    make_delivery(subscription, S.PLANNED)
    before = world()

    response = post_telegram(web, tg_group_command(4201, GROUP, text, chat_type))

    assert response.status_code == 200
    assert world() == before
    assert not Subscription.objects.filter(address=str(GROUP)).exists()
    assert Subscription.objects.get().status == SUB.OPTED_IN
    assert queued_replies() == []
    assert tg.method_counts() == {}


def test_telegram_bot_removed_from_a_group_blocks_nobody(web, tg):
    subscription_on("telegram", str(CHAT_RU), language="ru")
    update = tg_my_chat_member(4301, CHAT_RU, "kicked")
    update["my_chat_member"]["chat"] = {"id": GROUP, "type": "supergroup", "title": "Deals chat"}
    before = world()

    assert post_telegram(web, update).status_code == 200

    assert world() == before


@pytest.mark.parametrize("body", [
    b"{not json",
    b"[1, 2]",
    b'{"update_id": "1"}',
    b'{"message": {"text": "/start"}}',
    json.dumps({"update_id": 5001, "message": {"text": "/start", "chat": "oops"}}).encode(),
    json.dumps({"update_id": 5002, "message": {"text": "/stop", "chat": {"id": "700100200", "type": "private"}}}).encode(),
    json.dumps({"update_id": 5003, "my_chat_member": {"chat": tg_chat(CHAT_RU), "new_chat_member": "kicked"}}).encode(),
    json.dumps({"update_id": 5004, "message": {"text": "/stop", "chat": tg_chat(CHAT_RU),
                                                "date": "yesterday"}}).encode(),
], ids=["not-json", "array", "update-id-not-int", "no-update-id", "broken-message", "chat-id-not-int",
        "member-not-object", "date-not-a-number"])
def test_telegram_malformed_update_with_the_right_secret_answers_200_and_changes_nothing(web, tg, body):
    subscription_on("telegram", str(CHAT_RU), language="ru")
    before = world()

    response = post_telegram(web, body)

    assert response.status_code == 200
    assert world() == before
    assert kept() == []  # it can never be handled: not kept either
    assert tg.method_counts() == {}


def test_telegram_update_without_a_bot_token_is_still_honoured_and_answered_in_the_sandbox(web):
    """No TELEGRAM_BOT_TOKEN (the sandbox): a genuine update (right secret) is handled all
    the same, needing no Bot API; the reply lands in the sandbox outbox."""
    subscription = subscription_on("telegram", str(CHAT_RU), language="ru")

    response = post_telegram(web, tg_command(5101, CHAT_RU, "/stop"))

    assert response.status_code == 200
    subscription.refresh_from_db()
    assert subscription.status == SUB.OPTED_OUT
    assert outbox() == []
    assert send_replies() == 1
    assert outbox() == [("telegram", str(CHAT_RU), TEXTS["stopped"]["ru"], None)]


def test_telegram_stop_while_the_bot_api_is_unreachable_is_committed_and_answered_once_it_is_back(web, settings):
    """Telegram's API (or TELEGRAM_API_URL) is away: the /stop is recorded all the same and
    answered 200; the reply fails without sending anything and is sent when the API is back."""
    subscription = subscription_on("telegram", str(CHAT_RU), language="ru")
    planned = make_delivery(subscription, S.PLANNED)
    port = free_port()
    settings.TELEGRAM_BOT_TOKEN = TG_TOKEN
    settings.TELEGRAM_API_URL = f"http://127.0.0.1:{port}/bot"
    stop = tg_command(5201, CHAT_RU, "/stop")

    response = post_telegram(web, stop)

    assert response.status_code == 200
    subscription.refresh_from_db()
    assert subscription.status == SUB.OPTED_OUT
    assert events_of(subscription) == [(KIND.OPT_IN, SUB.OPTED_IN, "test"), (KIND.OPT_OUT, SUB.OPTED_OUT, "telegram_stop")]
    planned.refresh_from_db()
    assert planned.status == S.SKIPPED
    assert kept() == []
    [reply] = take_replies()
    assert reply == ["telegram", str(CHAT_RU), TEXTS["stopped"]["ru"]]

    # The worker tries: nothing listens, so the task asks to be retried (it raises the
    # error its autoretry policy names).
    with pytest.raises(TemporaryFailure):
        tasks.send_reply(*reply)

    # The Bot API is back at the same address: the retry sends it, once.
    with FakeTelegram(port=port) as fake:
        tasks.send_reply(*reply)
        assert replies(fake) == [(CHAT_RU, TEXTS["stopped"]["ru"])]
        assert fake.sent()[0].status == 200


@pytest.mark.django_db(transaction=True)
def test_telegram_update_during_a_database_failure_is_kept_and_handled_by_the_periodic_task(web, tg, settings):
    subscription = subscription_on("telegram", str(CHAT_RU), language="ru")
    stop = tg_command(5301, CHAT_RU, "/stop", date=int(time.time()) - 120)
    body = json.dumps(stop).encode()

    with database_busy(Subscription):
        response = post_telegram(web, body)

    # Acknowledged, because it is kept: the body as received, to be tried in 30 s.
    assert response.status_code == 200
    subscription.refresh_from_db()
    assert subscription.status == SUB.OPTED_IN
    assert ConsentEvent.objects.count() == 1
    assert not InboundEvent.objects.exists()
    [row] = PendingUpdate.objects.all()
    assert (row.platform, bytes(row.body), row.attempts) == ("telegram", body, 0)
    assert "lock timeout" in row.error
    assert abs(row.next_try_at - row.received_at - timedelta(seconds=settings.TACT_PENDING_RETRY_SECONDS)) < timedelta(
        seconds=1)
    assert queued_replies() == []

    # The periodic task leaves it until its time has come.
    tasks.retry_pending()
    assert kept() == [("telegram", body, 0)]
    subscription.refresh_from_db()
    assert subscription.status == SUB.OPTED_IN

    time_passes()
    tasks.retry_pending()

    assert kept() == []
    subscription.refresh_from_db()
    assert subscription.status == SUB.OPTED_OUT
    event = subscription.consent_events.order_by("id").last()
    assert (event.kind, event.source, event.at) == (KIND.OPT_OUT, "telegram_stop", at(stop["message"]["date"]))
    assert send_replies() == 1
    assert replies(tg) == [(CHAT_RU, TEXTS["stopped"]["ru"])]

    # Telegram's own retry of it (it had its 200) would change nothing now.
    before = world()
    assert post_telegram(web, body).status_code == 200
    assert world() == before


@pytest.mark.django_db(transaction=True)
def test_a_kept_update_that_fails_again_waits_longer_each_time(web, tg, settings):
    subscription = subscription_on("telegram", str(CHAT_RU), language="ru")
    with database_busy(Subscription):
        assert post_telegram(web, tg_command(5351, CHAT_RU, "/stop")).status_code == 200
        for attempt in (1, 2):
            time_passes()
            tasks.retry_pending()
            row = PendingUpdate.objects.get()
            assert row.attempts == attempt
            waits = timedelta(seconds=settings.TACT_PENDING_RETRY_SECONDS * 2 ** attempt)
            assert abs(row.next_try_at - timezone.now() - waits) < timedelta(seconds=2)
    subscription.refresh_from_db()
    assert subscription.status == SUB.OPTED_IN
    assert queued_replies() == []

    time_passes()
    tasks.retry_pending()
    assert kept() == []
    subscription.refresh_from_db()
    assert subscription.status == SUB.OPTED_OUT


@pytest.mark.django_db(transaction=True)
def test_telegram_update_that_can_be_neither_handled_nor_kept_answers_503_and_changes_nothing(web, tg):
    subscription = subscription_on("telegram", str(CHAT_RU), language="ru")
    stop = tg_command(5401, CHAT_RU, "/stop")
    before = world()

    with database_busy(Subscription, PendingUpdate):
        response = post_telegram(web, stop)

    assert response.status_code == 503  # Telegram sends it again
    assert world() == before
    assert queued_replies() == []

    assert post_telegram(web, stop).status_code == 200
    subscription.refresh_from_db()
    assert subscription.status == SUB.OPTED_OUT
    assert send_replies() == 1


# ---- an opt-out by webhook skips what is queued --------------------------------------


def _wa_stop(client, _fake):
    return post_whatsapp(client, wa.inbound_text(WA_ID, "STOP", msg_id="wamid.SKIP1", timestamp=TS))


def _tg_stop(client, _fake):
    return post_telegram(client, tg_command(6001, CHAT_RU, "/stop"))


def _vb_unsubscribed(client, _fake):
    return post_viber(client, vb.unsubscribed_payload(VIBER_ID, timestamp=TS_MS, message_token=5000000000000000001))


@pytest.mark.parametrize("platform, address, stop, source", [
    ("telegram", str(CHAT_RU), _tg_stop, "telegram_stop"),
    ("whatsapp", WA_PHONE, _wa_stop, "whatsapp_stop"),
    ("viber", VIBER_ID, _vb_unsubscribed, "viber_unsubscribed"),
])
def test_opt_out_by_webhook_skips_planned_and_held_deliveries_in_the_same_request(
    web, request, platform, address, stop, source
):
    fake = request.getfixturevalue("tg") if platform == "telegram" else None
    subscription = subscription_on(platform, address, language="ru")
    planned = make_delivery(subscription, S.PLANNED)
    held = make_delivery(subscription, S.HELD)
    sent = make_delivery(subscription, S.SENT, message_id="already-sent-1")
    someone_else = subscription_on(platform, {"telegram": "700100999", "whatsapp": "+79990009988",
                                              "viber": VIBER_OTHER_ID}[platform])
    others_planned = make_delivery(someone_else, S.PLANNED)
    untouched = {d.id: (d.status, d.reason, d.updated_at) for d in (sent, others_planned)}

    response = stop(web, fake)

    assert response.status_code == 200
    subscription.refresh_from_db()
    assert subscription.status == SUB.OPTED_OUT
    for row in (planned, held):
        row.refresh_from_db()
        assert (row.status, row.reason) == (S.SKIPPED, f"opted out via {source}")
    for row in (sent, others_planned):
        row.refresh_from_db()
        assert (row.status, row.reason, row.updated_at) == untouched[row.id]
    someone_else.refresh_from_db()
    assert someone_else.status == SUB.OPTED_IN


# ---- WhatsApp ------------------------------------------------------------------------
#
# Meta's shapes (developers.facebook.com/docs/whatsapp/cloud-api/webhooks), built by
# tests/fakes/whatsapp.py:
#   {"object": "whatsapp_business_account", "entry": [{"id": WABA_ID, "changes": [{"field":
#    "messages", "value": {"messaging_product": "whatsapp", "metadata": {...},
#    "contacts": [{"profile": {"name"}, "wa_id"}], "messages": [{"from", "id", "timestamp",
#    "type": "text", "text": {"body"}}]}}]}]}
#   statuses: "value": {"statuses": [{"id": wamid, "status", "timestamp", "recipient_id",
#    "errors": [{"code", "title", ...}]}]}
#   "field": "user_preferences", "value": {"user_preferences": [{"wa_id", "detail",
#    "category": "marketing_messages", "value": "stop", "timestamp"}]}


def post_whatsapp(client: Client, payload: dict | bytes, *, signature: object = None, secret: str = WA_APP_SECRET):
    body = payload if isinstance(payload, bytes) else wa.encode(payload)
    if signature is None:
        signature = wa.sign(body, secret)
    headers = {} if signature is MISSING else {wa.SIGNATURE_HEADER: signature}
    return post(client, WA_URL, body, headers)


def wa_subscription(*, language: str = "en") -> Subscription:
    return subscription_on("whatsapp", WA_PHONE, language=language, name="Anna")


def the_value(payload: dict) -> dict:
    return payload["entry"][0]["changes"][0]["value"]


def test_whatsapp_verification_answers_the_challenge_with_the_right_token(web):
    response = web.get(WA_URL, wa.verification_query(WA_VERIFY_TOKEN, challenge="1158201444"))
    assert response.status_code == 200
    assert response.content == b"1158201444"


@pytest.mark.parametrize("query", [
    {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1158201444"},
    {"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1158201444"},
    {"hub.mode": "subscribe", "hub.challenge": "1158201444"},
    {"hub.mode": "unsubscribe", "hub.verify_token": WA_VERIFY_TOKEN, "hub.challenge": "1158201444"},
    {"hub.verify_token": WA_VERIFY_TOKEN, "hub.challenge": "1158201444"},
], ids=["wrong-token", "empty-token", "no-token", "wrong-mode", "no-mode"])
def test_whatsapp_verification_with_a_wrong_token_or_mode_is_refused(web, query):
    before = world()
    response = web.get(WA_URL, query)
    assert response.status_code == 403
    assert b"1158201444" not in response.content
    assert world() == before


def test_whatsapp_verification_without_a_configured_token_is_refused(web, settings):
    settings.WHATSAPP_VERIFY_TOKEN = ""
    response = web.get(WA_URL, {"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "7"})
    assert response.status_code == 403
    assert response.content != b"7"


@pytest.mark.parametrize("text, language", [
    ("STOP", "en"),
    ("stop", "en"),
    ("  Stop.  ", "en"),
    (" стоп! ", "ru"),
    ("СТОП", "ru"),
    ("Отписаться.", "ru"),
    ("unsubscribe", "en"),
    ("UnSubscribe!!", "en"),
])
def test_whatsapp_stop_word_opts_out_and_confirms_through_the_sandbox(web, text, language):
    subscription = wa_subscription(language="en")
    payload = wa.inbound_text(WA_ID, text, msg_id="wamid.STOP-1", timestamp=TS)

    response = post_whatsapp(web, payload)

    assert response.status_code == 200
    subscription.refresh_from_db()
    assert subscription.status == SUB.OPTED_OUT
    assert subscription.last_inbound_at == at(TS)
    assert events_of(subscription) == [(KIND.OPT_IN, SUB.OPTED_IN, "test"), (KIND.OPT_OUT, SUB.OPTED_OUT, "whatsapp_stop")]
    event = subscription.consent_events.order_by("id").last()
    assert event.text == text
    assert event.evidence == {"message_id": "wamid.STOP-1", "text": text}
    assert event.at == at(TS)
    # Confirmed from the whatsapp queue, after the opt-out was committed.
    assert outbox() == []
    assert queued_replies() == [
        ("whatsapp", ["channels.tasks.send_reply", "whatsapp", WA_PHONE, TEXTS["wa_stopped"][language]]),
    ]
    assert send_replies() == 1
    assert outbox() == [("whatsapp", WA_PHONE, TEXTS["wa_stopped"][language], None)]
    assert (Subscriber.objects.count(), Subscription.objects.count()) == (1, 1)

    # WhatsApp sends the same webhook again: no second event, no second confirmation.
    before = world()
    assert post_whatsapp(web, payload).status_code == 200
    assert world() == before


def test_whatsapp_stop_promotions_quick_reply_button_opts_out(web):
    """A marketing template's quick reply arrives as a `button` message (Meta: "type":
    "button", "button": {"payload", "text"}, "context": {"from", "id"})."""
    subscription = wa_subscription()
    payload = wa.inbound_text(WA_ID, "ignored", msg_id="wamid.BTN-1", timestamp=TS)
    message = the_value(payload)["messages"][0]
    del message["text"]
    message.update(type="button", button={"payload": "STOP_PROMOTIONS", "text": "Stop promotions"},
                   context={"from": wa.DISPLAY_PHONE_NUMBER, "id": "wamid.TEMPLATE-1"})

    assert post_whatsapp(web, payload).status_code == 200

    subscription.refresh_from_db()
    assert subscription.status == SUB.OPTED_OUT
    event = subscription.consent_events.order_by("id").last()
    assert (event.kind, event.source, event.text) == (KIND.OPT_OUT, "whatsapp_stop", "Stop promotions")
    assert send_replies() == 1
    assert outbox() == [("whatsapp", WA_PHONE, TEXTS["wa_stopped"]["en"], None)]


def test_whatsapp_start_after_stop_opts_back_in_with_a_new_event(web):
    subscription = wa_subscription(language="en")
    assert post_whatsapp(web, wa.inbound_text(WA_ID, "STOP", msg_id="wamid.A1", timestamp=TS)).status_code == 200

    response = post_whatsapp(web, wa.inbound_text(WA_ID, "START", msg_id="wamid.A2", timestamp=TS + 600))

    assert response.status_code == 200
    subscription.refresh_from_db()
    assert subscription.status == SUB.OPTED_IN
    assert subscription.last_inbound_at == at(TS + 600)
    assert events_of(subscription) == [
        (KIND.OPT_IN, SUB.OPTED_IN, "test"),
        (KIND.OPT_OUT, SUB.OPTED_OUT, "whatsapp_stop"),
        (KIND.OPT_IN, SUB.OPTED_IN, "whatsapp_start"),
    ]
    event = subscription.consent_events.order_by("id").last()
    assert event.text == CONSENT_TEXT["whatsapp"]["en"]
    assert event.evidence == {"message_id": "wamid.A2", "text": "START"}
    assert event.at == at(TS + 600)
    assert send_replies() == 2
    assert outbox() == [
        ("whatsapp", WA_PHONE, TEXTS["wa_stopped"]["en"], None),
        ("whatsapp", WA_PHONE, TEXTS["wa_started"]["en"], None),
    ]


@pytest.mark.parametrize("text, language", [("START", "en"), ("Старт!", "ru"), ("subscribe", "en")])
def test_whatsapp_start_from_a_new_number_creates_the_subscriber(web, settings, text, language):
    payload = wa.inbound_text(WA_NEW_ID, text, msg_id="wamid.NEW-1", name="Ольга", timestamp=TS)

    assert post_whatsapp(web, payload).status_code == 200

    subscription = Subscription.objects.get()
    assert (subscription.platform, subscription.address, subscription.status) == ("whatsapp", "+79990003344", SUB.OPTED_IN)
    assert subscription.last_inbound_at == at(TS)
    assert (subscription.subscriber.name, subscription.subscriber.timezone) == ("Ольга", settings.TIME_ZONE)
    event = ConsentEvent.objects.get()
    assert (event.subscription_id, event.kind, event.source, event.at) == (subscription.id, KIND.OPT_IN, "whatsapp_start", at(TS))
    assert event.evidence == {"message_id": "wamid.NEW-1", "text": text}
    assert send_replies() == 1
    assert outbox() == [("whatsapp", "+79990003344", TEXTS["wa_started"][language], None)]


def test_whatsapp_stop_from_an_unknown_number_creates_nobody_and_sends_nothing(web):
    assert post_whatsapp(web, wa.inbound_text(WA_NEW_ID, "STOP", timestamp=TS)).status_code == 200
    assert Subscriber.objects.count() == 0
    assert Subscription.objects.count() == 0
    assert ConsentEvent.objects.count() == 0
    assert queued_replies() == []
    assert outbox() == []


def test_whatsapp_inbound_message_records_last_inbound_at_and_nothing_else(web):
    subscription = wa_subscription()
    assert subscription.last_inbound_at is None
    events_before = world()["consent_events"]

    assert post_whatsapp(web, wa.inbound_text(WA_ID, "Hi! Is the -30% still on?", timestamp=TS)).status_code == 200

    subscription.refresh_from_db()
    assert subscription.status == SUB.OPTED_IN
    assert subscription.last_inbound_at == at(TS)
    assert world()["consent_events"] == events_before
    assert outbox() == []

    # An older message arriving late does not move the window back.
    assert post_whatsapp(web, wa.inbound_text(WA_ID, "earlier one", timestamp=TS - 3600)).status_code == 200
    subscription.refresh_from_db()
    assert subscription.last_inbound_at == at(TS)


def test_whatsapp_start_older_than_the_stop_does_not_override_it(web):
    """Meta does not promise order: a START written before the STOP may arrive after it.
    The later STOP wins, and the webhook still answers 200 (or Meta retries for days)."""
    subscription = wa_subscription()
    assert post_whatsapp(web, wa.inbound_text(WA_ID, "STOP", msg_id="wamid.LATE-STOP", timestamp=TS + 600)).status_code == 200

    response = post_whatsapp(web, wa.inbound_text(WA_ID, "START", msg_id="wamid.EARLY-START", timestamp=TS))

    assert response.status_code == 200
    subscription.refresh_from_db()
    assert subscription.status == SUB.OPTED_OUT
    assert events_of(subscription) == [(KIND.OPT_IN, SUB.OPTED_IN, "test"), (KIND.OPT_OUT, SUB.OPTED_OUT, "whatsapp_stop")]
    assert send_replies() == 1  # the STOP's confirmation only
    assert not any(text == TEXTS["wa_started"]["en"] for _, _, text, _ in outbox())
    # Meta's retry of it is handled the same way.
    before = world()
    assert post_whatsapp(web, wa.inbound_text(WA_ID, "START", msg_id="wamid.EARLY-START", timestamp=TS)).status_code == 200
    assert world() == before


def test_whatsapp_user_preferences_stop_opts_out_of_promotions(web):
    subscription = wa_subscription()
    planned = make_delivery(subscription, S.PLANNED)
    payload = wa.user_preferences_payload(WA_ID, "stop", timestamp=TS)
    preference = the_value(payload)["user_preferences"][0]

    assert post_whatsapp(web, payload).status_code == 200

    subscription.refresh_from_db()
    assert subscription.status == SUB.OPTED_OUT
    event = subscription.consent_events.order_by("id").last()
    assert (event.kind, event.status, event.source) == (KIND.OPT_OUT, SUB.OPTED_OUT, "whatsapp_stop_promotions")
    assert event.text == preference["detail"] == "User requested to stop marketing messages"
    assert event.evidence == preference
    assert event.at == at(TS)
    planned.refresh_from_db()
    assert (planned.status, planned.reason) == (S.SKIPPED, "opted out via whatsapp_stop_promotions")
    assert outbox() == []

    before = world()
    assert post_whatsapp(web, payload).status_code == 200
    assert world() == before

    # "resume" is no consent to marketing: START is.
    assert post_whatsapp(web, wa.user_preferences_payload(WA_ID, "resume", timestamp=TS + 60)).status_code == 200
    subscription.refresh_from_db()
    assert subscription.status == SUB.OPTED_OUT
    assert world()["consent_events"] == before["consent_events"]


def test_whatsapp_statuses_sent_delivered_read_update_the_delivery(web):
    subscription = wa_subscription()
    wamid = wa.new_wamid(WA_ID)
    row = make_delivery(subscription, S.SENT, message_id=wamid)
    other = make_delivery(subscription, S.SENT, message_id=wa.new_wamid(WA_ID))
    other_state = (other.status, other.delivered_at, other.read_at, other.updated_at)

    assert post_whatsapp(web, wa.status_payload(wamid, "sent", WA_ID, timestamp=TS)).status_code == 200
    row.refresh_from_db()
    assert (row.status, row.delivered_at, row.read_at) == (S.SENT, None, None)

    assert post_whatsapp(web, wa.status_payload(wamid, "delivered", WA_ID, timestamp=TS + 5)).status_code == 200
    row.refresh_from_db()
    assert (row.status, row.delivered_at, row.read_at) == (S.DELIVERED, at(TS + 5), None)

    assert post_whatsapp(web, wa.status_payload(wamid, "read", WA_ID, timestamp=TS + 90)).status_code == 200
    row.refresh_from_db()
    assert (row.status, row.delivered_at, row.read_at, row.reason) == (S.READ, at(TS + 5), at(TS + 90), "")

    other.refresh_from_db()
    assert (other.status, other.delivered_at, other.read_at, other.updated_at) == other_state
    subscription.refresh_from_db()
    assert subscription.status == SUB.OPTED_IN
    assert outbox() == []


def test_whatsapp_late_delivered_after_read_leaves_it_read(web):
    subscription = wa_subscription()
    wamid = wa.new_wamid(WA_ID)
    row = make_delivery(subscription, S.SENT, message_id=wamid)
    assert post_whatsapp(web, wa.status_payload(wamid, "read", WA_ID, timestamp=TS + 90)).status_code == 200
    row.refresh_from_db()
    assert (row.status, row.read_at) == (S.READ, at(TS + 90))
    assert row.delivered_at is not None  # read implies delivered
    state = (row.status, row.delivered_at, row.read_at, row.updated_at)

    assert post_whatsapp(web, wa.status_payload(wamid, "delivered", WA_ID, timestamp=TS + 5)).status_code == 200

    row.refresh_from_db()
    assert (row.status, row.delivered_at, row.read_at, row.updated_at) == state


def test_whatsapp_failed_131026_fails_the_delivery_and_makes_the_person_unreachable(web):
    subscription = wa_subscription()
    wamid = wa.new_wamid(WA_ID)
    row = make_delivery(subscription, S.SENT, message_id=wamid)
    planned = make_delivery(subscription, S.PLANNED)
    payload = wa.status_payload(wamid, "failed", WA_ID, [131026], timestamp=TS)
    status = the_value(payload)["statuses"][0]

    assert post_whatsapp(web, payload).status_code == 200

    row.refresh_from_db()
    assert row.status == S.FAILED
    assert "131026" in row.reason
    assert (row.delivered_at, row.read_at) == (None, None)
    subscription.refresh_from_db()
    assert subscription.status == SUB.UNREACHABLE
    assert events_of(subscription) == [
        (KIND.OPT_IN, SUB.OPTED_IN, "test"),
        (KIND.SUPPRESSION, SUB.UNREACHABLE, "whatsapp_undeliverable"),
    ]
    event = subscription.consent_events.order_by("id").last()
    assert event.evidence == {"status": status}
    assert "131026" in event.text
    planned.refresh_from_db()
    assert (planned.status, planned.reason) == (S.SKIPPED, "unreachable via whatsapp_undeliverable")
    assert outbox() == []

    before = world()
    assert post_whatsapp(web, payload).status_code == 200
    assert world() == before


def test_whatsapp_start_written_after_an_undeliverable_failure_opts_back_in(web):
    """The failure is dated by Meta's status timestamp; a START the person wrote after it
    (by Meta's clock) opts them back in, however late our server handles either."""
    subscription = wa_subscription()
    wamid = wa.new_wamid(WA_ID)
    make_delivery(subscription, S.SENT, message_id=wamid)
    assert post_whatsapp(web, wa.status_payload(wamid, "failed", WA_ID, [131026], timestamp=TS)).status_code == 200
    subscription.refresh_from_db()
    assert subscription.status == SUB.UNREACHABLE

    response = post_whatsapp(web, wa.inbound_text(WA_ID, "START", msg_id="wamid.AFTER-FAIL", timestamp=TS + 60))

    assert response.status_code == 200
    subscription.refresh_from_db()
    assert subscription.status == SUB.OPTED_IN
    assert events_of(subscription) == [
        (KIND.OPT_IN, SUB.OPTED_IN, "test"),
        (KIND.SUPPRESSION, SUB.UNREACHABLE, "whatsapp_undeliverable"),
        (KIND.OPT_IN, SUB.OPTED_IN, "whatsapp_start"),
    ]
    assert send_replies() == 1
    assert outbox() == [("whatsapp", WA_PHONE, TEXTS["wa_started"]["en"], None)]


def test_whatsapp_failed_for_another_reason_fails_the_delivery_only(web):
    subscription = wa_subscription()
    wamid = wa.new_wamid(WA_ID)
    row = make_delivery(subscription, S.SENT, message_id=wamid)

    assert post_whatsapp(web, wa.status_payload(wamid, "failed", WA_ID, [131047], timestamp=TS)).status_code == 200

    row.refresh_from_db()
    assert row.status == S.FAILED
    assert "131047" in row.reason
    subscription.refresh_from_db()
    assert subscription.status == SUB.OPTED_IN
    assert ConsentEvent.objects.count() == 1


def test_whatsapp_stop_redelivered_after_a_later_start_changes_nothing(web):
    subscription = wa_subscription()
    stop = wa.inbound_text(WA_ID, "STOP", msg_id="wamid.R1", timestamp=TS)
    assert post_whatsapp(web, stop).status_code == 200
    assert post_whatsapp(web, wa.inbound_text(WA_ID, "START", msg_id="wamid.R2", timestamp=TS + 60)).status_code == 200
    before = world()

    assert post_whatsapp(web, stop).status_code == 200

    assert world() == before
    subscription.refresh_from_db()
    assert subscription.status == SUB.OPTED_IN


def test_whatsapp_failed_status_redelivered_after_a_new_start_changes_nothing(web):
    """Meta retries a webhook it got no 200 for: an old "failed 131026" arriving after the
    person wrote START again must not make them unreachable again."""
    subscription = wa_subscription()
    wamid = wa.new_wamid(WA_ID)
    make_delivery(subscription, S.SENT, message_id=wamid)
    failed = wa.status_payload(wamid, "failed", WA_ID, [131026], timestamp=TS)
    assert post_whatsapp(web, failed).status_code == 200
    subscription.refresh_from_db()
    assert subscription.status == SUB.UNREACHABLE
    # (A START timestamped after the moment the failure was recorded.)
    start = wa.inbound_text(WA_ID, "START", msg_id="wamid.R3", timestamp=int(time.time()) + 5)
    assert post_whatsapp(web, start).status_code == 200
    subscription.refresh_from_db()
    assert subscription.status == SUB.OPTED_IN
    before = world()

    assert post_whatsapp(web, failed).status_code == 200

    assert world() == before
    subscription.refresh_from_db()
    assert subscription.status == SUB.OPTED_IN


def test_whatsapp_confirmation_goes_to_the_cloud_api_when_credentials_are_set(web, settings):
    subscription = wa_subscription(language="en")
    with FakeWhatsApp(token=WA_ACCESS_TOKEN) as fake:
        settings.WHATSAPP_ACCESS_TOKEN = WA_ACCESS_TOKEN
        settings.WHATSAPP_PHONE_NUMBER_ID = wa.PHONE_NUMBER_ID
        settings.WHATSAPP_API_URL = fake.base_url

        assert post_whatsapp(web, wa.inbound_text(WA_ID, "stop", msg_id="wamid.F1", timestamp=TS)).status_code == 200
        subscription.refresh_from_db()
        assert subscription.status == SUB.OPTED_OUT
        assert fake.calls() == []  # not while the webhook was handled
        assert send_replies() == 1
        [call] = fake.sent()
        assert (call.phone_number_id, call.wa_id, call.type, call.text) == (
            wa.PHONE_NUMBER_ID, WA_ID, "text", TEXTS["wa_stopped"]["en"],
        )

        assert post_whatsapp(web, wa.inbound_text(WA_ID, "Старт", msg_id="wamid.F2", timestamp=TS + 60)).status_code == 200
        subscription.refresh_from_db()
        assert subscription.status == SUB.OPTED_IN
        assert send_replies() == 1
        assert [(c.wa_id, c.text) for c in fake.sent()] == [
            (WA_ID, TEXTS["wa_stopped"]["en"]),
            (WA_ID, TEXTS["wa_started"]["ru"]),
        ]
        assert len(fake.calls()) == 2
    assert outbox() == []


def test_a_reply_takes_one_slot_of_the_platforms_shared_rate_limit(web, settings):
    """Replies share the platform's ceiling with the broadcasts (channels/ratelimit.py):
    each takes a slot of the shared limiter before it is sent; a sandbox reply needs none."""
    settings.TACT_RATE = {**settings.TACT_RATE, "whatsapp": 80.0}
    limits = redis.Redis.from_url(settings.REDIS_URL)
    reservations = "tact:ratelimit:{tact:rate:whatsapp}:reservations"
    limits.delete(reservations)
    wa_subscription(language="en")
    subscription_on("whatsapp", WA_OTHER_PHONE, name="Boris")

    # Without credentials: the sandbox outbox, no ceiling, no slot.
    assert post_whatsapp(web, wa.inbound_text(WA_OTHER_ID, "STOP", msg_id="wamid.RL0", timestamp=TS)).status_code == 200
    assert send_replies() == 1
    assert outbox() == [("whatsapp", WA_OTHER_PHONE, TEXTS["wa_stopped"]["en"], None)]
    assert limits.zcard(reservations) == 0

    with FakeWhatsApp(token=WA_ACCESS_TOKEN) as fake:
        settings.WHATSAPP_ACCESS_TOKEN = WA_ACCESS_TOKEN
        settings.WHATSAPP_PHONE_NUMBER_ID = wa.PHONE_NUMBER_ID
        settings.WHATSAPP_API_URL = fake.base_url

        assert post_whatsapp(web, wa.inbound_text(WA_ID, "STOP", msg_id="wamid.RL1", timestamp=TS)).status_code == 200
        assert limits.zcard(reservations) == 0  # nothing reserved, nothing sent by the webhook
        assert fake.calls() == []

        assert send_replies() == 1

        [slot] = limits.zrange(reservations, 0, -1)
        assert slot.decode().split(":")[1] == "1"  # one reservation of one send
        assert [(c.wa_id, c.text) for c in fake.sent()] == [(WA_ID, TEXTS["wa_stopped"]["en"])]


def test_a_reply_the_platform_rate_limits_blocks_the_shared_limiter_and_is_retried(web, settings):
    limits = redis.Redis.from_url(settings.REDIS_URL)
    blocked = "tact:ratelimit:{tact:rate:whatsapp}:blocked"
    limits.delete(blocked, "tact:ratelimit:{tact:rate:whatsapp}:reservations")
    subscription = wa_subscription(language="en")
    with FakeWhatsApp(token=WA_ACCESS_TOKEN) as fake:
        settings.WHATSAPP_ACCESS_TOKEN = WA_ACCESS_TOKEN
        settings.WHATSAPP_PHONE_NUMBER_ID = wa.PHONE_NUMBER_ID
        settings.WHATSAPP_API_URL = fake.base_url
        fake.configure(queued={WA_ID: (130429,)})  # the account's throughput is exceeded, once
        assert post_whatsapp(web, wa.inbound_text(WA_ID, "STOP", msg_id="wamid.RL2", timestamp=TS)).status_code == 200
        subscription.refresh_from_db()
        assert subscription.status == SUB.OPTED_OUT
        [reply] = take_replies()

        with pytest.raises(RateLimited):
            tasks.send_reply(*reply)

        assert fake.sent() == []
        assert limits.pttl(blocked) > 0  # every sender of this account waits, broadcasts too
        tasks.send_reply(*reply)
        assert [(c.wa_id, c.text, c.status) for c in fake.calls()] == [
            (WA_ID, TEXTS["wa_stopped"]["en"], 429), (WA_ID, TEXTS["wa_stopped"]["en"], 200),
        ]


def wa_message(wa_id: str, text: str, msg_id: str, timestamp: int = TS) -> dict:
    return the_value(wa.inbound_text(wa_id, text, msg_id=msg_id, timestamp=timestamp))["messages"][0]


def wa_changes(*payloads: dict) -> dict:
    """One webhook body carrying the changes of several (Meta batches them)."""
    body = copy.deepcopy(payloads[0])
    body["entry"][0]["changes"] = [p["entry"][0]["changes"][0] for p in payloads]
    return body


def test_whatsapp_batch_with_a_malformed_message_between_two_stops_opts_out_both(web):
    first = wa_subscription(language="en")
    second = subscription_on("whatsapp", WA_OTHER_PHONE, name="Boris", language="en")
    payload = wa.inbound_text(WA_ID, "STOP", msg_id="wamid.B1", timestamp=TS)
    no_from = wa_message(WA_ID, "STOP", "wamid.B2")
    del no_from["from"]
    the_value(payload)["messages"] += [no_from, "STOP", wa_message(WA_OTHER_ID, "STOP", "wamid.B3", TS + 1)]

    response = post_whatsapp(web, payload)

    assert response.status_code == 200
    for subscription in (first, second):
        subscription.refresh_from_db()
        assert subscription.status == SUB.OPTED_OUT
        assert events_of(subscription) == [(KIND.OPT_IN, SUB.OPTED_IN, "test"), (KIND.OPT_OUT, SUB.OPTED_OUT, "whatsapp_stop")]
    assert sorted(InboundEvent.objects.values_list("key", flat=True)) == ["message:wamid.B1", "message:wamid.B3"]
    assert kept() == []  # the malformed ones can never be handled: logged, not kept
    assert send_replies() == 2
    assert outbox() == [
        ("whatsapp", WA_PHONE, TEXTS["wa_stopped"]["en"], None),
        ("whatsapp", WA_OTHER_PHONE, TEXTS["wa_stopped"]["en"], None),
    ]


@pytest.mark.django_db(transaction=True)
def test_whatsapp_batch_item_failing_on_the_database_is_kept_and_the_stops_around_it_are_recorded(web):
    first = wa_subscription(language="en")
    second = subscription_on("whatsapp", WA_OTHER_PHONE, name="Boris", language="en")
    # A receipt for a message the ledger does not know yet: it is kept as an early receipt.
    wamid = wa.new_wamid(WA_ID)
    payload = wa_changes(
        wa.inbound_text(WA_ID, "STOP", msg_id="wamid.C1", timestamp=TS),
        wa.status_payload(wamid, "delivered", WA_ID, timestamp=TS),
        wa.inbound_text(WA_OTHER_ID, "STOP", msg_id="wamid.C3", timestamp=TS),
    )
    body = wa.encode(payload)

    with database_busy(EarlyReceipt):
        response = post_whatsapp(web, body)

    assert response.status_code == 200
    for subscription in (first, second):
        subscription.refresh_from_db()
        assert subscription.status == SUB.OPTED_OUT
    assert EarlyReceipt.objects.count() == 0
    assert sorted(InboundEvent.objects.values_list("key", flat=True)) == ["message:wamid.C1", "message:wamid.C3"]
    assert kept() == [("whatsapp", body, 0)]
    events = world()["consent_events"]
    assert len(queued_replies()) == 2

    # Later, the whole body again: only the receipt is new.
    time_passes()
    tasks.retry_pending()

    assert kept() == []
    assert list(EarlyReceipt.objects.values_list("message_id", "status")) == [(wamid, S.DELIVERED)]
    assert world()["consent_events"] == events
    assert send_replies() == 2
    assert outbox() == [
        ("whatsapp", WA_PHONE, TEXTS["wa_stopped"]["en"], None),
        ("whatsapp", WA_OTHER_PHONE, TEXTS["wa_stopped"]["en"], None),
    ]


def test_whatsapp_failed_131049_holds_the_row_to_send_it_again_later(web, settings):
    """Meta's per-person marketing limit: the row is not failed, it is sent again later."""
    subscription = wa_subscription()
    wamid = wa.new_wamid(WA_ID)
    row = make_delivery(subscription, S.SENT, message_id=wamid)
    payload = wa.status_payload(wamid, "failed", WA_ID, [131049], timestamp=TS)
    retry = at(TS) + timedelta(hours=settings.TACT_RECIPIENT_LIMIT_RETRY_HOURS)

    assert post_whatsapp(web, payload).status_code == 200

    row.refresh_from_db()
    assert (row.status, row.send_after, row.platform_message_id, row.sent_at) == (S.HELD, retry, "", None)
    assert row.reason == f"WhatsApp 131049: {wa.ERRORS[131049][1]}; sent again after {retry:%Y-%m-%d %H:%M} UTC"
    subscription.refresh_from_db()
    assert subscription.status == SUB.OPTED_IN
    assert events_of(subscription) == [(KIND.OPT_IN, SUB.OPTED_IN, "test")]
    assert queued_replies() == []

    before = world()
    assert post_whatsapp(web, payload).status_code == 200
    assert world() == before


def test_whatsapp_failed_131050_fails_the_row_and_opts_the_person_out_with_a_consent_event(web):
    """The person pressed "Stop promotions" for our business: their own withdrawal."""
    subscription = wa_subscription()
    wamid = wa.new_wamid(WA_ID)
    row = make_delivery(subscription, S.SENT, message_id=wamid)
    planned = make_delivery(subscription, S.PLANNED)
    payload = wa.status_payload(wamid, "failed", WA_ID, [131050], timestamp=TS)
    status = the_value(payload)["statuses"][0]
    reason = f"WhatsApp 131050: {wa.ERRORS[131050][1]}"

    assert post_whatsapp(web, payload).status_code == 200

    row.refresh_from_db()
    assert (row.status, row.reason) == (S.FAILED, reason)
    subscription.refresh_from_db()
    assert subscription.status == SUB.OPTED_OUT
    assert events_of(subscription) == [(KIND.OPT_IN, SUB.OPTED_IN, "test"), (KIND.OPT_OUT, SUB.OPTED_OUT, "whatsapp_131050")]
    event = subscription.consent_events.order_by("id").last()
    assert (event.text, event.evidence, event.at, event.by_person) == (reason, {"status": status}, at(TS), True)
    planned.refresh_from_db()
    assert (planned.status, planned.reason) == (S.SKIPPED, "opted out via whatsapp_131050")
    assert queued_replies() == []  # no confirmation to a person who stopped our marketing

    before = world()
    assert post_whatsapp(web, payload).status_code == 200
    assert world() == before


@pytest.mark.parametrize("timestamp", [None, "0", "946684799", "future"],
                         ids=["missing", "epoch", "1999-12-31", "in-an-hour"])
def test_whatsapp_stop_without_a_believable_timestamp_is_dated_when_it_was_handled(web, timestamp):
    subscription = wa_subscription()
    payload = wa.inbound_text(WA_ID, "STOP", msg_id="wamid.T1", timestamp=TS)
    message = the_value(payload)["messages"][0]
    if timestamp is None:
        del message["timestamp"]
    else:
        message["timestamp"] = str(int(time.time()) + 3600) if timestamp == "future" else timestamp

    assert post_whatsapp(web, payload).status_code == 200

    subscription.refresh_from_db()
    assert subscription.status == SUB.OPTED_OUT
    assert just_now(subscription.last_inbound_at)
    assert just_now(subscription.consent_events.order_by("id").last().at)


def test_telegram_command_dated_in_the_future_is_dated_when_it_was_handled(web, tg):
    subscription = subscription_on("telegram", str(CHAT_RU), language="ru")

    assert post_telegram(web, tg_command(5501, CHAT_RU, "/stop", date=int(time.time()) + 3600)).status_code == 200

    subscription.refresh_from_db()
    assert subscription.status == SUB.OPTED_OUT
    assert just_now(subscription.consent_events.order_by("id").last().at)


# NUL (PostgreSQL refuses it in text and JSON) and lone surrogates (no UTF-8 exists for
# them) are valid in JSON as \u0000 and \ud83d: stored without them, never a 500.


def test_whatsapp_text_with_nul_and_lone_surrogates_answers_200_and_is_stored_sanitised(web):
    subscription = wa_subscription()
    payload = wa.inbound_text(WA_ID, "ST\x00OP \ud83d", msg_id="wamid.N\x00UL", timestamp=TS)
    body = wa.encode(payload)
    assert b"\\u0000" in body and b"\\ud83d" in body

    response = post_whatsapp(web, body)

    assert response.status_code == 200
    subscription.refresh_from_db()
    assert subscription.status == SUB.OPTED_OUT
    event = subscription.consent_events.order_by("id").last()
    assert (event.source, event.text) == ("whatsapp_stop", "STOP \ufffd")
    assert event.evidence == {"message_id": "wamid.NUL", "text": "STOP \ufffd"}
    assert list(InboundEvent.objects.values_list("key", flat=True)) == ["message:wamid.NUL"]
    assert kept() == []


def test_whatsapp_start_from_a_new_number_with_nul_in_the_name_stores_it_sanitised(web):
    payload = wa.inbound_text(WA_NEW_ID, "START\x00", msg_id="wamid.N2", name="Оль\x00га \udc00", timestamp=TS)

    assert post_whatsapp(web, payload).status_code == 200

    subscription = Subscription.objects.get()
    assert (subscription.address, subscription.status, subscription.subscriber.name) == (
        "+79990003344", SUB.OPTED_IN, "Ольга \ufffd")
    assert ConsentEvent.objects.get().evidence == {"message_id": "wamid.N2", "text": "START"}


def test_viber_subscribed_with_nul_and_lone_surrogates_answers_200_and_is_stored_sanitised(web):
    payload = vb.subscribed_payload(VIBER_ID, "Ма\x00рия \ud800", "ru", timestamp=TS_MS,
                                    message_token=5000000000000000701)

    body = json.dumps(payload).encode()  # escaped as \u0000 and \ud800
    assert b"\\u0000" in body and b"\\ud800" in body

    response = post_viber(web, body)

    assert response.status_code == 200
    subscription = Subscription.objects.get()
    assert (subscription.address, subscription.status, subscription.subscriber.name) == (
        VIBER_ID, SUB.OPTED_IN, "Мария \ufffd")
    assert ConsentEvent.objects.get().evidence == {"user": {**payload["user"], "name": "Мария \ufffd"}}


def test_telegram_start_with_nul_and_lone_surrogates_answers_200_and_is_stored_sanitised(web, tg):
    update = tg_command(5601, CHAT_RU, "/start v\x00ip\udfff")
    update["message"]["from"]["first_name"] = "Ив\x00ан"

    response = post_telegram(web, update)

    assert response.status_code == 200
    subscription = Subscription.objects.get()
    assert (subscription.address, subscription.status, subscription.subscriber.name) == (
        str(CHAT_RU), SUB.OPTED_IN, "Иван Петров")
    assert ConsentEvent.objects.get().evidence == {
        "payload": "vip\ufffd", "user_id": CHAT_RU, "username": "ivan_p", "language_code": "ru"}
    assert send_replies() == 1
    assert replies(tg) == [(CHAT_RU, TEXTS["welcome"]["ru"])]


# The WhatsApp webhooks, each with the state it acts on.

def _wa_kinds() -> dict[str, Callable[[], dict]]:
    def setup_subscription() -> None:
        subscription = wa_subscription()
        make_delivery(subscription, S.SENT, message_id="wamid.KIND-1")
        make_delivery(subscription, S.PLANNED)

    def stop():
        setup_subscription()
        return wa.inbound_text(WA_ID, "STOP", msg_id="wamid.IN-STOP", timestamp=TS)

    def start():
        setup_subscription()
        return wa.inbound_text(WA_NEW_ID, "START", msg_id="wamid.IN-START", timestamp=TS)

    def chat():
        setup_subscription()
        return wa.inbound_text(WA_ID, "hello", msg_id="wamid.IN-HELLO", timestamp=TS)

    def status(state, errors=None):
        def build():
            setup_subscription()
            return wa.status_payload("wamid.KIND-1", state, WA_ID, errors, timestamp=TS)
        return build

    def preference():
        setup_subscription()
        return wa.user_preferences_payload(WA_ID, "stop", timestamp=TS)

    return {
        "stop": stop, "start": start, "text": chat, "delivered": status("delivered"), "read": status("read"),
        "failed": status("failed", [131026]), "failed-131049": status("failed", [131049]),
        "failed-131050": status("failed", [131050]), "user_preferences": preference,
    }


WA_KINDS = _wa_kinds()


@pytest.mark.parametrize("kind", sorted(WA_KINDS))
@pytest.mark.parametrize("signature", ["missing", "other-secret", "other-body", "no-prefix", "empty"])
def test_whatsapp_webhook_with_a_wrong_signature_is_refused_and_changes_nothing(web, kind, signature):
    payload = WA_KINDS[kind]()
    body = wa.encode(payload)
    bad = {
        "missing": MISSING,
        "other-secret": wa.sign(body, "not-the-app-secret"),
        "other-body": wa.sign(body + b" ", WA_APP_SECRET),
        "no-prefix": wa.sign(body, WA_APP_SECRET).removeprefix("sha256="),
        "empty": "",
    }[signature]
    before = world()

    response = post_whatsapp(web, body, signature=bad)

    assert response.status_code == 403
    assert world() == before

    # The same body, signed: it does change something (so the 403 above was what held it).
    assert post_whatsapp(web, body).status_code == 200
    assert world() != before


@pytest.mark.parametrize("kind", sorted(WA_KINDS))
def test_whatsapp_webhook_sent_twice_has_no_second_effect(web, kind):
    payload = WA_KINDS[kind]()
    first = world()
    assert post_whatsapp(web, payload).status_code == 200
    once = world()
    assert once["subscriptions"] != first["subscriptions"] or once["deliveries"] != first["deliveries"] or (
        once["subscribers"] != first["subscribers"]
    )

    assert post_whatsapp(web, copy.deepcopy(payload)).status_code == 200

    assert world() == once


def test_whatsapp_webhook_without_a_configured_app_secret_is_refused(web, settings):
    wa_subscription()
    settings.WHATSAPP_APP_SECRET = ""
    payload = wa.inbound_text(WA_ID, "STOP", timestamp=TS)
    before = world()
    for signature in (MISSING, "", wa.sign(wa.encode(payload), "")):
        assert post_whatsapp(web, payload, signature=signature).status_code == 403
    assert world() == before


def _wa_malformed() -> dict[str, bytes]:
    no_from = wa.inbound_text(WA_ID, "STOP", timestamp=TS)
    del the_value(no_from)["messages"][0]["from"]
    no_id = wa.status_payload("wamid.KIND-1", "delivered", WA_ID, timestamp=TS)
    del the_value(no_id)["statuses"][0]["id"]
    no_wa_id = wa.user_preferences_payload(WA_ID, "stop", timestamp=TS)
    del the_value(no_wa_id)["user_preferences"][0]["wa_id"]
    messages_not_list = wa.inbound_text(WA_ID, "STOP", timestamp=TS)
    the_value(messages_not_list)["messages"] = the_value(messages_not_list)["messages"][0]
    template_update = {
        "object": "whatsapp_business_account",
        "entry": [{"id": wa.WABA_ID, "changes": [{"field": "message_template_status_update", "value": {
            "event": "APPROVED", "message_template_id": 1234, "message_template_name": "black_friday",
            "message_template_language": "ru", "reason": None}}]}],
    }
    stop_under_unknown_field = wa.inbound_text(WA_ID, "STOP", timestamp=TS)
    stop_under_unknown_field["entry"][0]["changes"][0]["field"] = "smb_message_echoes"
    return {
        "not-json": b"{not json",
        "not-utf8": b"\xff\xfe\x00{",
        "empty": b"",
        "array": b"[]",
        "string": b'"STOP"',
        "null": b"null",
        "entry-not-list": wa.encode({"object": "whatsapp_business_account", "entry": "STOP"}),
        "changes-not-list": wa.encode({"object": "whatsapp_business_account", "entry": [{"changes": 7}]}),
        "value-null": wa.encode({"entry": [{"changes": [{"field": "messages", "value": None}]}]}),
        "message-without-from": wa.encode(no_from),
        "messages-not-list": wa.encode(messages_not_list),
        "status-without-id": wa.encode(no_id),
        "preference-without-wa-id": wa.encode(no_wa_id),
        "unknown-field": wa.encode(template_update),
        "stop-under-unknown-field": wa.encode(stop_under_unknown_field),
    }


WA_MALFORMED = _wa_malformed()


@pytest.mark.parametrize("name", list(WA_MALFORMED))
def test_whatsapp_malformed_or_unknown_payload_with_a_valid_signature_answers_200_and_changes_nothing(web, name):
    subscription = wa_subscription()
    make_delivery(subscription, S.SENT, message_id="wamid.KIND-1")
    make_delivery(subscription, S.PLANNED)
    before = world()

    response = post_whatsapp(web, WA_MALFORMED[name])

    assert response.status_code == 200
    assert world() == before


# ---- Viber ---------------------------------------------------------------------------
#
# Viber's callbacks (developers.viber.com/docs/api/rest-bot-api/#callbacks), built by
# tests/fakes/viber.py: {"event": "subscribed", "timestamp": <ms>, "chat_hostname",
# "message_token": <int64>, "user": {"id", "name", "avatar", "country", "language",
# "api_version"}}; "unsubscribed" / "delivered" / "seen" carry "user_id" instead of "user";
# "failed" adds "desc"; "conversation_started" has "type", "context", "user", "subscribed";
# "message" has "sender" and "message": {"type": "text", "text"}.


def post_viber(client: Client, payload: dict | bytes, *, signature: object = None, token: str = VB_AUTH_TOKEN):
    body = payload if isinstance(payload, bytes) else vb.encode(payload)
    if signature is None:
        signature = vb.sign(body, token)
    headers = {} if signature is MISSING else {vb.SIGNATURE_HEADER: signature}
    return post(client, VB_URL, body, headers)


def test_viber_subscribed_creates_an_opted_in_subscription(web, settings):
    payload = vb.subscribed_payload(VIBER_ID, "Мария Иванова", "ru", timestamp=TS_MS, message_token=5000000000000000101)

    response = post_viber(web, payload)

    assert response.status_code == 200
    subscriber = Subscriber.objects.get()
    assert (subscriber.name, subscriber.language, subscriber.timezone) == ("Мария Иванова", "ru", settings.TIME_ZONE)
    subscription = Subscription.objects.get()
    assert (subscription.subscriber_id, subscription.platform, subscription.address, subscription.status) == (
        subscriber.id, "viber", VIBER_ID, SUB.OPTED_IN,
    )
    event = ConsentEvent.objects.get()
    assert (event.subscription_id, event.kind, event.status, event.source) == (
        subscription.id, KIND.OPT_IN, SUB.OPTED_IN, "viber_subscribed",
    )
    assert event.text == CONSENT_TEXT["viber"]["ru"] == TEXTS["viber_welcome"]["ru"]  # the welcome shown
    assert event.evidence == {"user": payload["user"]}
    assert event.at == at_ms(TS_MS)
    assert outbox() == []

    before = world()
    assert post_viber(web, payload).status_code == 200
    assert world() == before


def test_viber_unsubscribed_opts_out_and_a_new_subscribed_opts_back_in(web):
    subscription = subscription_on("viber", VIBER_ID, language="ru")
    unsubscribed = vb.unsubscribed_payload(VIBER_ID, timestamp=TS_MS, message_token=5000000000000000201)

    assert post_viber(web, unsubscribed).status_code == 200

    subscription.refresh_from_db()
    assert subscription.status == SUB.OPTED_OUT
    event = subscription.consent_events.order_by("id").last()
    assert (event.kind, event.status, event.source, event.text) == (
        KIND.OPT_OUT, SUB.OPTED_OUT, "viber_unsubscribed", "unsubscribed",
    )
    assert event.evidence == {"message_token": 5000000000000000201}
    assert event.at == at_ms(TS_MS)

    before = world()
    assert post_viber(web, unsubscribed).status_code == 200
    assert world() == before

    resubscribed = vb.subscribed_payload(VIBER_ID, "Anna", "ru", timestamp=TS_MS + 60_000,
                                         message_token=5000000000000000202)
    assert post_viber(web, resubscribed).status_code == 200
    subscription.refresh_from_db()
    assert subscription.status == SUB.OPTED_IN
    assert events_of(subscription) == [
        (KIND.OPT_IN, SUB.OPTED_IN, "test"),
        (KIND.OPT_OUT, SUB.OPTED_OUT, "viber_unsubscribed"),
        (KIND.OPT_IN, SUB.OPTED_IN, "viber_subscribed"),
    ]
    assert (Subscriber.objects.count(), Subscription.objects.count()) == (1, 1)
    assert outbox() == []


def test_viber_unsubscribed_redelivered_after_a_new_subscribe_changes_nothing(web):
    """Viber retries a callback for about an hour: an old `unsubscribed` arriving after the
    person subscribed again must not opt them out again."""
    subscription = subscription_on("viber", VIBER_ID, language="ru")
    unsubscribed = vb.unsubscribed_payload(VIBER_ID, timestamp=TS_MS, message_token=5000000000000000601)
    assert post_viber(web, unsubscribed).status_code == 200
    assert post_viber(web, vb.subscribed_payload(VIBER_ID, "Anna", "ru", timestamp=TS_MS + 60_000,
                                                 message_token=5000000000000000602)).status_code == 200
    subscription.refresh_from_db()
    assert subscription.status == SUB.OPTED_IN
    before = world()

    assert post_viber(web, unsubscribed).status_code == 200

    assert world() == before
    subscription.refresh_from_db()
    assert subscription.status == SUB.OPTED_IN


def test_viber_subscribed_retried_after_the_unsubscribe_does_not_override_it(web):
    """Viber retries a callback for about an hour: a `subscribed` that failed once may come
    back after the person unsubscribed. The later unsubscribe wins; the answer is 200."""
    subscription = subscription_on("viber", VIBER_ID, language="ru")
    assert post_viber(web, vb.unsubscribed_payload(VIBER_ID, timestamp=TS_MS + 60_000,
                                                   message_token=5000000000000000301)).status_code == 200

    retried = vb.subscribed_payload(VIBER_ID, "Anna", "ru", timestamp=TS_MS, message_token=5000000000000000300)
    response = post_viber(web, retried)

    assert response.status_code == 200
    subscription.refresh_from_db()
    assert subscription.status == SUB.OPTED_OUT
    assert events_of(subscription) == [(KIND.OPT_IN, SUB.OPTED_IN, "test"), (KIND.OPT_OUT, SUB.OPTED_OUT, "viber_unsubscribed")]
    before = world()
    assert post_viber(web, retried).status_code == 200
    assert world() == before


@pytest.mark.parametrize("language, expected", [("ru", "ru"), ("en", "en"), ("uk", "ru"), ("de", "en")])
def test_viber_conversation_started_answers_a_welcome_and_subscribes_nobody(web, settings, language, expected):
    payload = vb.conversation_started_payload(VIBER_ID, "Мария", language=language, timestamp=TS_MS)
    before = world()

    response = post_viber(web, payload)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == {
        "sender": {"name": settings.VIBER_SENDER_NAME},
        "type": "text",
        "text": TEXTS["viber_welcome"][expected],
    }
    assert world() == before
    assert Subscription.objects.count() == 0


def test_viber_conversation_started_welcome_is_russian_for_russian_users(web):
    response = post_viber(web, vb.conversation_started_payload(VIBER_ID, "Мария", language="ru", timestamp=TS_MS))
    text = response.json()["text"]
    assert "Подписаться" in text and text.startswith("Добро пожаловать")


def test_viber_receipts_update_the_delivery_of_that_user_only(web):
    token = 5000000000000000401
    mine = subscription_on("viber", VIBER_ID)
    theirs = subscription_on("viber", VIBER_OTHER_ID)
    row = make_delivery(mine, S.SENT, message_id=str(token))
    # A broadcast gives one message_token for every receiver.
    their_row = make_delivery(theirs, S.SENT, message_id=str(token))
    my_other_row = make_delivery(mine, S.SENT, message_id=str(token + 1))
    wa_row = make_delivery(wa_subscription(), S.SENT, message_id=str(token))

    def frozen(*rows):
        for r in rows:
            r.refresh_from_db()
        return [(r.status, r.reason, r.delivered_at, r.read_at, r.updated_at) for r in rows]

    untouched = frozen(my_other_row, wa_row)
    theirs_before = frozen(their_row)

    assert post_viber(web, vb.delivered_payload(token, VIBER_ID, timestamp=TS_MS + 1000)).status_code == 200
    row.refresh_from_db()
    assert (row.status, row.delivered_at, row.read_at) == (S.DELIVERED, at_ms(TS_MS + 1000), None)
    assert frozen(their_row) == theirs_before

    assert post_viber(web, vb.seen_payload(token, VIBER_ID, timestamp=TS_MS + 5000)).status_code == 200
    row.refresh_from_db()
    assert (row.status, row.delivered_at, row.read_at) == (S.READ, at_ms(TS_MS + 1000), at_ms(TS_MS + 5000))
    assert frozen(their_row) == theirs_before

    assert post_viber(web, vb.failed_payload(token, VIBER_OTHER_ID, "user blocked the bot",
                                             timestamp=TS_MS + 7000)).status_code == 200
    their_row.refresh_from_db()
    assert (their_row.status, their_row.reason) == (S.FAILED, "user blocked the bot")
    row.refresh_from_db()
    assert (row.status, row.read_at) == (S.READ, at_ms(TS_MS + 5000))

    assert frozen(my_other_row, wa_row) == untouched
    assert [s.status for s in Subscription.objects.order_by("id")] == [SUB.OPTED_IN] * 3
    assert ConsentEvent.objects.count() == 3
    assert outbox() == []


def test_viber_message_records_last_inbound_at(web):
    subscription = subscription_on("viber", VIBER_ID)
    assert post_viber(web, vb.message_payload(VIBER_ID, "Hello", timestamp=TS_MS)).status_code == 200
    subscription.refresh_from_db()
    assert subscription.last_inbound_at == at_ms(TS_MS)
    assert subscription.status == SUB.OPTED_IN
    assert ConsentEvent.objects.count() == 1


def test_viber_webhook_check_event_answers_200_and_touches_nobody(web):
    subscription_on("viber", VIBER_ID)
    before = world()
    assert post_viber(web, vb.webhook_payload(timestamp=TS_MS)).status_code == 200
    after = world()
    assert {k: v for k, v in after.items() if k != "inbound_events"} == {
        k: v for k, v in before.items() if k != "inbound_events"
    }


@pytest.mark.django_db(transaction=True)
def test_viber_unsubscribed_during_a_database_failure_is_kept_and_handled_later(web):
    subscription = subscription_on("viber", VIBER_ID, language="ru")
    body = vb.encode(vb.unsubscribed_payload(VIBER_ID, timestamp=TS_MS, message_token=5000000000000000801))

    with database_busy(Subscription):
        response = post_viber(web, body)

    assert response.status_code == 200  # kept: Viber need not retry it
    assert kept() == [("viber", body, 0)]
    subscription.refresh_from_db()
    assert subscription.status == SUB.OPTED_IN

    time_passes()
    tasks.retry_pending()

    assert kept() == []
    subscription.refresh_from_db()
    assert subscription.status == SUB.OPTED_OUT
    event = subscription.consent_events.order_by("id").last()
    assert (event.source, event.at) == ("viber_unsubscribed", at_ms(TS_MS))


def test_kept_updates_are_handled_by_a_periodic_task_on_the_sweepers_beat():
    entry = django_settings.CELERY_BEAT_SCHEDULE["pending-updates"]
    assert (entry["task"], entry["schedule"]) == ("channels.tasks.retry_pending", django_settings.TACT_SWEEP_SECONDS)
    assert tasks.retry_pending.name == entry["task"]


def _vb_kinds() -> dict[str, Callable[[], dict]]:
    token = 5000000000000000501

    def existing() -> None:
        subscription = subscription_on("viber", VIBER_ID)
        make_delivery(subscription, S.SENT, message_id=str(token))
        make_delivery(subscription, S.PLANNED)

    def build(make):
        def go():
            existing()
            return make()
        return go

    return {
        "subscribed": build(lambda: vb.subscribed_payload(VIBER_OTHER_ID, "Oleg", "ru", timestamp=TS_MS,
                                                          message_token=token + 10)),
        "unsubscribed": build(lambda: vb.unsubscribed_payload(VIBER_ID, timestamp=TS_MS, message_token=token + 11)),
        "delivered": build(lambda: vb.delivered_payload(token, VIBER_ID, timestamp=TS_MS)),
        "seen": build(lambda: vb.seen_payload(token, VIBER_ID, timestamp=TS_MS)),
        "failed": build(lambda: vb.failed_payload(token, VIBER_ID, "receiver not reachable", timestamp=TS_MS)),
        "message": build(lambda: vb.message_payload(VIBER_ID, "hi", timestamp=TS_MS, message_token=token + 12)),
    }


VB_KINDS = _vb_kinds()


@pytest.mark.parametrize("kind", sorted(VB_KINDS))
@pytest.mark.parametrize("signature", ["missing", "other-token", "other-body", "sha256-prefixed", "empty"])
def test_viber_callback_with_a_wrong_signature_is_refused_and_changes_nothing(web, kind, signature):
    payload = VB_KINDS[kind]()
    body = vb.encode(payload)
    bad = {
        "missing": MISSING,
        "other-token": vb.sign(body, "not-the-auth-token"),
        "other-body": vb.sign(body + b" ", VB_AUTH_TOKEN),
        "sha256-prefixed": "sha256=" + vb.sign(body, VB_AUTH_TOKEN),
        "empty": "",
    }[signature]
    before = world()

    response = post_viber(web, body, signature=bad)

    assert response.status_code == 403
    assert world() == before

    assert post_viber(web, body).status_code == 200
    assert world() != before


def test_viber_conversation_started_with_a_wrong_signature_is_refused(web):
    response = post_viber(web, vb.conversation_started_payload(VIBER_ID, timestamp=TS_MS), signature="0" * 64)
    assert response.status_code == 403
    assert response.content == b""


@pytest.mark.parametrize("kind", sorted(VB_KINDS))
def test_viber_callback_sent_twice_has_no_second_effect(web, kind):
    payload = VB_KINDS[kind]()
    first = world()
    assert post_viber(web, payload).status_code == 200
    once = world()
    assert {k: v for k, v in once.items() if k != "inbound_events"} != {
        k: v for k, v in first.items() if k != "inbound_events"
    }

    assert post_viber(web, copy.deepcopy(payload)).status_code == 200

    assert world() == once


def _vb_malformed() -> dict[str, bytes]:
    token = 5000000000000000501
    no_user = vb.subscribed_payload(VIBER_OTHER_ID, timestamp=TS_MS, message_token=token + 20)
    del no_user["user"]
    user_not_object = vb.subscribed_payload(VIBER_OTHER_ID, timestamp=TS_MS, message_token=token + 21)
    user_not_object["user"] = VIBER_OTHER_ID
    no_user_id = vb.unsubscribed_payload(VIBER_ID, timestamp=TS_MS, message_token=token + 22)
    del no_user_id["user_id"]
    receipt_without_user = vb.delivered_payload(token, VIBER_ID, timestamp=TS_MS)
    del receipt_without_user["user_id"]
    bad_timestamp = vb.subscribed_payload(VIBER_OTHER_ID, timestamp=TS_MS, message_token=token + 23)
    bad_timestamp["timestamp"] = "yesterday"
    return {
        "not-json": b"{",
        "not-utf8": b"\xff\xfe",
        "empty": b"",
        "array": b"[]",
        "number": b"42",
        "subscribed-without-user": vb.encode(no_user),
        "user-not-object": vb.encode(user_not_object),
        "unsubscribed-without-user-id": vb.encode(no_user_id),
        "delivered-without-user-id": vb.encode(receipt_without_user),
        "timestamp-not-a-number": vb.encode(bad_timestamp),
        "no-event": vb.encode({"timestamp": TS_MS, "user_id": VIBER_ID}),
    }


VB_MALFORMED = _vb_malformed()


@pytest.mark.parametrize("name", list(VB_MALFORMED))
def test_viber_malformed_callback_with_a_valid_signature_answers_200_and_changes_nothing(web, name):
    subscription = subscription_on("viber", VIBER_ID)
    make_delivery(subscription, S.SENT, message_id="5000000000000000501")
    make_delivery(subscription, S.PLANNED)
    before = world()

    response = post_viber(web, VB_MALFORMED[name])

    assert response.status_code == 200
    assert {k: v for k, v in world().items() if k != "inbound_events"} == {
        k: v for k, v in before.items() if k != "inbound_events"
    }
