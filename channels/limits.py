"""Platform figures, from shared/PLATFORMS.md; every one can be overridden in settings."""

from dataclasses import dataclass
from enum import StrEnum


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
        return body + "".join(f"\n{b['text']}: {b['url']}" for b in buttons)
    return body
