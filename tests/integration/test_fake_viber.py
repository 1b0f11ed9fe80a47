"""The fake Viber REST bot API (tests/fakes/viber.py) driven with plain httpx.

No database: these only need the loopback network.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from channels.base import AccountRefused, OutboundMessage, TemporaryFailure, Uncertain
from channels.viber import ViberChannel
from tests.fakes.http import Receiver, fake_process, free_port
from tests.fakes.viber import (
    AVATAR,
    CHAT_HOSTNAME,
    FakeViber,
    RemoteFakeViber,
    ViberConfig,
    conversation_started_payload,
    delivered_payload,
    encode,
    failed_payload,
    message_payload,
    seen_payload,
    sign,
    signed,
    subscribed_payload,
    unsubscribed_payload,
)

TOKEN = "4453b6ac12345678-e02c5f12174805f9-daec9cbb5448c51f"
AUTH = {"X-Viber-Auth-Token": TOKEN}
SENDER = {"name": "Shop"}


@pytest.fixture
def fake() -> Iterator[FakeViber]:
    with FakeViber(token=TOKEN) as server:
        yield server


@pytest.fixture
def client(fake: FakeViber) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake.base_url, headers=AUTH, timeout=5) as http:
        yield http


def one(receiver: str, text: str = "Скидка 20% сегодня") -> dict[str, object]:
    return {"receiver": receiver, "min_api_version": 1, "sender": SENDER, "type": "text", "text": text}


def many(receivers: list[str], text: str = "Скидка 20% сегодня", **extra: object) -> dict[str, object]:
    return {"sender": SENDER, "type": "text", "text": text, "broadcast_list": receivers, **extra}


def test_send_message_is_answered_with_a_token_and_recorded(fake: FakeViber, client: httpx.Client) -> None:
    before = time.monotonic()

    response = client.post("/send_message", json=one("u1=="))

    after = time.monotonic()
    assert response.status_code == 200
    answer = response.json()
    token = answer["message_token"]
    assert isinstance(token, int) and 10**18 <= token < 2**63
    assert answer == {"status": 0, "status_message": "ok", "message_token": token, "chat_hostname": CHAT_HOSTNAME}
    [call] = fake.calls()
    assert (call.seq, call.method, call.receivers, call.type, call.text, call.sender, call.keyboard) == (
        1, "send_message", ("u1==",), "text", "Скидка 20% сегодня", SENDER, None
    )
    assert (call.http_status, call.status, call.status_message, call.message_token, call.outcomes) == (
        200, 0, "ok", token, {"u1==": 0}
    )
    assert call.body == one("u1==")
    assert before <= call.monotonic <= after
    assert call.accepted == ("u1==",)
    assert fake.delivered() == ["u1=="]
    assert fake.count_by_receiver() == {"u1==": 1}
    assert fake.request_counts() == {"send_message": 1}
    assert fake.wait_for_delivered(1, timeout=1)


def test_tokens_are_unique_and_increasing(client: httpx.Client) -> None:
    tokens = [client.post("/send_message", json=one("u1")).json()["message_token"] for _ in range(10)]

    assert tokens == sorted(set(tokens))


def test_broadcast_lists_per_receiver_failures_and_delivers_the_rest(fake: FakeViber, client: httpx.Client) -> None:
    keyboard = {"Type": "keyboard", "Buttons": [{"ActionType": "open-url", "ActionBody": "https://example.com", "Text": "Shop"}]}
    fake.configure(receiver_rules={"u2": 5, "u3": 6, "u4": 7, "u5": 11})

    response = client.post("/broadcast_message", json=many(["u1", "u2", "u3", "u4", "u5", "u6"], keyboard=keyboard))

    answer = response.json()
    assert answer == {
        "status": 0,
        "status_message": "ok",
        "message_token": answer["message_token"],
        "chat_hostname": CHAT_HOSTNAME,
        "failed_list": [
            {"receiver": "u2", "status": 5, "status_message": "receiverNotRegistered"},
            {"receiver": "u3", "status": 6, "status_message": "notSubscribed"},
            {"receiver": "u4", "status": 7, "status_message": "publicAccountBlocked"},
            {"receiver": "u5", "status": 11, "status_message": "noSuitableDevice"},
        ],
    }
    [call] = fake.calls()
    assert call.method == "broadcast_message"
    assert call.receivers == ("u1", "u2", "u3", "u4", "u5", "u6")
    assert call.keyboard == keyboard
    assert call.outcomes == {"u1": 0, "u2": 5, "u3": 6, "u4": 7, "u5": 11, "u6": 0}
    assert call.accepted == ("u1", "u6")
    assert fake.delivered() == ["u1", "u6"]
    assert fake.count_by_receiver() == {"u1": 1, "u6": 1}
    assert fake.count_by_receiver(delivered_only=False) == dict.fromkeys(["u1", "u2", "u3", "u4", "u5", "u6"], 1)


def test_a_broadcast_where_everyone_fails_still_answers_ok(client: httpx.Client, fake: FakeViber) -> None:
    fake.configure(receiver_rules={"u1": 6})

    answer = client.post("/broadcast_message", json=many(["u1"])).json()

    assert (answer["status"], answer["failed_list"]) == (0, [{"receiver": "u1", "status": 6, "status_message": "notSubscribed"}])
    assert fake.delivered() == []


@pytest.mark.parametrize(("status", "message"), [(5, "receiverNotRegistered"), (6, "notSubscribed"), (12, "tooManyRequests")])
def test_send_message_to_a_failing_receiver_answers_its_status(
    fake: FakeViber, client: httpx.Client, status: int, message: str
) -> None:
    fake.configure(receiver_rules={"u9": status})

    response = client.post("/send_message", json=one("u9"))

    assert response.status_code == 200
    assert response.json() == {"status": status, "status_message": message, "chat_hostname": CHAT_HOSTNAME}
    [call] = fake.calls()
    assert (call.status, call.message_token, call.outcomes, call.accepted) == (status, None, {"u9": status}, ())
    assert fake.delivered() == []


def test_broadcast_of_300_is_accepted_and_301_refused_with_bad_data(fake: FakeViber, client: httpx.Client) -> None:
    receivers = [f"user-{i:03d}" for i in range(301)]

    full = client.post("/broadcast_message", json=many(receivers[:300]))
    over = client.post("/broadcast_message", json=many(receivers))

    assert full.json()["status"] == 0
    assert full.json()["failed_list"] == []
    assert over.status_code == 200
    assert over.json() == {"status": 3, "status_message": "badData: broadcast_list exceeds 300", "chat_hostname": CHAT_HOSTNAME}
    first, second = fake.calls()
    assert len(first.accepted) == 300
    assert (second.status, len(second.receivers), set(second.outcomes.values()), second.accepted) == (3, 301, {3}, ())
    assert len(fake.delivered()) == 300


def test_a_body_over_30_kb_is_refused(client: httpx.Client) -> None:
    answer = client.post("/send_message", json=one("u1", text="x" * 31_000)).json()

    assert (answer["status"], answer["status_message"]) == (3, "badData: request body exceeds 30720 bytes")


def test_wrong_or_missing_token_answers_status_2_over_http_200(fake: FakeViber) -> None:
    wrong = httpx.post(f"{fake.base_url}/send_message", json=one("u1"), headers={"X-Viber-Auth-Token": "nope"})
    missing = httpx.post(f"{fake.base_url}/broadcast_message", json=many(["u1"]))
    in_body = httpx.post(f"{fake.base_url}/send_message", json={**one("u1"), "auth_token": TOKEN})

    assert (wrong.status_code, wrong.json()) == (200, {"status": 2, "status_message": "invalidAuthToken", "chat_hostname": CHAT_HOSTNAME})
    assert missing.json()["status"] == 2
    assert in_body.json()["status"] == 0  # the legacy auth_token field also works
    assert [c.status for c in fake.calls()] == [0]
    assert fake.request_counts() == {"unauthorized": 2, "send_message": 1}


def test_the_pa_prefix_is_optional(fake: FakeViber) -> None:
    with_prefix = httpx.post(f"{fake.url}/pa/send_message", json=one("u1"), headers=AUTH)
    without = httpx.post(f"{fake.url}/send_message", json=one("u2"), headers=AUTH)
    unknown = httpx.post(f"{fake.url}/pa/no_such_method", json={}, headers=AUTH)

    assert (with_prefix.json()["status"], without.json()["status"]) == (0, 0)
    assert unknown.status_code == 404
    assert fake.delivered() == ["u1", "u2"]


def test_missing_or_bad_fields_answer_missing_or_bad_data(fake: FakeViber, client: httpx.Client) -> None:
    answers = [
        client.post("/send_message", json={**one("u1"), "sender": {}}),
        client.post("/send_message", json={**one("u1"), "text": ""}),
        client.post("/send_message", json={k: v for k, v in one("u1").items() if k != "receiver"}),
        client.post("/broadcast_message", json=many([])),
        client.post("/send_message", json={**one("u1"), "type": "hologram"}),
        client.post("/send_message", json={**one("u1"), "sender": {"name": "x" * 29}}),
        client.post("/send_message", content=b"{oops"),
    ]

    assert [a.json()["status_message"] for a in answers] == [
        "missingData: sender.name",
        "missingData: text",
        "missingData: receiver",
        "missingData: broadcast_list",
        "badData: unknown message type 'hologram'",
        "badData: sender.name exceeds 28 characters",
        "badData: request body is not a JSON object",
    ]
    assert [c.status for c in fake.calls()] == [4, 4, 4, 4, 3, 3]  # invalid JSON is not a call
    assert fake.delivered() == []


def test_rate_control_answers_12_beyond_max_requests_per_window(fake: FakeViber, client: httpx.Client) -> None:
    fake.configure(max_requests=3, window_seconds=1.0)

    statuses = [client.post("/broadcast_message", json=many([f"u{i}", f"v{i}"])).json()["status"] for i in range(5)]
    time.sleep(1.05)
    later = client.post("/send_message", json=one("w")).json()

    assert statuses == [0, 0, 0, 12, 12]
    assert later["status"] == 0
    refused = fake.calls()[3]
    assert (refused.status_message, refused.outcomes, refused.message_token) == ("tooManyRequests", {"u3": 12, "v3": 12}, None)
    assert len(fake.delivered()) == 7
    assert fake.max_in_any_window() == 6
    assert fake.max_in_any_window(1.0) == 5
    assert fake.max_in_any_window(1.0, accepted_only=True) == 3


def test_queued_statuses_apply_once_each_then_the_rules(fake: FakeViber, client: httpx.Client) -> None:
    fake.configure(queued={"u1": [12, 6, 0]}, receiver_rules={"u1": 5})

    statuses = [client.post("/send_message", json=one("u1")).json()["status"] for _ in range(4)]

    assert statuses == [12, 6, 0, 5]
    fake.reset()
    assert fake.calls() == []
    assert client.post("/send_message", json=one("u1")).json()["status"] == 12


def test_random_faults_repeat_for_the_same_seed(fake: FakeViber, client: httpx.Client) -> None:
    fake.configure(rate_12=0.2, rate_5xx=0.1, seed=7)

    def outcomes() -> list[tuple[tuple[str, ...], int, int]]:
        for i in range(100):
            client.post("/send_message", json=one(f"user{i}"))
        for i in range(50):
            client.post("/broadcast_message", json=many([f"a{i}", f"b{i}"]))
        return [(c.receivers, c.http_status, c.status) for c in fake.calls()]

    first = outcomes()
    fake.reset()
    second = outcomes()

    assert first == second
    assert {(http, status) for _, http, status in first} == {(200, 0), (200, 12), (502, -1)}


def test_server_errors_answer_an_html_bad_gateway(fake: FakeViber, client: httpx.Client) -> None:
    fake.configure(rate_5xx=1.0)

    response = client.post("/broadcast_message", json=many(["u1", "u2"]))

    assert response.status_code == 502
    assert response.headers["content-type"] == "text/html"
    assert b"Bad Gateway" in response.content
    [call] = fake.calls()
    assert (call.http_status, call.status, call.outcomes, call.accepted) == (502, -1, {"u1": -1, "u2": -1}, ())


def test_latency_delays_each_answer(fake: FakeViber, client: httpx.Client) -> None:
    fake.configure(latency=0.3)

    started = time.monotonic()
    client.post("/send_message", json=one("u1"))
    with pytest.raises(httpx.ReadTimeout):
        client.post("/send_message", json=one("u2"), timeout=0.1)

    assert time.monotonic() - started >= 0.3
    assert fake.delivered() == ["u1", "u2"]  # the second was taken although its answer was late


def check_signature(body: bytes, header: str) -> None:
    expected = hmac.new(TOKEN.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(header, expected)


def test_delivered_and_seen_callbacks_are_posted_signed_for_accepted_receivers(fake: FakeViber, client: httpx.Client) -> None:
    with Receiver() as app:
        fake.configure(
            webhook_url=app.url + "/webhooks/viber/",
            events=["delivered", "seen"],
            receiver_rules={"u2": 6},
            callback_failures={"u3": "user's device is offline"},
        )
        answer = client.post("/broadcast_message", json=many(["u1", "u2", "u3", "u4"])).json()
        assert fake.wait_for_webhooks(5)
        time.sleep(0.1)  # nothing else comes
        received = app.received()

    token = answer["message_token"]
    assert [(r.method, r.path) for r in received] == [("POST", "/webhooks/viber/")] * 5
    for request in received:
        check_signature(request.body, request.headers["x-viber-content-signature"])
    payloads = [r.payload for r in received]
    assert [(p["event"], p["user_id"]) for p in payloads] == [
        ("failed", "u3"), ("delivered", "u1"), ("delivered", "u4"), ("seen", "u1"), ("seen", "u4")
    ]
    assert payloads[1] == {
        "event": "delivered",
        "timestamp": payloads[1]["timestamp"],
        "chat_hostname": CHAT_HOSTNAME,
        "message_token": token,
        "user_id": "u1",
    }
    assert abs(payloads[1]["timestamp"] / 1000 - time.time()) < 60
    assert payloads[0]["desc"] == "user's device is offline"
    posts = fake.webhooks()
    assert [(p.event, p.recipient, p.message_id, p.status) for p in posts] == [
        (p["event"], p["user_id"], str(token), 200) for p in payloads
    ]
    assert [p.signature for p in posts] == [r.headers["x-viber-content-signature"] for r in received]


def test_callbacks_are_signed_with_the_token_of_the_request_when_any_token_is_accepted() -> None:
    with FakeViber() as fake, Receiver() as app:
        fake.configure(webhook_url=app.url)
        httpx.post(f"{fake.base_url}/send_message", json=one("u1"), headers={"X-Viber-Auth-Token": "other-token"})
        [request] = app.wait_for(1)

    assert request.headers["x-viber-content-signature"] == sign(request.body, "other-token")
    assert request.payload["event"] == "delivered"


def test_set_webhook_and_get_account_info(fake: FakeViber, client: httpx.Client) -> None:
    settings = {"url": "https://example.com/webhooks/viber/", "event_types": ["delivered", "seen"], "send_name": True}

    before = client.post("/get_account_info", json={}).json()
    answer = client.post("/set_webhook", json=settings).json()
    after = client.post("/get_account_info", json={}).json()

    assert answer == {"status": 0, "status_message": "ok", "chat_hostname": CHAT_HOSTNAME, "event_types": ["delivered", "seen"]}
    assert fake.webhook_settings() == settings
    assert (before["status"], before["webhook"]) == (0, "")
    assert (after["webhook"], after["event_types"]) == ("https://example.com/webhooks/viber/", ["delivered", "seen"])
    assert {"id", "name", "uri", "icon", "country", "subscribers_count", "members"} <= set(after)
    assert fake.config.webhook_url is None  # callbacks go where the test configured them
    assert fake.calls() == []


def test_callback_builders_have_the_documented_shapes() -> None:
    user = {"id": "u1", "name": "Anna", "avatar": AVATAR, "country": "RU", "language": "ru", "api_version": 1}
    common = {"timestamp": 1457764197627, "chat_hostname": CHAT_HOSTNAME, "message_token": 491266184665523145}

    assert subscribed_payload("u1", "Anna", timestamp=1457764197627, message_token=491266184665523145) == {
        "event": "subscribed", **common, "user": user,
    }
    assert unsubscribed_payload("u1", timestamp=1457764197627, message_token=491266184665523145) == {
        "event": "unsubscribed", **common, "user_id": "u1",
    }
    assert conversation_started_payload(
        "u1", "Anna", context="promo-42", timestamp=1457764197627, message_token=491266184665523145
    ) == {"event": "conversation_started", **common, "type": "open", "context": "promo-42", "user": user, "subscribed": False}
    assert delivered_payload(491266184665523145, "u1", timestamp=1457764197627) == {"event": "delivered", **common, "user_id": "u1"}
    assert seen_payload(491266184665523145, "u1", timestamp=1457764197627) == {"event": "seen", **common, "user_id": "u1"}
    assert failed_payload(491266184665523145, "u1", "offline", timestamp=1457764197627) == {
        "event": "failed", **common, "user_id": "u1", "desc": "offline",
    }
    assert message_payload("u1", "СТОП", name="Anna", timestamp=1457764197627, message_token=491266184665523145) == {
        "event": "message", **common, "sender": user, "message": {"type": "text", "text": "СТОП"},
    }
    english = subscribed_payload("u2", "Bob", language="en")
    assert english["user"]["language"] == "en"
    assert isinstance(english["timestamp"], int) and isinstance(english["message_token"], int)
    assert english["message_token"] != subscribed_payload("u2", "Bob")["message_token"]


def test_sign_and_signed_match_an_independent_hmac() -> None:
    payload = message_payload("u1", "Привет")

    body, headers = signed(payload, TOKEN)

    assert body == encode(payload)
    assert "Привет".encode() in body  # raw UTF-8
    assert json.loads(body) == payload
    assert headers == {"Content-Type": "application/json", "X-Viber-Content-Signature": sign(body, TOKEN)}
    check_signature(body, headers["X-Viber-Content-Signature"])


def test_config_rejects_unknown_statuses_and_fields() -> None:
    with pytest.raises(ValueError, match="unknown status"):
        ViberConfig(receiver_rules={"u1": 2})
    with pytest.raises(ValueError, match="unknown config fields"):
        ViberConfig().updated({"nope": 1})
    with pytest.raises(ValueError, match="unknown event"):
        ViberConfig().updated({"events": ["opened"]})


def test_command_line_fake_is_configured_and_read_over_http_and_dumps_on_sigterm(tmp_path: Path) -> None:
    dump = tmp_path / "calls.json"
    with fake_process("tests.fakes.viber", "FAKE_VIBER_URL", "--token", TOKEN, "--dump", str(dump)) as (url, process):
        with RemoteFakeViber(url) as remote, Receiver() as app:
            config = remote.configure(receiver_rules={"u2": 6}, webhook_url=app.url)
            assert config["receiver_rules"] == {"u2": 6}

            answer = httpx.post(f"{remote.base_url}/broadcast_message", json=many(["u1", "u2"]), headers=AUTH).json()
            [callback] = app.wait_for(1)

            assert answer["failed_list"] == [{"receiver": "u2", "status": 6, "status_message": "notSubscribed"}]
            [call] = remote.calls()
            assert (call.receivers, call.outcomes) == (("u1", "u2"), {"u1": 0, "u2": 6})
            assert remote.delivered() == ["u1"]
            assert remote.count_by_receiver() == {"u1": 1}
            assert remote.max_in_any_window() == 1
            assert remote.stats()["delivered"] == 1
            assert [(w.event, w.recipient, w.status) for w in remote.webhooks()] == [("delivered", "u1", 200)]
            check_signature(callback.body, callback.headers["x-viber-content-signature"])
            remote.reset()
            assert remote.calls() == []
            httpx.post(f"{remote.base_url}/send_message", json=one("u3"), headers=AUTH)

    assert process.returncode == 0
    dumped = json.loads(dump.read_text())
    assert [(c["receivers"], c["status"]) for c in dumped["calls"]] == [(["u3"], 0)]
    assert dumped["stats"]["delivered"] == 1


# ---- platform failures: lost answers, a revoked token, the account, a server not there yet


def test_a_lost_answer_is_a_502_to_the_client_but_the_broadcast_was_delivered(fake: FakeViber, client: httpx.Client) -> None:
    with Receiver() as app:
        fake.configure(lose_next=1, webhook_url=app.url, receiver_rules={"u2": 6})
        lost = client.post("/broadcast_message", json=many(["u1", "u2", "u3"]))
        answered = client.post("/send_message", json=one("u4"))
        callbacks = app.wait_for(3)

    assert (lost.status_code, lost.headers["content-type"]) == (502, "text/html")
    assert answered.json()["status"] == 0
    taken, other = fake.calls()
    assert (taken.http_status, taken.status, taken.lost_answer, taken.accepted) == (502, 0, "502", ("u1", "u3"))
    assert taken.message_token is not None
    assert other.lost_answer is None
    assert fake.delivered() == ["u1", "u3", "u4"]
    # the callbacks still come, with the token the client never saw
    assert [(r.payload["event"], r.payload["user_id"], r.payload["message_token"]) for r in callbacks] == [
        ("delivered", "u1", taken.message_token), ("delivered", "u3", taken.message_token),
        ("delivered", "u4", answered.json()["message_token"]),
    ]
    assert fake.stats()["lost_answers"] == {"502": 1}


@pytest.mark.parametrize(("how", "error"), [("reset", httpx.ReadError), ("close", httpx.RemoteProtocolError)])
def test_a_lost_answer_can_be_a_reset_or_a_closed_connection(
    fake: FakeViber, client: httpx.Client, how: str, error: type
) -> None:
    fake.configure(lose_next=1, lost_answer=how)

    with pytest.raises(error):
        client.post("/broadcast_message", json=many(["u1", "u2"]))

    [call] = fake.calls()
    assert (call.http_status, call.status, call.lost_answer) == (0, 0, how)
    assert fake.delivered() == ["u1", "u2"]


def test_every_nth_taken_request_loses_its_answer(fake: FakeViber, client: httpx.Client) -> None:
    fake.configure(lose_every=2, receiver_rules={"gone": 5})

    statuses = [client.post("/send_message", json=one(r)).status_code for r in ("a", "gone", "b", "c", "d")]

    assert statuses == [200, 200, 502, 200, 502]  # "gone" answered status 5: not taken, not counted
    assert fake.delivered() == ["a", "b", "c", "d"]


def test_the_adapter_makes_every_receiver_of_a_lost_broadcast_uncertain(fake: FakeViber) -> None:
    fake.configure(lose_next=1, lost_answer="reset")
    session = ViberChannel(TOKEN, fake.base_url, "Shop").open()

    lost = session.send([OutboundMessage(i, f"u{i}", "Sale") for i in range(300)])
    answered = session.send([OutboundMessage(300, "u300", "Sale")])
    session.close()

    assert {type(o.error) for o in lost} == {Uncertain}
    assert lost[0].error.reason.startswith("no answer from Viber; it may have been sent (ReadError(")
    assert answered[0].sent
    assert len(fake.delivered()) == 301


def test_a_revoked_token_answers_status_2_to_everything_until_restored(fake: FakeViber, client: httpx.Client) -> None:
    session = ViberChannel(TOKEN, fake.base_url, "Shop").open()
    fake.configure(token_revoked=True)

    refused = client.post("/send_message", json=one("u1"))
    info = client.post("/get_account_info", json={})
    outcomes = session.send([OutboundMessage(1, "u1", "Sale"), OutboundMessage(2, "u2", "Sale")])
    fake.configure(token_revoked=False)
    restored = client.post("/send_message", json=one("u3"))
    session.close()

    assert (refused.status_code, refused.json()) == (
        200, {"status": 2, "status_message": "invalidAuthToken", "chat_hostname": CHAT_HOSTNAME}
    )
    assert info.json()["status"] == 2
    assert {type(o.error) for o in outcomes} == {AccountRefused}
    assert {o.error.reason for o in outcomes} == {"Viber 2: invalidAuthToken"}
    assert restored.json()["status"] == 0
    assert fake.delivered() == ["u3"]  # nothing else was taken
    assert fake.request_counts() == {"unauthorized": 3, "send_message": 1}


@pytest.mark.parametrize(("status", "message"), [(20, "broadcastNotAllowed"), (23, "freeMessagesExceeded"), (24, "noBalance")])
def test_an_account_status_answers_every_message_and_the_adapter_reads_account_refused(
    fake: FakeViber, status: int, message: str
) -> None:
    fake.configure(account_status=status)
    session = ViberChannel(TOKEN, fake.base_url, "Shop").open()

    outcomes = session.send([OutboundMessage(1, "u1", "A"), OutboundMessage(2, "u2", "B")])
    session.close()

    assert {type(o.error) for o in outcomes} == {AccountRefused}
    assert {o.error.reason for o in outcomes} == {f"Viber {status}: {message}"}
    assert sorted(c.status for c in fake.calls()) == [status, status]
    assert fake.delivered() == []


def test_a_fake_made_with_a_port_is_unreachable_until_started_on_it() -> None:
    fake = FakeViber(token=TOKEN, port=free_port())
    session = ViberChannel(TOKEN, fake.base_url, "Shop").open()

    before = session.send([OutboundMessage(1, "u1", "Sale"), OutboundMessage(2, "u2", "Sale")])
    with fake:
        after = session.send([OutboundMessage(3, "u1", "Sale")])
    session.close()

    assert {type(o.error) for o in before} == {TemporaryFailure}
    assert before[0].error.reason.startswith("Viber not reached (ConnectError(")
    assert after[0].sent
    assert fake.delivered() == ["u1"]


def test_a_stopped_fake_starts_again_on_the_same_port_with_its_recordings(fake: FakeViber) -> None:
    url = f"{fake.base_url}/send_message"
    httpx.post(url, json=one("u1"), headers=AUTH)

    fake.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.post(url, json=one("u2"), headers=AUTH)
    fake.start()
    again = httpx.post(url, json=one("u3"), headers=AUTH)

    assert again.json()["status"] == 0
    assert fake.delivered() == ["u1", "u3"]


def test_new_settings_are_checked_and_remote_configurable() -> None:
    with pytest.raises(ValueError, match="account_status"):
        ViberConfig(account_status=5)
    with pytest.raises(ValueError, match="lose_next"):
        ViberConfig(lose_next=-1)
    assert ViberConfig().updated({"lose_next": 1, "lost_answer": "close", "account_status": 24}) == ViberConfig(
        lose_next=1, lost_answer="close", account_status=24
    )
