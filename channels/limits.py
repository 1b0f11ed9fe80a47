"""Platform figures, from shared/PLATFORMS.md; every one can be overridden in settings."""

from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction


class Platform(StrEnum):
    TELEGRAM = "telegram"
    WHATSAPP = "whatsapp"
    VIBER = "viber"


PLATFORMS: tuple[Platform, ...] = tuple(Platform)


class LengthUnit(StrEnum):
    UTF16 = "utf16"  # Telegram counts text in UTF-16 code units
    CODE_POINTS = "code_points"


@dataclass(frozen=True)
class PlatformLimits:
    preview_length: int
    body_length: int
    body_unit: LengthUnit
    list_size: int | None  # None: no limit on one list's size


DEFAULT_LIMITS: dict[Platform, PlatformLimits] = {
    # Bot API: 4096 characters of text, counted in UTF-16 code units; channels unlimited.
    Platform.TELEGRAM: PlatformLimits(120, 4096, LengthUnit.UTF16, None),
    # Cloud API free-form text 4096; broadcast lists hold 256.
    Platform.WHATSAPP: PlatformLimits(120, 4096, LengthUnit.CODE_POINTS, 256),
    # Bot text 7000 (vendor docs); the brief's group size 199.
    Platform.VIBER: PlatformLimits(120, 7000, LengthUnit.CODE_POINTS, 199),
}


def platform_limits(platform: str) -> PlatformLimits:
    """The limits in force for `platform`: the defaults above with the settings' overrides."""
    from django.conf import settings

    base = DEFAULT_LIMITS[Platform(platform)]
    preview = settings.TACT_PREVIEW_LENGTH.get(platform)
    body = settings.TACT_BODY_LENGTH.get(platform)
    return PlatformLimits(
        preview_length=preview if preview is not None else base.preview_length,
        body_length=body if body is not None else base.body_length,
        body_unit=base.body_unit,
        list_size=settings.TACT_LIST_SIZE.get(platform, base.list_size),
    )


def text_as_sent(platform: str, body: str, buttons: list[dict] | tuple = ()) -> str:
    """The text a platform receives: WhatsApp free text has no URL buttons, so each button
    is appended as a line "Text: URL" (and counts against the length limit)."""
    if platform == Platform.WHATSAPP and buttons:
        return body + "".join(button_line(b) for b in buttons)
    if platform == Platform.VIBER:  # a Viber keyboard opens URLs; it cannot copy a text
        return body + "".join(button_line(b) for b in buttons if "copy_text" in b)
    return body


def button_line(button: dict) -> str:
    """A button as a line of text: "Shop: https://..." or, for a copy button, "Copy code: CODE"."""
    return f"\n{button['text']}: {button['copy_text'] if 'copy_text' in button else button['url']}"


# --- media (issue 10) ----------------------------------------------------------------

MB = 1024 * 1024


class MediaKind(StrEnum):
    IMAGE = "image"
    VIDEO = "video"
    DOCUMENT = "document"


# What the first bytes of a file say it is: (prefix, offset, content type). The name a
# file was uploaded with is never trusted.
_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"ftyp", 4, "video/mp4"),  # ISO base media (MP4): a box size, then "ftyp"
    (b"%PDF-", 0, "application/pdf"),
)
SNIFF_BYTES = 16
CONTENT_KINDS: dict[str, MediaKind] = {
    "image/jpeg": MediaKind.IMAGE, "image/png": MediaKind.IMAGE, "image/gif": MediaKind.IMAGE,
    "video/mp4": MediaKind.VIDEO, "application/pdf": MediaKind.DOCUMENT,
}
ACCEPTED_TYPES = "JPEG, PNG, GIF, MP4, PDF"


def sniff_content_type(head: bytes) -> str | None:
    """The content type the first bytes of a file show (None: not one we send)."""
    for prefix, offset, content_type in _SIGNATURES:
        if head[offset : offset + len(prefix)] == prefix:
            return content_type
    return None


@dataclass(frozen=True)
class MediaLimit:
    types: frozenset[str]  # content types the platform takes for this kind
    max_bytes: int


@dataclass(frozen=True)
class PlatformMedia:
    limits: dict[MediaKind, MediaLimit]
    caption_length: int  # text sent with the media (instead of the body limit)
    caption_kinds: frozenset[MediaKind]  # the kinds whose message carries the text as caption


_IMAGES = frozenset({"image/jpeg", "image/png"})
_ANY = frozenset(CONTENT_KINDS)

