"""A fake WhatsApp Cloud API (Graph API, v21.0 style) on loopback, for integration tests.

It answers ``POST /v21.0/<PHONE_NUMBER_ID>/messages`` (any ``/vNN.N`` prefix, or none) with
``Authorization: Bearer <token>`` and a JSON body, as Meta documents it: 200 with
``{"messaging_product": "whatsapp", "contacts": [{"input", "wa_id"}], "messages": [{"id":
"wamid..."}]}``, or a Graph error ``{"error": {"message": "(#130429) Rate limit hit", "type":
"OAuthException", "code": 130429, "error_data": {...}, "fbtrace_id": ...}}``. After each
accepted message it can POST the status webhooks (sent, delivered, read; or failed) to the
application, signed ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body with the
app secret>``, from a background task so the send answer is not delayed. ``GET
/v21.0/<PHONE_NUMBER_ID>`` answers the number (``display_phone_number``, ``verified_name``).

In a test process::

    with FakeWhatsApp(token="EAAG-test") as fake:
        fake.configure(recipient_rules={"79990001122": 131026}, enforce_window=True)
        httpx.post(f"{fake.base_url}/{PHONE_ID}/messages", json={...}, headers={...})
        assert [c.wa_id for c in fake.sent()] == [...]

Platform failures: ``recipient_rules`` answer a Graph error at once (131049 marketing limit,
131050 stopped marketing, 131048 spam limit, 132015 template paused, 131042 payment issue,
...), ``async_failures`` accept the message and report the error later in a failed status
webhook; ``account_error`` answers one code to every message; ``token_revoked`` answers
HTTP 401 with code 190 to everything until set back to False; ``lose_next`` / ``lose_every``
take a message (recorded as sent, status webhooks posted) and lose its answer
(``lost_answer``: "502", "reset" or "close").

The module also builds (without sending) the payloads WhatsApp would post to the
application, for webhook tests: ``inbound_text``, ``status_payload``,
``user_preferences_payload``, with ``encode``, ``sign`` and ``signed``.

From another process: ``python -m tests.fakes.whatsapp --port 0`` prints
``FAKE_WHATSAPP_URL=http://127.0.0.1:<port>``; ``RemoteFakeWhatsApp`` reads and configures it
over the control endpoints described in tests/fakes/http.py.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
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
from urllib.parse import parse_qsl, urlsplit

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

GRAPH_VERSION = "v21.0"
WABA_ID = "102290129340398"
PHONE_NUMBER_ID = "106540352242922"
DISPLAY_PHONE_NUMBER = "15550000000"
SIGNATURE_HEADER = "X-Hub-Signature-256"
MAX_TEXT = 4096
ERROR_CODES_URL = "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"

# Graph error code -> (HTTP status, title, error_data.details). Messages read "(#<code>) <title>".
ERRORS: dict[int, tuple[int, str, str]] = {
    130429: (
        429,
        "Rate limit hit",
        "Message failed to send because there were too many messages sent from this phone number "
        "in a short period of time",
    ),
    131056: (
        429,
        "(Business Account, Consumer Account) pair rate limit hit",
        "Message failed to send because there were too many messages sent from this phone number "
        "to the same phone number in a short period of time",
    ),
    131026: (400, "Message undeliverable", "Message Undeliverable."),
    131053: (400, "Media upload error", "Unable to upload the media used in the message."),
    131047: (
        400,
        "Re-engagement message",
        "Message failed to send because more than 24 hours have passed since the customer last "
        "replied to this number.",
    ),
    131051: (400, "Unsupported message type", "Message type is not currently supported."),
    100: (400, "Invalid parameter", "Invalid parameter"),
    131048: (
        400,
        "Spam rate limit hit",
        "Message failed to send because there are restrictions on how many messages can be sent from "
        "this phone number. This may be because too many previous messages were blocked or flagged as spam.",
    ),
    131049: (
        400,
        "This message was not delivered to maintain healthy ecosystem engagement.",
        "In order to maintain a healthy ecosystem engagement, the message failed to be delivered.",
    ),
    131050: (
        400,
        "Unable to deliver the message. This recipient has chosen to stop receiving marketing messages "
        "on WhatsApp from your business.",
        "The user has stopped marketing messages from this business.",
    ),
    131042: (
        400,
        "Business eligibility payment issue",
        "Message failed to send because there were one or more errors related to your payment method.",
    ),
    132015: (
        400,
        "Template is Paused",
        "Template is paused due to low quality so it cannot be sent in a template message.",
    ),
}
REVOKED = (
    "Error validating access token: The session has been invalidated because the user changed their "
    "password or Facebook has changed the session for security reasons."
)
# Server errors: rule code -> (HTTP status, Graph code, message).
SERVER_ERRORS: dict[int, tuple[int, int, str]] = {
    500: (500, 1, "An unknown error occurred"),
    503: (503, 2, "Service temporarily unavailable"),
}
CODES = frozenset(ERRORS) | frozenset(SERVER_ERRORS)
# Message types the Cloud API sends; anything else answers 131051.
MESSAGE_TYPES = frozenset(
    {"text", "template", "interactive", "image", "audio", "video", "document", "sticker", "location", "contacts", "reaction"}
)
STATUSES = ("sent", "delivered", "read")
# The account's templates as Graph lists them (fields name, language, category, status,
# quality_score, components, id, parameter_format): approved marketing (positional, a URL
# button and a copy-code button), approved utility (named), an image header, and two that
# no draft may use (pending, rejected).
TEMPLATES: tuple[JSONDict, ...] = (
    {"id": "1386912450001", "name": "black_friday", "language": "ru", "category": "MARKETING", "status": "APPROVED",
     "parameter_format": "POSITIONAL", "quality_score": {"score": "GREEN", "date": 1764460800},
     "components": [
         {"type": "HEADER", "format": "TEXT", "text": "Скидки {{1}}", "example": {"header_text": ["до -50%"]}},
         {"type": "BODY", "text": "{{1}}, только сегодня {{2}} на всё!",
          "example": {"body_text": [["Анна", "−30%"]]}},
         {"type": "FOOTER", "text": "Ответьте СТОП, чтобы отписаться"},
         {"type": "BUTTONS", "buttons": [
             {"type": "URL", "text": "В магазин", "url": "https://shop.example/sale/{{1}}",
              "example": ["https://shop.example/sale/bf"]},
             {"type": "COPY_CODE", "example": "BF2026"},
             {"type": "QUICK_REPLY", "text": "Стоп"},
         ]},
     ]},
    {"id": "1386912450002", "name": "order_ready", "language": "en_US", "category": "UTILITY", "status": "APPROVED",
     "parameter_format": "NAMED", "quality_score": {"score": "UNKNOWN", "date": 1764460800},
     "components": [
         {"type": "BODY", "text": "Hi {{first_name}}, order {{order_id}} is ready. Thanks, {{first_name}}!",
          "example": {"body_text_named_params": [{"param_name": "first_name", "example": "Pablo"},
                                                 {"param_name": "order_id", "example": "A-1042"}]}},
     ]},
    {"id": "1386912450003", "name": "new_collection", "language": "en", "category": "MARKETING",
     "status": "APPROVED", "parameter_format": "POSITIONAL", "quality_score": {"score": "YELLOW", "date": 1764460800},
     "components": [
         {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["4::aW1hZ2UvanBlZw==:ARb"]}},
         {"type": "BODY", "text": "Our new collection is here."},
     ]},
    {"id": "1386912450004", "name": "spring_teaser", "language": "en", "category": "MARKETING", "status": "PENDING",
     "parameter_format": "POSITIONAL", "quality_score": {"score": "UNKNOWN"},
     "components": [{"type": "BODY", "text": "Spring is coming, {{1}}.", "example": {"body_text": [["Anna"]]}}]},
    {"id": "1386912450005", "name": "win_big", "language": "en", "category": "MARKETING", "status": "REJECTED",
     "parameter_format": "POSITIONAL", "quality_score": {"score": "UNKNOWN"},
     "components": [{"type": "BODY", "text": "You won!"}]},
)


@dataclass(frozen=True)
class WhatsAppConfig:
    """What the fake does wrong, and when. Replace it whole or with ``configure(**changes)``."""

    # wa_id -> Graph error code for every message to it: a code of ERRORS (130429, 131056,
    # 131026, 131047, 131048, 131049, 131050, 131042, 132015, 131051, 100), or 500 / 503
    # (HTTP 5xx with Graph code 1 / 2).
    recipient_rules: Mapping[str, int] = field(default_factory=dict)
    # wa_id -> codes for its next messages, one each, before the rules apply; 0 accepts.
    queued: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    # wa_id -> error code: the message is accepted (200), then its only status webhook is
    # "failed" with that error, as WhatsApp reports 131026, 131047, 131049 and 131050 in
    # practice.
    async_failures: Mapping[str, int] = field(default_factory=dict)
    # wa_ids whose requests close the connection without an answer; nothing is sent.
    disconnect: frozenset[str] = frozenset()
    # 24-hour customer service window: with enforce_window, any message but a template to a
    # wa_id not in `window` answers 131047.
    enforce_window: bool = False
    window: frozenset[str] = frozenset()
    # Fractions of messages answered 130429 and 500. The draw depends only on (seed, wa_id,
    # n-th message to that wa_id), so it repeats whatever the concurrency.
    rate_429: float = 0.0
    rate_5xx: float = 0.0
    seed: int = 0
    # Seconds before each answer; wa_ids in slow_recipients wait slow_latency instead.
    latency: float = 0.0
    slow_recipients: frozenset[str] = frozenset()
    slow_latency: float = 1.0
    # Throughput: more than `ceiling` admitted messages in the last second -> 130429 (refused
    # requests do not count). Pair rate: a message to a wa_id less than `pair_interval`
    # seconds after the last accepted one to it -> 131056.
    ceiling: int | None = None
    pair_interval: float | None = None
    # Status webhooks: after each accepted message, POST each of `statuses` to webhook_url,
    # signed with app_secret (no signature header without one), `webhook_delay` s apart.
    webhook_url: str | None = None
    app_secret: str | None = None
    statuses: tuple[str, ...] = ("sent", "delivered")
    webhook_delay: float = 0.0
    webhook_timeout: float = 10.0
    # Identity used in the webhooks; the phone_number_id is the one in the request's path.
    waba_id: str = WABA_ID
    display_phone_number: str = DISPLAY_PHONE_NUMBER
    # conversation.origin.type and pricing.category of templates (other messages: "service").
    template_category: str = "marketing"
    # A code of ERRORS or SERVER_ERRORS answered to every valid message, whoever it is for
    # (131048 spam limit, 132015 template paused, 131042 payment issue, ...).
    account_error: int | None = None
    # Lost answers: the next `lose_next` messages the fake takes, or every `lose_every`-th,
    # are accepted (recorded, webhooks posted) but answered `lost_answer` instead: "502" (an
    # HTML 502 from a proxy), "reset" (TCP RST) or "close" (closed without an answer).
    lose_every: int | None = None
    lose_next: int = 0
    lost_answer: str = "502"
    # A revoked token: every request answers HTTP 401 with code 190 until set back to False.
    token_revoked: bool = False
    # The account's message templates, as GET /<waba_id>/message_templates lists them, at most
    # `templates_page_size` a page (fewer when the request's `limit` asks for fewer).
    templates: tuple[JSONDict, ...] = field(default_factory=lambda: TEMPLATES)
    templates_page_size: int = 25

    def __post_init__(self) -> None:
        check_losses(self.lose_every, self.lose_next, self.lost_answer)
        if self.account_error is not None and self.account_error not in CODES:
            raise ValueError(f"account_error: unknown code {self.account_error!r}, expected one of {sorted(CODES)}")
        for name, codes, allowed in (
            ("recipient_rules", self.recipient_rules, CODES),
            ("async_failures", self.async_failures, frozenset(ERRORS)),
            ("queued", {k: c for k, v in self.queued.items() for c in v if c != 0}, CODES),
        ):
            for wa_id, code in codes.items():
                if code not in allowed:
                    raise ValueError(f"{name}: {wa_id}: unknown code {code!r}, expected one of {sorted(allowed)}")
        for status in self.statuses:
            if status not in STATUSES:
                raise ValueError(f"statuses: unknown status {status!r}, expected some of {STATUSES}")
        if not 0.0 <= self.rate_429 + self.rate_5xx <= 1.0 or min(self.rate_429, self.rate_5xx) < 0:
            raise ValueError("rate_429 and rate_5xx must be fractions summing to at most 1")

    def to_json(self) -> JSONDict:
        """The config as JSON-ready values."""
        return config_to_json(self)

    def updated(self, changes: Mapping[str, object]) -> WhatsAppConfig:
        """A copy with ``changes`` applied; accepts JSON shapes (string keys, lists, "+7..." ids)."""
        values = check_fields(self, changes)
        for name in ("recipient_rules", "async_failures"):
            if name in values:
                values[name] = {wa_id_of(k): int(str(v)) for k, v in as_mapping(values[name]).items()}
        if "queued" in values:
            values["queued"] = {
                wa_id_of(k): tuple(int(c) for c in ([v] if isinstance(v, int) else as_list(v)))
                for k, v in as_mapping(values["queued"]).items()
            }
        for name in ("disconnect", "window", "slow_recipients"):
            if name in values:
                values[name] = frozenset(wa_id_of(v) for v in as_strings(values[name]))
        if "statuses" in values:
            values["statuses"] = tuple(as_strings(values["statuses"]))
        if "templates" in values:
            values["templates"] = tuple(dict(as_mapping(t)) for t in as_list(values["templates"]))
        return dataclasses.replace(self, **values)  # type: ignore[arg-type]


def wa_id_of(to: object) -> str:
    """The digits of a phone number as WhatsApp's wa_id: "+7 (999) 000-11-22" -> "79990001122";
    "" when it is not a phone number."""
    digits = re.sub(r"[\s()+.-]", "", str(to))
    return digits if digits.isdigit() and 5 <= len(digits) <= 20 else ""


@dataclass(frozen=True)
class Call:
    """One POST .../messages that sends a message, as it arrived and as the fake answered it."""

    seq: int  # arrival order, from 1
    phone_number_id: str
    to: str  # as given
    wa_id: str  # its digits; "" when `to` was missing or not a number
    type: str
    text: str | None  # text.body of a text message
    template: str | None  # template.name of a template message
    body: JSONDict  # the whole request body
    monotonic: float  # time.monotonic() at arrival
    wall: float  # time.time() at arrival
    status: int  # HTTP status answered (0: connection dropped, no answer)
    code: int | None  # Graph error code answered; None on 200
    message_id: str | None  # the wamid, set when the message was accepted
    # "502", "reset" or "close" when the message was accepted but its answer lost
    lost_answer: str | None = None
    # "messages" or "marketing_messages" (Meta's Marketing Messages API, MARKETING templates only)
    endpoint: str = "messages"

    @property
    def delivered(self) -> bool:
        """True when the message was accepted: answered 200, or taken and the answer lost."""
        return self.status == 200 or self.lost_answer is not None

    def to_json(self) -> JSONDict:
        """The call as JSON-ready values."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Call:
        """The inverse of to_json."""
        return cls(**data)  # type: ignore[arg-type]


