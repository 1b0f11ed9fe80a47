"""Sender accounts, inbound: each bot or number has its own webhook path, verified with its own
secret; what a person tells one bot changes only their subscription of that bot, and the bot
answers from its own token; the brand's opt-out by address reaches every account.

The webhooks are called over real HTTP (the live server), the bots' replies go out through the
fakes of tests/fakes: one fake per Telegram bot, each accepting only its own token (any other
token is answered 401 and recorded nowhere), so a message recorded by bot B's fake was sent
with bot B's token. The end-to-end test runs a real Celery worker; the others take the reply
tasks off their queue and run them as a worker would (tests/integration/test_webhooks.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client, TestCase

from campaigns import services
from campaigns.models import ConsentEvent, Delivery, SenderAccount, Subscriber, Subscription
from channels import tasks
from channels.inbound import TEXTS
from channels.models import InboundEvent, PendingUpdate
from tests.conftest import SubscriberFactory
from tests.fakes import viber as vb
from tests.fakes import whatsapp as wa
from tests.fakes.telegram import FakeTelegram
from tests.fakes.viber import FakeViber
from tests.fakes.whatsapp import FakeWhatsApp

from .engine import Engine, wait_until
from .test_bot_commands import PollingTelegram
from .test_webhooks import (
    CHAT_EN,
    CHAT_RU,
    KIND,
    QUEUES,
    SUB,
    broker,
    database_busy,
    make_delivery,
    queued_replies,
    send_replies,
    tg_command,
    tg_my_chat_member,
    time_passes,
)
from .test_webhooks import world as webhook_world

pytestmark = pytest.mark.django_db(transaction=True)
S = Delivery.Status

DEFAULT_TOKEN, DEFAULT_SECRET = "123456:DEFAULT", "default-secret_0"
TOKEN_A, SECRET_A = "111111:AAA-bot-a", "bot-a-secret_1"
TOKEN_B, SECRET_B = "222222:BBB-bot-b", "bot-b-secret_2"

WA_DEFAULT_APP_SECRET, WA_DEFAULT_VERIFY = "wa-default-app-secret", "wa-default-verify"
WA_TOKEN, WA_NUMBER_ID = "EAAG-account-token", "200000000000001"
WA_APP_SECRET, WA_VERIFY = "wa-account-app-secret", "wa-account-verify"
WA_ID, WA_PHONE = "79990001122", "+79990001122"

VB_DEFAULT_TOKEN = "445da6az1s345z78-default"
VB_TOKEN, VB_SENDER = "4a1b2c3d4e5f6a7b-account", "Shop VIP"
VIBER_ID = "Rk1x9a+bQ2lYtT0ZcVnWmw=="
CONSENT_AT = datetime(2026, 11, 1, tzinfo=UTC)


def sender_account(platform: str, slug: str, credentials: dict[str, str], *, active: bool = True) -> SenderAccount:
    account = SenderAccount(platform=platform, name=slug.upper(), slug=slug, active=active)
    account.set_credentials(credentials)
    account.save()
    return account


def subscribed(platform: str, address: str, account: SenderAccount | None, subscriber: Subscriber | None = None
               ) -> Subscription:
    """An opted-in subscription of `account` (None: the default one), made with consent."""
    return services.subscription_add(
        subscriber=subscriber or SubscriberFactory(language="en"), platform=platform, address=address,
        account=account, consent=services.Consent(source="test", text="Yes, send me offers", at=CONSENT_AT))


def statuses(address: str) -> list[tuple]:
    """(account slug or None, status) of each subscription with this address, oldest first."""
    return list(Subscription.objects.filter(address=address).order_by("id").values_list("account__slug", "status"))


def world() -> dict[str, list]:
    """Every row a webhook may write (test_webhooks.world), and each subscription's account."""
    return {**webhook_world(),
            "accounts": list(Subscription.objects.order_by("id").values_list("id", "account_id"))}


