"""A fake Viber REST bot API (developers.viber.com) on loopback, for integration tests.

It answers ``POST /pa/send_message``, ``/pa/broadcast_message``, ``/pa/set_webhook`` and
``/pa/get_account_info`` (with or without the ``/pa`` prefix), authenticated by the
``X-Viber-Auth-Token`` header. As Viber does, every API answer is HTTP 200 with a ``status``:
0 ok, 2 invalidAuthToken, 3 badData, 4 missingData, 5 receiverNotRegistered, 6 notSubscribed,
7 publicAccountBlocked, 11 noSuitableDevice, 12 tooManyRequests. A broadcast answers status 0
with a ``failed_list`` of the receivers it could not reach. Only injected server errors answer
HTTP 5xx (an HTML "Bad Gateway", as a proxy would).

Account-level failures: ``token_revoked`` answers status 2 to everything until set back to
False; ``account_status`` answers one status (20 broadcastNotAllowed, 23 freeMessagesExceeded,
24 noBalance, 7 publicAccountBlocked) to every message request. ``lose_next`` / ``lose_every``
take a message request (its receivers recorded as delivered, callbacks posted) and lose its
answer (``lost_answer``: "502", "reset" or "close").

After each accepted receiver it can POST ``delivered`` (then ``seen``) callbacks to the
application, signed ``X-Viber-Content-Signature: <hex HMAC-SHA256 of the raw body keyed with
the auth token>``, from a background task so the send answer is not delayed.

In a test process::

    with FakeViber(token="viber-test") as fake:
        fake.configure(receiver_rules={"u2": 6}, webhook_url=..., events=["delivered", "seen"])
        httpx.post(f"{fake.base_url}/broadcast_message", json={...}, headers={"X-Viber-Auth-Token": ...})
        assert fake.delivered() == ["u1"]

The module also builds (without sending) the callbacks Viber would post to the application:
``subscribed_payload``, ``unsubscribed_payload``, ``conversation_started_payload``,
``message_payload``, ``delivered_payload``, ``seen_payload``, ``failed_payload``, with
``encode``, ``sign`` and ``signed``.

From another process: ``python -m tests.fakes.viber --port 0`` prints
``FAKE_VIBER_URL=http://127.0.0.1:<port>``; ``RemoteFakeViber`` reads and configures it over
the control endpoints described in tests/fakes/http.py.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar
from urllib.parse import urlsplit

from tests.fakes.http import (
    Answer,
    FakeServer,
    JSONDict,
    OutgoingPost,
    RemoteFake,
    SlidingWindow,
    as_list,
    as_mapping,
    as_strings,
    check_fields,
    check_losses,
    config_to_json,
    draw,
    hmac_sha256_hex,
    json_answer,
    lost,
    lost_status,
    main_for,
    max_in_any_window,
)

SIGNATURE_HEADER = "X-Viber-Content-Signature"
AUTH_HEADER = "X-Viber-Auth-Token"
CHAT_HOSTNAME = "SN-CHAT-01_"
AVATAR = "http://avatar.example.com"
MAX_BROADCAST = 300
MAX_BODY_BYTES = 30 * 1024
MAX_SENDER_NAME = 28

# Viber status code -> status_message.
STATUS_MESSAGES: dict[int, str] = {
    0: "ok",
    1: "invalidUrl",
    2: "invalidAuthToken",
    3: "badData",
    4: "missingData",
    5: "receiverNotRegistered",
    6: "notSubscribed",
    7: "publicAccountBlocked",
    11: "noSuitableDevice",
    12: "tooManyRequests",
    15: "publicAccountNotAuthorized",
    18: "noPublicChat",
    20: "broadcastNotAllowed",
    23: "freeMessagesExceeded",
    24: "noBalance",
}
RECEIVER_CODES = frozenset({5, 6, 7, 11, 12})  # what receiver_rules may give
ACCOUNT_CODES = frozenset({7, 20, 23, 24})  # what account_status may give
MESSAGE_TYPES = frozenset({"text", "picture", "video", "file", "location", "contact", "sticker", "rich_media", "url"})
EVENTS = ("delivered", "seen")
EVENT_TYPES = ["delivered", "seen", "failed", "subscribed", "unsubscribed", "conversation_started"]
NO_ANSWER = -1  # Call.status when the fake answered HTTP 5xx instead of a Viber status


@dataclass(frozen=True)
class ViberConfig:
    """What the fake does wrong, and when. Replace it whole or with ``configure(**changes)``."""

    # receiver id -> status for every message to it: 5 receiverNotRegistered, 6 notSubscribed,
    # 7 publicAccountBlocked, 11 noSuitableDevice, 12 tooManyRequests. In a broadcast the
    # receiver goes to failed_list; a send_message answers that status.
    receiver_rules: Mapping[str, int] = field(default_factory=dict)
    # receiver id -> statuses for its next messages, one each, before the rules apply; 0 accepts.
    queued: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    # receiver id -> desc: the message is accepted, then a "failed" callback with that desc
    # comes instead of delivered/seen.
    callback_failures: Mapping[str, str] = field(default_factory=dict)
    # Fractions of message requests answered status 12 and HTTP 502. The draw depends only on
    # (seed, receiver or broadcast list, n-th time it was sent), so it repeats whatever the
    # concurrency.
    rate_12: float = 0.0
    rate_5xx: float = 0.0
    seed: int = 0
    latency: float = 0.0  # seconds before each answer
    # Rate control: more than max_requests admitted message requests (send_message and
    # broadcast_message) within window_seconds -> status 12; refused requests do not count.
    max_requests: int | None = None
    window_seconds: float = 10.0
    max_broadcast: int = MAX_BROADCAST
    max_body_bytes: int = MAX_BODY_BYTES
    # Callbacks: for each accepted receiver POST each of `events` to webhook_url (all
    # "delivered" of a request, then all "seen"), signed with the request's auth token.
    webhook_url: str | None = None
    events: tuple[str, ...] = ("delivered",)
    webhook_delay: float = 0.0
    webhook_timeout: float = 10.0
    # A status answered to every valid message request, for whoever it is: 20
    # broadcastNotAllowed, 23 freeMessagesExceeded, 24 noBalance, 7 publicAccountBlocked.
    account_status: int | None = None
    # Lost answers: the next `lose_next` message requests the fake takes (status 0), or every
    # `lose_every`-th, are recorded as accepted and their callbacks posted, but answered
    # `lost_answer` instead: "502" (an HTML 502 from a proxy), "reset" (TCP RST) or "close".
    lose_every: int | None = None
    lose_next: int = 0
    lost_answer: str = "502"
    # A revoked token: every request answers status 2 invalidAuthToken until set back to False.
    token_revoked: bool = False
    # Viber Channels (Channels Post API): the channel's own token -> {"id", "name",
    # "subscribers_count", "members": [{"id", "name", "role": "superadmin"|"admin"|...}]}.
    # A channel token is accepted besides ``token``; get_account_info with it describes the
    # channel; POST /pa/post takes a post "from" one of its admins (status 15 otherwise) and
    # refuses a token that is not a channel's (a bot's) with status 18 noPublicChat.
    channels: Mapping[str, Mapping[str, object]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_losses(self.lose_every, self.lose_next, self.lost_answer)
        if self.account_status is not None and self.account_status not in ACCOUNT_CODES:
            raise ValueError(f"account_status: unknown status {self.account_status!r}, expected one of {sorted(ACCOUNT_CODES)}")
        for receiver, code in self.receiver_rules.items():
            if code not in RECEIVER_CODES:
                raise ValueError(f"receiver {receiver}: unknown status {code!r}, expected one of {sorted(RECEIVER_CODES)}")
        for receiver, codes in self.queued.items():
            for code in codes:
                if code != 0 and code not in RECEIVER_CODES:
                    raise ValueError(f"receiver {receiver}: unknown queued status {code!r}")
        for event in self.events:
            if event not in EVENTS:
                raise ValueError(f"events: unknown event {event!r}, expected some of {EVENTS}")
        if not 0.0 <= self.rate_12 + self.rate_5xx <= 1.0 or min(self.rate_12, self.rate_5xx) < 0:
            raise ValueError("rate_12 and rate_5xx must be fractions summing to at most 1")

    def to_json(self) -> JSONDict:
        """The config as JSON-ready values."""
        return config_to_json(self)

    def updated(self, changes: Mapping[str, object]) -> ViberConfig:
        """A copy with ``changes`` applied; accepts JSON shapes (lists for tuples)."""
        values = check_fields(self, changes)
        if "receiver_rules" in values:
            values["receiver_rules"] = {str(k): int(str(v)) for k, v in as_mapping(values["receiver_rules"]).items()}
        if "queued" in values:
            values["queued"] = {
                str(k): tuple(int(c) for c in ([v] if isinstance(v, int) else as_list(v)))
                for k, v in as_mapping(values["queued"]).items()
            }
        if "callback_failures" in values:
            values["callback_failures"] = {str(k): str(v) for k, v in as_mapping(values["callback_failures"]).items()}
        if "events" in values:
            values["events"] = tuple(as_strings(values["events"]))
        if "channels" in values:
            values["channels"] = {str(k): dict(as_mapping(v)) for k, v in as_mapping(values["channels"]).items()}
        return dataclasses.replace(self, **values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Call:
    """One send_message or broadcast_message, as it arrived and as the fake answered it."""

    seq: int  # arrival order, from 1
    method: str  # "send_message" or "broadcast_message"
    receivers: tuple[str, ...]  # the receiver, or the broadcast_list
    type: str
    text: str | None
    sender: JSONDict
    keyboard: JSONDict | None
    body: JSONDict  # the whole request body
    monotonic: float  # time.monotonic() at arrival
    wall: float  # time.time() at arrival
    http_status: int  # 0 when the connection was dropped without an answer
    status: int  # Viber status answered (or meant, when lost_answer); NO_ANSWER (-1) with an injected HTTP 5xx
    status_message: str
    message_token: int | None  # set when the request was accepted (status 0)
    outcomes: dict[str, int]  # receiver -> its status (0: accepted)
    # "502", "reset" or "close" when the request was accepted but its answer lost
    lost_answer: str | None = None

    @property
    def accepted(self) -> tuple[str, ...]:
        """The receivers Viber took the message for."""
        return tuple(r for r in self.receivers if self.outcomes.get(r) == 0)

    def to_json(self) -> JSONDict:
        """The call as JSON-ready values."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Call:
        """The inverse of to_json."""
        values = dict(data)
        values["receivers"] = tuple(values["receivers"])  # type: ignore[call-overload]
        return cls(**values)  # type: ignore[arg-type]