def count_by_recipient(calls: Iterable[Call]) -> dict[str, int]:
    """Number of calls per wa_id."""
    return dict(Counter(c.wa_id for c in calls))


# ---- payloads -----------------------------------------------------------------------


def graph_error(code: int, details: str | None = None, fbtrace_id: str = "AFakeTraceId") -> tuple[int, JSONDict]:
    """(HTTP status, Graph error body) for a code of ERRORS or SERVER_ERRORS."""
    if code in SERVER_ERRORS:
        status, graph_code, message = SERVER_ERRORS[code]
        return status, {"error": {"message": message, "type": "OAuthException", "code": graph_code, "fbtrace_id": fbtrace_id}}
    status, title, default_details = ERRORS[code]
    return status, {
        "error": {
            "message": f"(#{code}) {title}",
            "type": "OAuthException",
            "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": details or default_details},
            "fbtrace_id": fbtrace_id,
        }
    }


def status_error(code: int) -> JSONDict:
    """One entry of a failed status's "errors" list."""
    _, title, details = ERRORS[code]
    return {"code": code, "title": title, "message": title, "error_data": {"details": details}, "href": ERROR_CODES_URL}


def encode(payload: object) -> bytes:
    """A webhook body as Meta sends it: compact JSON, non-ASCII escaped as \\uXXXX (the
    signature is over these exact bytes)."""
    return json.dumps(payload, separators=(",", ":")).encode()