@pytest.fixture(autouse=True)
def empty_queues() -> Iterator[None]:
    broker().delete(*QUEUES)
    yield
    broker().delete(*QUEUES)


@dataclass
class Bots:
    url: str  # the live server
    fakes: dict[str, FakeTelegram]  # "default", "a", "b": each bot's own Bot API, its token only
    a: SenderAccount
    b: SenderAccount

    def post(self, path: str, update: dict | bytes, secret: str | None) -> httpx.Response:
        body = update if isinstance(update, bytes) else json.dumps(update).encode()
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        return httpx.post(f"{self.url}{path}", content=body, headers=headers, timeout=30)

    def said(self, name: str) -> list[tuple[int, str]]:
        """What bot `name` sent (its fake took it with its token)."""
        return [(c.chat_id, c.text) for c in self.fakes[name].sent()]


@pytest.fixture
def bots(live_server, settings) -> Iterator[Bots]:
    """The default bot (the environment's) and bots A and B (sender accounts), each on a fake
    Bot API of its own that accepts only its token."""
    fakes = {"default": FakeTelegram(token=DEFAULT_TOKEN).start(), "a": FakeTelegram(token=TOKEN_A).start(),
             "b": FakeTelegram(token=TOKEN_B).start()}
    try:
        settings.TELEGRAM_BOT_TOKEN = DEFAULT_TOKEN
        settings.TELEGRAM_API_URL = fakes["default"].base_url
        settings.TELEGRAM_WEBHOOK_SECRET = DEFAULT_SECRET
        a = sender_account("telegram", "bot-a", {"token": TOKEN_A, "webhook_secret": SECRET_A,
                                                 "api_url": fakes["a"].root_url})
        b = sender_account("telegram", "bot-b", {"token": TOKEN_B, "webhook_secret": SECRET_B,
                                                 "api_url": fakes["b"].root_url})
        yield Bots(live_server.url, fakes, a, b)
    finally:
        for fake in fakes.values():
            fake.stop()


# ---- two Telegram bots, end to end with a worker ------------------------------------------


