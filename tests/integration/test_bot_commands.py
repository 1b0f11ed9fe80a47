"""The manage.py commands that connect the Telegram bot: set (or remove) the webhook, and
long polling, which hands each update to the same handler as the webhook."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import TestCase

from campaigns.models import ConsentEvent, Subscription
from channels.inbound import TEXTS
from channels.models import InboundEvent, PendingUpdate
from tests.fakes.http import Answer
from tests.fakes.telegram import FakeTelegram, parse_params
from tests.integration.test_webhooks import (
    CHAT_EN,
    CHAT_RU,
    GROUP,
    KIND,
    QUEUES,
    SUB,
    TG_TOKEN,
    broker,
    queued_replies,
    replies,
    send_replies,
    subscription_on,
    tg_command,
    tg_group_command,
    tg_my_chat_member,
)


class PollingTelegram(FakeTelegram):
    """The fake Bot API with the updates a bot fetches by getUpdates: `updates` waiting
    until a getUpdates with a higher offset confirms them (Bot API, getUpdates)."""

    def __init__(self, updates: list[dict], **kwargs) -> None:
        super().__init__(**kwargs)
        self.updates = list(updates)
        self.offsets: list[int | None] = []  # the offset of each getUpdates, in order
        self._updates_lock = threading.Lock()

    def _answer(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Answer:
        parts = urlsplit(target)
        if not parts.path.endswith("/getUpdates"):
            return super()._answer(method, target, headers, body)
        params = parse_params(parts.query, headers.get("content-type", ""), body)
        offset = int(params["offset"]) if "offset" in params else None
        with self._updates_lock:
            self.offsets.append(offset)
            if offset is not None:
                self.updates = [u for u in self.updates if u["update_id"] >= offset]
            waiting = self.updates[: int(params.get("limit", 100))]
        return Answer(200, json.dumps({"ok": True, "result": waiting}).encode())


@pytest.fixture(autouse=True)
def empty_queues() -> Iterator[None]:
    """No task left from another test in this test's Redis database."""
    broker().delete(*QUEUES)
    yield
    broker().delete(*QUEUES)


@pytest.fixture
def fake():
    with FakeTelegram() as server:
        yield server


def test_set_webhook_registers_the_url_with_the_secret_and_the_updates_we_handle(fake, settings):
    settings.TELEGRAM_BOT_TOKEN = "123456:TEST"
    settings.TELEGRAM_API_URL = fake.base_url
    settings.TELEGRAM_WEBHOOK_SECRET = "s3cret-token_1"

    call_command("telegram_set_webhook", "https://tact.example.com/webhooks/telegram/")

    assert fake.webhook["url"] == "https://tact.example.com/webhooks/telegram/"
    assert fake.webhook["secret_token"] == "s3cret-token_1"
    assert fake.webhook["allowed_updates"] in ('["message", "my_chat_member", "message_reaction_count"]',
                                               ["message", "my_chat_member", "message_reaction_count"])

    call_command("telegram_set_webhook", "-", "--delete")
    assert fake.webhook is None


def test_set_webhook_refuses_without_a_secret_and_calls_nobody(fake, settings):
    settings.TELEGRAM_BOT_TOKEN = "123456:TEST"
    settings.TELEGRAM_API_URL = fake.base_url
    settings.TELEGRAM_WEBHOOK_SECRET = ""

    with pytest.raises(CommandError, match="TELEGRAM_WEBHOOK_SECRET is not set"):
        call_command("telegram_set_webhook", "https://tact.example.com/webhooks/telegram/")
    assert fake.method_counts() == {}


def test_polling_refuses_without_a_token(settings):
    settings.TELEGRAM_BOT_TOKEN = ""
    with pytest.raises(CommandError, match="TELEGRAM_BOT_TOKEN is not set"):
        call_command("telegram_poll")


@pytest.fixture
def polling(settings) -> Iterator[PollingTelegram]:
    updates = [
        tg_command(9001, CHAT_RU, "/stop"),
        tg_group_command(9002, GROUP, "/start", "supergroup"),
        tg_command(9003, CHAT_EN, "/start promo"),
        tg_my_chat_member(9004, CHAT_RU, "kicked"),
    ]
    with PollingTelegram(updates) as server:
        settings.TELEGRAM_BOT_TOKEN = TG_TOKEN
        settings.TELEGRAM_API_URL = server.base_url
        yield server


@pytest.mark.django_db
def test_polling_hands_each_update_to_the_webhooks_handler_and_confirms_them(polling):
    subscription = subscription_on("telegram", str(CHAT_RU), language="ru")
    polling.webhook = {"url": "https://old.example.com/webhooks/telegram/"}

    with TestCase.captureOnCommitCallbacks(execute=True):
        call_command("telegram_poll", "--once")

    assert polling.webhook is None  # getUpdates is refused while a webhook is set
    subscription.refresh_from_db()
    assert subscription.status == SUB.OPTED_OUT  # /stop, then the block changes nothing more
    assert list(subscription.consent_events.values_list("kind", "status", "source")) == [
        (KIND.OPT_IN, SUB.OPTED_IN, "test"), (KIND.OPT_OUT, SUB.OPTED_OUT, "telegram_stop"),
    ]
    new = Subscription.objects.get(address=str(CHAT_EN))
    assert new.status == SUB.OPTED_IN
    assert ConsentEvent.objects.get(subscription=new).evidence["payload"] == "promo"
    assert not Subscription.objects.filter(address=str(GROUP)).exists()  # a group subscribes nobody
    assert sorted(InboundEvent.objects.values_list("key", flat=True)) == ["update:9001", "update:9003", "update:9004"]
    assert PendingUpdate.objects.count() == 0
    # Handled, then confirmed to Telegram with the next offset; replies only from the queue.
    assert polling.offsets == [None, 9005]
    assert polling.updates == []
    assert polling.calls() == []
    assert send_replies() == 2
    assert replies(polling) == [(CHAT_RU, TEXTS["stopped"]["ru"]), (CHAT_EN, TEXTS["welcome"]["en"])]


@pytest.mark.django_db
def test_polling_with_nothing_waiting_changes_nothing(settings):
    with PollingTelegram([]) as server:
        settings.TELEGRAM_BOT_TOKEN = TG_TOKEN
        settings.TELEGRAM_API_URL = server.base_url

        call_command("telegram_poll", "--once")

        assert server.offsets == [None]
    assert (Subscription.objects.count(), InboundEvent.objects.count(), PendingUpdate.objects.count()) == (0, 0, 0)
    assert queued_replies() == []