def sign(body: bytes, secret: str) -> str:
    """The X-Hub-Signature-256 header value for ``body``: "sha256=<hex HMAC-SHA256>"."""
    return "sha256=" + hmac_sha256_hex(secret, body)


def signed(payload: object, secret: str) -> tuple[bytes, dict[str, str]]:
    """(body, headers) of a webhook POST as Meta would make it: ``client.post(url,
    content=body, headers=headers)``."""
    body = encode(payload)
    return body, {"Content-Type": "application/json", SIGNATURE_HEADER: sign(body, secret)}


def verification_query(verify_token: str, challenge: str = "1158201444") -> dict[str, str]:
    """The query of Meta's GET verification of a webhook; the answer must be the challenge."""
    return {"hub.mode": "subscribe", "hub.verify_token": verify_token, "hub.challenge": challenge}


_wamids = itertools.count(1)
_NONCE = base64.b32encode(os.urandom(5)).decode()


def new_wamid(wa_id: str = "") -> str:
    """A unique message id in WhatsApp's shape: "wamid." and base64."""
    raw = f"FAKE.{_NONCE}.{next(_wamids):012d}.{wa_id}".encode()
    return "wamid." + base64.b64encode(raw).decode()


def _envelope(
    value: JSONDict, field_name: str, phone_number_id: str, waba_id: str, display_phone_number: str
) -> JSONDict:
    metadata = {"display_phone_number": display_phone_number, "phone_number_id": phone_number_id}
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": waba_id,
                "changes": [{"value": {"messaging_product": "whatsapp", "metadata": metadata, **value}, "field": field_name}],
            }
        ],
    }