def test_two_bots_each_subscribe_on_their_own_path_answer_from_their_own_token_and_stop_alone(bots, tmp_path):
    engine = Engine(tmp_path, {"TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN, "TELEGRAM_API_URL": bots.fakes["default"].base_url,
                               "TELEGRAM_WEBHOOK_SECRET": DEFAULT_SECRET})
    engine.start_worker()
    try:
        # The same person presses Start in bot A and in bot B. Each bot numbers its updates
        # from its own start: the same update_id reaches both, and each is handled.
        assert bots.post("/webhooks/telegram/bot-a/", tg_command(5001, CHAT_EN, "/start"), SECRET_A).status_code == 200
        assert bots.post("/webhooks/telegram/bot-b/", tg_command(5001, CHAT_EN, "/start vip"),
                         SECRET_B).status_code == 200

        assert statuses(str(CHAT_EN)) == [("bot-a", SUB.OPTED_IN), ("bot-b", SUB.OPTED_IN)]
        on_a, on_b = Subscription.objects.filter(address=str(CHAT_EN)).order_by("id")
        assert on_a.subscriber_id == on_b.subscriber_id  # one person, two consents
        assert Subscriber.objects.count() == 1
        assert [(e.subscription_id, e.kind, e.source, e.evidence["payload"])
                for e in ConsentEvent.objects.order_by("id")] == [
            (on_a.id, KIND.OPT_IN, "telegram_start", ""), (on_b.id, KIND.OPT_IN, "telegram_start", "vip")]
        assert sorted(InboundEvent.objects.values_list("platform", "key")) == sorted([
            ("telegram", f"@{bots.a.pk}:update:5001"), ("telegram", f"@{bots.b.pk}:update:5001")])

        # Each welcome comes from the bot the person wrote to, through its own token.
        wait_until(lambda: bots.said("a") and bots.said("b"), 60, "the welcome from each bot")
        assert bots.said("a") == [(CHAT_EN, TEXTS["welcome"]["en"])]
        assert bots.said("b") == [(CHAT_EN, TEXTS["welcome"]["en"])]

        # /stop to bot B: B's subscription only, its queued message skipped, A's kept.
        planned_a, planned_b = make_delivery(on_a, S.PLANNED), make_delivery(on_b, S.PLANNED)
        assert bots.post("/webhooks/telegram/bot-b/", tg_command(5002, CHAT_EN, "/stop"), SECRET_B).status_code == 200

        assert statuses(str(CHAT_EN)) == [("bot-a", SUB.OPTED_IN), ("bot-b", SUB.OPTED_OUT)]
        assert list(on_b.consent_events.order_by("id").values_list("kind", "source")) == [
            (KIND.OPT_IN, "telegram_start"), (KIND.OPT_OUT, "telegram_stop")]
        assert list(on_a.consent_events.values_list("kind", "source")) == [(KIND.OPT_IN, "telegram_start")]
        planned_a.refresh_from_db()
        planned_b.refresh_from_db()
        assert (planned_a.status, planned_b.status) == (S.PLANNED, S.SKIPPED)
        assert planned_b.reason == "opted out via telegram_stop"

        wait_until(lambda: len(bots.said("b")) == 2, 60, "bot B's answer to /stop")
        assert bots.said("b")[1] == (CHAT_EN, TEXTS["stopped"]["en"])
        wait_until(lambda: queued_replies() == [], 10, "the queue to drain")
        time.sleep(0.5)
        assert bots.said("a") == [(CHAT_EN, TEXTS["welcome"]["en"])]  # bot A said nothing more
        assert bots.fakes["default"].calls() == []  # and the default bot nothing at all
        # No fake was called with another bot's token (it would have answered 401).
        assert {name: fake.method_counts().get("sendmessage", 0) for name, fake in bots.fakes.items()} == {
            "default": 0, "a": 1, "b": 2}
    except BaseException:
        print(engine.logs())
        raise
    finally:
        engine.stop()


# ---- Telegram: refusals -------------------------------------------------------------------


@pytest.mark.parametrize("secret", [SECRET_A, DEFAULT_SECRET, SECRET_B + "x", "", None],
                         ids=["bot-a-secret", "default-secret", "longer", "empty", "missing"])
def test_a_bots_path_refuses_any_secret_but_its_own_and_changes_nothing(bots, secret):
    on_b = subscribed("telegram", str(CHAT_EN), bots.b)
    before = world()

    response = bots.post("/webhooks/telegram/bot-b/", tg_command(6001, CHAT_EN, "/stop"), secret)

    assert response.status_code == 403
    assert world() == before
    on_b.refresh_from_db()
    assert on_b.status == SUB.OPTED_IN
    assert queued_replies() == []
    assert all(fake.calls() == [] for fake in bots.fakes.values())


def test_the_default_path_refuses_a_bots_secret(bots):
    subscribed("telegram", str(CHAT_EN), None)
    before = world()

    assert bots.post("/webhooks/telegram/", tg_command(6101, CHAT_EN, "/stop"), SECRET_B).status_code == 403

    assert world() == before
    assert queued_replies() == []


@pytest.mark.parametrize("slug", ["nobody", "bot-off", "wa-shop", "BOT-B"])
def test_an_unknown_inactive_or_other_platforms_slug_answers_404_and_changes_nothing(bots, slug):
    sender_account("telegram", "bot-off", {"token": "333333:OFF", "webhook_secret": SECRET_B}, active=False)
    sender_account("whatsapp", "wa-shop", {"access_token": WA_TOKEN, "phone_number_id": WA_NUMBER_ID,
                                           "app_secret": SECRET_B, "verify_token": SECRET_B})
    subscribed("telegram", str(CHAT_EN), bots.b)
    before = world()

    # Even with the secret the account (or bot B) would have.
    response = bots.post(f"/webhooks/telegram/{slug}/", tg_command(6201, CHAT_EN, "/stop"), SECRET_B)

    assert response.status_code == 404
    assert world() == before
    assert queued_replies() == []


