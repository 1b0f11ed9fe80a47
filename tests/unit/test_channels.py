"""Vendor errors in our terms, and inbound keywords: no network.

Telegram's errors are the ones python-telegram-bot 22 itself raises, and the WhatsApp and
Viber sessions run their real code: all over an httpx.MockTransport that answers (or fails)
the way the platform or the network would.
"""

from __future__ import annotations

import asyncio
import json
import runpy
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from telegram import Bot
from telegram.error import InvalidToken, TelegramError
from telegram.request import HTTPXRequest

from channels import telegram, viber, whatsapp
from channels.base import (
    AccountRefused,
    OutboundMessage,
    PermanentFailure,
    RateLimited,
    RecipientGone,
    RecipientLimited,
    TemporaryFailure,
    Uncertain,
    WindowClosed,
)
from channels.inbound import START_WORDS, STOP_WORDS, keyword
from tests.fakes.telegram import FakeTelegram

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

Answer = Callable[[httpx.Request], httpx.Response]

TOKEN = "123456:AAE-secret_Token"
BOT_USER = {"id": 123456, "is_bot": True, "first_name": "Shop", "username": "shop_bot"}
SETTINGS = Path(__file__).resolve().parents[2] / "config" / "settings.py"
NGINX_502 = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
POOL_TIMEOUT = (
    "Pool timeout: All connections in the connection pool are occupied. Request was *not* sent to "
    "Telegram. Consider adjusting the connection pool size or the pool timeout."
)


def answers(status: int, body: dict | bytes) -> Answer:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return lambda request: httpx.Response(status, content=content)


def fails(exc_class: type[httpx.TransportError]) -> Answer:
    def answer(request: httpx.Request) -> httpx.Response:
        raise exc_class("simulated", request=request)

    return answer


# ---- Telegram -----------------------------------------------------------------------


def bot_api_error(status: int, description: str, **parameters: object) -> Answer:
    body: dict[str, object] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return answers(status, body)