def inbound_text(
    wa_id: str,
    text: str,
    msg_id: str | None = None,
    name: str = "Test User",
    *,
    timestamp: int | None = None,
    phone_number_id: str = PHONE_NUMBER_ID,
    waba_id: str = WABA_ID,
    display_phone_number: str = DISPLAY_PHONE_NUMBER,
) -> JSONDict:
    """The "messages" webhook of a text a user sent to the business."""
    message = {
        "from": wa_id,
        "id": msg_id or new_wamid(wa_id),
        "timestamp": str(int(time.time()) if timestamp is None else timestamp),
        "text": {"body": text},
        "type": "text",
    }
    value = {"contacts": [{"profile": {"name": name}, "wa_id": wa_id}], "messages": [message]}
    return _envelope(value, "messages", phone_number_id, waba_id, display_phone_number)


def status_payload(
    wamid: str,
    status: str,
    recipient_id: str,
    errors: Iterable[int | JSONDict] | int | None = None,
    *,
    timestamp: int | None = None,
    category: str = "marketing",
    phone_number_id: str = PHONE_NUMBER_ID,
    waba_id: str = WABA_ID,
    display_phone_number: str = DISPLAY_PHONE_NUMBER,
) -> JSONDict:
    """The "messages" webhook with one status of a message the business sent: "sent",
    "delivered" and "read" carry conversation and pricing (read: neither); "failed" carries
    ``errors`` (codes or dicts; by default 131026 Message undeliverable)."""
    now = int(time.time()) if timestamp is None else timestamp
    entry: JSONDict = {"id": wamid, "status": status, "timestamp": str(now), "recipient_id": recipient_id}
    if status == "failed" or errors is not None:
        listed = [131026] if errors is None else [errors] if isinstance(errors, int) else list(errors)
        entry["errors"] = [status_error(e) if isinstance(e, int) else e for e in listed]
    elif status in ("sent", "delivered"):
        conversation: JSONDict = {"id": hashlib.md5(f"{phone_number_id}:{recipient_id}".encode()).hexdigest()}
        if status == "sent":
            conversation["expiration_timestamp"] = str(now + 24 * 3600)
        conversation["origin"] = {"type": category}
        entry["conversation"] = conversation
        entry["pricing"] = {"billable": True, "pricing_model": "CBP", "category": category}
    return _envelope({"statuses": [entry]}, "messages", phone_number_id, waba_id, display_phone_number)