def test_a_block_of_bot_b_blocks_only_its_subscription(bots):
    subscriber = SubscriberFactory(language="en")
    subscribed("telegram", str(CHAT_EN), None, subscriber)
    subscribed("telegram", str(CHAT_EN), bots.a, subscriber)
    subscribed("telegram", str(CHAT_EN), bots.b, subscriber)

    assert bots.post("/webhooks/telegram/bot-b/", tg_my_chat_member(6301, CHAT_EN, "kicked"),
                     SECRET_B).status_code == 200

    assert statuses(str(CHAT_EN)) == [(None, SUB.OPTED_IN), ("bot-a", SUB.OPTED_IN), ("bot-b", SUB.BLOCKED)]
    assert queued_replies() == []  # nobody writes to a person who blocked the bot


def test_help_and_a_repeated_start_are_answered_by_the_bot_written_to(bots):
    subscribed("telegram", str(CHAT_RU), bots.a)

    assert bots.post("/webhooks/telegram/bot-a/", tg_command(6401, CHAT_RU, "/start"), SECRET_A).status_code == 200
    assert bots.post("/webhooks/telegram/bot-a/", tg_command(6402, CHAT_RU, "/help"), SECRET_A).status_code == 200

    # The account goes with the task as its id (a 4th argument); the default bot's tasks have none.
    assert queued_replies() == [
        ("telegram", ["channels.tasks.send_reply", "telegram", str(CHAT_RU), TEXTS["already"]["ru"], bots.a.pk]),
        ("telegram", ["channels.tasks.send_reply", "telegram", str(CHAT_RU), TEXTS["help"]["ru"], bots.a.pk]),
    ]
    assert send_replies() == 2
    assert bots.said("a") == [(CHAT_RU, TEXTS["already"]["ru"]), (CHAT_RU, TEXTS["help"]["ru"])]
    assert bots.fakes["b"].calls() == bots.fakes["default"].calls() == []


def test_a_reply_from_an_account_made_inactive_meanwhile_is_not_sent(bots):
    assert bots.post("/webhooks/telegram/bot-a/", tg_command(6501, CHAT_EN, "/start"), SECRET_A).status_code == 200
    SenderAccount.objects.filter(pk=bots.a.pk).update(active=False)

    assert send_replies() == 1  # the task ran: logged, nothing sent, not retried

    assert all(fake.calls() == [] for fake in bots.fakes.values())
    assert statuses(str(CHAT_EN)) == [("bot-a", SUB.OPTED_IN)]  # the consent stands


def test_a_kept_update_is_handled_later_for_the_bot_it_came_to(bots, settings):
    on_default = subscribed("telegram", str(CHAT_EN), None)
    on_b = subscribed("telegram", str(CHAT_EN), bots.b, on_default.subscriber)
    stop = json.dumps(tg_command(6601, CHAT_EN, "/stop", date=int(time.time()) - 60)).encode()

    web = Client(raise_request_exception=False)
    with database_busy(Subscription), TestCase.captureOnCommitCallbacks(execute=True):
        response = web.post("/webhooks/telegram/bot-b/", data=stop, content_type="application/json",
                            headers={"X-Telegram-Bot-Api-Secret-Token": SECRET_B})

    assert response.status_code == 200
    [row] = PendingUpdate.objects.all()
    assert (row.platform, bytes(row.body)) == (f"telegram:{bots.b.pk}", stop)  # kept with its account
    assert statuses(str(CHAT_EN)) == [(None, SUB.OPTED_IN), ("bot-b", SUB.OPTED_IN)]

    time_passes()
    tasks.retry_pending()

    assert PendingUpdate.objects.count() == 0
    assert statuses(str(CHAT_EN)) == [(None, SUB.OPTED_IN), ("bot-b", SUB.OPTED_OUT)]
    assert on_b.consent_events.order_by("id").last().source == "telegram_stop"
    assert send_replies() == 1
    assert bots.said("b") == [(CHAT_EN, TEXTS["stopped"]["en"])]
    assert bots.fakes["default"].calls() == []


