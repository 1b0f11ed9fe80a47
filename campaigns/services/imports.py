"""CSV import of subscribers: good rows go in, bad rows come back with their line and reason."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _

from channels.limits import PLATFORMS

from .. import rules, selectors
from ..account_filters import of_account
from ..models import SenderAccount, Subscriber, Subscription
from .audience import subscription_add, tags_set
from .consent import Consent, _same_person, subscription_opt_in
from .errors import ServiceError

if TYPE_CHECKING:
    from _csv import Reader as CsvReader

COLUMNS = (
    "external_id", "name", "timezone", "language", "tags", "platform", "address",
    "saved_our_number", "consent_source", "consent_text", "consent_at",
)  # fmt: skip
REQUIRED_COLUMNS = ("platform", "address", "consent_source", "consent_text", "consent_at")
# Optional, besides COLUMNS: `account`, the slug of the sender account the person subscribed
# to (empty or absent: the platform's default account).
ACCOUNT_COLUMN = "account"
# One valid row per platform, offered for download next to the import form.
SAMPLE_CSV = (
    ",".join(COLUMNS) + "\r\n"
    + 'crm-1001,Anna Petrova,Europe/Moscow,ru,vip;moscow,telegram,123456789,,website_form,'
      '"Yes, send me offers in Telegram",2026-01-15T10:00:00Z\r\n'
    + 'crm-1001,Anna Petrova,Europe/Moscow,ru,vip,whatsapp,+79990001122,yes,website_form,'
      '"Yes, send me offers on WhatsApp",2026-01-15T10:00:00+03:00\r\n'
    # Viber by the person's Viber user id: a bot cannot reach a Viber phone number.
    + "crm-1002,Boris,Asia/Yekaterinburg,en,,viber,01234567890A=,,shop_checkout,Send me offers on Viber,2026-01-20\r\n"
)
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
    warnings: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"created": self.created, "updated": self.updated, "errors": self.errors, "warnings": self.warnings}


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
    warning: str = ""  # imported, but something the person importing should know
    account: SenderAccount | None = None  # the sender account subscribed to; None: the default one


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
        raise RowError(
            _("consent_at %(raw)s is not a real date or time (%(why)s)") % {"raw": repr(raw), "why": exc}
        ) from exc
    if moment is None:
        if day is None:
            raise RowError(
                _("consent_at %(raw)s is not a date or time (use ISO 8601, e.g. 2026-11-01T10:00:00Z)")
                % {"raw": repr(raw)}
            )
        moment = datetime(day.year, day.month, day.day)
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=UTC)
    return moment


def _check_moment(raw: str, moment: datetime, now: datetime) -> None:
    """RowError unless the consent date can be true (rules.consent_time_problem)."""
    if rules.consent_time_problem(moment, now) is None:
        return
    if moment > now:
        raise RowError(_("consent_at %(raw)s is in the future") % {"raw": repr(raw)})
    raise RowError(_("consent_at %(raw)s is before %(earliest)s; no consent can be that old")
                   % {"raw": repr(raw), "earliest": f"{rules.EARLIEST_CONSENT:%Y-%m-%d}"})


# What the database holds per column (longer values are refused, never cut).
MAX_LENGTHS = {"external_id": 100, "name": 200, "timezone": 64, "language": 16, "consent_source": 100,
               "address": 64, ACCOUNT_COLUMN: 50}


def _account(slug: str, platform: str, known: dict[tuple[str, str], SenderAccount | None]) -> SenderAccount | None:
    """The sender account a row names (`known` remembers the file's lookups), or RowError."""
    if not slug:
        return None
    if (platform, slug) not in known:
        known[(platform, slug)] = SenderAccount.objects.filter(platform=platform, slug=slug).first()
    account = known[(platform, slug)]
    if account is None:
        raise RowError(f"{ACCOUNT_COLUMN}: " + _("no %(platform)s sender account %(slug)s")
                       % {"platform": platform, "slug": repr(slug)})
    return account


def parse_row(values: dict[str, str], *, now: datetime,
              accounts: dict[tuple[str, str], SenderAccount | None] | None = None) -> Row:
    """One CSV row checked and normalised, or RowError with the reason."""
    for column, value in values.items():
        if "\x00" in value:
            raise RowError(_("%(column)s contains a NUL character") % {"column": column})
        limit = MAX_LENGTHS.get(column)
        if limit is not None and len(value.strip()) > limit:
            raise RowError(_("%(column)s is %(length)s characters, longer than %(limit)s")
                           % {"column": column, "length": len(value.strip()), "limit": limit})
    platform = values["platform"].strip().lower()
    if platform not in PLATFORMS:
        raise RowError(_("unknown platform %(platform)s (use %(platforms)s)")
                       % {"platform": repr(values["platform"]), "platforms": ", ".join(PLATFORMS)})
    try:
        address = rules.normalize_address(platform, values["address"], selectors.default_phone_region())
    except rules.AddressError as exc:
        raise RowError(str(exc)) from exc
    missing = [c for c in ("consent_source", "consent_text", "consent_at") if not values[c].strip()]
    if missing:
        raise RowError(_("missing consent: %(columns)s empty; no subscription without consent")
                       % {"columns": ", ".join(missing)})
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
        raise RowError(_("saved_our_number %(value)s is not true or false") % {"value": repr(values["saved_our_number"])})
    tags = [t.strip() for t in values.get("tags", "").split(";") if t.strip()]
    if any(len(t) > 50 for t in tags):
        raise RowError(_("a tag is longer than 50 characters"))
    warning = ""
    if platform == "viber" and address.startswith("+"):
        warning = _("viber address %(address)s is a phone number: Viber bots reach people by their Viber user id, "
                    "so messages to it fail until the person subscribes to the bot") % {"address": address}
    account = _account(values.get(ACCOUNT_COLUMN, "").strip(), platform, {} if accounts is None else accounts)
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
        warning=warning,
        account=account,
    )