def user_preferences_payload(
    wa_id: str,
    value: str = "stop",
    *,
    name: str = "Test User",
    timestamp: int | None = None,
    phone_number_id: str = PHONE_NUMBER_ID,
    waba_id: str = WABA_ID,
    display_phone_number: str = DISPLAY_PHONE_NUMBER,
) -> JSONDict:
    """The "user_preferences" webhook: the user stopped ("stop") or resumed ("resume")
    marketing messages."""
    detail = {"stop": "User requested to stop marketing messages", "resume": "User requested to resume marketing messages"}
    preference = {
        "wa_id": wa_id,
        "detail": detail.get(value, value),
        "category": "marketing_messages",
        "value": value,
        "timestamp": int(time.time()) if timestamp is None else timestamp,
    }
    body = {"contacts": [{"wa_id": wa_id, "profile": {"name": name}}], "user_preferences": [preference]}
    return _envelope(body, "user_preferences", phone_number_id, waba_id, display_phone_number)


# ---- the server ---------------------------------------------------------------------

_MESSAGES_PATH = re.compile(r"(?:/v\d+(?:\.\d+)?)?/([^/]+)/(messages|marketing_messages)/?")
_MEDIA_PATH = re.compile(r"(?:/v\d+(?:\.\d+)?)?/([^/]+)/media/?")
# Cloud API media (shared/PLATFORMS.md): content type -> the most bytes Meta takes
MEDIA_TYPES = {"image/jpeg": 5 * 1024 * 1024, "image/png": 5 * 1024 * 1024, "video/mp4": 16 * 1024 * 1024,
               "application/pdf": 100 * 1024 * 1024}
MAX_CAPTION = 1024
MEDIA_KINDS = ("image", "video", "document")


@dataclass(frozen=True)
class MediaUpload:
    """One POST /<phone-number-id>/media the fake took."""

    media_id: str
    phone_number_id: str
    content_type: str
    filename: str
    content: bytes


_TEMPLATES_PATH = re.compile(r"(?:/v\d+(?:\.\d+)?)?/([^/]+)/message_templates/?")
# GET /<phone-number-id> (digits only, so that no other path is taken for one)
_NUMBER_PATH = re.compile(r"(?:/v\d+(?:\.\d+)?)?/(\d+)/?")
VERIFIED_NAME = "Fake Shop"