def test_a_kept_update_of_a_deleted_account_is_dropped(bots):
    doomed = sender_account("telegram", "bot-gone", {"token": "444444:GONE", "webhook_secret": "gone"})
    PendingUpdate.objects.create(platform=f"telegram:{doomed.pk}", body=json.dumps(
        tg_command(6701, CHAT_EN, "/start")).encode(), next_try_at=datetime(2026, 1, 1, tzinfo=UTC))
    doomed.delete()

    tasks.retry_pending()

    assert PendingUpdate.objects.count() == 0
    assert Subscription.objects.count() == 0
    assert queued_replies() == []


# ---- management commands ------------------------------------------------------------------


def test_set_webhook_for_an_account_registers_its_path_with_its_secret(bots, settings):
    settings.TACT_PUBLIC_URL = "https://tact.example.com"

    call_command("telegram_set_webhook", "--account", "bot-b")

    webhook = bots.fakes["b"].webhook
    assert (webhook["url"], webhook["secret_token"]) == ("https://tact.example.com/webhooks/telegram/bot-b/", SECRET_B)
    assert bots.fakes["a"].webhook is None and bots.fakes["default"].webhook is None

    # The URL it registered answers Telegram's updates with that secret.
    update = tg_command(6801, CHAT_EN, "/start")
    assert bots.post("/webhooks/telegram/bot-b/", update, webhook["secret_token"]).status_code == 200
    assert statuses(str(CHAT_EN)) == [("bot-b", SUB.OPTED_IN)]

    call_command("telegram_set_webhook", "-", "--delete", "--account", "bot-b")
    assert bots.fakes["b"].webhook is None


def test_set_webhook_refuses_an_unknown_account_or_one_without_a_secret(bots):
    sender_account("telegram", "no-secret", {"token": "555555:NS", "api_url": bots.fakes["b"].root_url})
    with pytest.raises(CommandError, match="no Telegram sender account with the slug 'nobody'"):
        call_command("telegram_set_webhook", "--account", "nobody")
    with pytest.raises(CommandError, match="has no webhook_secret"):
        call_command("telegram_set_webhook", "--account", "no-secret")
    assert all(fake.method_counts() == {} for fake in bots.fakes.values())


def test_polling_an_account_handles_its_updates_for_it(settings):
    subscribed("telegram", str(CHAT_EN), None)
    with PollingTelegram([tg_command(6901, CHAT_EN, "/start"), tg_command(6902, CHAT_RU, "/stop")],
                         token=TOKEN_B) as server:
        settings.TELEGRAM_BOT_TOKEN = DEFAULT_TOKEN  # another bot: its fake would refuse this token
        b = sender_account("telegram", "bot-b", {"token": TOKEN_B, "webhook_secret": SECRET_B,
                                                 "api_url": server.root_url})
        with TestCase.captureOnCommitCallbacks(execute=True):
            call_command("telegram_poll", "--once", "--account", "bot-b")

        assert server.offsets == [None, 6903]
        assert statuses(str(CHAT_EN)) == [(None, SUB.OPTED_IN), ("bot-b", SUB.OPTED_IN)]
        assert not Subscription.objects.filter(address=str(CHAT_RU)).exists()
        assert sorted(InboundEvent.objects.values_list("key", flat=True)) == [
            f"@{b.pk}:update:6901", f"@{b.pk}:update:6902"]
        assert send_replies() == 2
        assert [(c.chat_id, c.text) for c in server.sent()] == [
            (CHAT_EN, TEXTS["welcome"]["en"]), (CHAT_RU, TEXTS["stopped"]["ru"])]


# ---- WhatsApp and Viber accounts ----------------------------------------------------------


