"""The rules that decide who gets what and when: pure functions over plain values.

No ORM and no I/O here, so every rule is unit-tested with its edge cases
(tests/unit/test_rules.py). Callers pass in settings, policies and "now".
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import cache
from typing import TypeVar
from zoneinfo import ZoneInfo, available_timezones

import phonenumbers
import regex
from django.utils.translation import gettext as _

from channels.limits import PLATFORMS, LengthUnit, Platform, PlatformLimits

T = TypeVar("T")

ELLIPSIS = "…"

# --- text: push preview and body length ---------------------------------------------

_GRAPHEME = regex.compile(r"\X")


def graphemes(text: str) -> list[str]:
    """Split text into user-perceived characters (extended grapheme clusters).

    A flag, an emoji with a skin tone or a family emoji joined by ZWJ is one.
    """
    return _GRAPHEME.findall(text)


def first_line(body: str) -> str:
    """The line a push notification opens with: the first non-blank line, trimmed.

    Messengers trim leading and trailing whitespace from a message, so blank lines
    before the text never reach the notification.
    """
    for line in body.splitlines():
        if line.strip():
            return line.strip()
    return ""


@dataclass(frozen=True)
class PushPreview:
    push: str  # the whole opening line
    shown: str  # exactly what the notification shows: the line, or its cut with "…"
    length: int  # user-perceived characters of `push`
    limit: int

    @property
    def fits(self) -> bool:
        return self.length <= self.limit


def push_preview(body: str, limit: int) -> PushPreview:
    """What a push notification shows of `body` when it shows `limit` characters."""
    if limit < 1:
        raise ValueError("a preview limit is at least 1 character")
    line = first_line(body)
    clusters = graphemes(line)
    if len(clusters) <= limit:
        shown = line
    else:
        shown = "".join(clusters[: limit - 1]).rstrip() + ELLIPSIS
    return PushPreview(push=line, shown=shown, length=len(clusters), limit=limit)


def text_length(text: str, unit: LengthUnit) -> int:
    """Length of `text` as the platform counts it."""
    if unit is LengthUnit.UTF16:
        return len(text.encode("utf-16-le")) // 2
    return len(text)


@dataclass(frozen=True)
class BodyCheck:
    length: int
    limit: int
    unit: LengthUnit

    @property
    def fits(self) -> bool:
        return self.length <= self.limit


def check_body(body: str, limits: PlatformLimits) -> BodyCheck:
    """The body's length against the platform's maximum message length."""
    return BodyCheck(
        length=text_length(body, limits.body_unit), limit=limits.body_length, unit=limits.body_unit
    )


# --- packing: platform lists and VIP groups -----------------------------------------


def list_count(total: int, max_size: int | None) -> int:
    """How many lists `total` people need when one list holds at most `max_size`."""
    if total < 0:
        raise ValueError("total cannot be negative")
    if max_size is not None and max_size < 1:
        raise ValueError("a list holds at least 1 person")
    if total == 0:
        return 0
    if max_size is None:
        return 1
    return math.ceil(total / max_size)


def list_sizes(total: int, max_size: int | None) -> list[int]:
    """Sizes of the fewest lists for `total` people, as even as possible (differ by <= 1)."""
    count = list_count(total, max_size)
    if count == 0:
        return []
    base, extra = divmod(total, count)
    return [base + 1] * extra + [base] * (count - extra)


def list_number(position: int, total: int, max_size: int | None) -> int:
    """The 1-based list of the person at 0-based `position` among `total`, per `list_sizes`.

    Lets the planner number rows while streaming them, without holding the audience.
    """
    if not 0 <= position < total:
        raise ValueError(f"position {position} is outside 0..{total - 1}")
    count = list_count(total, max_size)
    base, extra = divmod(total, count)
    big = extra * (base + 1)  # people in the first `extra` lists, which hold one more
    if position < big:
        return position // (base + 1) + 1
    return extra + (position - big) // base + 1


def pack_lists(items: Sequence[T], max_size: int | None) -> list[list[T]]:
    """Split items into the fewest lists of at most `max_size`, as evenly as possible."""
    out: list[list[T]] = []
    start = 0
    for size in list_sizes(len(items), max_size):
        out.append(list(items[start : start + size]))
        start += size
    return out


class PackingError(ValueError):
    pass


def pack_vip_groups(people: Iterable[T], min_size: int = 10, max_size: int = 15) -> list[list[T]]:
    """Split people into the fewest groups of `min_size`..`max_size`, nobody in two.

    A repeated person is kept once. Raises PackingError, saying why, when the number
    cannot be split (fewer than `min_size`, or 16-19 with the default 10-15).
    """
    if not 1 <= min_size <= max_size:
        raise ValueError(f"group sizes {min_size}-{max_size} are not a valid range")
    unique = list(dict.fromkeys(people))
    total = len(unique)
    if total == 0:
        return []
    count = math.ceil(total / max_size)
    if total < count * min_size:
        raise PackingError(
            _("%(total)s people cannot be split into groups of %(min)s-%(max)s: "
              "%(count)s group(s) would need at least %(needed)s")
            % {"total": total, "min": min_size, "max": max_size, "count": count, "needed": count * min_size}
        )
    return pack_lists(unique, math.ceil(total / count))


# --- time: frequency caps, quiet hours, local send time -----------------------------

DAILY_CAP = "daily cap"
WEEKLY_CAP = "weekly cap"
QUIET_HOURS = "quiet hours"
WEEK = timedelta(days=7)


@dataclass(frozen=True)
class FrequencyPolicy:
    max_per_day: int | None = 1  # per calendar day in the subscriber's zone; None: no cap
    max_per_week: int | None = 3  # per rolling 7 days; None: no cap


@dataclass(frozen=True)
class FrequencyDecision:
    allowed: bool
    earliest: datetime  # `now` when allowed, else the first moment both caps allow
    reason: str = ""  # the cap that holds the message back now


def wall_clock(day: date, at: time, tz: tzinfo) -> datetime:
    """The instant (in UTC) when clocks in `tz` show `day` `at`.

    A wall time skipped by a DST jump maps to the same distance past the jump (02:30
    on a spring-forward night is 03:30); a repeated one to its first occurrence.
    """
    return datetime.combine(day, at.replace(tzinfo=None, fold=0), tzinfo=tz).astimezone(UTC)


def frequency_check(
    past_sends: Iterable[datetime], policy: FrequencyPolicy, now: datetime, tz: tzinfo
) -> FrequencyDecision:
    """May a person who was sent messages at `past_sends` get another at `now`?

    The daily cap counts sends on the same calendar day in the person's zone `tz`;
    the weekly cap counts sends in the 7 days up to the moment of sending.
    """
    for cap in (policy.max_per_day, policy.max_per_week):
        if cap is not None and cap < 1:
            raise ValueError(f"a cap is at least 1 message (got {cap}); leave it empty for no cap")
    sends = sorted(s for s in past_sends if s <= now)
    candidate = now
    reason = ""
    # Moving past one cap can run into the other; each move is forward, so this settles.
    for _attempt in range(len(sends) + 2):
        moved = False
        if policy.max_per_day is not None:
            day = candidate.astimezone(tz).date()
            today = sum(1 for s in sends if s.astimezone(tz).date() == day)
            if today >= policy.max_per_day:
                candidate = wall_clock(day + timedelta(days=1), time(0), tz)
                reason = reason or DAILY_CAP
                moved = True
        if policy.max_per_week is not None:
            window = [s for s in sends if s > candidate - WEEK]
            if len(window) >= policy.max_per_week:
                # Once this send leaves the window, fewer than the cap remain in it.
                candidate = window[len(window) - policy.max_per_week] + WEEK
                reason = reason or WEEKLY_CAP
                moved = True
        if not moved:
            break
    return FrequencyDecision(allowed=candidate == now, earliest=candidate, reason=reason)


@dataclass(frozen=True)
class QuietHours:
    start: time  # e.g. 21:00
    end: time  # e.g. 09:00; a window that crosses midnight when end < start

    def contains(self, at: time) -> bool:
        at = at.replace(tzinfo=None, fold=0)
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= at < self.end
        return at >= self.start or at < self.end


def out_of_quiet_hours(moment: datetime, tz: tzinfo, quiet: QuietHours | None) -> datetime:
    """`moment`, or the end of the quiet hours it falls in, in the person's zone."""
    if quiet is None:
        return moment
    local = moment.astimezone(tz)
    if not quiet.contains(local.time()):
        return moment
    day = local.date() if local.time() < quiet.end else local.date() + timedelta(days=1)
    end = wall_clock(day, quiet.end, tz)
    if end < moment:
        # The end falls in an hour the clocks repeat and we are in its second pass.
        end = datetime.combine(day, quiet.end.replace(tzinfo=None, fold=1), tzinfo=tz).astimezone(UTC)
    return end


