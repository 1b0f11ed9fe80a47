"""Tracked links, as pure functions: the token of one delivery's link, the links a message
tracks, and the address a click is sent on to (with UTM parameters).

A token is stateless: campaign id, delivery id, link index and platform as varints, then the
first 10 bytes of an HMAC-SHA256 keyed with SECRET_KEY (salted for this use), base64url
without padding: about 23 characters, so `{TACT_PUBLIC_URL}/r/<token>` stays short enough for
any button. Nobody can make a valid token without the key; a changed character fails the check.
The campaign id lets the link keep working after the retention purge removed the ledger.

A channel post reaches everyone with one message, so its token names the publication (the
post in one channel) and the link index: two varints, the second with the platform bits all
set (POST_KIND), which no delivery token has; a delivery token never reads as a post token
nor the other way round, and the tokens already sent keep working.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit

from django.conf import settings
from django.utils.crypto import constant_time_compare, salted_hmac

SALT = "tact.links.redirect"
MAC_BYTES = 10
# Links of one message beyond this many are sent as they are (Click.link is a small integer).
MAX_LINKS = 100
TOKEN_PLATFORMS = ("telegram", "whatsapp", "viber")
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{16,64}")

# http(s) links in a text, up to whitespace, quotes or angle brackets.
BODY_LINK_RE = re.compile(r"""https?://[^\s<>"'`]+""", re.IGNORECASE)
TRAILING = ".,;:!?'\"»”’]}>"

UTM_MEDIUM = "messenger"
# A channel post's clicks: told apart from one-to-one messages in the marketer's analytics.
UTM_MEDIUM_POST = "channel"
# The platform bits of a post token's last varint (delivery tokens use 0-2: TOKEN_PLATFORMS).
POST_KIND = 3
UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign")

# User agents that fetch a link to show its preview, not a person's click: they are
# redirected like anyone, but not counted. Matched case-insensitively as substrings.
PREVIEW_AGENTS = (
    "telegrambot", "whatsapp/", "facebookexternalhit", "facebot", "twitterbot", "slackbot",
    "discordbot", "linkedinbot", "skypeuripreview", "vkshare", "embedly", "googlebot", "bingbot",
    "yandexbot", "applebot", "pinterest", "redditbot",
)


@dataclass(frozen=True)
class Token:
    campaign_id: int
    delivery_id: int
    link: int
    platform: str


@dataclass(frozen=True)
class PostToken:
    publication_id: int
    link: int


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varints(raw: bytes, count: int) -> list[int] | None:
    """`count` varints filling `raw` exactly (None: anything else)."""
    values, value, shift = [], 0, 0
    for byte in raw:
        value |= (byte & 0x7F) << shift
        shift += 7
        if shift > 63:
            return None
        if not byte & 0x80:
            values.append(value)
            value, shift = 0, 0
    if shift or len(values) != count:
        return None
    return values


def _mac(payload: bytes, secret: str) -> bytes:
    return salted_hmac(SALT, payload, secret=secret, algorithm="sha256").digest()[:MAC_BYTES]


def token_make(*, campaign_id: int, delivery_id: int, link: int, platform: str) -> str:
    """The token of one delivery's link (the same every time for the same values)."""
    payload = (_varint(campaign_id) + _varint(delivery_id)
               + _varint(link << 2 | TOKEN_PLATFORMS.index(platform)))
    return base64.urlsafe_b64encode(payload + _mac(payload, settings.SECRET_KEY)).rstrip(b"=").decode()


def _payload(token: str) -> bytes | None:
    """A token's payload when its MAC is ours (also under a retired key), else None."""
    if not TOKEN_RE.fullmatch(token or ""):
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    payload, mac = raw[:-MAC_BYTES], raw[-MAC_BYTES:]
    # Tokens made with a retired key (SECRET_KEY_FALLBACKS) keep working.
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    if not payload or not any(constant_time_compare(mac, _mac(payload, s)) for s in secrets):
        return None
    return payload