@pytest.fixture
def wa_account(live_server, settings) -> Iterator[tuple[str, SenderAccount, FakeWhatsApp]]:
    """A WhatsApp number of its own (on a fake that takes only its token), beside the default
    number's secrets (the environment's)."""
    settings.WHATSAPP_APP_SECRET = WA_DEFAULT_APP_SECRET
    settings.WHATSAPP_VERIFY_TOKEN = WA_DEFAULT_VERIFY
    settings.WHATSAPP_ACCESS_TOKEN = settings.WHATSAPP_PHONE_NUMBER_ID = ""
    with FakeWhatsApp(token=WA_TOKEN) as fake:
        account = sender_account("whatsapp", "wa-vip", {
            "access_token": WA_TOKEN, "phone_number_id": WA_NUMBER_ID, "app_secret": WA_APP_SECRET,
            "verify_token": WA_VERIFY, "api_url": fake.base_url})
        yield live_server.url, account, fake


def test_a_whatsapp_numbers_path_verifies_with_its_own_verify_token(wa_account):
    url, _account, _fake = wa_account
    ok = httpx.get(f"{url}/webhooks/whatsapp/wa-vip/", params=wa.verification_query(WA_VERIFY, "4242"))
    assert (ok.status_code, ok.text) == (200, "4242")
    assert httpx.get(f"{url}/webhooks/whatsapp/wa-vip/",
                     params=wa.verification_query(WA_DEFAULT_VERIFY, "4242")).status_code == 403
    assert httpx.get(f"{url}/webhooks/whatsapp/", params=wa.verification_query(WA_VERIFY, "4242")).status_code == 403
    assert httpx.get(f"{url}/webhooks/whatsapp/wa-nobody/",
                     params=wa.verification_query(WA_VERIFY, "4242")).status_code == 404


def test_a_whatsapp_numbers_stop_and_start_change_only_its_subscription_and_it_answers(wa_account):
    url, account, fake = wa_account
    on_default = subscribed("whatsapp", WA_PHONE, None)
    path = f"{url}/webhooks/whatsapp/wa-vip/"

    # Signed with the default number's app secret: refused, nothing changed.
    before = world()
    body, headers = wa.signed(wa.inbound_text(WA_ID, "START", phone_number_id=WA_NUMBER_ID), WA_DEFAULT_APP_SECRET)
    assert httpx.post(path, content=body, headers=headers).status_code == 403
    assert world() == before

    body, headers = wa.signed(wa.inbound_text(WA_ID, "START", msg_id="wamid.S1", phone_number_id=WA_NUMBER_ID),
                              WA_APP_SECRET)
    assert httpx.post(path, content=body, headers=headers).status_code == 200
    assert statuses(WA_PHONE) == [(None, SUB.OPTED_IN), ("wa-vip", SUB.OPTED_IN)]
    on_vip = Subscription.objects.get(account=account)
    on_default.refresh_from_db()
    assert on_vip.subscriber_id == on_default.subscriber_id
    assert on_vip.last_inbound_at is not None and on_default.last_inbound_at is None  # that number's window
    assert InboundEvent.objects.get().key == f"@{account.pk}:message:wamid.S1"

    body, headers = wa.signed(wa.inbound_text(WA_ID, "STOP", msg_id="wamid.S2", phone_number_id=WA_NUMBER_ID),
                              WA_APP_SECRET)
    assert httpx.post(path, content=body, headers=headers).status_code == 200
    assert statuses(WA_PHONE) == [(None, SUB.OPTED_IN), ("wa-vip", SUB.OPTED_OUT)]

    # Both answers go out from the account's number, with its token.
    assert send_replies() == 2
    assert [(c.phone_number_id, c.wa_id, c.text) for c in fake.sent()] == [
        (WA_NUMBER_ID, WA_ID, TEXTS["wa_started"]["en"]), (WA_NUMBER_ID, WA_ID, TEXTS["wa_stopped"]["en"])]