def ptb_error(answer: Answer) -> TelegramError:
    """What PTB 22 raises from send_message when getMe works and sendMessage gets `answer`."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/getMe"):
            return httpx.Response(200, json={"ok": True, "result": BOT_USER})
        return answer(request)

    async def go() -> None:
        request = HTTPXRequest(httpx_kwargs={"transport": httpx.MockTransport(handler)})
        async with Bot(TOKEN, request=request) as bot:
            await bot.send_message(chat_id=42, text="hi")

    with pytest.raises(TelegramError) as raised:
        asyncio.run(go())
    return raised.value


def no_answer(detail: str) -> str:
    return f"no answer from Telegram; it may have been sent ({detail})"


@pytest.mark.parametrize(("answer", "kind", "reason", "extra"), [
    (bot_api_error(429, "Too Many Requests: retry after 7", retry_after=7), RateLimited,
     "Flood control exceeded. Retry in 7 seconds", {"retry_after": 7.0, "per_recipient": False}),
    (bot_api_error(401, "Unauthorized"), AccountRefused, "Telegram refused the bot token: Unauthorized",
     {"retry_after": None}),
    (bot_api_error(404, "Not Found"), AccountRefused, "Telegram refused the bot token: Not Found", {}),
    (bot_api_error(403, "Forbidden: bot was blocked by the user"), RecipientGone,
     "Forbidden: bot was blocked by the user", {"status": "blocked"}),
    (bot_api_error(403, "Forbidden: user is deactivated"), RecipientGone,
     "Forbidden: user is deactivated", {"status": "unreachable"}),
    (bot_api_error(403, "Forbidden: bot can't initiate conversation with a user"), RecipientGone,
     "Forbidden: bot can't initiate conversation with a user", {"status": "unreachable"}),
    (bot_api_error(400, "Bad Request: chat not found"), RecipientGone, "Bad Request: Chat not found",
     {"status": "unreachable"}),
    (bot_api_error(400, "Bad Request: message is too long"), PermanentFailure, "Bad Request: Message is too long", {}),
    # never reached Telegram: safe to send again
    (fails(httpx.ConnectError), TemporaryFailure, "Telegram not reached: httpx.ConnectError: simulated", {}),
    (fails(httpx.ConnectTimeout), TemporaryFailure, "Telegram not reached: Timed out", {}),
    (fails(httpx.PoolTimeout), TemporaryFailure, f"Telegram not reached: {POOL_TIMEOUT}", {}),
    # written, then no answer: it may have been sent
    (fails(httpx.ReadTimeout), Uncertain, no_answer("Timed out"), {}),
    (fails(httpx.WriteTimeout), Uncertain, no_answer("Timed out"), {}),
    (fails(httpx.ReadError), Uncertain, no_answer("httpx.ReadError: simulated"), {}),
    (fails(httpx.WriteError), Uncertain, no_answer("httpx.WriteError: simulated"), {}),
    (fails(httpx.RemoteProtocolError), Uncertain, no_answer("httpx.RemoteProtocolError: simulated"), {}),
    (bot_api_error(502, "Bad Gateway"), Uncertain, no_answer("Bad Gateway"), {}),
    (bot_api_error(500, "Internal Server Error"), Uncertain, no_answer("Internal Server Error"), {}),
    (answers(502, NGINX_502), Uncertain,
     no_answer(f"Bad Gateway (502). Parsing the server response {NGINX_502!r} failed"), {}),
    (answers(403, b"<html>blocked by a proxy</html>"), Uncertain,
     no_answer("Forbidden (403). Parsing the server response b'<html>blocked by a proxy</html>' failed"), {}),
    (answers(200, b"<html>ok</html>"), Uncertain, no_answer("Invalid server response"), {}),
])
def test_telegram_errors_map_to_ours(answer: Answer, kind: type, reason: str, extra: dict) -> None:
    error = telegram.error_from(ptb_error(answer))

    assert type(error) is kind
    assert error.reason == reason
    for name, value in extra.items():
        assert getattr(error, name) == value


def test_a_token_refused_at_get_me_is_account_refused_without_the_token_in_the_reason() -> None:
    refuse = answers(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})

    async def go() -> None:
        async with Bot(TOKEN, request=HTTPXRequest(httpx_kwargs={"transport": httpx.MockTransport(refuse)})):
            pass

    with pytest.raises(InvalidToken) as raised:
        asyncio.run(go())
    error = telegram.error_from(raised.value)

    assert TOKEN in raised.value.message  # PTB's own message names the token
    assert type(error) is AccountRefused
    assert error.reason == "Telegram refused the bot token: Unauthorized"
    bare = telegram.error_from(InvalidToken(f"The token `{TOKEN}` was rejected by the server."))
    assert bare.reason == "Telegram refused the bot token: The token `<token>` was rejected by the server."


@pytest.mark.parametrize(("given", "expected"), [
    ("https://api.telegram.org", "https://api.telegram.org/bot"),
    ("https://api.telegram.org/", "https://api.telegram.org/bot"),
    ("https://api.telegram.org/bot", "https://api.telegram.org/bot"),
    ("https://api.telegram.org/bot/", "https://api.telegram.org/bot"),
    ("http://127.0.0.1:8081/", "http://127.0.0.1:8081/bot"),
    ("http://127.0.0.1:8081/bot", "http://127.0.0.1:8081/bot"),
])
def test_telegram_api_url_takes_the_server_root_or_the_bot_form(monkeypatch, given: str, expected: str) -> None:
    monkeypatch.setenv("TELEGRAM_API_URL", given)

    assert runpy.run_path(str(SETTINGS))["TELEGRAM_API_URL"] == expected


def test_telegram_api_url_defaults_to_telegram(monkeypatch) -> None:
    monkeypatch.delenv("TELEGRAM_API_URL", raising=False)

    assert runpy.run_path(str(SETTINGS))["TELEGRAM_API_URL"] == "https://api.telegram.org/bot"


def test_the_fake_telegram_root_and_bot_urls_give_the_same_base_url(monkeypatch) -> None:
    fake = FakeTelegram(port=8081)  # not started: only its URLs are used

    results = []
    for given in (fake.root_url, fake.base_url):
        monkeypatch.setenv("TELEGRAM_API_URL", given)
        results.append(runpy.run_path(str(SETTINGS))["TELEGRAM_API_URL"])

    assert (fake.root_url, fake.base_url) == ("http://127.0.0.1:8081", "http://127.0.0.1:8081/bot")
    assert results == [fake.base_url, fake.base_url]


# ---- WhatsApp -----------------------------------------------------------------------


def graph_error(code: int) -> dict:
    return {"error": {"code": code, "message": "m", "type": "OAuthException", "error_data": {"details": "d"}}}


@pytest.mark.parametrize(("status", "code", "kind", "extra"), [
    (429, 130429, RateLimited, {"retry_after": 1.0, "per_recipient": False}),
    (429, 131056, RateLimited, {"retry_after": 6.0, "per_recipient": True}),
    (400, 131026, RecipientGone, {"status": "unreachable"}),
    (400, 131047, WindowClosed, {}),
    (400, 131049, RecipientLimited, {"retry_after": None}),
    (400, 131050, RecipientGone, {"status": "opted_out"}),
    (400, 131048, AccountRefused, {"retry_after": None}),
    (400, 132015, AccountRefused, {}),
    (400, 131042, AccountRefused, {}),
    (401, 190, AccountRefused, {}),
    (400, 190, AccountRefused, {}),
    (400, 100, PermanentFailure, {}),
    (400, 131051, PermanentFailure, {}),
])
def test_whatsapp_errors_map_to_ours(status: int, code: int, kind: type, extra: dict) -> None:
    error = whatsapp.error_from(status, graph_error(code))

    assert type(error) is kind
    assert error.reason == f"WhatsApp {code}: d"
    for name, value in extra.items():
        assert getattr(error, name) == value


@pytest.mark.parametrize(("status", "body", "kind", "reason"), [
    (500, {"error": {"code": 1, "message": "An unknown error occurred"}}, Uncertain,
     "no answer from WhatsApp; it may have been sent (HTTP 500, 1: An unknown error occurred)"),
    (503, {"error": {"code": 2, "message": "Service temporarily unavailable"}}, Uncertain,
     "no answer from WhatsApp; it may have been sent (HTTP 503, 2: Service temporarily unavailable)"),
    (502, None, Uncertain, "no answer from WhatsApp; it may have been sent (HTTP 502)"),
    (400, None, Uncertain, "no answer from WhatsApp; it may have been sent (HTTP 400 without a Graph error)"),
    (200, {"messaging_product": "whatsapp"}, Uncertain,
     "no answer from WhatsApp; it may have been sent (HTTP 200 without a Graph error)"),
    (401, None, AccountRefused, "WhatsApp HTTP 401"),
    (429, {"error": {"code": 4, "message": "(#4) Application request limit reached"}}, RateLimited,
     "WhatsApp 4: (#4) Application request limit reached"),
])
def test_whatsapp_answers_without_a_known_code(status: int, body: dict | None, kind: type, reason: str) -> None:
    error = whatsapp.error_from(status, body)

    assert type(error) is kind
    assert error.reason == reason


@pytest.mark.parametrize(("exc_class", "kind"), [
    (httpx.ConnectError, TemporaryFailure),
    (httpx.ConnectTimeout, TemporaryFailure),
    (httpx.PoolTimeout, TemporaryFailure),
    (httpx.ReadTimeout, Uncertain),
    (httpx.WriteTimeout, Uncertain),
    (httpx.ReadError, Uncertain),
    (httpx.WriteError, Uncertain),
    (httpx.RemoteProtocolError, Uncertain),
])
def test_transport_errors_are_temporary_only_before_the_request_left(exc_class: type, kind: type) -> None:
    exc = exc_class("simulated")

    wa, vb = whatsapp.transport_error(exc), viber.transport_error(exc)

    assert (type(wa), type(vb)) == (kind, kind)
    if kind is TemporaryFailure:
        assert (wa.reason, vb.reason) == (f"WhatsApp not reached ({exc!r})", f"Viber not reached ({exc!r})")
    else:
        assert wa.reason == f"no answer from WhatsApp; it may have been sent ({exc!r})"
        assert vb.reason == f"no answer from Viber; it may have been sent ({exc!r})"


class Recorder:
    """An httpx.MockTransport handler that keeps the JSON bodies it was sent."""

    def __init__(self, answer: Callable[[dict], httpx.Response]) -> None:
        self.answer = answer
        self.bodies: list[dict] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.bodies.append(body)
        return self.answer(body)


def wa_session(recorder: Recorder) -> whatsapp.WhatsAppSession:
    return whatsapp.WhatsAppSession("token", "https://graph.example/v21.0", "5550001", max_in_flight=10,
                                    timeout=5, transport=httpx.MockTransport(recorder))


def wa_accepted(body: dict) -> httpx.Response:
    return httpx.Response(200, json={"messages": [{"id": f"wamid.{body['to']}"}]})


TEMPLATE = {"name": "black_friday", "language": "ru", "parameters": ["−30%"]}


def test_whatsapp_window_closed_is_returned_as_is_with_no_template_fallback() -> None:
    recorder = Recorder(lambda body: httpx.Response(400, json=graph_error(131047)))
    session = wa_session(recorder)

    [outcome] = session.send([OutboundMessage(1, "+79990001122", "Sale", template=TEMPLATE, window_open=True)])
    session.close()

    assert type(outcome.error) is WindowClosed
    assert outcome.error.reason == "WhatsApp 131047: d"
    assert [b["type"] for b in recorder.bodies] == ["text"]  # no template was sent after it


def test_whatsapp_outside_the_window_sends_the_template_or_nothing() -> None:
    recorder = Recorder(wa_accepted)
    session = wa_session(recorder)

    with_template, without = session.send([
        OutboundMessage(1, "+79990001122", "Sale", template=TEMPLATE, window_open=False),
        OutboundMessage(2, "+79990001133", "Sale", window_open=False),
    ])
    session.close()

    assert (with_template.platform_message_id, with_template.error) == ("wamid.79990001122", None)
    assert type(without.error) is PermanentFailure
    assert without.error.reason == "outside WhatsApp's 24-hour window and the draft has no approved template"
    assert [(b["to"], b["type"], b["template"]["name"]) for b in recorder.bodies] == [("79990001122", "template", "black_friday")]


def test_one_unexpected_exception_makes_that_message_uncertain_and_keeps_the_others() -> None:
    # A 200 whose message has no id: the adapter's lookup raises KeyError for that one only.
    recorder = Recorder(lambda body: httpx.Response(200, json={"messages": [{}]}) if body["to"] == "79990001133"
                        else wa_accepted(body))
    session = wa_session(recorder)

    outcomes = session.send([OutboundMessage(i, f"+7999000112{i}", "Sale") for i in (1, 2)] +
                            [OutboundMessage(3, "+79990001133", "Sale")])
    session.close()

    assert [(o.delivery_id, o.platform_message_id) for o in outcomes] == [
        (1, "wamid.79990001121"), (2, "wamid.79990001122"), (3, "")
    ]
    assert [type(o.error) for o in outcomes] == [type(None), type(None), Uncertain]
    assert outcomes[2].error.reason == "unexpected error while sending; it may have been sent (KeyError('id'))"


# ---- Viber --------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "kind", "extra"), [
    (12, RateLimited, {"retry_after": 10.0}),
    (6, RecipientGone, {"status": "opted_out"}),
    (5, RecipientGone, {"status": "unreachable"}),
    (2, AccountRefused, {"retry_after": None}),
    (20, AccountRefused, {}),
    (23, AccountRefused, {}),
    (24, AccountRefused, {}),
    (3, PermanentFailure, {}),
    (11, PermanentFailure, {}),
])
def test_viber_errors_map_to_ours(status: int, kind: type, extra: dict) -> None:
    error = viber.error_from(status, "message")

    assert type(error) is kind
    assert error.reason == f"Viber {status}: message"
    for name, value in extra.items():
        assert getattr(error, name) == value


@pytest.mark.parametrize(("http_status", "content", "kind", "reason"), [
    (502, NGINX_502, Uncertain, "no answer from Viber; it may have been sent (HTTP 502)"),
    (500, b'{"status": 0}', Uncertain, "no answer from Viber; it may have been sent (HTTP 500)"),
    (200, b"<html>ok</html>", Uncertain, "no answer from Viber; it may have been sent (HTTP 200 without JSON)"),
    (200, b'{"chat_hostname": "SN-1"}', Uncertain, "no answer from Viber; it may have been sent (HTTP 200 without a status)"),
    (429, b"", RateLimited, "Viber HTTP 429"),
    (404, b'{"status_message": "Not Found"}', PermanentFailure, "Viber HTTP 404: Not Found"),
    (200, b'{"status": 2, "status_message": "invalidAuthToken"}', AccountRefused, "Viber 2: invalidAuthToken"),
    (200, b'{"status": 24, "status_message": "noBalance"}', AccountRefused, "Viber 24: noBalance"),
    (200, b'{"status": 12, "status_message": "tooManyRequests"}', RateLimited, "Viber 12: tooManyRequests"),
])
def test_viber_answers_map_to_ours(http_status: int, content: bytes, kind: type, reason: str) -> None:
    error = viber.answer_from(http_status, content)

    assert type(error) is kind
    assert error.reason == reason


def test_a_viber_answer_with_status_0_is_the_answer() -> None:
    assert viber.answer_from(200, b'{"status": 0, "message_token": 5}') == {"status": 0, "message_token": 5}


def vb_session(answer: Answer) -> viber.ViberSession:
    return viber.ViberSession("token", "https://chatapi.example/pa", "Shop", timeout=5,
                              transport=httpx.MockTransport(answer))


def receivers(n: int, text: str = "Sale", start: int = 0) -> list[OutboundMessage]:
    return [OutboundMessage(start + i, f"u{start + i}", text) for i in range(n)]


@pytest.mark.parametrize(("answer", "kind"), [
    (fails(httpx.ReadError), Uncertain),
    (fails(httpx.RemoteProtocolError), Uncertain),
    (fails(httpx.ReadTimeout), Uncertain),
    (answers(502, NGINX_502), Uncertain),
    (fails(httpx.ConnectError), TemporaryFailure),
])
def test_an_ambiguous_broadcast_makes_all_its_receivers_uncertain(answer: Answer, kind: type) -> None:
    session = vb_session(answer)

    outcomes = session.send(receivers(300))
    session.close()

    assert len(outcomes) == 300
    assert {type(o.error) for o in outcomes} == {kind}
    assert {o.platform_message_id for o in outcomes} == {""}


def test_one_broken_broadcast_answer_makes_its_group_uncertain_and_keeps_the_others() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if body["text"] == "A":  # status 0 with a failed_list that is not a list: the adapter raises
            return httpx.Response(200, json={"status": 0, "message_token": 1, "failed_list": 5})
        return httpx.Response(200, json={"status": 0, "message_token": 2,
                                         "failed_list": [{"receiver": "u11", "status": 6, "status_message": "notSubscribed"}]})

    session = vb_session(answer)

    outcomes = session.send(receivers(2, "A") + receivers(2, "B", start=10))
    session.close()

    assert [(o.delivery_id, type(o.error), o.platform_message_id) for o in outcomes] == [
        (0, Uncertain, ""), (1, Uncertain, ""), (10, type(None), "2"), (11, RecipientGone, ""),
    ]
    assert outcomes[0].error.reason == (
        "unexpected error while sending; it may have been sent (TypeError(\"'int' object is not iterable\"))"
    )
    assert (outcomes[3].error.reason, outcomes[3].error.status) == ("Viber 6: notSubscribed", "opted_out")


def test_viber_sends_one_call_per_300_receivers() -> None:
    seen: list[int] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(len(json.loads(request.content)["broadcast_list"]))
        return httpx.Response(200, json={"status": 0, "message_token": len(seen), "failed_list": []})

    session = vb_session(answer)

    outcomes = session.send(receivers(301))
    session.close()

    assert sorted(seen) == [1, 300]
    assert all(o.sent for o in outcomes)


# ---- other pure helpers -------------------------------------------------------------


def test_whatsapp_ids_are_e164_digits_without_the_plus():
    assert whatsapp.wa_id("+79990001122") == "79990001122"


def test_a_template_payload_carries_name_language_and_parameters():
    assert whatsapp.template_payload({"name": "black_friday", "language": "ru", "parameters": ["−30%"]}) == {
        "type": "template",
        "template": {"name": "black_friday", "language": {"code": "ru"},
                     "components": [{"type": "body", "parameters": [{"type": "text", "text": "−30%"}]}]},
    }


@pytest.mark.parametrize(("text", "word"), [
    ("STOP", "stop"), ("  stop!  ", "stop"), ("Стоп.", "стоп"), ("ОТПИСАТЬСЯ", "отписаться"),
    ("Unsubscribe!!!", "unsubscribe"), ("Stop promotions", "stop promotions"), ("START", "start"),
    ("stop it please", "stop it please"),
])
def test_inbound_keywords_ignore_case_spaces_and_punctuation(text, word):
    assert keyword(text) == word


def test_stop_and_start_words():
    assert {"stop", "стоп", "отписаться", "unsubscribe", "stop promotions"} <= STOP_WORDS
    assert "stop it please" not in STOP_WORDS
    assert {"start", "старт"} <= START_WORDS
