"""The manage.py commands that connect the Telegram bot: set (or remove) the webhook."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.fakes.telegram import FakeTelegram


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
    assert fake.webhook["allowed_updates"] in ('["message", "my_chat_member"]', ["message", "my_chat_member"])

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