def test_the_default_whatsapp_path_hands_a_change_to_the_number_it_names(wa_account):
    """Meta posts all of one app's numbers to one URL, naming the number in the metadata."""
    url, account, _fake = wa_account
    subscribed("whatsapp", WA_PHONE, None)
    subscribed("whatsapp", WA_PHONE, account, Subscription.objects.get().subscriber)

    body, headers = wa.signed(wa.user_preferences_payload(WA_ID, "stop", phone_number_id=WA_NUMBER_ID),
                              WA_DEFAULT_APP_SECRET)
    assert httpx.post(f"{url}/webhooks/whatsapp/", content=body, headers=headers).status_code == 200

    assert statuses(WA_PHONE) == [(None, SUB.OPTED_IN), ("wa-vip", SUB.OPTED_OUT)]
    # A number that is none of ours: the path's account (here the default one).
    body, headers = wa.signed(wa.user_preferences_payload(WA_ID, "stop", phone_number_id="999"), WA_DEFAULT_APP_SECRET)
    assert httpx.post(f"{url}/webhooks/whatsapp/", content=body, headers=headers).status_code == 200
    assert statuses(WA_PHONE) == [(None, SUB.OPTED_OUT), ("wa-vip", SUB.OPTED_OUT)]


@pytest.fixture
def vb_account(live_server, settings) -> Iterator[tuple[str, SenderAccount]]:
    settings.VIBER_AUTH_TOKEN = VB_DEFAULT_TOKEN
    with FakeViber(token=VB_TOKEN) as fake:
        account = sender_account("viber", "vb-vip", {"auth_token": VB_TOKEN, "sender_name": VB_SENDER,
                                                    "api_url": fake.base_url})
        yield live_server.url, account


def test_a_viber_bots_path_verifies_with_its_own_token_and_subscribes_to_it(vb_account):
    url, account = vb_account
    path = f"{url}/webhooks/viber/vb-vip/"
    on_default = subscribed("viber", VIBER_ID, None)

    before = world()
    body, headers = vb.signed(vb.subscribed_payload(VIBER_ID, "Anna", "en"), VB_DEFAULT_TOKEN)
    assert httpx.post(path, content=body, headers=headers).status_code == 403
    body, headers = vb.signed(vb.subscribed_payload(VIBER_ID, "Anna", "en"), VB_TOKEN)
    assert httpx.post(f"{url}/webhooks/viber/", content=body, headers=headers).status_code == 403
    assert httpx.post(f"{url}/webhooks/viber/vb-nobody/", content=body, headers=headers).status_code == 404
    assert world() == before

    # Its welcome, written under the account's own sender name.
    body, headers = vb.signed(vb.conversation_started_payload(VIBER_ID, "Anna", language="en"), VB_TOKEN)
    answer = httpx.post(path, content=body, headers=headers)
    assert answer.status_code == 200
    assert answer.json() == {"sender": {"name": VB_SENDER}, "type": "text", "text": TEXTS["viber_welcome"]["en"]}

    token = vb.new_message_token()
    body, headers = vb.signed(vb.subscribed_payload(VIBER_ID, "Anna", "en", message_token=token), VB_TOKEN)
    assert httpx.post(path, content=body, headers=headers).status_code == 200
    assert statuses(VIBER_ID) == [(None, SUB.OPTED_IN), ("vb-vip", SUB.OPTED_IN)]
    assert Subscription.objects.get(account=account).subscriber_id == on_default.subscriber_id
    assert InboundEvent.objects.get().key == f"@{account.pk}:subscribed:{token}:{VIBER_ID}"

    body, headers = vb.signed(vb.unsubscribed_payload(VIBER_ID), VB_TOKEN)
    assert httpx.post(path, content=body, headers=headers).status_code == 200
    assert statuses(VIBER_ID) == [(None, SUB.OPTED_IN), ("vb-vip", SUB.OPTED_OUT)]
    assert queued_replies() == []


# ---- the brand's opt-out by address, imports ------------------------------------------------


