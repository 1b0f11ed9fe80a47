"""A copy-to-clipboard button (Bot API 7.11): a real button on Telegram, a text line elsewhere."""

from __future__ import annotations

import json

import httpx

from channels import telegram, viber, whatsapp
from channels.base import OutboundMessage
from channels.limits import text_as_sent
from tests.fakes.telegram import keyboard_problem

BUTTONS = [{"text": "Copy code", "copy_text": "SALE-7"}, {"text": "Shop", "url": "https://shop.example/"}]


def test_telegram_sends_a_copy_text_button_and_the_fake_takes_it():
    markup = telegram._markup(BUTTONS).to_dict()

    assert markup == {"inline_keyboard": [[{"text": "Copy code", "copy_text": {"text": "SALE-7"}}],
                                          [{"text": "Shop", "url": "https://shop.example/"}]]}
    assert keyboard_problem(markup) is None


def test_the_fake_telegram_refuses_buttons_telegram_refuses():
    assert keyboard_problem({"inline_keyboard": [[{"text": "Copy"}]]}) == (
        "Bad Request: can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
    assert keyboard_problem({"inline_keyboard": [[{"text": "Copy", "copy_text": {"text": ""}}]]}) == (
        "Bad Request: BUTTON_COPY_TEXT_INVALID")
    assert keyboard_problem({"inline_keyboard": [[{"text": "Copy", "copy_text": "SALE-7"}]]}) == (
        "Bad Request: can't parse inline keyboard button: Field \"text\" must be of type String")


def test_whatsapp_free_text_carries_every_button_as_a_line():
    payload = whatsapp.text_payload(OutboundMessage(1, "+79990001122", "Your code", buttons=BUTTONS))

    assert payload["text"]["body"] == "Your code\nCopy code: SALE-7\nShop: https://shop.example/"


def test_viber_keeps_link_buttons_on_its_keyboard_and_a_copy_button_as_a_line():
    seen: list[dict] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(200, json={"status": 0, "message_token": 1, "failed_list": []})

    session = viber.ViberSession("token", "https://chatapi.example/pa", "Shop", timeout=5,
                                 transport=httpx.MockTransport(answer))
    outcomes = session.send([OutboundMessage(1, "u1AAAAAAAA==", "Your code", buttons=BUTTONS)])
    session.close()

    assert all(o.sent for o in outcomes)
    assert seen[0]["text"] == "Your code\nCopy code: SALE-7"
    assert [(b["ActionType"], b["ActionBody"], b["Text"]) for b in seen[0]["keyboard"]["Buttons"]] == [
        ("open-url", "https://shop.example/", "Shop")]
    assert text_as_sent("viber", "Your code", BUTTONS) == "Your code\nCopy code: SALE-7"
    assert text_as_sent("telegram", "Your code", BUTTONS) == "Your code"
