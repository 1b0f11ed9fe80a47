"""CSV import of subscribers: good rows go in, bad rows come back with their line and reason."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from channels.limits import PLATFORMS

from .. import rules
from ..models import Subscriber, Subscription
from .audience import subscription_add, tags_set
from .consent import Consent, subscription_opt_in
from .errors import ServiceError

COLUMNS = (
    "external_id", "name", "timezone", "language", "tags", "platform", "address",
    "saved_our_number", "consent_source", "consent_text", "consent_at",
)  # fmt: skip
REQUIRED_COLUMNS = ("platform", "address", "consent_source", "consent_text", "consent_at")
TRUE = {"1", "true", "yes", "y"}
FALSE = {"", "0", "false", "no", "n"}


class ImportFileError(ServiceError):
    """The file as a whole cannot be read (no header, missing columns)."""


class RowError(ValueError):
    pass


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    errors: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"created": self.created, "updated": self.updated, "errors": self.errors}


@dataclass(frozen=True)
class Row:
    external_id: str
    name: str
    timezone: str | None
    language: str | None
    tags: list[str]
    platform: str
    address: str
    saved_our_number: bool
    consent: Consent


def _undecodable(value: str) -> str | None:
    """The first byte that was not UTF-8 (decoded with surrogateescape), as 0xNN."""
    for ch in value:
        if "\udc80" <= ch <= "\udcff":
            return f"0x{ord(ch) - 0xDC00:02X}"
    return None


def _parse_moment(raw: str) -> datetime:
    value = raw.strip()
    try:
        moment = parse_datetime(value)
        day = parse_date(value) if moment is None else None
    except ValueError as exc:  # well-formed but impossible: 2026-02-30, 25:00, +25:00, year 0
        raise RowError(f"consent_at {raw!r} is not a real date or time ({exc})") from exc
    if moment is None:
        if day is None:
            raise RowError(f"consent_at {raw!r} is not a date or time (use ISO 8601, e.g. 2026-11-01T10:00:00Z)")
        moment = datetime(day.year, day.month, day.day)
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=UTC)
    return moment


def _check_moment(raw: str, moment: datetime, now: datetime) -> None:
    """RowError unless the consent date can be true (rules.consent_time_problem)."""
    if rules.consent_time_problem(moment, now) is None:
        return
    if moment > now:
        raise RowError(f"consent_at {raw!r} is in the future")
    raise RowError(f"consent_at {raw!r} is before {rules.EARLIEST_CONSENT:%Y-%m-%d}; no consent can be that old")


# What the database holds per column (longer values are refused, never cut).
MAX_LENGTHS = {"external_id": 100, "name": 200, "timezone": 64, "language": 16, "consent_source": 100,
               "address": 64}


def parse_row(values: dict[str, str], *, now: datetime) -> Row:
    """One CSV row checked and normalised, or RowError with the reason."""
    for column, value in values.items():
        if "\x00" in value:
            raise RowError(f"{column} contains a NUL character")
        limit = MAX_LENGTHS.get(column)
        if limit is not None and len(value.strip()) > limit:
            raise RowError(f"{column} is {len(value.strip())} characters, longer than {limit}")
    platform = values["platform"].strip().lower()
    if platform not in PLATFORMS:
        raise RowError(f"unknown platform {values['platform']!r} (use {', '.join(PLATFORMS)})")
    try:
        address = rules.normalize_address(platform, values["address"], settings.TACT_DEFAULT_PHONE_REGION)
    except rules.AddressError as exc:
        raise RowError(str(exc)) from exc
    missing = [c for c in ("consent_source", "consent_text", "consent_at") if not values[c].strip()]
    if missing:
        raise RowError(f"missing consent: {', '.join(missing)} empty; no subscription without consent")
    consent_at = _parse_moment(values["consent_at"])
    _check_moment(values["consent_at"], consent_at, now)
    tz = values.get("timezone", "").strip() or None
    if tz is not None:
        try:
            rules.parse_timezone(tz)
        except ValueError as exc:
            raise RowError(str(exc)) from exc
    language = values.get("language", "").strip() or None
    if language is not None:
        try:
            language = rules.normalize_language(language)
        except ValueError as exc:
            raise RowError(str(exc)) from exc
    saved = values.get("saved_our_number", "").strip().lower()
    if saved not in TRUE | FALSE:
        raise RowError(f"saved_our_number {values['saved_our_number']!r} is not true or false")
    tags = [t.strip() for t in values.get("tags", "").split(";") if t.strip()]
    if any(len(t) > 50 for t in tags):
        raise RowError("a tag is longer than 50 characters")
    return Row(
        external_id=values.get("external_id", "").strip(),
        name=values.get("name", "").strip(),
        timezone=tz,
        language=language,
        tags=tags,
        platform=platform,
        address=address,
        saved_our_number=saved in TRUE,
        consent=Consent(
            source=values["consent_source"].strip(),
            text=values["consent_text"].strip(),
            at=consent_at,
            evidence={"import": "csv"},
        ),
    )


def _apply(row: Row) -> bool:
    """Write one row; True when it created a subscription, False when it updated one."""
    by_external = (
        Subscriber.objects.filter(external_id=row.external_id).first() if row.external_id else None
    )
    existing = (
        Subscription.objects.select_related("subscriber").filter(platform=row.platform, address=row.address).first()
    )
    if existing is not None and (
        (by_external is not None and existing.subscriber_id != by_external.pk)
        or (row.external_id and existing.subscriber.external_id not in ("", row.external_id))
    ):
        raise ServiceError(
            f"{row.platform} address {row.address} already belongs to another subscriber ({existing.subscriber})"
        )
    subscriber = by_external or (existing.subscriber if existing else None)
    if subscriber is None:
        subscriber = Subscriber(external_id=row.external_id)
    if row.name:
        subscriber.name = row.name
    if row.timezone:
        subscriber.timezone = row.timezone
    if row.language:
        subscriber.language = row.language
    subscriber.save()
    if row.tags:
        current = list(subscriber.tags.values_list("name", flat=True))
        tags_set(subscriber=subscriber, names=current + row.tags)
    if existing is None:
        subscription_add(
            subscriber=subscriber,
            platform=row.platform,
            address=row.address,
            consent=row.consent,
            saved_our_number=row.saved_our_number,
        )
        return True
    if existing.saved_our_number != row.saved_our_number:
        existing.saved_our_number = row.saved_our_number
        existing.save(update_fields=["saved_our_number", "updated_at"])
    subscription_opt_in(subscription=existing, consent=row.consent)
    return False


def subscribers_import_csv(*, data: bytes, now: datetime | None = None) -> ImportReport:
    """Import a CSV (API.md columns). Each row is written whole or not at all."""
    now = now or timezone.now()
    text = data.decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise ImportFileError("the file is empty: expected a header row") from None
    except csv.Error as exc:
        raise ImportFileError(f"line 1: not a CSV file ({exc})") from None
    if bad := _undecodable("".join(header)):
        raise ImportFileError(f"line 1: not UTF-8 (byte {bad}); save the file as UTF-8")
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ImportFileError(f"line 1: missing column(s) {', '.join(missing)}; expected {', '.join(COLUMNS)}")
    repeated = sorted({h for h in header if header.count(h) > 1})
    if repeated:
        raise ImportFileError(f"line 1: column(s) {', '.join(repeated)} appear more than once")

    report = ImportReport()
    seen: dict[tuple[str, str], int] = {}
    end_of_previous = reader.line_num
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            report.errors.append(
                {"line": end_of_previous + 1, "error": f"unreadable CSV ({exc}); the rest of the file was not read"}
            )
            break
        line, end_of_previous = end_of_previous + 1, reader.line_num
        if not any(c.strip() for c in cells):
            continue
        try:
            if bad := _undecodable("".join(cells)):
                raise RowError(f"not UTF-8 (byte {bad}); save the file as UTF-8")
            if len(cells) != len(header):
                if end_of_previous > line:
                    raise RowError(
                        f"expected {len(header)} fields, found {len(cells)}: a quote opened here is closed only on "
                        f"line {end_of_previous} (or never), so lines {line}-{end_of_previous} were read as one row"
                    )
                raise RowError(f"expected {len(header)} fields, found {len(cells)}")
            row = parse_row(dict(zip(header, cells, strict=True)), now=now)
            key = (row.platform, row.address)
            if key in seen:
                raise RowError(f"duplicate {row.platform} address {row.address}: already on line {seen[key]}")
            seen[key] = line
            with transaction.atomic():
                created = _apply(row)
        except (RowError, ServiceError) as exc:
            report.errors.append({"line": line, "error": str(exc)})
            continue
        except IntegrityError as exc:
            report.errors.append({"line": line, "error": f"conflicts with data saved meanwhile ({exc})"})
            continue
        except DatabaseError as exc:  # a value the database refuses: this row only
            report.errors.append({"line": line, "error": f"the database refused this row ({exc})"})
            continue
        if created:
            report.created += 1
        else:
            report.updated += 1
    return report