def local_send_time(
    send_at: datetime,
    tz: tzinfo,
    *,
    local_time: bool,
    campaign_tz: tzinfo,
    quiet: QuietHours | None,
) -> datetime:
    """When a person in `tz` should get a campaign due at `send_at` (returned in UTC).

    With `local_time`, `send_at`'s wall clock as read in `campaign_tz` is used in the
    person's own zone; then the time is pushed out of the quiet hours.
    """
    if local_time:
        wall = send_at.astimezone(campaign_tz)
        candidate = wall_clock(wall.date(), wall.time(), tz)
    else:
        candidate = send_at.astimezone(UTC)
    return out_of_quiet_hours(candidate, tz, quiet)


# --- input: addresses, zones, languages, segment rules -------------------------------


class AddressError(ValueError):
    pass


_TELEGRAM_ID = re.compile(r"-?\d{1,20}")
_VIBER_ID = re.compile(r"[A-Za-z0-9+/=_-]{8,64}")
_PHONE_LIKE = re.compile(r"\+?[\d\s().-]{6,24}")


def normalize_phone(raw: str, default_region: str | None = None) -> str:
    """A phone number in E.164 (+79990001122), or AddressError saying what is wrong."""
    value = raw.strip()
    if value.startswith("00"):
        value = "+" + value[2:]
    if not value.startswith("+") and not default_region:
        raise AddressError(
            _("phone number %(raw)s has no country code: write it as +<country><number>") % {"raw": repr(raw)}
        )
    try:
        number = phonenumbers.parse(value, None if value.startswith("+") else default_region)
    except phonenumbers.NumberParseException as exc:
        raise AddressError(
            _("%(raw)s is not a phone number (%(why)s)") % {"raw": repr(raw), "why": exc._msg}
        ) from exc
    if not phonenumbers.is_valid_number(number):
        raise AddressError(_("%(raw)s is not a valid phone number") % {"raw": repr(raw)})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_address(platform: str, raw: str, default_region: str | None = None) -> str:
    """A subscription address in its stored form: chat id, E.164 phone or Viber id."""
    value = (raw or "").strip()
    if not value:
        raise AddressError(_("address is empty"))
    match Platform(platform):
        case Platform.TELEGRAM:
            if not _TELEGRAM_ID.fullmatch(value):
                raise AddressError(_("a Telegram address is a numeric chat id, not %(raw)s") % {"raw": repr(raw)})
            return str(int(value))
        case Platform.WHATSAPP:
            return normalize_phone(value, default_region)
        case Platform.VIBER:
            if _PHONE_LIKE.fullmatch(value):
                return normalize_phone(value, default_region)
            if not _VIBER_ID.fullmatch(value):
                raise AddressError(_("%(raw)s is neither a phone number nor a Viber user id") % {"raw": repr(raw)})
            return value