def _apply(row: Row) -> bool:
    """Write one row; True when it created a subscription, False when it updated one."""
    by_external = (
        Subscriber.objects.filter(external_id=row.external_id).first() if row.external_id else None
    )
    existing = (
        Subscription.objects.select_related("subscriber")
        .filter(of_account(row.account), platform=row.platform, address=row.address).first()
    )
    if existing is not None and (
        (by_external is not None and existing.subscriber_id != by_external.pk)
        or (row.external_id and existing.subscriber.external_id not in ("", row.external_id))
    ):
        raise ServiceError(
            _("%(platform)s address %(address)s already belongs to another subscriber (%(subscriber)s)")
            % {"platform": row.platform, "address": row.address, "subscriber": existing.subscriber}
        )
    subscriber = by_external or (existing.subscriber if existing else None)
    if subscriber is None and not row.external_id:  # the same person on another account of the platform
        subscriber = _same_person(row.platform, row.address, row.account)
    if subscriber is None:
        subscriber = Subscriber(external_id=row.external_id)
    is_new = subscriber.pk is None
    changed = False
    for name, value in (("name", row.name), ("timezone", row.timezone), ("language", row.language)):
        if value and getattr(subscriber, name) != value:
            setattr(subscriber, name, value)
            changed = True
    if is_new or changed:  # a person's second and third rows usually change nothing: no write
        subscriber.save()
    if row.tags:
        current = [] if is_new else list(subscriber.tags.values_list("name", flat=True))
        if not set(row.tags) <= set(current):
            tags_set(subscriber=subscriber, names=current + row.tags)
    if existing is None:
        subscription_add(
            subscriber=subscriber,
            platform=row.platform,
            address=row.address,
            consent=row.consent,
            saved_our_number=row.saved_our_number,
            account=row.account,
        )
        return True
    if existing.saved_our_number != row.saved_our_number:
        existing.saved_our_number = row.saved_our_number
        existing.save(update_fields=["saved_our_number", "updated_at"])
    subscription_opt_in(subscription=existing, consent=row.consent)
    return False


