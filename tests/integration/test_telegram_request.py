"""StreamRequest (channels/telegram_http.py), python-telegram-bot's lean request layer, over
real HTTP against the fake Telegram server: kept connections, a server closing idle ones,
answers lost or cut, slow answers, uploads, and errors in our terms as HTTPXRequest's are."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time

import pytest
from telegram import Bot, InputFile
from telegram.error import TelegramError
from telegram.request import HTTPXRequest

from channels import telegram
from channels.base import (
    AccountRefused,
    OutboundMessage,
    RateLimited,
    RecipientGone,
    TemporaryFailure,
    Uncertain,
)
from channels.telegram_http import StreamRequest, request_for
from tests.fakes.http import free_port
from tests.fakes.telegram import FakeTelegram

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

TOKEN = "123456:AAE-secret_Token"
TEXT = "−30% on everything today only\nDetails inside…"


@pytest.fixture
def fake():
    with FakeTelegram() as server:
        yield server


def session(fake: FakeTelegram, *, timeout: float = 5.0, max_in_flight: int = 10) -> telegram.TelegramSession:
    return telegram.TelegramChannel(TOKEN, fake.base_url, max_in_flight=max_in_flight, timeout=timeout).open()


def messages(*chats: int, text: str = TEXT) -> list[OutboundMessage]:
    return [OutboundMessage(i + 1, str(chat), text) for i, chat in enumerate(chats)]


def test_the_telegram_session_sends_through_stream_request(fake: FakeTelegram) -> None:
    s = session(fake)
    try:
        assert isinstance(s._bot.request, StreamRequest)  # noqa: SLF001  which layer carries the calls
        outcomes = s.send(messages(11, 12, 13))
    finally:
        s.close()

    assert [o.error for o in outcomes] == [None, None, None]
    assert [o.platform_message_id for o in outcomes] == ["1", "2", "3"]
    assert sorted((c.chat_id, c.text) for c in fake.sent()) == [(11, TEXT), (12, TEXT), (13, TEXT)]


def test_messages_go_over_kept_connections_no_more_than_the_pool_allows(fake: FakeTelegram) -> None:
    fake.configure(latency=0.01)
    s = session(fake, max_in_flight=4)
    try:
        for start in range(0, 40, 10):  # four chunks of ten, four at a time
            outcomes = s.send(messages(*range(100 + start, 110 + start)))
            assert all(o.error is None for o in outcomes)
    finally:
        s.close()

    assert len(fake.sent()) == 40
    assert len({c.chat_id for c in fake.sent()}) == 40
    assert fake.connections_opened() <= 4  # getMe's connection kept, at most four in all


def test_a_connection_the_server_closed_while_idle_is_not_written_to(fake: FakeTelegram) -> None:
    fake.configure(keepalive_timeout=0.2)
    s = session(fake)
    try:
        first = s.send(messages(21))
        time.sleep(0.6)  # the fake closes the kept connection meanwhile
        second = s.send(messages(22))
    finally:
        s.close()

    assert [o.error for o in first + second] == [None, None]
    assert [c.chat_id for c in fake.sent()] == [21, 22]
    assert fake.connections_opened() == 2  # the closed one was dropped, a new one opened


@pytest.mark.parametrize("how", ["reset", "close", "cut", "502"])
def test_an_answer_lost_after_the_message_was_taken_is_uncertain_and_the_next_message_goes(
        fake: FakeTelegram, how: str) -> None:
    fake.configure(lose_next=1, lost_answer=how)
    s = session(fake)
    try:
        lost = s.send(messages(31))
        after = s.send(messages(32))
    finally:
        s.close()

    assert type(lost[0].error) is Uncertain
    assert lost[0].error.reason.startswith("no answer from Telegram; it may have been sent")
    assert after[0].error is None
    assert [(c.chat_id, c.lost_answer) for c in fake.sent()] == [(31, how), (32, None)]


def test_a_slow_answer_times_out_as_uncertain(fake: FakeTelegram) -> None:
    s = session(fake, timeout=0.3)
    fake.configure(slow_chats=[41], slow_latency=1.0)
    try:
        outcomes = s.send(messages(41, 42))
    finally:
        s.close()

    assert type(outcomes[0].error) is Uncertain
    assert "Read timeout" in outcomes[0].error.reason
    assert outcomes[1].error is None
    assert sorted(c.chat_id for c in fake.sent()) == [41, 42]  # the slow one was taken: never sent again


def test_nothing_listening_is_not_reached_and_safe_to_send_again() -> None:
    fake = FakeTelegram(port=free_port())  # not started: nothing listens there
    with pytest.raises(TemporaryFailure) as raised:
        telegram.TelegramChannel(TOKEN, fake.base_url, timeout=2.0).open()

    assert raised.value.reason.startswith("Telegram not reached: ConnectError:")


def test_a_server_gone_between_messages_is_not_reached(fake: FakeTelegram) -> None:
    s = session(fake)
    try:
        assert s.send(messages(51))[0].error is None
        fake.stop()  # closes its connections; nothing listens any more
        outcome = s.send(messages(52))[0]
    finally:
        s.close()

    assert type(outcome.error) is TemporaryFailure
    assert outcome.error.reason.startswith("Telegram not reached: ConnectError:")
    assert [c.chat_id for c in fake.sent()] == [51]


def test_a_full_pool_past_its_timeout_is_not_reached(fake: FakeTelegram) -> None:
    fake.configure(slow_chats=[61], slow_latency=0.6)

    async def go() -> list[object]:
        request = StreamRequest(connection_pool_size=1, pool_timeout=0.1, read_timeout=5)
        async with Bot(TOKEN, base_url=fake.base_url, request=request) as bot:
            return await asyncio.gather(bot.send_message(61, TEXT), bot.send_message(62, TEXT),
                                        return_exceptions=True)

    slow, waited = asyncio.run(go())

    assert not isinstance(slow, BaseException)
    assert isinstance(waited, TelegramError)
    error = telegram.error_from(waited)
    assert type(error) is TemporaryFailure
    assert error.reason.startswith("Telegram not reached: Pool timeout:")
    assert [c.chat_id for c in fake.sent()] == [61]


def test_a_revoked_token_refuses_the_account_only(fake: FakeTelegram) -> None:
    s = session(fake)
    try:
        fake.configure(token_revoked=True)
        outcomes = s.send(messages(71, 72))
    finally:
        s.close()

    assert [type(o.error) for o in outcomes] == [AccountRefused, AccountRefused]
    assert outcomes[0].error.reason == "Telegram refused the bot token: Unauthorized"
    assert fake.sent() == []


def send_with(request_class: type, fake: FakeTelegram, chat: int) -> tuple[type, str]:
    """The error in our terms that one sendMessage to `chat` comes back with, through `request_class`."""

    async def go() -> None:
        async with Bot(TOKEN, base_url=fake.base_url, request=request_class(connection_pool_size=2)) as bot:
            await bot.send_message(chat, TEXT)

    with pytest.raises(TelegramError) as raised:
        asyncio.run(go())
    error = telegram.error_from(raised.value)
    return type(error), error.reason


@pytest.mark.parametrize(("rule", "kind"), [
    ("blocked", RecipientGone), ("deactivated", RecipientGone), ("not_found", RecipientGone),
    ("flood", RateLimited), ("internal", Uncertain), ("bad_gateway", Uncertain),
])
def test_telegram_errors_come_back_as_they_do_through_httpx(fake: FakeTelegram, rule: str, kind: type) -> None:
    fake.configure(chat_rules={81: rule})

    through_streams = send_with(StreamRequest, fake, 81)
    through_httpx = send_with(HTTPXRequest, fake, 81)

    assert through_streams == through_httpx
    assert through_streams[0] is kind
    assert len(fake.calls()) == 2


@pytest.mark.parametrize("how", ["reset", "close", "cut"])
def test_transport_failures_are_uncertain_as_through_httpx(fake: FakeTelegram, how: str) -> None:
    fake.configure(lose_every=1, lost_answer=how)

    assert send_with(StreamRequest, fake, 91)[0] is Uncertain
    assert send_with(HTTPXRequest, fake, 92)[0] is Uncertain
    assert [c.chat_id for c in fake.sent()] == [91, 92]


def test_an_upload_goes_through_httpx_multipart_whole(fake: FakeTelegram) -> None:
    photo = os.urandom(3 * 1024 * 1024)

    async def go() -> tuple[str, str]:
        async with Bot(TOKEN, base_url=fake.base_url, request=StreamRequest(connection_pool_size=2)) as bot:
            sent = await bot.send_photo(101, InputFile(photo, filename="offer.jpg"), caption="Offer")
            again = await bot.send_photo(102, sent.photo[-1].file_id, caption="Offer")  # by file_id: no upload
            return sent.photo[-1].file_id, again.photo[-1].file_id

    first, second = asyncio.run(go())

    assert first == second
    assert hashlib.sha256(fake.uploaded_file(first)).digest() == hashlib.sha256(photo).digest()
    assert [(c.chat_id, c.text) for c in fake.sent()] == [(101, "Offer"), (102, "Offer")]


def test_a_proxy_in_the_environment_keeps_httpx(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)

    assert isinstance(request_for("https://api.telegram.org/bot"), HTTPXRequest)
    monkeypatch.setenv("NO_PROXY", "api.telegram.org")
    assert isinstance(request_for("https://api.telegram.org/bot"), StreamRequest)


def test_a_call_to_another_origin_goes_through_httpx(fake: FakeTelegram) -> None:
    with FakeTelegram() as other:

        async def go() -> None:
            request = StreamRequest(connection_pool_size=2)
            async with Bot(TOKEN, base_url=fake.base_url, request=request) as bot:
                await bot.send_message(111, TEXT)
                elsewhere = Bot(TOKEN, base_url=other.base_url, request=request)  # e.g. base_file_url's host
                await elsewhere.send_message(112, TEXT)
                assert request._other is not None  # noqa: SLF001  PTB's HTTPXRequest carried it

        asyncio.run(go())

        assert [c.chat_id for c in other.sent()] == [112]
    assert [c.chat_id for c in fake.sent()] == [111]