MEDIA_LIMITS: dict[Platform, PlatformMedia] = {
    # Bot API (core.telegram.org/bots/api#sendphoto, #sending-files): photos up to 10 MB,
    # other files a bot uploads up to 50 MB; caption 1024 in UTF-16 units (shared/PLATFORMS.md).
    Platform.TELEGRAM: PlatformMedia(
        {MediaKind.IMAGE: MediaLimit(_IMAGES | {"image/gif"}, 10 * MB),
         MediaKind.VIDEO: MediaLimit(frozenset({"video/mp4"}), 50 * MB),
         MediaKind.DOCUMENT: MediaLimit(_ANY, 50 * MB)},
        1024, frozenset(MediaKind)),
    # Cloud API (shared/PLATFORMS.md, Meta/BSP docs): image JPEG/PNG <= 5 MB, video MP4
    # <= 16 MB, document <= 100 MB; caption 1024.
    Platform.WHATSAPP: PlatformMedia(
        {MediaKind.IMAGE: MediaLimit(_IMAGES, 5 * MB),
         MediaKind.VIDEO: MediaLimit(frozenset({"video/mp4"}), 16 * MB),
         MediaKind.DOCUMENT: MediaLimit(_ANY, 100 * MB)},
        1024, frozenset(MediaKind)),
    # Viber bot message model (shared/PLATFORMS.md; developers.viber.com): picture JPEG/PNG
    # <= 1 MB with text <= 768, video <= 26 MB, file <= 50 MB; video and file carry no text
    # (it goes as its own message, under the body limit).
    Platform.VIBER: PlatformMedia(
        {MediaKind.IMAGE: MediaLimit(_IMAGES, 1 * MB),
         MediaKind.VIDEO: MediaLimit(frozenset({"video/mp4"}), 26 * MB),
         MediaKind.DOCUMENT: MediaLimit(_ANY, 50 * MB)},
        768, frozenset({MediaKind.IMAGE})),
}
# Media given by URL that Telegram fetches itself (Bot API, "Sending files"): photos up to
# 5 MB, other files up to 20 MB.
TELEGRAM_BY_URL_MAX_BYTES = {MediaKind.IMAGE: 5 * MB, MediaKind.VIDEO: 20 * MB, MediaKind.DOCUMENT: 20 * MB}
# The largest file any platform takes: nothing bigger is stored.
MEDIA_MAX_BYTES = max(limit.max_bytes for p in MEDIA_LIMITS.values() for limit in p.limits.values())


def media_limit(platform: str, kind: str, *, by_url: bool = False) -> MediaLimit:
    """The limit in force for `kind` on `platform` (`by_url`: media the platform fetches from
    its original URL); TACT_MEDIA_MAX_BYTES_<PLATFORM>_<KIND> overrides the size."""
    from django.conf import settings

    base = MEDIA_LIMITS[Platform(platform)].limits[MediaKind(kind)]
    if by_url and platform == Platform.TELEGRAM:
        base = MediaLimit(base.types, TELEGRAM_BY_URL_MAX_BYTES[MediaKind(kind)])
    size = getattr(settings, "TACT_MEDIA_MAX_BYTES", {}).get(f"{platform}_{kind}")
    return MediaLimit(base.types, size if size is not None else base.max_bytes)


def caption_length(platform: str, kind: str) -> int | None:
    """The text limit when a `kind` file rides with the message (None: the text goes on its own)."""
    media = MEDIA_LIMITS[Platform(platform)]
    return media.caption_length if MediaKind(kind) in media.caption_kinds else None


def size_text(size: int) -> str:
    """A size as people read it: "5 MB", "1.5 MB", "730 KB"."""
    if size >= MB:
        return f"{size / MB:.1f}".removesuffix(".0") + " MB"
    return f"{max(1, round(size / 1024))} KB"


# --- Telegram paid broadcasts (issue 13) ------------------------------------------------
# shared/PLATFORMS.md ("Sending rates"; Bot API 7.11 `allow_paid_broadcast`): a bot sends
# about 30 messages a second for free; a paid broadcast up to 1,000 a second, for 0.1 Stars
# per message above the free 30 a second. Telegram's figures, not our ceilings
# (TACT_RATE_TELEGRAM, TACT_RATE_TELEGRAM_PAID).
TELEGRAM_FREE_PER_SECOND = 30
TELEGRAM_PAID_MAX_PER_SECOND = 1000
TELEGRAM_STARS_PER_PAID_MESSAGE = Fraction(1, 10)
