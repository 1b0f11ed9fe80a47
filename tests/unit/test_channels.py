"""Vendor errors in our terms, and inbound keywords: pure mapping, no network."""

import pytest
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from channels import telegram, viber, whatsapp
from channels.base import PermanentFailure, RateLimited, RecipientGone, TemporaryFailure, Uncertain
from channels.inbound import START_WORDS, STOP_WORDS, keyword


@pytest.mark.parametrize(("exc", "kind", "extra"), [
    (RetryAfter(7), RateLimited, {"retry_after": 7.0, "per_recipient": False}),
    (Forbidden("Forbidden: bot was blocked by the user"), RecipientGone, {"status": "blocked"}),
    (Forbidden("Forbidden: user is deactivated"), RecipientGone, {"status": "unreachable"}),
    (Forbidden("Forbidden: bot can't initiate conversation with a user"), RecipientGone, {"status": "unreachable"}),
    (BadRequest("Chat not found"), RecipientGone, {"status": "unreachable"}),
    (BadRequest("Message is too long"), PermanentFailure, {}),
    (TimedOut("Timed out"), Uncertain, {}),
    (TimedOut("Pool timeout: All connections in the connection pool are occupied."), TemporaryFailure, {}),
    (NetworkError("Bad Gateway"), TemporaryFailure, {}),
])
def test_telegram_errors_map_to_ours(exc, kind, extra):
    error = telegram.error_from(exc)
    assert type(error) is kind
    for name, value in extra.items():
        assert getattr(error, name) == value


@pytest.mark.parametrize(("status", "code", "kind", "extra"), [
    (429, 130429, RateLimited, {"retry_after": 1.0, "per_recipient": False}),
    (429, 131056, RateLimited, {"retry_after": 6.0, "per_recipient": True}),
    (400, 131026, RecipientGone, {"status": "unreachable"}),
    (400, 131047, PermanentFailure, {}),
    (400, 100, PermanentFailure, {}),
    (401, 190, TemporaryFailure, {}),
    (500, 1, TemporaryFailure, {}),
])
def test_whatsapp_errors_map_to_ours(status, code, kind, extra):
    error = whatsapp.error_from(status, {"error": {"code": code, "message": "m", "error_data": {"details": "d"}}})
    assert type(error) is kind
    assert error.reason == f"WhatsApp {code}: d"
    for name, value in extra.items():
        assert getattr(error, name) == value


@pytest.mark.parametrize(("status", "kind", "extra"), [
    (12, RateLimited, {"retry_after": 10.0}),
    (6, RecipientGone, {"status": "opted_out"}),
    (5, RecipientGone, {"status": "unreachable"}),
    (2, TemporaryFailure, {}),
    (11, PermanentFailure, {}),
])
def test_viber_errors_map_to_ours(status, kind, extra):
    error = viber.error_from(status, "message")
    assert type(error) is kind
    assert error.reason == f"Viber {status}: message"
    for name, value in extra.items():
        assert getattr(error, name) == value


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