def token_read(token: str) -> Token | None:
    """What a delivery's token says, or None when it is not one (unknown, changed, truncated,
    or a post's token)."""
    payload = _payload(token)
    values = _read_varints(payload, 3) if payload is not None else None
    if values is None or values[2] & 3 >= len(TOKEN_PLATFORMS):
        return None
    campaign_id, delivery_id, link_platform = values
    return Token(campaign_id, delivery_id, link_platform >> 2, TOKEN_PLATFORMS[link_platform & 3])


def post_token_make(*, publication_id: int, link: int) -> str:
    """The token of one link of a channel post as published in one channel (every reader's)."""
    payload = _varint(publication_id) + _varint(link << 2 | POST_KIND)
    return base64.urlsafe_b64encode(payload + _mac(payload, settings.SECRET_KEY)).rstrip(b"=").decode()


def post_token_read(token: str) -> PostToken | None:
    """What a post's token says, or None when it is not one (a delivery's token included)."""
    payload = _payload(token)
    values = _read_varints(payload, 2) if payload is not None else None
    if values is None or values[1] & 3 != POST_KIND:
        return None
    return PostToken(values[0], values[1] >> 2)


def tracked_url(token: str) -> str:
    return f"{settings.TACT_PUBLIC_URL}/r/{token}"


def body_links(text: str) -> list[tuple[int, int]]:
    """(start, end) of each http(s) link in `text`, in order; trailing punctuation is not part
    of a link, nor a closing parenthesis without an opening one inside the link."""
    spans = []
    for match in BODY_LINK_RE.finditer(text):
        start, end = match.span()
        while end > start and (text[end - 1] in TRAILING or (text[end - 1] == ")" and "(" not in text[start:end - 1])):
            end -= 1
        if end - start > len("https://"):
            spans.append((start, end))
    return spans


def tracked_links(buttons: list[dict], body: str, *, track_buttons: bool, track_body: bool) -> list[str]:
    """The URLs a message tracks, in link-index order: its URL buttons first, then the links
    of its body; at most MAX_LINKS."""
    links = [b["url"] for b in buttons if b.get("url")] if track_buttons else []
    if track_body:
        links += [body[start:end] for start, end in body_links(body)]
    return links[:MAX_LINKS]


def with_utm(url: str, *, platform: str, campaign: str, medium: str = UTM_MEDIUM) -> str:
    """`url` with utm_source, utm_medium and utm_campaign added to its own query; the rest
    of the address is kept byte for byte, and a utm_* the marketer wrote is kept as written."""
    base, hash_, fragment = url.partition("#")
    present = {key for key, _ in parse_qsl(urlsplit(base).query, keep_blank_values=True)}
    wanted = {"utm_source": platform, "utm_medium": medium, "utm_campaign": campaign}
    added = urlencode([(k, v) for k, v in wanted.items() if k not in present and v])
    if not added:
        return url
    joint = "" if base.endswith(("?", "&")) else "&" if "?" in base else "?"
    return f"{base}{joint}{added}{hash_}{fragment}"


def is_preview_agent(user_agent: str) -> bool:
    """A link-preview fetcher (Telegram, WhatsApp, Facebook, Slack, ...), not a person."""
    agent = (user_agent or "").lower()
    return any(name in agent for name in PREVIEW_AGENTS)


def as_measured(buttons: list[dict], body: str, *, track_buttons: bool, track_body: bool) -> tuple[list[dict], str]:
    """The buttons and body with each tracked link replaced by a tracked URL of the longest
    likely length: what length checks should measure (WhatsApp appends button URLs to the text)."""
    longest = tracked_url("x" * len(token_make(campaign_id=2**31, delivery_id=2**42, link=MAX_LINKS,
                                               platform="telegram")))
    if track_buttons:
        buttons = [{**b, "url": longest} if b.get("url") else b for b in buttons]
    if track_body:
        parts, done = [], 0
        for start, end in body_links(body):
            parts += [body[done:start], longest]
            done = end
        body = "".join(parts) + body[done:]
    return buttons, body