def normalize_phone_region(code: str) -> str:
    """A default phone region as stored ("RU"), "" for none, or ValueError naming the code."""
    value = code.strip().upper()
    if value and value not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(
            _("%(code)s is not a region code phone numbers are read with (two letters, e.g. RU, KZ, DE)")
            % {"code": repr(code)}
        )
    return value


@dataclass(frozen=True)
class SearchTerms:
    """What a search query matches: `words` (casefolded) all within a name, `text` (as typed)
    within an external id or address, `phones` (E.164) an address exactly, and `digits` (a
    query written like a phone number or chat id) within an address."""

    words: tuple[str, ...]
    text: str
    phones: tuple[str, ...] = ()
    digits: str = ""


_SEARCH_MIN_DIGITS = 5  # fewer digits than this match too many addresses to mean one person


def search_terms(query: str, region: str | None = None) -> SearchTerms:
    """A search box's query read as a name, an external id, a phone number in any format
    (read with `region` when written without a country code) and a chat id."""
    text = " ".join(query.split())
    phones: tuple[str, ...] = ()
    digits = ""
    if _PHONE_LIKE.fullmatch(text):
        digits = re.sub(r"\D", "", text)
        digits = digits if len(digits) >= _SEARCH_MIN_DIGITS else ""
        try:
            phones = (normalize_phone(text, region),)
        except AddressError:
            pass
    return SearchTerms(words=tuple(text.casefold().split()), text=text, phones=phones, digits=digits)


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def parse_timezone(name: str) -> ZoneInfo:
    """The IANA zone called `name` (exact spelling), or ValueError."""
    if name not in _zones():
        raise ValueError(
            _("unknown time zone %(name)s (use an IANA name such as Europe/Moscow)") % {"name": repr(name)}
        )
    return ZoneInfo(name)


