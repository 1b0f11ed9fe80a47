"""A fake Telegram Bot API server on loopback, for integration tests and benchmarks.

It speaks the wire format python-telegram-bot 22 uses: ``POST /bot<TOKEN>/<method>`` with a
form-urlencoded body (PTB sends ``httpx`` ``data=``; nested values such as ``reply_markup``
are JSON strings), or a JSON or multipart body, answered with ``{"ok": true, "result": ...}``
or ``{"ok": false, "error_code": N, "description": ..., "parameters": {...}}``.

In a test process::

    with FakeTelegram() as fake:
        fake.configure(chat_rules={42: "blocked"}, latency=0.05)
        bot = Bot(TOKEN, base_url=fake.base_url)
        ...
        assert [c.chat_id for c in fake.sent()] == [7]

From another process, run ``python -m tests.fakes.telegram --port 0 --dump calls.json``: it
prints ``FAKE_TELEGRAM_URL=http://127.0.0.1:<port>`` on stdout, serves until SIGTERM or
SIGINT and then writes the recorded calls to the dump file. While it runs, the control
endpoints (or ``RemoteFakeTelegram``) read and configure it:

    GET  /_fake/calls    {"calls": [<Call>, ...]}
    GET  /_fake/stats    counts, count_by_chat, max_in_any_window
    GET  /_fake/config   the current FaultConfig
    POST /_fake/config   partial update, JSON; {"replace": true, ...} starts from the defaults
    POST /_fake/reset    forget the recorded calls and the flood-control windows

The HTTP server, the control endpoints and the command line are shared with the other fakes
(tests/fakes/http.py).

Only sendMessage is recorded. A message counts as delivered when it was answered 200, or
when the fake took it and lost the answer (``lose_next`` / ``lose_every``: the client saw a
502 or a reset; ``Call.lost_answer`` says which): see ``sent()``. With ``token_revoked`` every
Bot API request, getMe included, answers 401 Unauthorized (PTB: InvalidToken) and nothing is
recorded. ``root_url`` is the server root (like https://api.telegram.org), ``base_url`` the
same with ``/bot`` (what PTB's ``Bot(base_url=...)`` takes).
``Call.monotonic`` is ``time.monotonic()`` at arrival: on Linux that clock is system-wide, so
it compares with the monotonic clock of other processes on the same machine.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import hashlib
import json
import re
import subprocess
import sys
import time
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qsl, urlsplit

import httpx

from tests.fakes.http import (
    Answer,
    FakeServer,
    JSONDict,
    OutgoingPost,
    RemoteFake,
    add_server_arguments,
    as_list,
    as_mapping,
    as_strings,
    check_fields,
    check_losses,
    config_to_json,
    draw,
    lost,
    lost_status,
    max_in_any_window,
    serve_in_foreground,
)

__all__ = ["Call", "FakeTelegram", "FaultConfig", "RemoteFakeTelegram", "count_by_chat", "max_in_any_window"]

# Outcome name -> (HTTP status, Bot API description). Descriptions are Telegram's own
# (shared/PLATFORMS.md); PTB keeps a Forbidden description as is and turns
# "Bad Request: chat not found" into BadRequest("Chat not found").
ERRORS: dict[str, tuple[int, str]] = {
    "blocked": (403, "Forbidden: bot was blocked by the user"),
    "deactivated": (403, "Forbidden: user is deactivated"),
    "cant_initiate": (403, "Forbidden: bot can't initiate conversation with a user"),
    "not_found": (400, "Bad Request: chat not found"),
    "too_long": (400, "Bad Request: message is too long"),
    # Our wording: Telegram documents no text for a paid broadcast it cannot charge for.
    "stars_short": (400, "Bad Request: not enough Stars for a paid broadcast"),
    "text_empty": (400, "Bad Request: message text is empty"),
    "flood": (429, "Too Many Requests: retry after {retry_after}"),
    "ceiling": (429, "Too Many Requests: retry after {retry_after}"),  # flood control, retry_after=1
    "bad_gateway": (502, "Bad Gateway"),
    "internal": (500, "Internal Server Error"),
    # Channels (see ``add_channel``): the bot was removed, or is an admin without the right to post.
    "not_channel_member": (403, "Forbidden: bot is not a member of the channel chat"),
    "need_admin_rights": (400, "Bad Request: need administrator rights in the channel chat"),
}
# "ok" answers 200; "disconnect" closes the connection without an answer (PTB: NetworkError).
OUTCOMES = frozenset(ERRORS) | {"ok", "disconnect"}
CHAT_RULES = frozenset(OUTCOMES) - {"ok", "too_long", "text_empty", "ceiling"}

MAX_TEXT_UTF16 = 4096
# Paid broadcasts (shared/PLATFORMS.md): per second, this many messages are free; each flagged
# message beyond costs 0.1 Star.
FREE_PER_SECOND = 30
MAX_CAPTION_UTF16 = 1024
# sendPhoto, sendVideo, sendDocument -> the parameter (and Message attribute) holding the file
MEDIA_METHODS = {"sendphoto": "photo", "sendvideo": "video", "senddocument": "document"}
DEFAULT_TOKEN_BOT_ID = 123456
# A channel's defaults (FaultConfig.channels): the bot is "administrator" (with the rights
# below), "left" (never added, or removed later) or "kicked".
CHANNEL_DEFAULTS: dict[str, object] = {"username": "", "title": "", "members": 0, "bot": "administrator",
                                       "can_post_messages": True, "can_edit_messages": True}
BOT_STATUSES = frozenset({"administrator", "left", "kicked"})


def channel_spec(chat_id: int, spec: Mapping[str, object]) -> dict[str, object]:
    """A channel's description with its defaults filled in; ValueError for unknown keys or a bad bot status."""
    unknown = set(spec) - set(CHANNEL_DEFAULTS)
    if unknown:
        raise ValueError(f"channel {chat_id}: unknown keys {sorted(unknown)}")
    values = {**CHANNEL_DEFAULTS, **spec}
    if values["bot"] not in BOT_STATUSES:
        raise ValueError(f"channel {chat_id}: bot must be one of {sorted(BOT_STATUSES)}")
    values["username"] = str(values["username"]).removeprefix("@")
    values["members"] = int(str(values["members"]))
    return values


