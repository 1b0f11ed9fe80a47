"""The fake Telegram server (tests/fakes/telegram.py) driven by a real python-telegram-bot Bot.

No database: these only need the loopback network.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message
from telegram.error import (
    BadRequest,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)

from channels.base import AccountRefused, OutboundMessage, TemporaryFailure, Uncertain
from channels.telegram import TelegramChannel
from tests.fakes.http import CUT_BODY, free_port
from tests.fakes.telegram import FakeTelegram, FaultConfig, RemoteFakeTelegram, max_in_any_window

# RetryAfter warns on its own retry_after access in PTB 22 unless PTB_TIMEDELTA is set.
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

TOKEN = "123456:TEST-token"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram() as server:
        yield server


def send(fake: FakeTelegram | RemoteFakeTelegram, **kwargs: object) -> Message:
    """One Bot, one event loop, one send_message, as a Celery task would do it."""

    async def go() -> Message:
        async with Bot(TOKEN, base_url=fake.base_url) as bot:
            return await bot.send_message(**kwargs)  # type: ignore[arg-type]

    return asyncio.run(go())


def retry_after_seconds(exc: RetryAfter) -> float:
    # PTB 22 gives an int, or a timedelta when PTB_TIMEDELTA=true.
    value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def test_send_message_is_answered_with_a_message_and_recorded(fake: FakeTelegram) -> None:
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Open", url="https://example.com/offer")]])
    before_mono, before_wall = time.monotonic(), time.time()

    message = send(fake, chat_id=42, text="Привет, скидка 20% 👍", reply_markup=markup)

    after_mono, after_wall = time.monotonic(), time.time()
    assert message.message_id == 1
    assert message.chat.id == 42
    assert message.chat.type == "private"
    assert message.text == "Привет, скидка 20% 👍"
    assert message.reply_markup == markup
    [call] = fake.calls()
    assert call.chat_id == 42
    assert call.text == "Привет, скидка 20% 👍"
    assert call.reply_markup == {"inline_keyboard": [[{"text": "Open", "url": "https://example.com/offer"}]]}
    assert (call.status, call.outcome, call.message_id, call.description) == (200, "ok", 1, None)
    assert before_mono <= call.monotonic <= after_mono
    assert before_wall <= call.wall <= after_wall
    assert fake.sent() == [call]
    assert fake.count_by_chat() == {42: 1}
    assert fake.method_counts() == {"getme": 1, "sendmessage": 1}


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("blocked", "Forbidden: bot was blocked by the user"),
        ("deactivated", "Forbidden: user is deactivated"),
        ("cant_initiate", "Forbidden: bot can't initiate conversation with a user"),
    ],
)
def test_forbidden_chats_raise_forbidden_and_are_not_sent(fake: FakeTelegram, rule: str, message: str) -> None:
    fake.configure(chat_rules={7: rule})

    with pytest.raises(Forbidden) as raised:
        send(fake, chat_id=7, text="hi")

    assert raised.value.message == message
    [call] = fake.calls()
    assert (call.chat_id, call.status, call.outcome, call.description) == (7, 403, rule, message)
    assert fake.sent() == []
    assert fake.count_by_chat() == {}
    assert fake.count_by_chat(delivered_only=False) == {7: 1}


def test_unknown_chat_raises_bad_request_chat_not_found(fake: FakeTelegram) -> None:
    fake.configure(chat_rules={8: "not_found"})

    with pytest.raises(BadRequest) as raised:
        send(fake, chat_id=8, text="hi")

    # PTB strips "Bad Request: " and capitalizes the rest.
    assert raised.value.message == "Chat not found"
    assert [(c.status, c.description) for c in fake.calls()] == [(400, "Bad Request: chat not found")]
    assert fake.sent() == []


def test_forced_429_raises_retry_after_with_the_configured_delay(fake: FakeTelegram) -> None:
    fake.configure(rate_429=1.0, retry_after=7)

    with pytest.raises(RetryAfter) as raised:
        send(fake, chat_id=9, text="hi")

    assert retry_after_seconds(raised.value) == 7
    [call] = fake.calls()
    assert (call.status, call.outcome, call.retry_after) == (429, "flood", 7)
    assert call.description == "Too Many Requests: retry after 7"
    assert fake.sent() == []


def test_bad_gateway_raises_plain_network_error(fake: FakeTelegram) -> None:
    fake.configure(rate_5xx=1.0)

    with pytest.raises(NetworkError) as raised:
        send(fake, chat_id=10, text="hi")

    assert type(raised.value) is NetworkError  # not BadRequest or TimedOut
    assert raised.value.message == "Bad Gateway"
    assert [(c.status, c.outcome) for c in fake.calls()] == [(502, "bad_gateway")]
    assert fake.sent() == []


def test_disconnect_closes_the_connection_without_an_answer(fake: FakeTelegram) -> None:
    fake.configure(chat_rules={14: "disconnect"})

    with pytest.raises(NetworkError) as raised:
        send(fake, chat_id=14, text="hi")

    assert type(raised.value) is NetworkError
    assert [(c.status, c.outcome) for c in fake.calls()] == [(0, "disconnect")]
    assert fake.sent() == []


def test_the_wire_answer_of_an_error_is_bot_api_json(fake: FakeTelegram) -> None:
    fake.configure(chat_rules={11: "flood"}, retry_after=3)

    flood = httpx.post(f"{fake.base_url}{TOKEN}/sendMessage", data={"chat_id": "11", "text": "x"})
    unknown = httpx.post(f"{fake.base_url}{TOKEN}/noSuchMethod", data={})

    assert flood.status_code == 429
    assert flood.json() == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 3",
        "parameters": {"retry_after": 3},
    }
    assert unknown.status_code == 404
    assert unknown.json() == {"ok": False, "error_code": 404, "description": "Not Found"}


def test_unknown_method_raises_endpoint_not_found(fake: FakeTelegram) -> None:
    async def go() -> None:
        async with Bot(TOKEN, base_url=fake.base_url) as bot:
            await bot.do_api_request("no_such_method")

    with pytest.raises(EndPointNotFound):
        asyncio.run(go())

    assert fake.method_counts() == {"getme": 1, "nosuchmethod": 1}
    assert fake.calls() == []


def test_json_and_multipart_bodies_are_parsed_like_form_bodies(fake: FakeTelegram) -> None:
    markup = {"inline_keyboard": [[{"text": "Go", "url": "https://example.com"}]]}

    as_json = httpx.post(
        f"{fake.base_url}{TOKEN}/sendMessage", json={"chat_id": 21, "text": "json", "reply_markup": markup}
    )
    as_multipart = httpx.post(
        f"{fake.base_url}{TOKEN}/sendMessage",
        data={"chat_id": "22", "text": "multi", "reply_markup": json.dumps(markup)},
        files={"unused": ("a.txt", b"bytes")},
    )

    assert as_json.json()["result"]["chat"] == {"id": 21, "type": "private", "first_name": "User 21"}
    assert as_multipart.json()["ok"] is True
    assert [(c.chat_id, c.text, c.reply_markup) for c in fake.sent()] == [(21, "json", markup), (22, "multi", markup)]


def test_text_longer_than_4096_utf16_units_is_refused(fake: FakeTelegram) -> None:
    thumbs = "\U0001f44d"  # outside the BMP: two UTF-16 code units

    send(fake, chat_id=12, text=thumbs * 2048)  # 4096 units
    with pytest.raises(BadRequest) as raised:
        send(fake, chat_id=12, text=thumbs * 2048 + "x")  # 4097 units

    assert raised.value.message == "Message is too long"
    assert [c.outcome for c in fake.calls()] == ["ok", "too_long"]


def test_queued_outcomes_apply_once_each_then_the_chat_works(fake: FakeTelegram) -> None:
    fake.configure(queued={5: ["flood", "bad_gateway"]}, retry_after=2)

    with pytest.raises(RetryAfter):
        send(fake, chat_id=5, text="a")
    with pytest.raises(NetworkError):
        send(fake, chat_id=5, text="b")
    message = send(fake, chat_id=5, text="c")

    assert message.text == "c"
    assert [c.outcome for c in fake.calls()] == ["flood", "bad_gateway", "ok"]
    assert [c.text for c in fake.sent()] == ["c"]

    fake.reset()  # the queue starts over, the recordings go

    assert fake.calls() == []
    with pytest.raises(RetryAfter):
        send(fake, chat_id=5, text="again")


def test_ceiling_answers_429_with_retry_after_1_beyond_n_per_second(fake: FakeTelegram) -> None:
    fake.configure(ceiling=3)

    async def burst() -> list[Message | BaseException]:
        async with Bot(TOKEN, base_url=fake.base_url) as bot:
            sends = [bot.send_message(chat_id=100 + i, text=f"m{i}") for i in range(5)]
            return await asyncio.gather(*sends, return_exceptions=True)

    results = asyncio.run(burst())

    refused = [r for r in results if isinstance(r, RetryAfter)]
    assert len([r for r in results if isinstance(r, Message)]) == 3
    assert [retry_after_seconds(r) for r in refused] == [1, 1]
    assert sorted(c.outcome for c in fake.calls()) == ["ceiling", "ceiling", "ok", "ok", "ok"]
    assert fake.max_in_any_window(delivered_only=True) == 3
    assert fake.max_in_any_window() == 5


def test_random_faults_repeat_for_the_same_seed(fake: FakeTelegram) -> None:
    fake.configure(rate_429=0.2, rate_5xx=0.1, seed=3)

    def outcomes() -> list[tuple[int, int]]:
        with httpx.Client(base_url=fake.url) as client:
            for chat_id in range(1, 301):
                client.post(f"/bot{TOKEN}/sendMessage", data={"chat_id": chat_id, "text": "x"})
        return [(c.chat_id, c.status) for c in fake.calls()]

    first = outcomes()
    fake.reset()
    second = outcomes()

    assert first == second
    statuses = [status for _, status in first]
    assert {200, 429, 502} == set(statuses)
    assert len(fake.sent()) == statuses.count(200)


def test_slow_chat_times_out_the_client_but_the_message_was_delivered(fake: FakeTelegram) -> None:
    fake.configure(slow_chats={13}, slow_latency=1.0)

    async def go() -> None:
        async with Bot(TOKEN, base_url=fake.base_url) as bot:
            await bot.send_message(chat_id=13, text="late", read_timeout=0.2)

    with pytest.raises(TimedOut):
        asyncio.run(go())

    # Telegram's "uncertain" case: no answer reached the sender, yet the user has the message.
    assert [(c.chat_id, c.status) for c in fake.sent()] == [(13, 200)]


def test_max_in_any_window_counts_a_half_open_window_exactly() -> None:
    times = [1.75, 0.0, 0.25, 0.5, 0.75, 1.0, 3.0]  # unsorted on purpose

    # [0, 1) holds 0, .25, .5, .75 but not 1.0; [0.25, 1.25) holds .25, .5, .75, 1.0.
    assert max_in_any_window(times) == 4
    # [0.75, 1.75) holds .75 and 1.0 but not 1.75; [0, .5) holds 0 and .25.
    assert max_in_any_window(times, seconds=0.5) == 2
    assert max_in_any_window(times, seconds=3.0) == 6  # [0, 3) leaves out 3.0
    assert max_in_any_window([], seconds=1.0) == 0
    assert max_in_any_window([5.0, 5.0, 5.0]) == 3


def test_wait_for_sent_returns_once_enough_messages_arrived(fake: FakeTelegram) -> None:
    assert fake.wait_for_sent(1, timeout=0.05) is False

    send(fake, chat_id=1, text="one")

    assert fake.wait_for_sent(1, timeout=5) is True


def test_command_line_fake_is_configured_and_read_over_http_and_dumps_on_sigterm(tmp_path: Path) -> None:
    dump = tmp_path / "calls.json"
    command = [sys.executable, "-m", "tests.fakes.telegram", "--port", "0", "--dump", str(dump)]
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline().strip()
            assert line.startswith("FAKE_TELEGRAM_URL=http://127.0.0.1:")
            remote = RemoteFakeTelegram(line.partition("=")[2])
            config = remote.configure(chat_rules={31: "blocked"})
            assert config["chat_rules"] == {"31": "blocked"}

            send(remote, chat_id=30, text="to 30")
            with pytest.raises(Forbidden):
                send(remote, chat_id=31, text="to 31")

            assert [(c.chat_id, c.status) for c in remote.calls()] == [(30, 200), (31, 403)]
            assert remote.count_by_chat() == {30: 1}
            assert (remote.stats()["calls"], remote.stats()["sent"]) == (2, 1)
            remote.close()
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=10)

    assert process.returncode == 0
    dumped = json.loads(dump.read_text())
    assert [(c["chat_id"], c["text"], c["status"]) for c in dumped["calls"]] == [(30, "to 30", 200), (31, "to 31", 403)]
    assert dumped["stats"]["sent"] == 1


# ---- platform failures: lost answers, a revoked token, a server not there yet ----------


def test_a_lost_answer_is_a_502_to_the_client_but_the_message_was_delivered(fake: FakeTelegram) -> None:
    fake.configure(lose_next=1)

    with pytest.raises(NetworkError) as raised:
        send(fake, chat_id=40, text="taken")
    message = send(fake, chat_id=41, text="answered")

    assert type(raised.value) is NetworkError
    assert raised.value.message.startswith("Bad Gateway (502). Parsing the server response b'<html>")
    assert message.message_id == 2
    taken, answered = fake.calls()
    assert (taken.chat_id, taken.status, taken.outcome, taken.message_id, taken.lost_answer) == (40, 502, "ok", 1, "502")
    assert (answered.status, answered.lost_answer) == (200, None)
    assert taken.delivered
    assert [c.chat_id for c in fake.sent()] == [40, 41]
    assert fake.stats()["lost_answers"] == {"502": 1}


@pytest.mark.parametrize(("how", "error"), [("reset", httpx.ReadError), ("close", httpx.RemoteProtocolError)])
def test_a_lost_answer_can_be_a_reset_or_a_closed_connection(fake: FakeTelegram, how: str, error: type) -> None:
    fake.configure(lose_next=2, lost_answer=how)

    with httpx.Client(base_url=fake.url) as client:
        for chat_id in (50, 51):
            with pytest.raises(error):
                client.post(f"/bot{TOKEN}/sendMessage", data={"chat_id": chat_id, "text": "x"})
        answered = client.post(f"/bot{TOKEN}/sendMessage", data={"chat_id": 52, "text": "x"})

    assert answered.status_code == 200
    assert [(c.chat_id, c.status, c.lost_answer) for c in fake.calls()] == [(50, 0, how), (51, 0, how), (52, 200, None)]
    assert [c.chat_id for c in fake.sent()] == [50, 51, 52]


def test_every_nth_taken_message_loses_its_answer_and_reset_starts_over(fake: FakeTelegram) -> None:
    fake.configure(lose_every=3, chat_rules={99: "blocked"})

    def statuses() -> list[int]:
        with httpx.Client(base_url=fake.url) as client:
            for chat_id in (1, 99, 2, 3, 4, 5, 6, 7):  # 99 is refused: not taken, not counted
                client.post(f"/bot{TOKEN}/sendMessage", data={"chat_id": chat_id, "text": "x"})
        return [c.status for c in fake.calls()]

    assert statuses() == [200, 403, 200, 502, 200, 200, 502, 200]
    assert len(fake.sent()) == 7
    fake.reset()
    assert statuses() == [200, 403, 200, 502, 200, 200, 502, 200]


def test_a_cut_answer_sends_the_head_and_half_the_body_then_resets(fake: FakeTelegram) -> None:
    fake.configure(lose_next=1, lost_answer="cut")

    body = b"chat_id=60&text=x"
    with socket.create_connection((fake.host, fake.port), timeout=10) as sock:
        sock.sendall(f"POST /bot{TOKEN}/sendMessage HTTP/1.1\r\nHost: fake\r\nContent-Type: application/"
                     f"x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
        received = b""
        with pytest.raises(ConnectionResetError):
            while chunk := sock.recv(65536):
                received += chunk

    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert f"Content-Length: {len(CUT_BODY)}".encode() in head
    assert body == CUT_BODY[:len(CUT_BODY) // 2]
    assert [(c.chat_id, c.lost_answer) for c in fake.sent()] == [(60, "cut")]


def test_kept_connections_are_counted_and_closed_once_idle_past_the_keepalive_timeout(fake: FakeTelegram) -> None:
    fake.configure(keepalive_timeout=0.3)

    with httpx.Client(base_url=fake.url) as client:
        for chat_id in (61, 62, 63):  # one kept connection
            assert client.post(f"/bot{TOKEN}/sendMessage", data={"chat_id": chat_id, "text": "x"}).status_code == 200
        opened_while_busy = fake.connections_opened()
        time.sleep(0.8)  # the fake closes it; httpx sees that and opens another
        assert client.post(f"/bot{TOKEN}/sendMessage", data={"chat_id": 64, "text": "x"}).status_code == 200

    assert (opened_while_busy, fake.connections_opened()) == (1, 2)
    fake.reset()
    assert fake.connections_opened() == 0


def test_the_adapter_reads_a_lost_answer_as_uncertain_and_nothing_else(fake: FakeTelegram) -> None:
    fake.configure(lose_every=2, lost_answer="reset")
    session = TelegramChannel(TOKEN, fake.base_url, max_in_flight=1).open()  # one connection: arrival in order

    outcomes = session.send([OutboundMessage(i, str(100 + i), f"m{i}") for i in range(1, 5)])
    session.close()

    assert [o.sent for o in outcomes] == [True, False, True, False]
    assert [type(o.error) for o in outcomes if o.error] == [Uncertain, Uncertain]
    assert outcomes[1].error.reason == ("no answer from Telegram; it may have been sent "
                                        "(ReadError: ConnectionResetError(104, 'Connection reset by peer'))")
    assert sorted(c.chat_id for c in fake.sent()) == [101, 102, 103, 104]  # all four were delivered


def test_a_revoked_token_answers_401_to_everything_until_restored(fake: FakeTelegram) -> None:
    session = TelegramChannel(TOKEN, fake.base_url).open()
    fake.configure(token_revoked=True)

    [refused] = session.send([OutboundMessage(1, "7", "hi")])
    with pytest.raises(InvalidToken):
        send(fake, chat_id=7, text="hi")
    with pytest.raises(AccountRefused) as cannot_open:
        TelegramChannel(TOKEN, fake.base_url).open()
    raw = httpx.post(f"{fake.base_url}{TOKEN}/sendMessage", data={"chat_id": "7", "text": "x"})
    fake.configure(token_revoked=False)
    [restored] = session.send([OutboundMessage(2, "7", "hi again")])
    session.close()

    assert (raw.status_code, raw.json()) == (401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
    assert type(refused.error) is AccountRefused
    assert refused.error.reason == "Telegram refused the bot token: Unauthorized"
    assert cannot_open.value.reason == "Telegram refused the bot token: Unauthorized"
    assert restored.sent
    assert [(c.chat_id, c.text) for c in fake.calls()] == [(7, "hi again")]  # nothing else was recorded


def test_a_fake_made_with_a_port_is_unreachable_until_started_on_it() -> None:
    fake = FakeTelegram(port=free_port())
    url = fake.base_url

    with pytest.raises(TemporaryFailure) as unreachable:
        TelegramChannel(TOKEN, url).open()
    fake.start()
    try:
        session = TelegramChannel(TOKEN, url).open()
        [outcome] = session.send([OutboundMessage(1, "8", "now")])
        session.close()
    finally:
        fake.stop()

    assert unreachable.value.reason.startswith("Telegram not reached: ConnectError:")
    assert fake.base_url == url
    assert outcome.platform_message_id == "1"
    assert [c.chat_id for c in fake.sent()] == [8]


def test_a_stopped_fake_starts_again_on_the_same_port_with_its_recordings(fake: FakeTelegram) -> None:
    send(fake, chat_id=1, text="before")
    url = fake.base_url

    fake.stop()
    with pytest.raises(NetworkError) as down:
        send(fake, chat_id=2, text="while down")
    fake.start()
    send(fake, chat_id=3, text="after")

    assert down.value.message.startswith("httpx.ConnectError")
    assert fake.base_url == url
    assert [c.text for c in fake.sent()] == ["before", "after"]


def test_the_root_url_is_the_base_url_without_bot(fake: FakeTelegram) -> None:
    message = send_via(fake.root_url + "/bot", chat_id=5, text="root")

    assert fake.base_url == fake.root_url + "/bot"
    assert fake.root_url == fake.url
    assert message.chat.id == 5


def send_via(base_url: str, **kwargs: object) -> Message:
    async def go() -> Message:
        async with Bot(TOKEN, base_url=base_url) as bot:
            return await bot.send_message(**kwargs)  # type: ignore[arg-type]

    return asyncio.run(go())


def test_loss_settings_are_checked_and_remote_configurable() -> None:
    with pytest.raises(ValueError, match="lost_answer"):
        FaultConfig(lost_answer="timeout")
    with pytest.raises(ValueError, match="lose_every"):
        FaultConfig(lose_every=0)
    assert FaultConfig().updated({"lose_next": 2, "lost_answer": "reset", "token_revoked": True}) == FaultConfig(
        lose_next=2, lost_answer="reset", token_revoked=True
    )