_LANGUAGE = re.compile(r"[a-z]{2,3}(-[a-z0-9]{2,8})*")


def normalize_language(code: str) -> str:
    """A BCP 47 language tag in lower case ("ru", "pt-br"), or ValueError."""
    value = code.strip().lower().replace("_", "-")
    if not _LANGUAGE.fullmatch(value):
        raise ValueError(_("%(code)s is not a language code such as 'ru' or 'en'") % {"code": repr(code)})
    return value


SEGMENT_RULE_KEYS = ("tags_all", "tags_any", "platforms", "attributes")


def validate_segment_rules(rules: Mapping[str, object]) -> dict[str, object]:
    """Rules of a dynamic segment in their full form, or ValueError naming the bad key."""
    if not isinstance(rules, Mapping):
        raise ValueError(_("rules must be an object"))
    unknown = sorted(set(rules) - set(SEGMENT_RULE_KEYS))
    if unknown:
        raise ValueError(
            _("unknown rule(s) %(unknown)s; known: %(known)s")
            % {"unknown": ", ".join(unknown), "known": ", ".join(SEGMENT_RULE_KEYS)}
        )
    out: dict[str, object] = {}
    for key in ("tags_all", "tags_any"):
        tags = [] if rules.get(key) is None else rules[key]
        if not isinstance(tags, list) or not all(isinstance(t, str) and t.strip() for t in tags):
            raise ValueError(_("%(key)s must be a list of tag names") % {"key": key})
        out[key] = sorted({t.strip() for t in tags})
    platforms = [] if rules.get("platforms") is None else rules["platforms"]
    if not isinstance(platforms, list) or not all(p in PLATFORMS for p in platforms):
        raise ValueError(_("platforms must be a list of %(platforms)s") % {"platforms": ", ".join(PLATFORMS)})
    out["platforms"] = [p for p in PLATFORMS if p in platforms]
    attributes = {} if rules.get("attributes") is None else rules["attributes"]
    if not isinstance(attributes, Mapping) or not all(
        isinstance(v, str | int | float | bool) for v in attributes.values()
    ):
        raise ValueError(_("attributes must map names to a text, number or true/false value"))
    out["attributes"] = dict(attributes)
    return out


EARLIEST_CONSENT = datetime(2000, 1, 1, tzinfo=UTC)
CLOCK_SKEW = timedelta(minutes=5)