@pytest.fixture
def api(admin_client_api):
    admin_client_api.raise_request_exception = False
    return admin_client_api


def test_the_api_opt_out_by_address_stops_every_accounts_subscription(api):
    a = sender_account("telegram", "bot-a", {"token": TOKEN_A, "webhook_secret": SECRET_A})
    b = sender_account("telegram", "bot-b", {"token": TOKEN_B, "webhook_secret": SECRET_B})
    person = SubscriberFactory(language="en")
    on_default, on_a, on_b = (subscribed("telegram", "123456789", account, person) for account in (None, a, b))
    subscribed("telegram", "987654321", a)
    planned = make_delivery(on_b, S.PLANNED)

    response = api.post("/api/opt-out/", {"platform": "telegram", "address": "123456789", "source": "call_center"},
                        format="json")

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["changed"]) == ("opted_out", True)
    assert statuses("123456789") == [(None, SUB.OPTED_OUT), ("bot-a", SUB.OPTED_OUT), ("bot-b", SUB.OPTED_OUT)]
    for subscription in (on_default, on_a, on_b):
        assert subscription.consent_events.order_by("id").last().source == "call_center"
    planned.refresh_from_db()
    assert planned.status == S.SKIPPED
    assert statuses("987654321") == [("bot-a", SUB.OPTED_IN)]

    again = api.post("/api/opt-out/", {"platform": "telegram", "address": "123456789"}, format="json")
    assert (again.status_code, again.json()["changed"]) == (200, False)


def test_the_api_opt_out_of_one_account(api, db_state):
    a = sender_account("telegram", "bot-a", {"token": TOKEN_A, "webhook_secret": SECRET_A})
    sender_account("whatsapp", "wa-vip", {"access_token": WA_TOKEN, "phone_number_id": WA_NUMBER_ID})
    person = SubscriberFactory(language="en")
    subscribed("telegram", "123456789", None, person)
    subscribed("telegram", "123456789", a, person)

    response = api.post("/api/opt-out/", {"platform": "telegram", "address": "123456789", "account": "bot-a"},
                        format="json")

    assert (response.status_code, response.json()["changed"]) == (200, True)
    assert statuses("123456789") == [(None, SUB.OPTED_IN), ("bot-a", SUB.OPTED_OUT)]

    before = db_state()
    for slug in ("nobody", "wa-vip"):  # unknown, or another platform's
        refused = api.post("/api/opt-out/", {"platform": "telegram", "address": "123456789", "account": slug},
                           format="json")
        assert refused.status_code == 400
        assert refused.json() == {"account": [f"no telegram sender account {slug}"]}
    assert db_state() == before


def test_an_import_row_may_name_its_account(api):
    a = sender_account("telegram", "bot-a", {"token": TOKEN_A, "webhook_secret": SECRET_A})
    data = (
        "external_id,name,platform,address,consent_source,consent_text,consent_at,account\n"
        "crm-1,Anna,telegram,123456789,import,Yes,2026-11-01,\n"
        "crm-1,Anna,telegram,123456789,import,Yes,2026-11-01,bot-a\n"
        "crm-2,Boris,telegram,222222,import,Yes,2026-11-01,bot-z\n"
        "crm-1,Anna,telegram,123456789,import,Yes,2026-11-01,bot-a\n"
    ).encode()

    response = api.post("/api/subscribers/import/",
                        {"file": SimpleUploadedFile("s.csv", data, content_type="text/csv")}, format="multipart")

    assert response.status_code == 200
    assert response.json()["created"] == 2
    assert response.json()["errors"] == [
        {"line": 4, "error": "account: no telegram sender account 'bot-z'"},
        {"line": 5, "error": "duplicate telegram address 123456789: already on line 3"},
    ]
    assert statuses("123456789") == [(None, SUB.OPTED_IN), ("bot-a", SUB.OPTED_IN)]
    assert Subscription.objects.get(account=a).subscriber.external_id == "crm-1"
    assert Subscriber.objects.count() == 1

