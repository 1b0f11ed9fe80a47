"""The fake WhatsApp Cloud API (tests/fakes/whatsapp.py) driven with plain httpx.

No database: these only need the loopback network.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from channels.base import AccountRefused, OutboundMessage, RecipientGone, RecipientLimited, TemporaryFailure, Uncertain
from channels.whatsapp import WhatsAppChannel
from tests.fakes.http import Received, Receiver, fake_process, free_port
from tests.fakes.whatsapp import (
    ERRORS,
    PHONE_NUMBER_ID,
    WABA_ID,
    FakeWhatsApp,
    RemoteFakeWhatsApp,
    WhatsAppConfig,
    encode,
    inbound_text,
    sign,
    signed,
    status_payload,
    user_preferences_payload,
    verification_query,
    wa_id_of,
)

TOKEN = "EAAG-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SECRET = "app-secret-123"
WAMID = re.compile(r"wamid\.[A-Za-z0-9+/=]+")


@pytest.fixture
def fake() -> Iterator[FakeWhatsApp]:
    with FakeWhatsApp(token=TOKEN) as server:
        yield server


@pytest.fixture
def client(fake: FakeWhatsApp) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake.base_url, headers=AUTH, timeout=5) as http:
        yield http


def text(to: str, body: str = "Скидка 20% сегодня") -> dict[str, object]:
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "text",
        "text": {"preview_url": False, "body": body},
    }


def template(to: str, name: str = "black_friday") -> dict[str, object]:
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "template",
        "template": {
            "name": name,
            "language": {"code": "ru"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "−30%"}]}],
        },
    }


def send(client: httpx.Client, payload: dict[str, object]) -> httpx.Response:
    return client.post(f"/{PHONE_NUMBER_ID}/messages", json=payload)


def test_text_message_is_answered_with_contacts_and_a_wamid_and_recorded(fake: FakeWhatsApp, client: httpx.Client) -> None:
    before = time.monotonic()

    response = send(client, text("+79990001122"))

    after = time.monotonic()
    assert response.status_code == 200
    answer = response.json()
    wamid = answer["messages"][0]["id"]
    assert WAMID.fullmatch(wamid)
    assert answer == {
        "messaging_product": "whatsapp",
        "contacts": [{"input": "+79990001122", "wa_id": "79990001122"}],
        "messages": [{"id": wamid}],
    }
    [call] = fake.calls()
    assert (call.seq, call.phone_number_id, call.to, call.wa_id, call.type) == (
        1, PHONE_NUMBER_ID, "+79990001122", "79990001122", "text"
    )
    assert (call.text, call.template, call.status, call.code, call.message_id) == (
        "Скидка 20% сегодня", None, 200, None, wamid
    )
    assert call.body == text("+79990001122")
    assert before <= call.monotonic <= after
    assert call.delivered
    assert fake.sent() == [call]
    assert fake.count_by_recipient() == {"79990001122": 1}
    assert fake.request_counts() == {"message": 1}
    assert fake.wait_for_sent(1, timeout=1)


def test_wamids_are_unique(client: httpx.Client) -> None:
    ids = {send(client, text("79990001122")).json()["messages"][0]["id"] for _ in range(20)}

    assert len(ids) == 20


@pytest.mark.parametrize("prefix", ["/v21.0", "/v19.0", "/v3", ""])
def test_any_graph_version_prefix_or_none_is_accepted(fake: FakeWhatsApp, prefix: str) -> None:
    response = httpx.post(f"{fake.url}{prefix}/5550001/messages", json=text("79990001122"), headers=AUTH)

    assert response.status_code == 200
    assert [(c.phone_number_id, c.status) for c in fake.calls()] == [("5550001", 200)]


def test_template_is_accepted_with_message_status_and_interactive_is_recorded_as_is(
    fake: FakeWhatsApp, client: httpx.Client
) -> None:
    interactive = {
        "messaging_product": "whatsapp",
        "to": "79990001133",
        "type": "interactive",
        "interactive": {"type": "button", "body": {"text": "Go?"}, "action": {"buttons": [{"type": "reply", "reply": {"id": "y", "title": "Yes"}}]}},
    }

    first = send(client, template("79990001122"))
    second = send(client, interactive)

    assert first.json()["messages"][0]["message_status"] == "accepted"
    assert second.status_code == 200
    assert "message_status" not in second.json()["messages"][0]
    template_call, interactive_call = fake.calls()
    assert (template_call.type, template_call.template, template_call.text) == ("template", "black_friday", None)
    assert template_call.body == template("79990001122")
    assert (interactive_call.type, interactive_call.body) == ("interactive", interactive)


def test_wrong_or_missing_token_answers_401_code_190_and_is_not_recorded(fake: FakeWhatsApp) -> None:
    url = f"{fake.base_url}/{PHONE_NUMBER_ID}/messages"

    wrong = httpx.post(url, json=text("79990001122"), headers={"Authorization": "Bearer nope"})
    missing = httpx.post(url, json=text("79990001122"))

    assert wrong.status_code == 401
    assert wrong.json() == {
        "error": {
            "message": "Invalid OAuth access token - Cannot parse access token",
            "type": "OAuthException",
            "code": 190,
            "fbtrace_id": "AFakeTraceId",
        }
    }
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == 190
    assert fake.calls() == []
    assert fake.request_counts() == {"unauthorized": 2}


def test_any_token_is_accepted_when_the_fake_has_none() -> None:
    with FakeWhatsApp() as fake:
        response = httpx.post(fake.messages_url(), json=text("79990001122"), headers={"Authorization": "Bearer whatever"})

    assert response.status_code == 200


@pytest.mark.parametrize(
    ("code", "http_status", "message", "details"),
    [
        (130429, 429, "(#130429) Rate limit hit",
         "Message failed to send because there were too many messages sent from this phone number in a short period of time"),
        (131056, 429, "(#131056) (Business Account, Consumer Account) pair rate limit hit",
         "Message failed to send because there were too many messages sent from this phone number to the same phone number in a short period of time"),
        (131026, 400, "(#131026) Message undeliverable", "Message Undeliverable."),
        (131047, 400, "(#131047) Re-engagement message",
         "Message failed to send because more than 24 hours have passed since the customer last replied to this number."),
        (131051, 400, "(#131051) Unsupported message type", "Message type is not currently supported."),
        (100, 400, "(#100) Invalid parameter", "Invalid parameter"),
    ],
)
def test_recipient_rules_answer_graph_errors(
    fake: FakeWhatsApp, client: httpx.Client, code: int, http_status: int, message: str, details: str
) -> None:
    fake.configure(recipient_rules={"+79990001122": code})  # "+" and punctuation are dropped

    response = send(client, text("79990001122"))
    other = send(client, text("79990001133"))

    assert response.status_code == http_status
    error = response.json()["error"]
    assert error == {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": details},
        "fbtrace_id": error["fbtrace_id"],
    }
    assert re.fullmatch(r"A[0-9a-f]{22}", error["fbtrace_id"])
    assert other.status_code == 200
    assert [(c.wa_id, c.status, c.code, c.message_id is None) for c in fake.calls()] == [
        ("79990001122", http_status, code, True),
        ("79990001133", 200, None, False),
    ]
    assert fake.count_by_recipient() == {"79990001133": 1}
    assert fake.count_by_recipient(delivered_only=False) == {"79990001122": 1, "79990001133": 1}


@pytest.mark.parametrize(("code", "http_status", "graph_code", "message"), [
    (500, 500, 1, "An unknown error occurred"),
    (503, 503, 2, "Service temporarily unavailable"),
])
def test_server_errors_answer_5xx_with_graph_code_1_or_2(
    fake: FakeWhatsApp, client: httpx.Client, code: int, http_status: int, graph_code: int, message: str
) -> None:
    fake.configure(recipient_rules={"79990001122": code})

    response = send(client, text("79990001122"))

    assert response.status_code == http_status
    assert response.json() == {
        "error": {"message": message, "type": "OAuthException", "code": graph_code, "fbtrace_id": response.json()["error"]["fbtrace_id"]}
    }
    assert [(c.status, c.code) for c in fake.calls()] == [(http_status, code)]


def test_the_24_hour_window_refuses_free_text_outside_it_but_not_templates(fake: FakeWhatsApp, client: httpx.Client) -> None:
    fake.configure(enforce_window=True, window=["+79990001122"])

    inside = send(client, text("79990001122"))
    outside = send(client, text("79990001133"))
    outside_template = send(client, template("79990001133"))
    fake.open_window("79990001133")
    reopened = send(client, text("79990001133"))
    fake.close_window("79990001122")
    closed = send(client, text("79990001122"))

    assert [r.status_code for r in (inside, outside, outside_template, reopened, closed)] == [200, 400, 200, 200, 400]
    assert outside.json()["error"]["code"] == 131047
    assert [c.code for c in fake.calls()] == [None, 131047, None, None, 131047]
    assert fake.config.window == frozenset({"79990001133"})


def test_window_is_ignored_unless_enforced(client: httpx.Client) -> None:
    assert send(client, text("79990001199")).status_code == 200


def test_malformed_requests_answer_100_or_131051(fake: FakeWhatsApp, client: httpx.Client) -> None:
    no_product = {k: v for k, v in text("79990001122").items() if k != "messaging_product"}
    unknown_type = {"messaging_product": "whatsapp", "to": "79990001122", "type": "hologram", "hologram": {}}

    answers = [
        send(client, no_product),
        send(client, text("not-a-number")),
        send(client, text("79990001122", body="")),
        send(client, text("79990001122", body="x" * 4097)),
        send(client, unknown_type),
        send(client, {**template("79990001122"), "template": {"name": "t"}}),
    ]
    accepted = send(client, text("79990001122", body="x" * 4096))
    not_json = client.post(f"/{PHONE_NUMBER_ID}/messages", content=b"{oops", headers={"Content-Type": "application/json"})

    assert [(r.status_code, r.json()["error"]["code"]) for r in answers] == [(400, 100)] * 4 + [(400, 131051), (400, 100)]
    assert answers[3].json()["error"]["error_data"]["details"] == "Param text['body'] must be at most 4096 characters long."
    assert accepted.status_code == 200
    assert not_json.status_code == 400
    assert not_json.json()["error"]["code"] == 100
    assert [c.code for c in fake.calls()] == [100, 100, 100, 100, 131051, 100, None]  # not_json is not a call
    assert fake.calls()[1].wa_id == ""
    assert fake.request_counts() == {"message": 7, "bad_request": 1}


def test_mark_as_read_answers_success_and_is_not_a_message(fake: FakeWhatsApp, client: httpx.Client) -> None:
    response = send(client, {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.X"})

    assert response.json() == {"success": True}
    assert fake.calls() == []
    assert fake.request_counts() == {"mark_read": 1}


def test_ceiling_answers_130429_beyond_n_messages_per_second(fake: FakeWhatsApp, client: httpx.Client) -> None:
    fake.configure(ceiling=3)

    statuses = [send(client, text(f"7999000{i:04d}")).status_code for i in range(5)]

    assert statuses == [200, 200, 200, 429, 429]
    assert [c.code for c in fake.calls()] == [None, None, None, 130429, 130429]
    assert fake.max_in_any_window(delivered_only=True) == 3
    assert fake.max_in_any_window() == 5
    time.sleep(1.05)  # the window moves on
    assert send(client, text("79990009999")).status_code == 200


def test_pair_interval_answers_131056_to_the_same_recipient_only(fake: FakeWhatsApp, client: httpx.Client) -> None:
    fake.configure(pair_interval=0.5)

    first = send(client, text("79990001122"))
    again = send(client, text("79990001122"))
    other = send(client, text("79990001133"))
    time.sleep(0.55)
    later = send(client, text("79990001122"))

    assert [r.status_code for r in (first, again, other, later)] == [200, 429, 200, 200]
    assert again.json()["error"]["code"] == 131056


def test_queued_codes_apply_once_each_then_the_recipient_works(fake: FakeWhatsApp, client: httpx.Client) -> None:
    fake.configure(queued={"79990001122": [130429, 500, 0]}, recipient_rules={"79990001122": 131026})

    codes = [send(client, text("79990001122")).status_code for _ in range(4)]

    assert codes == [429, 500, 200, 400]  # the queue first, then the rule
    fake.reset()  # the queue starts over, the recordings go
    assert fake.calls() == []
    assert send(client, text("79990001122")).status_code == 429


def test_random_faults_repeat_for_the_same_seed(fake: FakeWhatsApp, client: httpx.Client) -> None:
    fake.configure(rate_429=0.2, rate_5xx=0.1, seed=3)

    def outcomes() -> list[tuple[str, int]]:
        for i in range(200):
            send(client, text(f"7999{i:07d}"))
        return [(c.wa_id, c.status) for c in fake.calls()]

    first = outcomes()
    fake.reset()
    second = outcomes()
    fake.reset()
    fake.configure(seed=4)
    third = outcomes()

    assert first == second
    assert first != third
    statuses = [status for _, status in first]
    assert {200, 429, 500} == set(statuses)
    assert 20 <= statuses.count(429) <= 60
    assert len(fake.sent()) == [s for _, s in third].count(200)


def test_latency_slow_recipients_and_disconnects(fake: FakeWhatsApp, client: httpx.Client) -> None:
    fake.configure(latency=0.1, slow_recipients=["79990001133"], slow_latency=0.6, disconnect=["79990001144"])

    started = time.monotonic()
    send(client, text("79990001122"))
    assert time.monotonic() - started >= 0.1
    with pytest.raises(httpx.ReadTimeout):
        client.post(f"/{PHONE_NUMBER_ID}/messages", json=text("79990001133"), timeout=0.2)
    with pytest.raises(httpx.RemoteProtocolError):
        send(client, text("79990001144"))

    # The slow one was sent although its sender saw a timeout; the dropped one was not.
    assert [(c.wa_id, c.status) for c in fake.calls()] == [("79990001122", 200), ("79990001133", 200), ("79990001144", 0)]


def check_signature(body: bytes, header: str) -> None:
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(header, expected)


def test_the_send_answer_does_not_wait_for_the_webhook(fake: FakeWhatsApp, client: httpx.Client) -> None:
    with Receiver() as app:
        fake.configure(webhook_url=app.url, app_secret=SECRET, statuses=["sent"])
        app.gate.clear()  # the application holds its answer to the webhook

        response = send(client, text("79990001122"))
        [request] = app.wait_for(1)
        unanswered = fake.webhooks()
        app.gate.set()

        assert fake.wait_for_webhooks(1)
    assert response.status_code == 200
    assert request.payload["entry"][0]["changes"][0]["value"]["statuses"][0]["status"] == "sent"
    assert unanswered == []  # the send was answered while its webhook was still waiting
    assert [w.status for w in fake.webhooks()] == [200]


def test_status_webhooks_are_posted_signed_and_in_order(fake: FakeWhatsApp, client: httpx.Client) -> None:
    with Receiver() as app:
        fake.configure(webhook_url=app.url + "/webhooks/whatsapp/", app_secret=SECRET, statuses=["sent", "delivered", "read"])
        wamid = send(client, template("+79990001122")).json()["messages"][0]["id"]
        wamid2 = send(client, text("79990001133")).json()["messages"][0]["id"]
        assert fake.wait_for_webhooks(6, timeout=10)
        received = app.received()

    assert [(r.method, r.path) for r in received] == [("POST", "/webhooks/whatsapp/")] * 6
    for request in received:
        check_signature(request.body, request.headers["x-hub-signature-256"])
        assert request.headers["content-type"] == "application/json"
    statuses = [r.payload["entry"][0]["changes"][0]["value"]["statuses"][0] for r in received]
    assert [(s["id"], s["status"], s["recipient_id"]) for s in statuses] == [
        (wamid, "sent", "79990001122"), (wamid, "delivered", "79990001122"), (wamid, "read", "79990001122"),
        (wamid2, "sent", "79990001133"), (wamid2, "delivered", "79990001133"), (wamid2, "read", "79990001133"),
    ]
    sent = received[0].payload
    status = sent["entry"][0]["changes"][0]["value"]["statuses"][0]
    assert sent == {
        "object": "whatsapp_business_account",
        "entry": [{
            "id": WABA_ID,
            "changes": [{
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "15550000000", "phone_number_id": PHONE_NUMBER_ID},
                    "statuses": [{
                        "id": wamid,
                        "status": "sent",
                        "timestamp": status["timestamp"],
                        "recipient_id": "79990001122",
                        "conversation": {
                            "id": status["conversation"]["id"],
                            "expiration_timestamp": str(int(status["timestamp"]) + 86400),
                            "origin": {"type": "marketing"},
                        },
                        "pricing": {"billable": True, "pricing_model": "CBP", "category": "marketing"},
                    }],
                },
                "field": "messages",
            }],
        }],
    }
    assert abs(int(status["timestamp"]) - time.time()) < 60
    assert re.fullmatch(r"[0-9a-f]{32}", status["conversation"]["id"])
    delivered_text = statuses[4]
    assert "expiration_timestamp" not in delivered_text["conversation"]
    assert delivered_text["pricing"]["category"] == "service"
    assert "conversation" not in statuses[5] and "pricing" not in statuses[5]  # read
    # What the fake recorded matches what the application got.
    posts = fake.webhooks()
    assert [(p.event, p.message_id, p.recipient, p.status, p.error) for p in posts] == [
        (s["status"], s["id"], s["recipient_id"], 200, None) for s in statuses
    ]
    assert [p.body.encode() for p in posts] == [r.body for r in received]
    assert [p.signature for p in posts] == [r.headers["x-hub-signature-256"] for r in received]


def test_async_failure_posts_one_failed_status_with_the_error(fake: FakeWhatsApp, client: httpx.Client) -> None:
    with Receiver() as app:
        fake.configure(webhook_url=app.url, app_secret=SECRET, async_failures={"79990001122": 131026})
        response = send(client, text("79990001122"))
        assert fake.wait_for_webhooks(1)
        time.sleep(0.1)  # nothing else comes
        [request] = app.received()

    assert response.status_code == 200
    status = request.payload["entry"][0]["changes"][0]["value"]["statuses"][0]
    assert status == {
        "id": response.json()["messages"][0]["id"],
        "status": "failed",
        "timestamp": status["timestamp"],
        "recipient_id": "79990001122",
        "errors": [{
            "code": 131026,
            "title": "Message undeliverable",
            "message": "Message undeliverable",
            "error_data": {"details": "Message Undeliverable."},
            "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
        }],
    }
    check_signature(request.body, request.headers["x-hub-signature-256"])


def test_webhook_answers_and_failures_are_recorded(fake: FakeWhatsApp, client: httpx.Client) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    with Receiver(status=403) as app:
        fake.configure(webhook_url=app.url, statuses=["delivered"])  # no app_secret: unsigned
        send(client, text("79990001122"))
        assert fake.wait_for_webhooks(1)
        [request] = app.received()
    fake.configure(webhook_url=f"http://127.0.0.1:{closed_port}/", webhook_timeout=2)
    send(client, text("79990001133"))
    assert fake.wait_for_webhooks(2)

    assert "x-hub-signature-256" not in request.headers
    refused, unreachable = fake.webhooks()
    assert (refused.status, refused.error, refused.signature) == (403, None, None)
    assert unreachable.status == 0
    assert unreachable.error is not None and unreachable.error.startswith("ConnectError")
    assert fake.stats()["webhook_events"] == {"delivered": 2}


def test_no_webhooks_without_a_url(fake: FakeWhatsApp, client: httpx.Client) -> None:
    send(client, text("79990001122"))

    assert fake.wait_for_webhooks(1, timeout=0.2) is False
    assert fake.webhooks() == []


def test_inbound_text_payload_has_the_documented_shape() -> None:
    payload = inbound_text("79990001122", "СТОП", msg_id="wamid.IN1", name="Anna", timestamp=1700000000)

    assert payload == {
        "object": "whatsapp_business_account",
        "entry": [{
            "id": WABA_ID,
            "changes": [{
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "15550000000", "phone_number_id": PHONE_NUMBER_ID},
                    "contacts": [{"profile": {"name": "Anna"}, "wa_id": "79990001122"}],
                    "messages": [{
                        "from": "79990001122",
                        "id": "wamid.IN1",
                        "timestamp": "1700000000",
                        "text": {"body": "СТОП"},
                        "type": "text",
                    }],
                },
                "field": "messages",
            }],
        }],
    }
    generated = inbound_text("79990001122", "hi")["entry"][0]["changes"][0]["value"]["messages"][0]
    assert WAMID.fullmatch(generated["id"])
    assert generated["id"] != inbound_text("79990001122", "hi")["entry"][0]["changes"][0]["value"]["messages"][0]["id"]


def test_status_payload_builder() -> None:
    failed = status_payload("wamid.A", "failed", "79990001122", timestamp=1700000000)
    read = status_payload("wamid.A", "read", "79990001122", timestamp=1700000000, phone_number_id="42")
    other_error = status_payload("wamid.A", "failed", "79990001122", errors=[131047])

    assert failed["entry"][0]["changes"][0]["value"]["statuses"] == [{
        "id": "wamid.A",
        "status": "failed",
        "timestamp": "1700000000",
        "recipient_id": "79990001122",
        "errors": [{
            "code": 131026,
            "title": "Message undeliverable",
            "message": "Message undeliverable",
            "error_data": {"details": "Message Undeliverable."},
            "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
        }],
    }]
    assert read["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] == "42"
    assert read["entry"][0]["changes"][0]["value"]["statuses"] == [
        {"id": "wamid.A", "status": "read", "timestamp": "1700000000", "recipient_id": "79990001122"}
    ]
    [error] = other_error["entry"][0]["changes"][0]["value"]["statuses"][0]["errors"]
    assert (error["code"], error["title"]) == (131047, "Re-engagement message")


def test_user_preferences_payload_has_the_documented_shape() -> None:
    payload = user_preferences_payload("79990001122", name="Anna", timestamp=1700000000)
    resumed = user_preferences_payload("79990001122", "resume")

    assert payload == {
        "object": "whatsapp_business_account",
        "entry": [{
            "id": WABA_ID,
            "changes": [{
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "15550000000", "phone_number_id": PHONE_NUMBER_ID},
                    "contacts": [{"wa_id": "79990001122", "profile": {"name": "Anna"}}],
                    "user_preferences": [{
                        "wa_id": "79990001122",
                        "detail": "User requested to stop marketing messages",
                        "category": "marketing_messages",
                        "value": "stop",
                        "timestamp": 1700000000,
                    }],
                },
                "field": "user_preferences",
            }],
        }],
    }
    preference = resumed["entry"][0]["changes"][0]["value"]["user_preferences"][0]
    assert (preference["value"], preference["detail"]) == ("resume", "User requested to resume marketing messages")


def test_sign_and_signed_match_an_independent_hmac() -> None:
    payload = inbound_text("79990001122", "Привет", msg_id="wamid.X", timestamp=1)

    body, headers = signed(payload, SECRET)

    assert body == encode(payload)
    assert b"\\u041f" in body  # non-ASCII escaped, as Meta sends it
    assert json.loads(body) == payload
    assert headers == {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, SECRET)}
    check_signature(body, headers["X-Hub-Signature-256"])
    assert sign(body, "other") != sign(body, SECRET)


def test_config_rejects_unknown_codes_and_fields() -> None:
    with pytest.raises(ValueError, match="unknown code"):
        WhatsAppConfig(recipient_rules={"1": 404})
    with pytest.raises(ValueError, match="unknown config fields"):
        WhatsAppConfig().updated({"nope": 1})
    with pytest.raises(ValueError, match="unknown status"):
        WhatsAppConfig().updated({"statuses": ["sent", "opened"]})
    assert wa_id_of("+7 (999) 000-11-22") == "79990001122"
    assert wa_id_of("@someone") == ""
    assert verification_query("verify-me", "42") == {"hub.mode": "subscribe", "hub.verify_token": "verify-me", "hub.challenge": "42"}


def test_command_line_fake_is_configured_and_read_over_http_and_dumps_on_sigterm(tmp_path: Path) -> None:
    dump = tmp_path / "calls.json"
    with fake_process("tests.fakes.whatsapp", "FAKE_WHATSAPP_URL", "--token", TOKEN, "--dump", str(dump)) as (url, process):
        with RemoteFakeWhatsApp(url) as remote, Receiver() as app:
            config = remote.configure(recipient_rules={"79990001133": 131026}, webhook_url=app.url, app_secret=SECRET)
            assert config["recipient_rules"] == {"79990001133": 131026}
            messages = f"{remote.base_url}/{PHONE_NUMBER_ID}/messages"

            ok = httpx.post(messages, json=text("79990001122"), headers=AUTH)
            refused = httpx.post(messages, json=text("79990001133"), headers=AUTH)
            received = app.wait_for(2)

            assert (ok.status_code, refused.status_code) == (200, 400)
            assert [(c.wa_id, c.status) for c in remote.calls()] == [("79990001122", 200), ("79990001133", 400)]
            assert remote.count_by_recipient() == {"79990001122": 1}
            assert (remote.stats()["calls"], remote.stats()["sent"]) == (2, 1)
            assert [(w.event, w.status) for w in remote.webhooks()] == [("sent", 200), ("delivered", 200)]
            assert [r.payload["entry"][0]["changes"][0]["value"]["statuses"][0]["status"] for r in received] == ["sent", "delivered"]
            assert remote.configure(replace=True)["recipient_rules"] == {}
            remote.reset()
            assert remote.calls() == []
            httpx.post(messages, json=text("79990001144"), headers=AUTH)

    assert process.returncode == 0
    dumped = json.loads(dump.read_text())
    assert [(c["wa_id"], c["status"]) for c in dumped["calls"]] == [("79990001144", 200)]
    assert dumped["stats"]["sent"] == 1


# ---- platform failures: lost answers, a revoked token, Meta's limits, a server not there yet


def status_of(request: Received) -> dict[str, object]:
    result: dict[str, object] = request.payload["entry"][0]["changes"][0]["value"]["statuses"][0]
    return result


def test_a_lost_answer_is_a_502_to_the_client_but_the_message_was_sent_and_reported(
    fake: FakeWhatsApp, client: httpx.Client
) -> None:
    with Receiver() as app:
        fake.configure(lose_next=1, webhook_url=app.url, statuses=["sent", "delivered"])
        lost = send(client, text("79990001122"))
        answered = send(client, text("79990001133"))
        received = app.wait_for(4)

    assert (lost.status_code, lost.headers["content-type"]) == (502, "text/html")
    assert b"502 Bad Gateway" in lost.content
    assert answered.status_code == 200
    taken, other = fake.calls()
    assert (taken.wa_id, taken.status, taken.code, taken.lost_answer) == ("79990001122", 502, None, "502")
    assert taken.message_id is not None and WAMID.fullmatch(taken.message_id)
    assert other.lost_answer is None
    assert [c.wa_id for c in fake.sent()] == ["79990001122", "79990001133"]
    # the status webhooks still come, with the wamid the client never saw
    assert [(status_of(r)["id"], status_of(r)["status"]) for r in received[:2]] == [
        (taken.message_id, "sent"), (taken.message_id, "delivered")
    ]
    assert fake.stats()["lost_answers"] == {"502": 1}


@pytest.mark.parametrize(("how", "error"), [("reset", httpx.ReadError), ("close", httpx.RemoteProtocolError)])
def test_a_lost_answer_can_be_a_reset_or_a_closed_connection(
    fake: FakeWhatsApp, client: httpx.Client, how: str, error: type
) -> None:
    fake.configure(lose_next=1, lost_answer=how)

    with pytest.raises(error):
        send(client, text("79990001122"))

    [call] = fake.calls()
    assert (call.status, call.lost_answer, call.delivered) == (0, how, True)


def test_every_nth_taken_message_loses_its_answer(fake: FakeWhatsApp, client: httpx.Client) -> None:
    fake.configure(lose_every=2, recipient_rules={"79990009999": 131026})

    statuses = [send(client, text(to)).status_code for to in
                ("79990000001", "79990009999", "79990000002", "79990000003", "79990000004")]

    assert statuses == [200, 400, 502, 200, 502]  # the refused one is not taken, not counted
    assert len(fake.sent()) == 4


def test_the_adapter_reads_a_lost_answer_as_uncertain(fake: FakeWhatsApp) -> None:
    fake.configure(lose_next=1)
    session = WhatsAppChannel(TOKEN, fake.base_url, PHONE_NUMBER_ID).open()

    [lost] = session.send([OutboundMessage(1, "+79990001122", "Sale")])
    [answered] = session.send([OutboundMessage(2, "+79990001133", "Sale")])
    session.close()

    assert type(lost.error) is Uncertain
    assert lost.error.reason == "no answer from WhatsApp; it may have been sent (HTTP 502)"
    assert answered.sent
    assert [c.wa_id for c in fake.sent()] == ["79990001122", "79990001133"]


def test_a_revoked_token_answers_401_code_190_to_everything_until_restored(fake: FakeWhatsApp, client: httpx.Client) -> None:
    session = WhatsAppChannel(TOKEN, fake.base_url, PHONE_NUMBER_ID).open()
    fake.configure(token_revoked=True)

    refused = send(client, text("79990001122"))
    [outcome] = session.send([OutboundMessage(1, "+79990001122", "Sale")])
    fake.configure(token_revoked=False)
    restored = send(client, text("79990001133"))
    session.close()

    assert refused.status_code == 401
    assert refused.json() == {"error": {
        "message": "Error validating access token: The session has been invalidated because the user changed their "
                   "password or Facebook has changed the session for security reasons.",
        "type": "OAuthException",
        "code": 190,
        "error_subcode": 460,
        "fbtrace_id": "AFakeTraceId",
    }}
    assert type(outcome.error) is AccountRefused
    assert outcome.error.reason.startswith("WhatsApp 190: Error validating access token")
    assert restored.status_code == 200
    assert [c.wa_id for c in fake.calls()] == ["79990001133"]  # nothing else was recorded
    assert fake.request_counts() == {"unauthorized": 2, "message": 1}


@pytest.mark.parametrize(("code", "title", "kind"), [
    (131049, "This message was not delivered to maintain healthy ecosystem engagement.", RecipientLimited),
    (131050, "Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on "
             "WhatsApp from your business.", RecipientGone),
])
def test_meta_marketing_limits_answer_at_once_for_given_recipients(
    fake: FakeWhatsApp, code: int, title: str, kind: type
) -> None:
    fake.configure(recipient_rules={"79990001122": code})
    session = WhatsAppChannel(TOKEN, fake.base_url, PHONE_NUMBER_ID).open()

    refused = httpx.post(fake.messages_url(), json=template("79990001122"), headers=AUTH)
    limited, other = session.send([OutboundMessage(1, "+79990001122", "Sale"), OutboundMessage(2, "+79990001133", "Sale")])
    session.close()

    assert refused.status_code == 400
    assert (refused.json()["error"]["code"], refused.json()["error"]["message"]) == (code, f"(#{code}) {title}")
    assert type(limited.error) is kind
    assert limited.error.reason.startswith(f"WhatsApp {code}: ")
    assert other.sent
    assert [c.wa_id for c in fake.sent()] == ["79990001133"]


@pytest.mark.parametrize("code", [131049, 131050])
def test_meta_marketing_limits_also_come_later_as_failed_status_webhooks(fake: FakeWhatsApp, client: httpx.Client, code: int) -> None:
    with Receiver() as app:
        fake.configure(webhook_url=app.url, app_secret=SECRET, async_failures={"79990001122": code})
        response = send(client, template("79990001122"))
        [request] = app.wait_for(1)
        assert fake.wait_for_webhooks(1)

    assert response.status_code == 200
    status = status_of(request)
    assert (status["id"], status["status"], status["recipient_id"]) == (
        response.json()["messages"][0]["id"], "failed", "79990001122"
    )
    [error] = status["errors"]
    assert (error["code"], error["title"]) == (code, ERRORS[code][1])
    check_signature(request.body, request.headers["x-hub-signature-256"])


@pytest.mark.parametrize("code", [131048, 132015, 131042])
def test_an_account_error_answers_every_message_and_the_adapter_reads_account_refused(fake: FakeWhatsApp, code: int) -> None:
    fake.configure(account_error=code)
    session = WhatsAppChannel(TOKEN, fake.base_url, PHONE_NUMBER_ID).open()

    outcomes = session.send([OutboundMessage(i, f"+7999000000{i}", "Sale") for i in range(3)])
    session.close()

    assert {type(o.error) for o in outcomes} == {AccountRefused}
    assert {o.error.reason for o in outcomes} == {f"WhatsApp {code}: {ERRORS[code][2]}"}
    assert [c.code for c in fake.calls()] == [code] * 3
    assert fake.sent() == []


def test_a_fake_made_with_a_port_is_unreachable_until_started_on_it() -> None:
    fake = FakeWhatsApp(token=TOKEN, port=free_port())
    session = WhatsAppChannel(TOKEN, fake.base_url, PHONE_NUMBER_ID).open()

    [before] = session.send([OutboundMessage(1, "+79990001122", "Sale")])
    with fake:
        [after] = session.send([OutboundMessage(2, "+79990001122", "Sale")])
    session.close()

    assert type(before.error) is TemporaryFailure
    assert before.error.reason.startswith("WhatsApp not reached (ConnectError(")
    assert after.sent
    assert [c.wa_id for c in fake.sent()] == ["79990001122"]


def test_a_stopped_fake_starts_again_on_the_same_port_with_its_recordings(fake: FakeWhatsApp) -> None:
    url = fake.messages_url()
    httpx.post(url, json=text("79990001122"), headers=AUTH)

    fake.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.post(url, json=text("79990001133"), headers=AUTH)
    fake.start()
    again = httpx.post(url, json=text("79990001144"), headers=AUTH)

    assert again.status_code == 200
    assert [c.wa_id for c in fake.sent()] == ["79990001122", "79990001144"]


def test_new_settings_are_checked_and_remote_configurable() -> None:
    with pytest.raises(ValueError, match="account_error"):
        WhatsAppConfig(account_error=404)
    with pytest.raises(ValueError, match="lost_answer"):
        WhatsAppConfig(lost_answer="slow")
    assert WhatsAppConfig().updated(
        {"lose_every": 5, "account_error": 131048, "token_revoked": True, "recipient_rules": {"+79990001122": 131049}}
    ) == WhatsAppConfig(lose_every=5, account_error=131048, token_revoked=True, recipient_rules={"79990001122": 131049})