def consent_time_problem(at: datetime, now: datetime) -> str | None:
    """Why a consent date cannot be true (None when it can): not in the future, not before 2000."""
    if at.tzinfo is None:
        return _("consent time needs a time zone (e.g. 2026-11-01T10:00:00Z)")
    if at > now + CLOCK_SKEW:
        return _("consent time %(at)s UTC is in the future") % {"at": f"{at:%Y-%m-%d %H:%M}"}
    if at < EARLIEST_CONSENT:
        return _("consent time %(day)s is before 2000-01-01") % {"day": f"{at:%Y-%m-%d}"}
    return None


# --- privacy: masked addresses, keyed hashes, spreadsheet-safe cells ---------------

ERASED_PREFIX = "erased:"
_SPREADSHEET_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def mask_address(platform: str, address: str) -> str:
    """An address for people who may not see it whole: `+7 999 ***-**-67` for a phone,
    the first and last two characters of any other id; an erased one as it is."""
    if address.startswith(ERASED_PREFIX):
        return address
    if platform == Platform.WHATSAPP or address.startswith("+"):
        try:
            number = phonenumbers.parse(address if address.startswith("+") else f"+{address}", None)
        except phonenumbers.NumberParseException:
            number = None
        national = phonenumbers.national_significant_number(number) if number is not None else ""
        if len(national) > 5:
            return f"+{number.country_code} {national[:3]} {_masked_digits(national[3:])}"
    return _masked_id(address)


def _masked_digits(rest: str) -> str:
    """All but the last two digits hidden, grouped from the right as 3-2-2: ***-**-67."""
    hidden = "*" * (len(rest) - 2) + rest[-2:]
    groups = [hidden[:-4], hidden[-4:-2], hidden[-2:]]
    return "-".join(g for g in groups if g)


def _masked_id(value: str) -> str:
    if len(value) <= 4:
        return "*" * len(value)
    return value[:2] + "*" * (len(value) - 4) + value[-2:]


def address_forms(address: str) -> tuple[str, ...]:
    """The ways an address appears in platforms' payloads: as stored, and a phone also as
    WhatsApp's wa_id (the digits without the plus)."""
    return (address, address[1:]) if address.startswith("+") else (address,)


def mask_within(value: object, platform: str, address: str) -> object:
    """A JSON value (consent evidence) with every mention of `address` masked: inside
    strings, and a numeric chat id given as a number."""
    masked = mask_address(platform, address)
    forms = sorted(address_forms(address), key=len, reverse=True)

    def walk(item: object) -> object:
        if isinstance(item, str):
            for form in forms:
                item = item.replace(form, masked)
            return item
        if isinstance(item, int) and not isinstance(item, bool) and str(item) in forms:
            return masked
        if isinstance(item, dict):
            return {walk(k): walk(v) for k, v in item.items()}
        if isinstance(item, list):
            return [walk(v) for v in item]
        return item

    return walk(value)


def address_hash(key: str, platform: str, address: str) -> str:
    """The keyed hash (HMAC-SHA256, hex) kept of an erased address: it matches the address
    when someone presents it again, and cannot be turned back into it without the key."""
    return hmac.new(key.encode(), f"{platform}:{address}".encode(), hashlib.sha256).hexdigest()


def spreadsheet_safe(value: object) -> object:
    """A CSV cell that a spreadsheet shows as text, never runs as a formula (OWASP "CSV
    injection"): text starting with = + - @, a tab or a carriage return gets a leading '."""
    if isinstance(value, str) and value.startswith(_SPREADSHEET_FORMULA):
        return "'" + value
    return value


# Platform tokens and secrets travel in HTTP headers and URLs: visible ASCII only, as the
# platforms issue them (anything else could not even be sent, and is a typo or a paste slip).
_TOKEN_TEXT = re.compile(r"[\x21-\x7e]+")


def is_token_text(value: str) -> bool:
    return bool(_TOKEN_TEXT.fullmatch(value))