def delivered(calls: Iterable[Call]) -> list[str]:
    """The accepted receivers of ``calls``, in order, once per message."""
    return [r for c in calls for r in c.accepted]


def count_by_receiver(calls: Iterable[Call], *, delivered_only: bool = True) -> dict[str, int]:
    """Messages per receiver: accepted ones, or every one sent with delivered_only=False."""
    if delivered_only:
        return dict(Counter(delivered(calls)))
    return dict(Counter(r for c in calls for r in c.receivers))


# ---- payloads -----------------------------------------------------------------------


def encode(payload: object) -> bytes:
    """A callback body: compact UTF-8 JSON (the signature is over these exact bytes)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def sign(body: bytes, token: str) -> str:
    """The X-Viber-Content-Signature value: hex HMAC-SHA256 of ``body`` keyed with the token."""
    return hmac_sha256_hex(token, body)


def signed(payload: object, token: str) -> tuple[bytes, dict[str, str]]:
    """(body, headers) of a callback POST as Viber would make it: ``client.post(url,
    content=body, headers=headers)``."""
    body = encode(payload)
    return body, {"Content-Type": "application/json", SIGNATURE_HEADER: sign(body, token)}


# 19 digits, below 2**63 like Viber's; a random start so that two runs do not collide.
_tokens = itertools.count(4 * 10**18 + int.from_bytes(os.urandom(4), "big") % 1000 * 10**15)


def new_message_token() -> int:
    """A unique 64-bit message token, as Viber gives."""
    return next(_tokens)


def _now_ms() -> int:
    return int(time.time() * 1000)


def user(user_id: str, name: str = "Test User", language: str = "ru", country: str = "RU") -> JSONDict:
    """A Viber user object, as in subscribed and conversation_started callbacks."""
    return {"id": user_id, "name": name, "avatar": AVATAR, "country": country, "language": language, "api_version": 1}


def _event(event: str, timestamp: int | None, message_token: int | None, **fields: object) -> JSONDict:
    return {
        "event": event,
        "timestamp": _now_ms() if timestamp is None else timestamp,
        "chat_hostname": CHAT_HOSTNAME,
        "message_token": new_message_token() if message_token is None else message_token,
        **fields,
    }


def subscribed_payload(
    user_id: str,
    name: str = "Test User",
    language: str = "ru",
    *,
    country: str = "RU",
    timestamp: int | None = None,
    message_token: int | None = None,
) -> JSONDict:
    """The "subscribed" callback: the user subscribed to the bot."""
    return _event("subscribed", timestamp, message_token, user=user(user_id, name, language, country))


def unsubscribed_payload(user_id: str, *, timestamp: int | None = None, message_token: int | None = None) -> JSONDict:
    """The "unsubscribed" callback: the user opted out."""
    return _event("unsubscribed", timestamp, message_token, user_id=user_id)


def conversation_started_payload(
    user_id: str,
    name: str = "Test User",
    context: str | None = None,
    *,
    subscribed: bool = False,
    language: str = "ru",
    country: str = "RU",
    timestamp: int | None = None,
    message_token: int | None = None,
) -> JSONDict:
    """The "conversation_started" callback: the user opened the chat (``context`` comes from
    a deep link)."""
    return _event(
        "conversation_started",
        timestamp,
        message_token,
        type="open",
        context=context,
        user=user(user_id, name, language, country),
        subscribed=subscribed,
    )


def message_payload(
    user_id: str,
    text: str,
    *,
    name: str = "Test User",
    language: str = "ru",
    country: str = "RU",
    tracking_data: str | None = None,
    timestamp: int | None = None,
    message_token: int | None = None,
) -> JSONDict:
    """The "message" callback of a text the user sent to the bot."""
    message: JSONDict = {"type": "text", "text": text}
    if tracking_data is not None:
        message["tracking_data"] = tracking_data
    return _event("message", timestamp, message_token, sender=user(user_id, name, language, country), message=message)


def delivered_payload(message_token: int, user_id: str, *, timestamp: int | None = None) -> JSONDict:
    """The "delivered" callback of a message the bot sent."""
    return _event("delivered", timestamp, message_token, user_id=user_id)


def seen_payload(message_token: int, user_id: str, *, timestamp: int | None = None) -> JSONDict:
    """The "seen" callback of a message the bot sent."""
    return _event("seen", timestamp, message_token, user_id=user_id)


def failed_payload(message_token: int, user_id: str, desc: str, *, timestamp: int | None = None) -> JSONDict:
    """The "failed" callback of a message the bot sent."""
    return _event("failed", timestamp, message_token, user_id=user_id, desc=desc)


def webhook_payload(*, timestamp: int | None = None) -> JSONDict:
    """The "webhook" callback Viber sends to check a URL given to set_webhook."""
    return _event("webhook", timestamp, None)


# ---- the server ---------------------------------------------------------------------

_PATH = re.compile(r"(?:/pa)?/([a-z_]+)/?")


def _status(status: int, detail: str | None = None, **extra: object) -> JSONDict:
    message = STATUS_MESSAGES[status] + (f": {detail}" if detail else "")
    return {"status": status, "status_message": message, **extra}


class FakeViber(FakeServer[ViberConfig, Call]):
    """The fake Viber bot API: start()/stop() or a ``with`` block run it in a background thread."""

    name: ClassVar[str] = "fake-viber"
    config_class = ViberConfig

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        config: ViberConfig | None = None,
    ) -> None:
        super().__init__(host=host, port=port, config=config)
        self.token = token  # None: accept any non-empty token
        self._admitted = SlidingWindow()
        self._attempts: Counter[str] = Counter()
        self._webhook_settings: JSONDict | None = None
        self._seq = 0

    @property
    def base_url(self) -> str:
        """The API root, like https://chatapi.viber.com/pa: ``f"{base_url}/send_message"``."""
        return f"{self.url}/pa"

    def _forget(self) -> None:
        self._admitted = SlidingWindow()
        self._attempts = Counter()
        self._webhook_settings = None

    # ---- recorded calls --------------------------------------------------------------

    def delivered(self) -> list[str]:
        """The receivers Viber accepted a message for, in order, once per message."""
        return delivered(self.calls())

    def count_by_receiver(self, *, delivered_only: bool = True) -> dict[str, int]:
        """Messages per receiver: accepted ones, or every one sent with delivered_only=False."""
        return count_by_receiver(self.calls(), delivered_only=delivered_only)

    def max_in_any_window(self, seconds: float = 10.0, *, accepted_only: bool = False) -> int:
        """Most message requests (not receivers) that arrived within one window [t, t + seconds);
        Viber's rate control counts requests per 10 s."""
        calls = [c for c in self.calls() if c.status == 0] if accepted_only else self.calls()
        return max_in_any_window((c.monotonic for c in calls), seconds)

    def webhook_settings(self) -> JSONDict | None:
        """The body of the last set_webhook call (callbacks still go to config.webhook_url)."""
        with self._lock:
            return self._webhook_settings

    def wait_for_delivered(self, count: int, timeout: float = 10.0) -> bool:
        """Block until at least ``count`` receivers were accepted; False on timeout."""
        return self._wait_for_accepted(count, timeout)

    def stats(self) -> JSONDict:
        """Counts for the control endpoint and the dump file."""
        calls = self.calls()
        webhooks = self.webhooks()
        return {
            "calls": len(calls),
            "delivered": len(delivered(calls)),
            "lost_answers": dict(Counter(c.lost_answer for c in calls if c.lost_answer)),
            "statuses": {str(k): v for k, v in Counter(c.status for c in calls).items()},
            "count_by_receiver": count_by_receiver(calls),
            "max_in_any_window": max_in_any_window((c.monotonic for c in calls), 10.0),
            "requests": self.request_counts(),
            "webhooks": len(webhooks),
            "webhook_events": dict(Counter(w.event for w in webhooks)),
        }

    # ---- HTTP ------------------------------------------------------------------------

    def _answer(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Answer:
        path = urlsplit(target).path
        if path.startswith("/_fake/"):
            return self._control(method, path, body)
        with self._lock:
            config = self._config
        match = _PATH.fullmatch(path)
        api = match.group(1) if match and method == "POST" else ""
        if api not in ("send_message", "broadcast_message", "set_webhook", "get_account_info", "post"):
            return self._refuse("unknown", {"status_message": "Not Found"}, config.latency, http_status=404)
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            payload = None
        token = headers.get(AUTH_HEADER.lower()) or (payload.get("auth_token") if isinstance(payload, dict) else None)
        channel = config.channels.get(str(token)) if token else None
        if not token or (self.token is not None and token != self.token and channel is None) or config.token_revoked:
            return self._refuse("unauthorized", _status(2), config.latency)
        if not isinstance(payload, dict):
            return self._refuse("bad_request", _status(3, "request body is not a JSON object"), config.latency)
        if api == "set_webhook":
            return self._set_webhook(payload, config)
        if api == "get_account_info":
            return self._account_info(config) if channel is None else self._channel_info(config, channel)
        if api == "post":
            return self._post(payload, config, channel)
        return self._message(api, payload, len(body), str(token))

    def _refuse(self, kind: str, payload: JSONDict, latency: float, http_status: int = 200) -> Answer:
        self._count_request(kind)
        return json_answer(http_status, {**payload, "chat_hostname": CHAT_HOSTNAME} if http_status == 200 else payload, latency)

    def _set_webhook(self, payload: JSONDict, config: ViberConfig) -> Answer:
        with self._lock:
            self._requests["set_webhook"] += 1
            if not isinstance(payload.get("url"), str):
                return json_answer(200, _status(4, "url"), config.latency)
            self._webhook_settings = payload
        event_types = payload.get("event_types") or EVENT_TYPES
        return json_answer(200, {**_status(0), "chat_hostname": CHAT_HOSTNAME, "event_types": event_types}, config.latency)

    def _account_info(self, config: ViberConfig) -> Answer:
        with self._lock:
            self._requests["get_account_info"] += 1
            settings = self._webhook_settings or {}
        info = {
            **_status(0),
            "id": "pa:5734728282783893011",
            "chat_hostname": CHAT_HOSTNAME,
            "name": "Fake Bot",
            "uri": "fakebot",
            "icon": "http://example.com/icon.png",
            "background": "http://example.com/background.png",
            "category": "Shopping",
            "subcategory": "Online shopping",
            "location": {"lon": 37.6173, "lat": 55.7558},
            "country": "RU",
            "webhook": settings.get("url", ""),
            "event_types": settings.get("event_types") or EVENT_TYPES,
            "subscribers_count": 0,
            "members": [{"id": "01234567890A=", "name": "Admin", "avatar": AVATAR, "role": "admin"}],
        }
        return json_answer(200, info, config.latency)

    def _channel_info(self, config: ViberConfig, channel: Mapping[str, object]) -> Answer:
        """get_account_info with a channel's token: the channel, its subscribers and its admins."""
        with self._lock:
            self._requests["get_account_info"] += 1
        info = {
            **_status(0),
            "id": channel.get("id", "pa:5734728282783899999"),
            "chat_hostname": CHAT_HOSTNAME,
            "name": channel.get("name", "Fake Channel"),
            "icon": "http://example.com/icon.png",
            "background": "http://example.com/background.png",
            "country": "RU",
            "webhook": "",
            "subscribers_count": channel.get("subscribers_count", 0),
            "members": [{"avatar": AVATAR, **m} for m in as_list(channel.get("members", []))],
        }
        return json_answer(200, info, config.latency)

    def channel_posts(self) -> list[Call]:
        """The posts the Channels Post API took (status 0, answered or lost)."""
        return [c for c in self.calls() if c.method == "post" and c.status == 0]

    def _post(self, payload: JSONDict, config: ViberConfig, channel: Mapping[str, object] | None) -> Answer:
        """POST /pa/post: one message in a channel, "from" one of its admins."""
        arrived, wall = time.monotonic(), time.time()
        admins = {str(m.get("id")) for m in as_list((channel or {}).get("members", []))
                  if isinstance(m, Mapping) and m.get("role") in ("admin", "superadmin")}
        sender = str(payload.get("from") or "")
        kind = payload.get("type")
        problem: tuple[int, str | None] | None = None
        if channel is None:
            problem = 18, None  # a bot's token: no channel to post in
        elif not sender:
            problem = 4, "from"
        elif sender not in admins:
            problem = 15, "from is not an admin of the channel"
        elif not kind:
            problem = 4, "type"
        elif kind not in MESSAGE_TYPES:
            problem = 3, f"unknown message type {kind!r}"
        elif kind == "text" and not (isinstance(payload.get("text"), str) and payload["text"]):
            problem = 4, "text"
        elif kind in ("picture", "video", "file"):
            problem = _invalid_media(payload, kind)
        channel_id = str((channel or {}).get("id", ""))
        with self._lock:
            self._requests["post"] += 1
            self._seq += 1
            http_status, token_value, lost_answer = 200, None, None
            status, detail = problem if problem is not None else (0, None)
            if status == 0:
                token_value = new_message_token()
                lost_answer = self._lose_answer()
                if lost_answer is not None:
                    http_status = lost_status(lost_answer)
            text = payload.get("text")
            self._calls.append(Call(
                seq=self._seq, method="post", receivers=(channel_id,), type=str(kind or ""),
                text=text if isinstance(text, str) else None, sender={"from": sender}, keyboard=None, body=payload,
                monotonic=arrived, wall=wall, http_status=http_status, status=status,
                status_message=STATUS_MESSAGES[status] + (f": {detail}" if detail else ""),
                message_token=token_value, outcomes={channel_id: status}, lost_answer=lost_answer,
            ))
        if lost_answer is not None:
            return lost(lost_answer, config.latency)
        answer = _status(status, detail)
        if token_value is not None:
            answer["message_token"] = token_value
        answer["chat_hostname"] = CHAT_HOSTNAME
        return json_answer(200, answer, config.latency)

    def _message(self, api: str, payload: JSONDict, size: int, token: str) -> Answer:
        arrived, wall = time.monotonic(), time.time()
        broadcast = api == "broadcast_message"
        raw = payload.get("broadcast_list") if broadcast else [payload.get("receiver")]
        receivers = tuple(str(r) for r in raw if r) if isinstance(raw, list) else ()
        sender = payload.get("sender")
        keyboard = payload.get("keyboard")
        text = payload.get("text")

        with self._lock:
            self._requests[api] += 1
            config = self._config
            self._seq += 1
            problem = _invalid(payload, api, receivers, size, config)
            http_status, token_value, lost_answer = 200, None, None
            if problem is not None:
                status, detail = problem
                outcomes = dict.fromkeys(receivers, status)
            else:
                status, detail, outcomes = self._decide(config, api, receivers, arrived)
                if status == NO_ANSWER:
                    http_status = 502
                elif status == 0:
                    token_value = new_message_token()
                    lost_answer = self._lose_answer()
                    if lost_answer is not None:
                        http_status = lost_status(lost_answer)
            call = Call(
                seq=self._seq,
                method=api,
                receivers=receivers,
                type=str(payload.get("type", "")),
                text=text if isinstance(text, str) else None,
                sender=sender if isinstance(sender, dict) else {},
                keyboard=keyboard if isinstance(keyboard, dict) else None,
                body=payload,
                monotonic=arrived,
                wall=wall,
                http_status=http_status,
                status=status,
                status_message=STATUS_MESSAGES.get(status, "Bad Gateway") + (f": {detail}" if detail else ""),
                message_token=token_value,
                outcomes=outcomes,
                lost_answer=lost_answer,
            )
            self._calls.append(call)
            if call.accepted:
                self._note_accepted(len(call.accepted))

        posts = self._callbacks(config, call, token) if token_value is not None else []
        after = (lambda: self._queue_webhooks(posts)) if posts else None
        if lost_answer is not None:
            return lost(lost_answer, config.latency, after)
        if http_status != 200:
            body = b"<html><head><title>502 Bad Gateway</title></head><body>Bad Gateway</body></html>"
            return Answer(http_status, body, config.latency, content_type="text/html")
        answer = _status(status, detail)
        if token_value is not None:
            answer["message_token"] = token_value
        answer["chat_hostname"] = CHAT_HOSTNAME
        if broadcast and status == 0:
            answer["failed_list"] = [
                {"receiver": r, "status": s, "status_message": STATUS_MESSAGES[s]} for r, s in outcomes.items() if s != 0
            ]
        return json_answer(200, answer, config.latency, after=after)

    def _decide(
        self, config: ViberConfig, api: str, receivers: tuple[str, ...], now: float
    ) -> tuple[int, str | None, dict[str, int]]:
        """(status, detail, outcome per receiver) of one valid request; called with the lock
        held, in arrival order."""
        if config.account_status is not None:
            return config.account_status, None, dict.fromkeys(receivers, config.account_status)
        if not self._admitted.admit(now, config.max_requests, config.window_seconds):
            return 12, None, dict.fromkeys(receivers, 12)
        if config.rate_12 or config.rate_5xx:
            key = ",".join(receivers)
            self._attempts[key] += 1
            drawn = draw(config.seed, key, self._attempts[key])
            if drawn < config.rate_12:
                return 12, None, dict.fromkeys(receivers, 12)
            if drawn < config.rate_12 + config.rate_5xx:
                return NO_ANSWER, None, dict.fromkeys(receivers, NO_ANSWER)
        outcomes: dict[str, int] = {}
        for receiver in receivers:
            queued = self._next_queued(receiver)
            outcomes[receiver] = int(queued) if queued is not None else config.receiver_rules.get(receiver, 0)
        if api == "send_message":
            return outcomes[receivers[0]], None, outcomes
        return 0, None, outcomes

    def _callbacks(self, config: ViberConfig, call: Call, token: str) -> list[OutgoingPost]:
        if not config.webhook_url or call.message_token is None:
            return []
        accepted = call.accepted
        payloads: list[tuple[str, str, JSONDict]] = []
        for receiver in accepted:
            desc = config.callback_failures.get(receiver)
            if desc is not None:
                payloads.append(("failed", receiver, failed_payload(call.message_token, receiver, desc)))
        for event in config.events:
            builder = delivered_payload if event == "delivered" else seen_payload
            for receiver in accepted:
                if receiver not in config.callback_failures:
                    payloads.append((event, receiver, builder(call.message_token, receiver)))
        posts = []
        for event, receiver, payload in payloads:
            body, headers = signed(payload, token)
            posts.append(
                OutgoingPost(
                    config.webhook_url, event, str(call.message_token), receiver, body, headers,
                    headers[SIGNATURE_HEADER], config.webhook_delay, config.webhook_timeout,
                )
            )
        return posts


def _invalid(
    payload: JSONDict, api: str, receivers: tuple[str, ...], size: int, config: ViberConfig
) -> tuple[int, str] | None:
    """(status, detail) when the request is malformed."""
    if size > config.max_body_bytes:
        return 3, f"request body exceeds {config.max_body_bytes} bytes"
    if api == "broadcast_message":
        if not receivers:
            return 4, "broadcast_list"
        if len(receivers) > config.max_broadcast:
            return 3, f"broadcast_list exceeds {config.max_broadcast}"
    elif not receivers:
        return 4, "receiver"
    sender = payload.get("sender")
    name = sender.get("name") if isinstance(sender, dict) else None
    if not isinstance(name, str) or not name:
        return 4, "sender.name"
    if len(name) > MAX_SENDER_NAME:
        return 3, f"sender.name exceeds {MAX_SENDER_NAME} characters"
    kind = payload.get("type")
    if not kind:
        return 4, "type"
    if kind not in MESSAGE_TYPES:
        return 3, f"unknown message type {kind!r}"
    if kind == "text" and not (isinstance(payload.get("text"), str) and payload["text"]):
        return 4, "text"
    if kind in ("picture", "video", "file"):
        return _invalid_media(payload, kind)
    return None


MAX_PICTURE_TEXT = 768
MAX_VIDEO_BYTES = 26 * 1024 * 1024
MAX_FILE_BYTES = 50 * 1024 * 1024


def _invalid_media(payload: JSONDict, kind: str) -> tuple[int, str] | None:
    """Viber's message model: media by public URL; a picture's text at most 768; a video or
    file names its size (and a file its name)."""
    media = payload.get("media")
    if not isinstance(media, str) or not media.startswith(("http://", "https://")):
        return 4, "media"
    if kind == "picture":
        if len(str(payload.get("text") or "")) > MAX_PICTURE_TEXT:
            return 3, f"text exceeds {MAX_PICTURE_TEXT} characters"
        return None
    size = payload.get("size")
    if not isinstance(size, int) or size <= 0:
        return 4, "size"
    if size > (MAX_VIDEO_BYTES if kind == "video" else MAX_FILE_BYTES):
        return 3, "size"
    if kind == "file" and not payload.get("file_name"):
        return 4, "file_name"
    return None


class RemoteFakeViber(RemoteFake[Call]):
    """The same accessors for a fake running in another process, over its control endpoints."""

    call_class = Call

    @property
    def base_url(self) -> str:
        """The API root, like https://chatapi.viber.com/pa."""
        return f"{self.url}/pa"

    def delivered(self) -> list[str]:
        """The receivers Viber accepted a message for, in order."""
        return delivered(self.calls())

    def count_by_receiver(self, *, delivered_only: bool = True) -> dict[str, int]:
        """Messages per receiver."""
        return count_by_receiver(self.calls(), delivered_only=delivered_only)

    def max_in_any_window(self, seconds: float = 10.0, *, accepted_only: bool = False) -> int:
        """Most message requests that arrived within one window [t, t + seconds)."""
        calls = [c for c in self.calls() if c.status == 0] if accepted_only else self.calls()
        return max_in_any_window((c.monotonic for c in calls), seconds)


if __name__ == "__main__":
    sys.exit(main_for(FakeViber, "FAKE_VIBER_URL"))