class FakeWhatsApp(FakeServer[WhatsAppConfig, Call]):
    """The fake Cloud API: start()/stop() or a ``with`` block run it in a background thread."""

    name: ClassVar[str] = "fake-whatsapp"
    config_class = WhatsAppConfig

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        config: WhatsAppConfig | None = None,
    ) -> None:
        super().__init__(host=host, port=port, config=config)
        self.token = token  # None: accept any non-empty bearer token
        self._admitted = SlidingWindow()
        self._last_accepted: dict[str, float] = {}
        self._attempts: Counter[str] = Counter()
        self._seq = 0
        self._uploads: dict[str, MediaUpload] = {}  # media id -> upload

    def media_uploads(self) -> list[MediaUpload]:
        """Every file uploaded to /media, in order."""
        with self._lock:
            return list(self._uploads.values())

    def _upload(self, phone_number_id: str, headers: Mapping[str, str], body: bytes, latency: float) -> Answer:
        """POST /<phone-number-id>/media (multipart: messaging_product, type, file): {"id"}."""
        from tests.fakes.telegram import BadRequestBody, parse_params

        try:
            fields = parse_params("", headers.get("content-type", ""), body)
        except BadRequestBody:
            return self._refuse("media", 400, 100, "Invalid multipart body.", latency)
        file, content_type = fields.get("file"), str(fields.get("type") or "")
        if fields.get("messaging_product") != "whatsapp":
            return self._refuse("media", 400, 100, 'The parameter messaging_product is required and must be "whatsapp".',
                                latency)
        if not isinstance(file, bytes) or not file:
            return self._refuse("media", 400, 100, "The parameter file is required.", latency)
        if content_type not in MEDIA_TYPES:
            return self._refuse("media", 400, 131053, f"Media upload error: unsupported type {content_type}.", latency)
        if len(file) > MEDIA_TYPES[content_type]:
            return self._refuse("media", 400, 131053, "Media upload error: the file is too large.", latency)
        with self._lock:
            self._requests["media"] += 1
            media_id = str(10**15 + len(self._uploads) + 1)
            filename = (re.search(rb'filename="([^"]*)"', body) or [b"", b""])[1].decode("utf-8", "replace")
            self._uploads[media_id] = MediaUpload(media_id, phone_number_id, content_type, filename, file)
        return json_answer(200, {"id": media_id}, latency)

    def _media_problem(self, payload: JSONDict, kind: str) -> tuple[int, str] | None:
        """A media message whose id the fake never gave out, or whose caption is too long."""
        part = payload.get(kind)
        if kind not in MEDIA_KINDS or not isinstance(part, dict):
            return None
        if not part.get("id") and not part.get("link"):
            return 100, f"The parameter {kind}['id'] or {kind}['link'] is required."
        with self._lock:
            known = part.get("id") is None or str(part.get("id")) in self._uploads
        if not known:
            return 131053, f"Media upload error: {kind}['id'] {part.get('id')} is not a media id of this account."
        if len(str(part.get("caption") or "")) > MAX_CAPTION:
            return 100, f"Param {kind}['caption'] must be at most {MAX_CAPTION} characters long."
        return None

    @property
    def base_url(self) -> str:
        """The Graph root with a version: ``f"{base_url}/{phone_number_id}/messages"``."""
        return f"{self.url}/{GRAPH_VERSION}"

    def messages_url(self, phone_number_id: str = PHONE_NUMBER_ID) -> str:
        """Where to POST messages."""
        return f"{self.base_url}/{phone_number_id}/messages"

    # ---- configuration ---------------------------------------------------------------

    def open_window(self, *wa_ids: str) -> None:
        """Put these in the 24-hour window, as if each had just written to the business."""
        with self._lock:
            window = self._config.window | {wa_id_of(w) for w in wa_ids}
            self._config = dataclasses.replace(self._config, window=window)

    def close_window(self, *wa_ids: str) -> None:
        """Take these out of the 24-hour window."""
        with self._lock:
            window = self._config.window - {wa_id_of(w) for w in wa_ids}
            self._config = dataclasses.replace(self._config, window=window)

    def _forget(self) -> None:
        self._admitted = SlidingWindow()
        self._last_accepted = {}
        self._attempts = Counter()

    # ---- recorded calls --------------------------------------------------------------

    def sent(self) -> list[Call]:
        """The message requests accepted (answered 200, or answer lost)."""
        with self._lock:
            return [c for c in self._calls if c.delivered]

    def count_by_recipient(self, *, delivered_only: bool = True) -> dict[str, int]:
        """Messages per wa_id: accepted ones, or every call with delivered_only=False."""
        return count_by_recipient(self.sent() if delivered_only else self.calls())

    def max_in_any_window(self, seconds: float = 1.0, *, delivered_only: bool = False) -> int:
        """Most message requests that arrived within one window [t, t + seconds)."""
        calls = self.sent() if delivered_only else self.calls()
        return max_in_any_window((c.monotonic for c in calls), seconds)

    def wait_for_sent(self, count: int, timeout: float = 10.0) -> bool:
        """Block until at least ``count`` messages were accepted; False on timeout."""
        return self._wait_for_accepted(count, timeout)

    def stats(self) -> JSONDict:
        """Counts for the control endpoint and the dump file."""
        calls = self.calls()
        sent = [c for c in calls if c.delivered]
        webhooks = self.webhooks()
        return {
            "calls": len(calls),
            "sent": len(sent),
            "lost_answers": dict(Counter(c.lost_answer for c in calls if c.lost_answer)),
            "codes": {str(k): v for k, v in Counter(c.code for c in calls if c.code is not None).items()},
            "count_by_recipient": count_by_recipient(sent),
            "max_in_any_window": max_in_any_window(c.monotonic for c in calls),
            "max_sent_in_any_window": max_in_any_window(c.monotonic for c in sent),
            "requests": self.request_counts(),
            "webhooks": len(webhooks),
            "webhook_events": dict(Counter(w.event for w in webhooks)),
        }

    # ---- HTTP ------------------------------------------------------------------------

    def _answer(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Answer:
        parts = urlsplit(target)
        if parts.path.startswith("/_fake/"):
            return self._control(method, parts.path, body)
        with self._lock:
            latency = self._config.latency
            revoked = self._config.token_revoked
        match = _MESSAGES_PATH.fullmatch(parts.path)
        if method == "POST" and (media := _MEDIA_PATH.fullmatch(parts.path)):
            return self._authorized(headers, parts.query, latency, revoked) or self._upload(
                media.group(1), headers, body, latency)
        templates = _TEMPLATES_PATH.fullmatch(parts.path)
        if method == "GET" and templates:
            return self._authorized(headers, parts.query, latency, revoked) or self._templates(
                templates.group(1), parts.path, parts.query, latency)
        number = _NUMBER_PATH.fullmatch(parts.path)
        if method == "GET" and number:  # the phone number itself: what a credentials check reads
            return self._authorized(headers, parts.query, latency, revoked) or self._phone_number(
                number.group(1), latency)
        if method != "POST" or not match:
            return self._refuse("unknown", 400, 100, f"Unsupported {method.lower()} request.", latency)
        if refusal := self._authorized(headers, parts.query, latency, revoked):
            return refusal
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            return self._refuse("bad_request", 400, 100, "Request body must be a JSON object.", latency)
        if payload.get("status") == "read" and "message_id" in payload:
            self._count_request("mark_read")
            return json_answer(200, {"success": True}, latency)
        return self._send(match.group(1), payload, endpoint=match.group(2))

    def _phone_number(self, phone_number_id: str, latency: float) -> Answer:
        """GET /<phone-number-id>: the number's id, display_phone_number and verified_name."""
        self._count_request("phone_number")
        with self._lock:
            display = self._config.display_phone_number
        return json_answer(200, {"id": phone_number_id, "display_phone_number": display,
                                 "verified_name": VERIFIED_NAME, "quality_rating": "GREEN"}, latency)

    def _authorized(self, headers: Mapping[str, str], query: str, latency: float, revoked: bool) -> Answer | None:
        """None when the request carries an accepted token; else Graph's 401."""
        scheme, _, token = headers.get("authorization", "").partition(" ")
        token = token.strip() if scheme.lower() == "bearer" else ""
        token = token or dict(parse_qsl(query)).get("access_token", "")
        if not token:
            return self._refuse("unauthorized", 401, 190, "An access token is required to request this resource.", latency)
        if self.token is not None and token != self.token:
            return self._refuse("unauthorized", 401, 190, "Invalid OAuth access token - Cannot parse access token", latency)
        if revoked:
            return self._refuse("unauthorized", 401, 190, REVOKED, latency, error_subcode=460)
        return None

    def _templates(self, waba_id: str, path: str, query: str, latency: float) -> Answer:
        """One page of the account's templates, Graph style: `data`, and `paging` with cursors
        and a `next` link while more remain."""
        with self._lock:
            config = self._config
        if waba_id != config.waba_id:
            return self._refuse(
                "unknown", 400, 100, f"Unsupported get request. Object with ID '{waba_id}' does not exist, cannot be "
                "loaded due to missing permissions, or does not support this operation.", latency, error_subcode=33)
        self._count_request("message_templates")
        params = dict(parse_qsl(query))
        try:
            limit = min(max(1, int(params.get("limit") or config.templates_page_size)), config.templates_page_size)
            start = int(base64.urlsafe_b64decode(params["after"]).decode()) if params.get("after") else 0
        except ValueError:
            return self._refuse("bad_request", 400, 100, "Invalid parameter", latency)
        fields = [f for f in (params.get("fields") or "name,status,language,category,id").split(",") if f]
        page = config.templates[start:start + limit]
        data = [{k: t[k] for k in ("id", *fields) if k in t} for t in page]
        answer: JSONDict = {"data": data}
        if page:
            cursor = lambda n: base64.urlsafe_b64encode(str(n).encode()).decode()  # noqa: E731
            answer["paging"] = {"cursors": {"before": cursor(start), "after": cursor(start + len(page))}}
            if start + len(page) < len(config.templates):
                answer["paging"]["next"] = (f"{self.url}{path}?fields={','.join(fields)}&limit={limit}"
                                            f"&after={cursor(start + len(page))}")
        return json_answer(200, answer, latency)

    def _refuse(self, kind: str, status: int, code: int, message: str, latency: float, **extra: object) -> Answer:
        """A Graph error for a request that is not recorded as a message."""
        self._count_request(kind)
        prefix = "" if code == 190 else f"(#{code}) "
        error = {"message": prefix + message, "type": "OAuthException", "code": code, **extra, "fbtrace_id": "AFakeTraceId"}
        return json_answer(status, {"error": error}, latency)

    def _send(self, phone_number_id: str, payload: JSONDict, *, endpoint: str = "messages") -> Answer:
        arrived, wall = time.monotonic(), time.time()
        to = payload.get("to")
        wa_id = wa_id_of(to) if isinstance(to, (str, int)) else ""
        kind = payload.get("type", "text")
        kind = kind if isinstance(kind, str) else str(kind)
        text_part = payload.get("text")
        template_part = payload.get("template")
        text = text_part.get("body") if isinstance(text_part, dict) else None
        template = template_part.get("name") if isinstance(template_part, dict) else None
        problem = _invalid(payload, kind, wa_id) or self._media_problem(payload, kind)
        if problem is None and endpoint == "marketing_messages" and kind != "template":
            problem = 100, "The Marketing Messages API sends template messages only."

        with self._lock:
            self._requests["message"] += 1
            config = self._config
            self._seq += 1
            seq = self._seq
            if problem is not None:
                code, details = problem
            else:
                code, details = self._decide(config, wa_id, kind, arrived), None
            delay = config.slow_latency if wa_id in config.slow_recipients else config.latency
            message_id = None
            lost_answer = None
            error_body: JSONDict = {}
            if code == 0:
                lost_answer = self._lose_answer()
                status = 200 if lost_answer is None else lost_status(lost_answer)
                message_id = new_wamid(wa_id)
                self._last_accepted[wa_id] = arrived
            elif code == -1:
                status = 0
            else:
                status, error_body = graph_error(code, details, fbtrace_id=_trace_id(seq))
            self._calls.append(
                Call(
                    seq=seq,
                    phone_number_id=phone_number_id,
                    to=str(to) if to is not None else "",
                    wa_id=wa_id,
                    type=kind,
                    text=text if isinstance(text, str) else None,
                    template=template if isinstance(template, str) else None,
                    body=payload,
                    monotonic=arrived,
                    wall=wall,
                    status=status,
                    code=code if code > 0 else None,
                    message_id=message_id,
                    lost_answer=lost_answer,
                    endpoint=endpoint,
                )
            )
            if message_id is not None:
                self._note_accepted()

        if code == -1:
            return Answer(0, b"", delay, disconnect=True)
        if message_id is None:
            return json_answer(status, error_body, delay)
        message: JSONDict = {"id": message_id}
        if kind == "template":
            message["message_status"] = "accepted"
        answer = {
            "messaging_product": "whatsapp",
            "contacts": [{"input": str(to), "wa_id": wa_id}],
            "messages": [message],
        }
        posts = self._status_posts(config, phone_number_id, message_id, wa_id, kind)
        after = (lambda: self._queue_webhooks(posts)) if posts else None
        if lost_answer is not None:
            return lost(lost_answer, delay, after)
        return json_answer(200, answer, delay, after=after)

    def _decide(self, config: WhatsAppConfig, wa_id: str, kind: str, now: float) -> int:
        """The Graph code of one valid message (0: accepted, -1: disconnect); called with the
        lock held, in arrival order."""
        if config.account_error is not None:
            return config.account_error
        # Throughput first: a refused request is not admitted and does not count.
        if not self._admitted.admit(now, config.ceiling, 1.0):
            return 130429
        if config.pair_interval is not None:
            last = self._last_accepted.get(wa_id)
            if last is not None and now - last < config.pair_interval:
                return 131056
        queued = self._next_queued(wa_id)
        if queued is not None:
            return int(queued)
        if wa_id in config.disconnect:
            return -1
        rule = config.recipient_rules.get(wa_id)
        if rule is not None:
            return rule
        if config.enforce_window and kind != "template" and wa_id not in config.window:
            return 131047
        if config.rate_429 or config.rate_5xx:
            self._attempts[wa_id] += 1
            drawn = draw(config.seed, wa_id, self._attempts[wa_id])
            if drawn < config.rate_429:
                return 130429
            if drawn < config.rate_429 + config.rate_5xx:
                return 500
        return 0

    def _status_posts(
        self, config: WhatsAppConfig, phone_number_id: str, wamid: str, wa_id: str, kind: str
    ) -> list[OutgoingPost]:
        if not config.webhook_url:
            return []
        failure = config.async_failures.get(wa_id)
        statuses = ["failed"] if failure is not None else list(config.statuses)
        category = config.template_category if kind == "template" else "service"
        posts = []
        for status in statuses:
            payload = status_payload(
                wamid,
                status,
                wa_id,
                failure,
                category=category,
                phone_number_id=phone_number_id,
                waba_id=config.waba_id,
                display_phone_number=config.display_phone_number,
            )
            body = encode(payload)
            headers = {"Content-Type": "application/json", "User-Agent": "facebookexternalua"}
            signature = None
            if config.app_secret:
                signature = headers[SIGNATURE_HEADER] = sign(body, config.app_secret)
            posts.append(
                OutgoingPost(
                    config.webhook_url, status, wamid, wa_id, body, headers, signature,
                    config.webhook_delay, config.webhook_timeout,
                )
            )
        return posts


def _invalid(payload: JSONDict, kind: str, wa_id: str) -> tuple[int, str] | None:
    """(code, details) when the request is malformed, as Graph checks it before sending."""
    if payload.get("messaging_product") != "whatsapp":
        return 100, "The parameter messaging_product is required and must be \"whatsapp\"."
    if not wa_id:
        return 100, "The parameter to is required and must be a phone number."
    if kind not in MESSAGE_TYPES:
        return 131051, f"Message type {kind!r} is not currently supported."
    part = payload.get(kind)
    if not isinstance(part, dict) and kind != "contacts":
        return 100, f"The parameter {kind} is required."
    if kind == "text":
        body = part.get("body") if isinstance(part, dict) else None
        if not isinstance(body, str) or not body:
            return 100, "The parameter text['body'] is required."
        if len(body) > MAX_TEXT:
            return 100, f"Param text['body'] must be at most {MAX_TEXT} characters long."
    if kind == "template":
        language = part.get("language") if isinstance(part, dict) else None
        if not isinstance(part, dict) or not part.get("name"):
            return 100, "The parameter template['name'] is required."
        if not isinstance(language, dict) or not language.get("code"):
            return 100, "The parameter template['language']['code'] is required."
    return None


def _trace_id(seq: int) -> str:
    return "A" + hashlib.blake2b(f"trace:{seq}".encode(), digest_size=11).hexdigest()


class RemoteFakeWhatsApp(RemoteFake[Call]):
    """The same accessors for a fake running in another process, over its control endpoints."""

    call_class = Call

    @property
    def base_url(self) -> str:
        """The Graph root with a version."""
        return f"{self.url}/{GRAPH_VERSION}"

    def sent(self) -> list[Call]:
        """The message requests accepted (answered 200, or answer lost)."""
        return [c for c in self.calls() if c.delivered]

    def count_by_recipient(self, *, delivered_only: bool = True) -> dict[str, int]:
        """Messages per wa_id."""
        return count_by_recipient(self.sent() if delivered_only else self.calls())

    def max_in_any_window(self, seconds: float = 1.0, *, delivered_only: bool = False) -> int:
        """Most message requests that arrived within one window [t, t + seconds)."""
        calls = self.sent() if delivered_only else self.calls()
        return max_in_any_window((c.monotonic for c in calls), seconds)


if __name__ == "__main__":
    sys.exit(main_for(FakeWhatsApp, "FAKE_WHATSAPP_URL"))