def csv_reader(data: bytes) -> CsvReader:
    """A CSV reader over the bytes, decoded as it goes (no second copy of the file); bytes
    that are not UTF-8 come through as surrogates (see _undecodable), a leading BOM is dropped."""
    return csv.reader(io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", errors="surrogateescape", newline=""))


def csv_header(reader: CsvReader) -> list[str]:
    """The header row, checked, or ImportFileError saying why the file cannot be read."""
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise ImportFileError(_("the file is empty: expected a header row")) from None
    except csv.Error as exc:
        raise ImportFileError(_("line 1: not a CSV file (%(why)s)") % {"why": exc}) from None
    if bad := _undecodable("".join(header)):
        raise ImportFileError(_("line 1: not UTF-8 (byte %(byte)s); save the file as UTF-8") % {"byte": bad})
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ImportFileError(_("line 1: missing column(s) %(missing)s; expected %(expected)s")
                              % {"missing": ", ".join(missing), "expected": ", ".join(COLUMNS)})
    repeated = sorted({h for h in header if header.count(h) > 1})
    if repeated:
        raise ImportFileError(_("line 1: column(s) %(columns)s appear more than once") % {"columns": ", ".join(repeated)})
    return header


def csv_rows(reader: CsvReader, header: list[str], *, now: datetime) -> Iterator[tuple[int, Row | None, str]]:
    """Each non-blank row after the header: its line and the parsed row, or None and why it
    is refused. Deterministic for the same file and `now`, so a resumed job can replay it."""
    for line, row, error, _cells in csv_rows_with_cells(reader, header, now=now):
        yield line, row, error


def _undefused(cell: str) -> str:
    """A cell as typed before a refused-rows file defused it for spreadsheets ('+7999... -> +7999...)."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(SPREADSHEET_DEFUSED) else cell


# What rules.spreadsheet_safe puts an apostrophe before.
SPREADSHEET_DEFUSED = ("=", "+", "-", "@", "\t", "\r")


def csv_rows_with_cells(reader: CsvReader, header: list[str], *,
                        now: datetime) -> Iterator[tuple[int, Row | None, str, list[str]]]:
    """As csv_rows, with each row's cells as read (for the refused-rows file that is fixed and uploaded again).
    A cell that file defused for spreadsheets ('+79991234567) is read as it was (+79991234567)."""
    seen: dict[tuple[str, int | None, str], int] = {}
    accounts: dict[tuple[str, str], SenderAccount | None] = {}
    end_of_previous = reader.line_num
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield (end_of_previous + 1, None,
                   _("unreadable CSV (%(why)s); the rest of the file was not read") % {"why": exc}, [])
            return
        line, end_of_previous = end_of_previous + 1, reader.line_num
        if not any(c.strip() for c in cells):
            continue
        cells = [_undefused(c) for c in cells]
        try:
            if bad := _undecodable("".join(cells)):
                raise RowError(_("not UTF-8 (byte %(byte)s); save the file as UTF-8") % {"byte": bad})
            if len(cells) != len(header):
                if end_of_previous > line:
                    raise RowError(
                        _("expected %(expected)s fields, found %(found)s: a quote opened here is closed only on "
                          "line %(end)s (or never), so lines %(line)s-%(end)s were read as one row")
                        % {"expected": len(header), "found": len(cells), "end": end_of_previous, "line": line}
                    )
                raise RowError(_("expected %(expected)s fields, found %(found)s")
                               % {"expected": len(header), "found": len(cells)})
            row = parse_row(dict(zip(header, cells, strict=True)), now=now, accounts=accounts)
            key = (row.platform, row.account.pk if row.account else None, row.address)
            if key in seen:
                raise RowError(_("duplicate %(platform)s address %(address)s: already on line %(line)s")
                               % {"platform": row.platform, "address": row.address, "line": seen[key]})
            seen[key] = line
        except (RowError, ServiceError) as exc:
            yield line, None, str(exc), cells
            continue
        yield line, row, "", cells


def csv_row_count(data: bytes) -> int:
    """How many rows csv_rows yields for this file (blank lines are not rows), without parsing them."""
    reader = csv_reader(data)
    count = 0
    try:
        next(reader)
        for cells in reader:
            count += any(c.strip() for c in cells)
    except StopIteration:
        return 0
    except csv.Error:
        return count + 1  # reported as one unreadable row; nothing after it is read
    return count


def row_apply(row: Row) -> tuple[bool, str]:
    """Write one row whole or not at all: (created, "") or (False, why it was refused)."""
    try:
        with transaction.atomic():
            return _apply(row), ""
    except ServiceError as exc:
        return False, str(exc)
    except IntegrityError as exc:
        return False, _("conflicts with data saved meanwhile (%(why)s)") % {"why": exc}
    except DatabaseError as exc:  # a value the database refuses: this row only
        return False, _("the database refused this row (%(why)s)") % {"why": exc}


def subscribers_import_csv(*, data: bytes, now: datetime | None = None) -> ImportReport:
    """Import a CSV (API.md columns). Each row is written whole or not at all; rows imported
    with something to know (a Viber phone number) are listed in `warnings`."""
    reader = csv_reader(data)
    header = csv_header(reader)
    report = ImportReport()
    with selectors.default_phone_region_cached():
        for line, row, error in csv_rows(reader, header, now=now or timezone.now()):
            if row is not None:
                created, error = row_apply(row)
            if error:
                report.errors.append({"line": line, "error": error})
                continue
            if row.warning:
                report.warnings.append({"line": line, "warning": row.warning})
            if created:
                report.created += 1
            else:
                report.updated += 1
    return report