@dataclass(frozen=True)
class FaultConfig:
    """What the fake does wrong, and when. Replace it whole or with ``configure(**changes)``."""

    # chat_id -> outcome for every message to that chat: "blocked", "deactivated",
    # "cant_initiate", "not_found", "flood", "bad_gateway", "internal", "disconnect".
    chat_rules: Mapping[int, str] = field(default_factory=dict)
    # chat_id -> outcomes for that chat's next messages, one per message, before chat_rules
    # apply; e.g. {7: ["flood", "bad_gateway"]}: 429, then 502, then normal.
    queued: Mapping[int, tuple[str, ...]] = field(default_factory=dict)
    # Fractions of sendMessage answered 429 (with retry_after) and 502. The draw depends only
    # on (seed, chat_id, n-th message to that chat), so it repeats whatever the concurrency.
    rate_429: float = 0.0
    rate_5xx: float = 0.0
    retry_after: int = 5
    seed: int = 0
    # Seconds before each Bot API answer; chats in slow_chats wait slow_latency instead.
    latency: float = 0.0
    slow_chats: frozenset[int] = frozenset()
    slow_latency: float = 1.0
    # Flood control: more than `ceiling` admitted sendMessage in the last second (or more
    # than `chat_ceiling` to one chat) -> 429 with retry_after=1. Requests refused this way
    # do not count; every other sendMessage does, whatever its answer.
    ceiling: int | None = None
    chat_ceiling: int | None = None
    # Paid broadcasts (Bot API 7.11): a message sent with allow_paid_broadcast=true ignores
    # `ceiling` ("ignoring broadcasting limits") and counts against `paid_ceiling` instead,
    # among flagged messages only (Telegram: up to 1000 a second); None: no limit for them.
    # Per second of the fake's clock, the first FREE_PER_SECOND messages delivered (flagged
    # or not) are free and each flagged one beyond costs 0.1 Star, taken from `star_balance`
    # (whole Stars, plus `star_balance_nanos`), which getMyStarBalance answers. Charges are
    # recorded (``stars_charged()``) and, unless `stars_enforced`, never refused: a balance
    # may go below zero, as Telegram's StarAmount allows. With `stars_enforced`, a flagged
    # message that would be charged with less than 0.1 Star left is refused ("stars_short").
    paid_ceiling: int | None = None
    star_balance: int = 0
    star_balance_nanos: int = 0
    stars_enforced: bool = False
    # Lost answers: the next `lose_next` messages the fake takes, or every `lose_every`-th,
    # are delivered (recorded, counted in sent()) but answered `lost_answer` instead: "502"
    # (an HTML 502 from a proxy; PTB: NetworkError), "reset" (TCP RST; PTB: NetworkError
    # "httpx.ReadError"), "close" (closed without an answer; "httpx.RemoteProtocolError") or
    # "cut" (a 200 cut halfway through its body by a TCP RST).
    lose_every: int | None = None
    lose_next: int = 0
    lost_answer: str = "502"
    # A revoked token: every Bot API request answers 401 Unauthorized until set back to False.
    token_revoked: bool = False
    # Seconds after which an idle keep-alive connection is closed (a front server's
    # keepalive_timeout); None: kept open.
    keepalive_timeout: float | None = None
    # Channels: chat id (negative, -100...) -> {"username", "title", "members", "bot",
    # "can_post_messages", "can_edit_messages"} (CHANNEL_DEFAULTS fills the rest). Posts to a
    # channel (by id or @username) are refused as Telegram refuses them when the bot is not
    # a member (403) or may not post (400).
    channels: Mapping[int, Mapping[str, object]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_losses(self.lose_every, self.lose_next, self.lost_answer)
        for chat_id, spec in self.channels.items():
            channel_spec(chat_id, spec)
        for chat_id, rule in self.chat_rules.items():
            if rule not in CHAT_RULES:
                raise ValueError(f"chat {chat_id}: unknown rule {rule!r}, expected one of {sorted(CHAT_RULES)}")
        for chat_id, rules in self.queued.items():
            for rule in rules:
                if rule not in OUTCOMES:
                    raise ValueError(f"chat {chat_id}: unknown queued outcome {rule!r}")
        if not 0.0 <= self.rate_429 + self.rate_5xx <= 1.0 or min(self.rate_429, self.rate_5xx) < 0:
            raise ValueError("rate_429 and rate_5xx must be fractions summing to at most 1")

    def to_json(self) -> JSONDict:
        """The config as JSON-ready values (dict keys become strings)."""
        return config_to_json(self)

    def updated(self, changes: Mapping[str, object]) -> FaultConfig:
        """A copy with ``changes`` applied; accepts JSON shapes (string keys, lists)."""
        values = check_fields(self, changes)
        if "chat_rules" in values:
            values["chat_rules"] = {int(k): str(v) for k, v in as_mapping(values["chat_rules"]).items()}
        if "queued" in values:
            values["queued"] = {int(k): tuple(as_strings(v)) for k, v in as_mapping(values["queued"]).items()}
        if "slow_chats" in values:
            values["slow_chats"] = frozenset(int(c) for c in as_list(values["slow_chats"]))
        if "channels" in values:
            values["channels"] = {int(k): channel_spec(int(k), as_mapping(v))  # type: ignore[arg-type]
                                  for k, v in as_mapping(values["channels"]).items()}
        return dataclasses.replace(self, **values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Call:
    """One sendMessage request as it arrived and as the fake answered it."""

    seq: int  # arrival order, from 1
    chat_id: int
    text: str
    reply_markup: JSONDict | None
    monotonic: float  # time.monotonic() at arrival
    wall: float  # time.time() at arrival
    status: int  # HTTP status answered (0: connection dropped, no answer)
    outcome: str  # "ok" or a key of ERRORS, or "disconnect"
    description: str | None
    retry_after: int | None
    message_id: int | None  # set when the message was delivered
    extra: dict[str, str] = field(default_factory=dict)  # other parameters: parse_mode, ...
    # "502", "reset" or "close" when the message was delivered but its answer lost
    lost_answer: str | None = None

    @property
    def delivered(self) -> bool:
        """True when the person got the message: answered 200, or taken and the answer lost."""
        return self.status == 200 or self.lost_answer is not None

    @property
    def paid_broadcast(self) -> bool:
        """True when it was sent with allow_paid_broadcast=true."""
        return self.extra.get("allow_paid_broadcast", "").lower() == "true"

    @property
    def protect_content(self) -> bool:
        """True when it was sent with protect_content=true (no forwarding or saving)."""
        return self.extra.get("protect_content", "").lower() == "true"

    def to_json(self) -> JSONDict:
        """The call as JSON-ready values."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Call:
        """The inverse of to_json."""
        return cls(**data)  # type: ignore[arg-type]


def count_by_chat(calls: Iterable[Call]) -> dict[int, int]:
    """Number of calls per chat_id."""
    return dict(Counter(c.chat_id for c in calls))


def _paid(params: Mapping[str, object]) -> bool:
    """allow_paid_broadcast as PTB sends it ("true" in a form, true in JSON)."""
    value = params.get("allow_paid_broadcast")
    return value is True or str(value).lower() == "true"


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _ok(result: object) -> bytes:
    return json.dumps({"ok": True, "result": result}, ensure_ascii=False).encode()


def _error(status: int, description: str, retry_after: int | None = None) -> bytes:
    payload: JSONDict = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        payload["parameters"] = {"retry_after": retry_after}
    return json.dumps(payload).encode()


class BadRequestBody(ValueError):
    pass


def parse_params(target_query: str, content_type: str, body: bytes) -> dict[str, object]:
    """Bot API parameters from the query string and a JSON, urlencoded or multipart body."""
    params: dict[str, object] = dict(parse_qsl(target_query, keep_blank_values=True))
    if not body:
        return params
    mime, _, options = content_type.partition(";")
    mime = mime.strip().lower()
    if mime == "application/json":
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise BadRequestBody("Bad Request: can't parse JSON object") from exc
        if not isinstance(data, dict):
            raise BadRequestBody("Bad Request: JSON object expected")
        params.update(data)
    elif mime == "multipart/form-data":
        match = re.search(r'boundary="?([^";]+)"?', options)
        if not match:
            raise BadRequestBody("Bad Request: multipart boundary is missing")
        params.update(_parse_multipart(body, match.group(1).encode("latin-1")))
    else:  # application/x-www-form-urlencoded, also what clients send without a type
        params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return params


_DISPOSITION_NAME = re.compile(rb'name="([^"]*)"', re.IGNORECASE)
_DISPOSITION_FILE = re.compile(rb'filename="', re.IGNORECASE)


def _parse_multipart(body: bytes, boundary: bytes) -> dict[str, object]:
    fields: dict[str, object] = {}
    for part in body.split(b"--" + boundary)[1:]:
        if part.startswith(b"--"):
            break
        head, sep, content = part.partition(b"\r\n\r\n")
        if not sep:
            continue
        content = content.removesuffix(b"\r\n")
        name = _DISPOSITION_NAME.search(head)
        if not name:
            continue
        key = name.group(1).decode("utf-8", "replace")
        # An uploaded file stays bytes; every other field is text.
        fields[key] = content if _DISPOSITION_FILE.search(head) else content.decode("utf-8", "replace")
    return fields


class FakeTelegram(FakeServer[FaultConfig, Call]):
    """The fake server: start()/stop() run it in a background thread; ``async serve()`` in
    the caller's loop. Accessors are thread-safe."""

    name: ClassVar[str] = "fake-telegram"
    config_class = FaultConfig

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        config: FaultConfig | None = None,
    ) -> None:
        super().__init__(host=host, port=port, config=config)
        self.token = token  # None: accept any token
        self._admitted: deque[float] = deque()  # monotonic times within the last second
        self._admitted_paid: deque[float] = deque()  # the same for allow_paid_broadcast messages
        self._second, self._in_second = 0, 0  # paid broadcasts: this second of the clock, messages in it
        self._charged_tenths = 0  # tenths of a Star charged for paid broadcasts
        self._admitted_by_chat: dict[int, deque[float]] = {}
        self._attempts: Counter[int] = Counter()
        self._message_id = 0
        self._seq = 0
        self.webhook: dict[str, object] | None = None  # what setWebhook last registered
        self.descriptions: dict[str, str] = {}  # setMyDescription: language_code ("" default) -> text
        # sendPhoto/sendVideo/sendDocument: file_id -> (kind, bytes) of every file uploaded
        self._files: dict[str, tuple[str, bytes]] = {}
        self.pins: list[tuple[int, int, bool]] = []  # pinChatMessage taken: (chat id, message id, silently)
        self._update_id = 700_000  # the last update_id react() posted

    @property
    def root_url(self) -> str:
        """The server root, like https://api.telegram.org: a TELEGRAM_API_URL in that form."""
        return self.url

    @property
    def base_url(self) -> str:
        """The root with ``/bot``: what to pass as ``Bot(token, base_url=...)``."""
        return f"{self.url}/bot"

    def _forget(self) -> None:
        """reset(): forget the flood-control windows and the random draws."""
        self._admitted = deque()
        self._admitted_paid = deque()
        self._second, self._in_second, self._charged_tenths = 0, 0, 0
        self._admitted_by_chat = {}
        self._attempts = Counter()

    # ---- channels --------------------------------------------------------------------

    def add_channel(self, chat_id: int, **spec: object) -> None:
        """A channel (keys of CHANNEL_DEFAULTS: username, title, members, bot, can_post_messages,
        can_edit_messages); replaces one with the same id."""
        with self._lock:
            channels = dict(self._config.channels)
        channels[chat_id] = spec
        self.configure(channels=channels)

    def change_channel(self, chat_id: int, **changes: object) -> None:
        """Change a channel: its member count, or the bot's status and rights (``bot="left"``: removed)."""
        with self._lock:
            channels = dict(self._config.channels)
        channels[chat_id] = {**channels[chat_id], **changes}
        self.configure(channels=channels)

    def channel_posts(self, chat_id: int) -> list[Call]:
        """The messages delivered to a channel (text and media)."""
        return [c for c in self.sent() if c.chat_id == chat_id]

    def _channel(self, chat: object) -> tuple[int, dict[str, object]] | None:
        """(id, spec) of the channel ``chat`` names (its id or @username); with the lock held."""
        text = str(chat or "")
        for chat_id, spec in self._config.channels.items():
            if text == str(chat_id) or (spec["username"] and text.lower() == f"@{spec['username']}".lower()):
                return chat_id, dict(spec)
        return None

    def _chat_id(self, chat: object) -> int:
        """A chat id from a chat_id parameter: a number, or a channel's @username; ValueError otherwise."""
        with self._lock:
            found = self._channel(chat)
        return found[0] if found else int(str(chat))

    def _chat_json(self, chat_id: int) -> JSONDict:
        with self._lock:
            found = self._channel(chat_id)
        if found is None:
            return _chat(chat_id)
        spec = found[1]
        chat: JSONDict = {"id": chat_id, "type": "channel", "title": spec["title"] or f"Channel {chat_id}"}
        if spec["username"]:
            chat["username"] = spec["username"]
        return chat

    def _channel_call(self, api_method: str, params: dict[str, object], token: str) -> Answer:
        """getChat, getChatMember, getChatMemberCount and pinChatMessage, for channels (any other
        chat is "chat not found": the fake knows no groups)."""
        with self._lock:
            latency = self._config.latency
            found = self._channel(params.get("chat_id"))
        if found is None:
            return Answer(400, _error(400, "Bad Request: chat not found"), latency)
        chat_id, spec = found
        member = spec["bot"] == "administrator"
        if not member and not spec["username"]:  # a private channel the bot is not in
            return Answer(400, _error(400, "Bad Request: chat not found"), latency)
        if api_method == "getchat":
            chat = self._chat_json(chat_id)
            return Answer(200, _ok({**chat, "accent_color_id": 0, "max_reaction_count": 11,
                                    "accepted_gift_types": {"unlimited_gifts": False, "limited_gifts": False,
                                                            "unique_gifts": False, "premium_subscription": False,
                                                            "gifts_from_channels": False}}),
                          latency)
        if api_method in ("getchatmembercount", "getchatmemberscount"):
            return Answer(200, _ok(spec["members"]), latency)
        if api_method == "getchatmember":
            return self._chat_member(spec, params, token, latency)
        # pinchatmessage: in a channel it takes the right to edit messages.
        if not member:
            return Answer(403, _error(403, "Forbidden: bot is not a member of the channel chat"), latency)
        if not spec["can_edit_messages"]:
            return Answer(400, _error(400, "Bad Request: not enough rights to manage pinned messages in the chat"),
                          latency)
        try:
            message_id = int(str(params.get("message_id")))
        except ValueError:
            return Answer(400, _error(400, "Bad Request: message to pin not found"), latency)
        if not any(c.chat_id == chat_id and c.message_id == message_id for c in self.sent()):
            return Answer(400, _error(400, "Bad Request: message to pin not found"), latency)
        silently = str(params.get("disable_notification", "")).lower() == "true"
        with self._lock:
            self.pins.append((chat_id, message_id, silently))
        return Answer(200, _ok(True), latency)

    def _chat_member(self, spec: dict[str, object], params: dict[str, object], token: str, latency: float) -> Answer:
        bot = self._bot_user(token)
        if str(params.get("user_id")) != str(bot["id"]):
            return Answer(400, _error(400, "Bad Request: user not found"), latency)
        if spec["bot"] != "administrator":
            member: JSONDict = {"status": spec["bot"], "user": bot}
            if spec["bot"] == "kicked":
                member["until_date"] = 0
            return Answer(200, _ok(member), latency)
        rights = {"can_be_edited": False, "is_anonymous": False, "can_manage_chat": True,
                  "can_delete_messages": True, "can_manage_video_chats": True, "can_restrict_members": True,
                  "can_promote_members": False, "can_change_info": True, "can_invite_users": True,
                  "can_post_stories": True, "can_edit_stories": True, "can_delete_stories": True,
                  "can_post_messages": bool(spec["can_post_messages"]),
                  "can_edit_messages": bool(spec["can_edit_messages"])}
        return Answer(200, _ok({"status": "administrator", "user": bot, **rights}), latency)

    # ---- updates posted to the bot's webhook ----------------------------------------

    def react(self, chat_id: int, message_id: int, counts: Mapping[str, int], *, date: int | None = None) -> bool:
        """Post a ``message_reaction_count`` update (Bot API MessageReactionCountUpdated) about a
        channel's message to the webhook setWebhook registered, with its secret token, as
        Telegram does for a channel's administrator bot: only when allowed_updates asked for it
        (Telegram's default leaves it out). ``counts``: {"👍": 3, "custom:<id>": 1, "paid": 2}.
        False when nothing is posted; ``webhooks()`` shows what was posted and answered."""
        with self._lock:
            webhook = dict(self.webhook or {})
            self._update_id += 1
            update_id = self._update_id
        allowed = webhook.get("allowed_updates") or []
        if isinstance(allowed, str):
            allowed = json.loads(allowed)
        if not webhook.get("url") or "message_reaction_count" not in allowed or self._loop is None:
            return False
        reactions = []
        for key, total in counts.items():
            if key.startswith("custom:"):
                kind: JSONDict = {"type": "custom_emoji", "custom_emoji_id": key.removeprefix("custom:")}
            elif key == "paid":
                kind = {"type": "paid"}
            else:
                kind = {"type": "emoji", "emoji": key}
            reactions.append({"type": kind, "total_count": total})
        update = {"update_id": update_id, "message_reaction_count": {
            "chat": self._chat_json(chat_id), "message_id": message_id,
            "date": int(time.time()) if date is None else date, "reactions": reactions}}
        secret = str(webhook.get("secret_token") or "")
        headers = {"Content-Type": "application/json"}
        if secret:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        post = OutgoingPost(str(webhook["url"]), "message_reaction_count", str(message_id), str(chat_id),
                            json.dumps(update, ensure_ascii=False).encode(), headers, secret or None)
        self._loop.call_soon_threadsafe(self._queue_webhooks, [post])
        return True

    def announce_rights(self, chat_id: int, *, old: str = "administrator", date: int | None = None) -> bool:
        """Post a ``my_chat_member`` update about the bot in a channel to the registered webhook,
        as Telegram does when the bot is removed, demoted or promoted there: ``new_chat_member``
        is the bot as the channel now has it (change_channel first), ``old`` its status before.
        Only when allowed_updates has my_chat_member. False when nothing is posted."""
        with self._lock:
            webhook = dict(self.webhook or {})
            self._update_id += 1
            update_id = self._update_id
            found = self._channel(chat_id)
        allowed = webhook.get("allowed_updates") or []
        if isinstance(allowed, str):
            allowed = json.loads(allowed)
        if not webhook.get("url") or "my_chat_member" not in allowed or self._loop is None or found is None:
            return False
        spec = found[1]
        bot = self._bot_user(str(webhook.get("token") or ""))
        new: JSONDict = {"status": spec["bot"], "user": bot}
        if spec["bot"] == "administrator":
            new.update({"can_be_edited": False, "can_post_messages": bool(spec["can_post_messages"]),
                        "can_edit_messages": bool(spec["can_edit_messages"])})
        update = {"update_id": update_id, "my_chat_member": {
            "chat": self._chat_json(chat_id), "from": {"id": 777000, "is_bot": False, "first_name": "Owner"},
            "date": int(time.time()) if date is None else date,
            "old_chat_member": {"status": old, "user": bot}, "new_chat_member": new}}
        secret = str(webhook.get("secret_token") or "")
        headers = {"Content-Type": "application/json"}
        if secret:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        post = OutgoingPost(str(webhook["url"]), "my_chat_member", str(update_id), str(chat_id),
                            json.dumps(update, ensure_ascii=False).encode(), headers, secret or None)
        self._loop.call_soon_threadsafe(self._queue_webhooks, [post])
        return True

    # ---- paid broadcasts: Stars -------------------------------------------------------

    def _charge(self, arrived: float, paid: bool) -> None:
        """A message delivered: beyond the free ones of its second, a flagged one costs 0.1
        Star (with the lock held)."""
        second = int(arrived)
        if second != self._second:
            self._second, self._in_second = second, 0
        self._in_second += 1
        if paid and self._in_second > FREE_PER_SECOND:
            self._charged_tenths += 1

    def _would_overdraw(self, config: FaultConfig, arrived: float) -> bool:
        """Whether a flagged message now would be charged 0.1 Star the balance no longer has."""
        in_second = (self._in_second if int(arrived) == self._second else 0) + 1
        left_tenths = (config.star_balance * 10**9 + config.star_balance_nanos) // 10**8 - self._charged_tenths
        return in_second > FREE_PER_SECOND and left_tenths < 1

    def stars_charged(self) -> Decimal:
        """Stars charged for paid broadcasts since the start (or reset())."""
        with self._lock:
            return Decimal(self._charged_tenths) / 10

    def star_amount(self) -> JSONDict:
        """The balance as getMyStarBalance answers it (StarAmount): the configured balance
        less the charges; amount and nanostar_amount share their sign."""
        with self._lock:
            nanos = (self._config.star_balance * 10**9 + self._config.star_balance_nanos
                     - self._charged_tenths * 10**8)
        sign = -1 if nanos < 0 else 1
        amount, rest = divmod(abs(nanos), 10**9)
        return {"amount": sign * amount, "nanostar_amount": sign * rest}

    # ---- recorded calls --------------------------------------------------------------

    def sent(self) -> list[Call]:
        """The sendMessage calls delivered (answered 200, or answer lost): what people got."""
        with self._lock:
            return [c for c in self._calls if c.delivered]

    def count_by_chat(self, *, delivered_only: bool = True) -> dict[int, int]:
        """Messages per chat_id: delivered ones, or every call with delivered_only=False."""
        return count_by_chat(self.sent() if delivered_only else self.calls())

    def max_in_any_window(self, seconds: float = 1.0, *, delivered_only: bool = False) -> int:
        """Most sendMessage requests that arrived within one window [t, t + seconds)."""
        calls = self.sent() if delivered_only else self.calls()
        return max_in_any_window((c.monotonic for c in calls), seconds)

    def method_counts(self) -> dict[str, int]:
        """Requests per Bot API method (lower case), including unknown ones."""
        return self.request_counts()

    def wait_for_sent(self, count: int, timeout: float = 10.0) -> bool:
        """Block until at least ``count`` messages were delivered; False on timeout."""
        return self._wait_for_accepted(count, timeout)

    def stats(self) -> JSONDict:
        """Counts for the control endpoint and the dump file."""
        calls = self.calls()
        sent = [c for c in calls if c.delivered]
        return {
            "calls": len(calls),
            "sent": len(sent),
            "lost_answers": dict(Counter(c.lost_answer for c in calls if c.lost_answer)),
            "outcomes": dict(Counter(c.outcome for c in calls)),
            "count_by_chat": {str(k): v for k, v in count_by_chat(sent).items()},
            "max_in_any_window": max_in_any_window(c.monotonic for c in calls),
            "max_sent_in_any_window": max_in_any_window(c.monotonic for c in sent),
            "paid_broadcast_calls": sum(c.paid_broadcast for c in calls),
            "stars_charged": str(self.stars_charged()),
            "methods": self.method_counts(),
        }

    # ---- HTTP ------------------------------------------------------------------------

    def _answer(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Answer:
        parts = urlsplit(target)
        path = parts.path
        if path.startswith("/_fake/"):
            return self._control(method, path, body)
        match = re.fullmatch(r"/bot([^/]+)/([A-Za-z_]+)", path)
        if not match:
            return Answer(404, _error(404, "Not Found"))
        token, api_method = match.group(1), match.group(2).lower()
        with self._lock:
            self._requests[api_method] += 1
            latency = self._config.latency
            revoked = self._config.token_revoked
        if revoked or (self.token is not None and token != self.token):
            return Answer(401, _error(401, "Unauthorized"), latency)
        try:
            params = parse_params(parts.query, headers.get("content-type", ""), body)
        except BadRequestBody as exc:
            return Answer(400, _error(400, str(exc)), latency)
        if api_method == "getme":
            return Answer(200, _ok(self._bot_user(token)), latency)
        if api_method == "getmystarbalance":
            return Answer(200, _ok(self.star_amount()), latency)
        if api_method == "sendmessage":
            return self._send_message(params)
        if api_method in MEDIA_METHODS:
            return self._send_media(api_method, params)
        if api_method in ("getchat", "getchatmember", "getchatmembercount", "getchatmemberscount", "pinchatmessage"):
            return self._channel_call(api_method, params, token)
        if api_method in ("setwebhook", "deletewebhook"):
            with self._lock:
                self.webhook = dict(params) if api_method == "setwebhook" else None
            return Answer(200, _ok(True), latency)
        if api_method == "setmydescription":
            description = str(params.get("description") or "")
            if len(description) > 512:
                return Answer(400, _error(400, "Bad Request: description is too long"), latency)
            with self._lock:
                self.descriptions[str(params.get("language_code") or "")] = description
            return Answer(200, _ok(True), latency)
        return Answer(404, _error(404, "Not Found"), latency)

    def _bot_user(self, token: str) -> JSONDict:
        prefix = token.partition(":")[0]
        return {
            "id": int(prefix) if prefix.isdigit() else DEFAULT_TOKEN_BOT_ID,
            "is_bot": True,
            "first_name": "Fake Bot",
            "username": "fake_bot",
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def _send_message(self, params: dict[str, object]) -> Answer:
        arrived, wall = time.monotonic(), time.time()
        raw_chat = params.pop("chat_id", None)
        raw_text = params.pop("text", None)
        raw_markup = params.pop("reply_markup", None)
        try:
            chat_id = self._chat_id(raw_chat)
        except ValueError:
            # Unknown "@channel" names and garbage reach no chat; not recorded.
            with self._lock:
                latency = self._config.latency
            if raw_chat in (None, ""):
                return Answer(400, _error(400, "Bad Request: chat_id is empty"), latency)
            return Answer(400, _error(400, "Bad Request: chat not found"), latency)
        text = raw_text if isinstance(raw_text, str) else "" if raw_text is None else str(raw_text)
        markup: JSONDict | None
        try:
            decoded = json.loads(raw_markup) if isinstance(raw_markup, (str, bytes)) else raw_markup
        except ValueError:
            return self._bad_markup(chat_id, text, arrived, wall, params)
        markup = decoded if isinstance(decoded, dict) else None
        if (problem := keyboard_problem(markup)) is not None:
            with self._lock:
                latency = self._config.latency
            return Answer(400, _error(400, problem), latency)
        extra = {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items() if not isinstance(v, bytes)}

        paid = _paid(params)
        with self._lock:
            config = self._config
            outcome = self._decide(config, chat_id, text, arrived, paid=paid)
            delay = config.slow_latency if chat_id in config.slow_chats else config.latency
            self._seq += 1
            message_id: int | None = None
            retry_after: int | None = None
            description: str | None = None
            lost_answer: str | None = None
            if outcome == "ok":
                lost_answer = self._lose_answer()
                status = 200 if lost_answer is None else lost_status(lost_answer)
                self._message_id += 1
                message_id = self._message_id
                self._charge(arrived, paid)
            elif outcome == "disconnect":
                status = 0
            else:
                status, description = ERRORS[outcome]
                if status == 429:
                    retry_after = 1 if outcome == "ceiling" else config.retry_after
                    description = description.format(retry_after=retry_after)
            self._calls.append(
                Call(
                    seq=self._seq,
                    chat_id=chat_id,
                    text=text,
                    reply_markup=markup,
                    monotonic=arrived,
                    wall=wall,
                    status=status,
                    outcome=outcome,
                    description=description,
                    retry_after=retry_after,
                    message_id=message_id,
                    extra=extra,
                    lost_answer=lost_answer,
                )
            )
            if message_id is not None:
                self._note_accepted()

        if lost_answer is not None:
            return lost(lost_answer, delay)
        if outcome == "disconnect":
            return Answer(0, b"", delay, disconnect=True)
        if status != 200:
            assert description is not None
            return Answer(status, _error(status, description, retry_after), delay)
        message: JSONDict = {
            "message_id": message_id,
            "from": self._bot_user(self.token or ""),
            "date": int(wall),
            "chat": self._chat_json(chat_id),
            "text": text,
        }
        if markup is not None and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        return Answer(200, _ok(message), delay)

    # ---- media: sendPhoto, sendVideo, sendDocument --------------------------------------

    def media_sends(self) -> list[Call]:
        """The delivered sendPhoto/sendVideo/sendDocument calls; ``extra["file"]`` says how the
        file came: "upload" (multipart), "file_id" (a file_id from an earlier answer) or "url"."""
        return [c for c in self.sent() if c.extra.get("method") in MEDIA_METHODS]

    def uploaded_file(self, file_id: str) -> bytes:
        """The bytes uploaded under ``file_id``."""
        with self._lock:
            return self._files[file_id][1]

    def _send_media(self, api_method: str, params: dict[str, object]) -> Answer:
        """Like sendMessage, with the file as a multipart upload, a file_id the fake gave out
        before (an unknown one, or one of another kind, is refused as Telegram does) or a URL."""
        kind = MEDIA_METHODS[api_method]
        arrived, wall = time.monotonic(), time.time()
        with self._lock:
            latency = self._config.latency
        raw_chat, file = params.pop("chat_id", None), params.pop(kind, None)
        caption = str(params.pop("caption", "") or "")
        raw_markup = params.pop("reply_markup", None)
        try:
            chat_id = self._chat_id(raw_chat)
        except ValueError:
            return Answer(400, _error(400, "Bad Request: chat not found"), latency)
        if file in (None, b"", ""):
            return Answer(400, _error(400, f"Bad Request: there is no {kind} in the request"), latency)
        if _utf16_len(caption) > MAX_CAPTION_UTF16:
            return Answer(400, _error(400, "Bad Request: message caption is too long"), latency)
        with self._lock:
            if isinstance(file, bytes):
                how, file_id = "upload", f"{kind[:2].upper()}-{len(self._files) + 1}-{hashlib.sha256(file).hexdigest()[:16]}"
                self._files[file_id] = (kind, file)
            elif str(file).startswith(("http://", "https://")):
                how, file_id = "url", f"URL-{hashlib.sha256(str(file).encode()).hexdigest()[:16]}"
            else:
                how, file_id = "file_id", str(file)
                known = self._files.get(file_id)
                if known is None:
                    return Answer(400, _error(400, "Bad Request: wrong file identifier/HTTP URL specified"), latency)
                if known[0] != kind:
                    return Answer(400, _error(
                        400, f"Bad Request: can't use file of type {known[0].title()} as {kind.title()}"), latency)
            size = len(self._files[file_id][1]) if file_id in self._files else 0
        try:
            decoded = json.loads(raw_markup) if isinstance(raw_markup, (str, bytes)) else raw_markup
        except ValueError:
            decoded = None
        markup = decoded if isinstance(decoded, dict) else None
        paid = _paid(params)
        with self._lock:
            config = self._config
            outcome = self._decide(config, chat_id, caption or kind, arrived, paid=paid)
            self._seq += 1
            message_id = None
            status, description = 200, None
            if outcome == "ok":
                self._message_id += 1
                message_id = self._message_id
                self._charge(arrived, paid)
            elif outcome in ERRORS:
                status, description = ERRORS[outcome]
                if status == 429:
                    description = description.format(retry_after=config.retry_after)
            else:
                status = 0
            self._calls.append(Call(
                seq=self._seq, chat_id=chat_id, text=caption, reply_markup=markup, monotonic=arrived, wall=wall,
                status=status, outcome=outcome, description=description,
                retry_after=config.retry_after if status == 429 else None, message_id=message_id,
                extra={**{k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()
                          if not isinstance(v, bytes)}, "method": api_method, "file": how, "file_id": file_id},
            ))
            if message_id is not None:
                self._note_accepted()
        if status == 0:
            return Answer(0, b"", latency, disconnect=True)
        if status != 200:
            assert description is not None
            return Answer(status, _error(status, description, config.retry_after if status == 429 else None), latency)
        described = {"file_id": file_id, "file_unique_id": file_id[-16:], "file_size": size}
        if kind == "photo":
            media: object = [{**described, "width": 1280, "height": 720}]
        elif kind == "video":
            media = {**described, "width": 1280, "height": 720, "duration": 1}
        else:
            media = {**described, "file_name": "file"}
        message: JSONDict = {"message_id": message_id, "from": self._bot_user(self.token or ""), "date": int(wall),
                             "chat": self._chat_json(chat_id), kind: media}
        if caption:
            message["caption"] = caption
        if markup is not None and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        return Answer(200, _ok(message), latency)

    def _bad_markup(
        self, chat_id: int, text: str, arrived: float, wall: float, params: dict[str, object]
    ) -> Answer:
        description = "Bad Request: can't parse reply keyboard markup JSON object"
        with self._lock:
            self._seq += 1
            self._calls.append(
                Call(self._seq, chat_id, text, None, arrived, wall, 400, "bad_markup", description, None, None)
            )
            latency = self._config.latency
        return Answer(400, _error(400, description), latency)

    def _decide(self, config: FaultConfig, chat_id: int, text: str, now: float, *, paid: bool = False) -> str:
        """The outcome of one sendMessage; called with the lock held, in arrival order.
        `paid`: sent with allow_paid_broadcast (counted against paid_ceiling, not ceiling)."""
        channel = self._channel(chat_id)
        if channel is not None:  # Telegram checks the bot's rights in a channel before anything else
            if channel[1]["bot"] != "administrator":
                return "not_channel_member"
            if not channel[1]["can_post_messages"]:
                return "need_admin_rights"
        # Flood control first: a refused request is not admitted and does not count.
        ceiling = config.paid_ceiling if paid else config.ceiling
        if ceiling is not None or config.chat_ceiling is not None:
            window = self._admitted_paid if paid else self._admitted
            while window and window[0] <= now - 1.0:
                window.popleft()
            chat_window = self._admitted_by_chat.setdefault(chat_id, deque())
            while chat_window and chat_window[0] <= now - 1.0:
                chat_window.popleft()
            if (ceiling is not None and len(window) >= ceiling) or (
                config.chat_ceiling is not None and len(chat_window) >= config.chat_ceiling
            ):
                return "ceiling"
            window.append(now)
            chat_window.append(now)
        queued = self._next_queued(chat_id)
        if queued is not None:
            return str(queued)
        rule = config.chat_rules.get(chat_id)
        if rule is not None:
            return rule
        if not text:
            return "text_empty"
        if _utf16_len(text) > MAX_TEXT_UTF16:
            return "too_long"
        if paid and config.stars_enforced and self._would_overdraw(config, now):
            return "stars_short"
        if config.rate_429 or config.rate_5xx:
            self._attempts[chat_id] += 1
            drawn = draw(config.seed, chat_id, self._attempts[chat_id])
            if drawn < config.rate_429:
                return "flood"
            if drawn < config.rate_429 + config.rate_5xx:
                return "bad_gateway"
        return "ok"


# The inline keyboard button kinds the Bot API knows; a button has a text and exactly one.
BUTTON_KINDS = ("url", "callback_data", "web_app", "login_url", "switch_inline_query",
                "switch_inline_query_current_chat", "switch_inline_query_chosen_chat", "copy_text",
                "callback_game", "pay")


def keyboard_problem(markup: JSONDict | None) -> str | None:
    """What Telegram answers (400) about an inline keyboard it cannot take, or None. A
    copy_text button (Bot API 7.11, CopyTextButton) carries {"text": 1-256 characters}."""
    if not markup or "inline_keyboard" not in markup:
        return None
    for row in markup["inline_keyboard"] or []:
        for button in row if isinstance(row, list) else []:
            if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                return "Bad Request: can't parse inline keyboard button: Field \"text\" must be of type String"
            kinds = [k for k in BUTTON_KINDS if k in button]
            if not kinds:
                return "Bad Request: can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
            if "copy_text" in kinds:
                copy = button["copy_text"]
                text = copy.get("text") if isinstance(copy, dict) else None
                if not isinstance(text, str):
                    return "Bad Request: can't parse inline keyboard button: Field \"text\" must be of type String"
                if not 1 <= len(text) <= 256:
                    return "Bad Request: BUTTON_COPY_TEXT_INVALID"
    return None


def _chat(chat_id: int) -> JSONDict:
    if chat_id > 0:
        return {"id": chat_id, "type": "private", "first_name": f"User {chat_id}"}
    if str(chat_id).startswith("-100"):
        return {"id": chat_id, "type": "supergroup", "title": f"Group {chat_id}"}
    return {"id": chat_id, "type": "group", "title": f"Group {chat_id}"}


class RemoteFakeTelegram(RemoteFake[Call]):
    """The same accessors for a fake running in another process, over its control endpoints."""

    call_class = Call

    @property
    def root_url(self) -> str:
        """The server root, like https://api.telegram.org."""
        return self.url

    @property
    def base_url(self) -> str:
        """The root with ``/bot``: what to pass as ``Bot(token, base_url=...)``."""
        return f"{self.url}/bot"

    def sent(self) -> list[Call]:
        """The sendMessage calls delivered (answered 200, or answer lost)."""
        return [c for c in self.calls() if c.delivered]

    def count_by_chat(self, *, delivered_only: bool = True) -> dict[int, int]:
        """Messages per chat_id."""
        return count_by_chat(self.sent() if delivered_only else self.calls())

    def max_in_any_window(self, seconds: float = 1.0, *, delivered_only: bool = False) -> int:
        """Most sendMessage requests that arrived within one window [t, t + seconds)."""
        calls = self.sent() if delivered_only else self.calls()
        return max_in_any_window((c.monotonic for c in calls), seconds)


# ---- capacity -----------------------------------------------------------------------


async def _drive_raw(host: str, port: int, n: int, concurrency: int) -> int:
    """n sendMessage over `concurrency` keep-alive connections; returns the 200 answers."""
    remaining = iter(range(n))
    delivered = 0

    async def worker() -> None:
        nonlocal delivered
        reader, writer = await asyncio.open_connection(host, port)
        try:
            for i in remaining:
                body = f"chat_id={i % 5000 + 1}&text=Hello+number+{i}".encode()
                writer.write(
                    b"POST /bot123456:BENCH/sendMessage HTTP/1.1\r\nHost: fake\r\n"
                    b"Content-Type: application/x-www-form-urlencoded\r\n"
                    b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
                )
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
                await reader.readexactly(length)
                if head.startswith(b"HTTP/1.1 200"):
                    delivered += 1
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return delivered


async def _drive_httpx(base_url: str, n: int, concurrency: int) -> int:
    remaining = iter(range(n))
    delivered = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, limits=limits) as client:

        async def worker() -> None:
            nonlocal delivered
            for i in remaining:
                response = await client.post(
                    "/bot123456:BENCH/sendMessage", data={"chat_id": str(i % 5000 + 1), "text": f"Hello number {i}"}
                )
                delivered += response.status_code == 200

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return delivered


async def _drive(url: str, n: int, concurrency: int, client: str) -> int:
    if client == "raw":
        parts = urlsplit(url)
        return await _drive_raw(parts.hostname or "127.0.0.1", parts.port or 80, n, concurrency)
    if client == "httpx":
        return await _drive_httpx(url, n, concurrency)
    raise ValueError(f"unknown client {client!r}")


def measure_capacity(n: int = 20000, concurrency: int = 100, *, client: str = "raw", in_process: bool = False) -> float:
    """sendMessage requests/s that a fake in a background thread answers, as in a test
    process: driven over ``concurrency`` keep-alive connections by a client in a child
    process (or in this one with in_process=True, which then shares the GIL with it)."""
    with FakeTelegram() as fake:
        if in_process:
            started = time.perf_counter()
            delivered = asyncio.run(_drive(fake.url, n, concurrency, client))
            rate = n / (time.perf_counter() - started)
        else:
            root = Path(__file__).resolve().parents[2]
            command = [sys.executable, "-m", "tests.fakes.telegram", "--drive", fake.url]
            command += ["-n", str(n), "--concurrency", str(concurrency), "--client", client]
            output = subprocess.run(command, cwd=root, check=True, capture_output=True, text=True).stdout
            delivered_text, rate_text = output.split()
            delivered, rate = int(delivered_text), float(rate_text)
        recorded = len(fake.sent())
    if delivered != n or recorded != n:
        raise RuntimeError(f"sent {n}, answered 200: {delivered}, recorded as sent: {recorded}")
    return rate


# ---- command line -------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Run the fake in the foreground; dump the calls on SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.telegram", description=main.__doc__)
    add_server_arguments(parser)
    parser.add_argument("--measure", action="store_true", help="print measure_capacity() and exit")
    parser.add_argument("--drive", metavar="URL", help="send -n messages to the fake at URL, print 200s and rate")
    parser.add_argument("-n", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--client", choices=["raw", "httpx"], default="raw")
    args = parser.parse_args(argv)

    if args.measure:
        rate = measure_capacity(args.n, args.concurrency, client=args.client)
        print(f"{rate:.0f} sendMessage/s (n={args.n}, concurrency={args.concurrency}, client={args.client})")
        return 0
    if args.drive:
        started = time.perf_counter()
        delivered = asyncio.run(_drive(args.drive, args.n, args.concurrency, args.client))
        print(delivered, args.n / (time.perf_counter() - started))
        return 0

    fake = FakeTelegram(host=args.host, port=args.port, token=args.token)
    fake.configure(**json.loads(args.config))
    return serve_in_foreground(fake, "FAKE_TELEGRAM_URL", args.dump)

if __name__ == "__main__":
    sys.exit(main())
