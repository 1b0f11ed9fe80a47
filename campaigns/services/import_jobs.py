"""CSV imports as background jobs: bounded uploads, progress per chunk, a report of refused rows.

Each chunk of rows is committed together with the job's progress, under a lock of the job's
row, so a job run again (a redelivered task after a worker died, the sweeper) continues
after the last committed chunk: nothing is imported or counted twice.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import logging
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from auditlog.context import set_actor
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.files.uploadedfile import UploadedFile
from django.db import (
    DatabaseError,
    InterfaceError,
    OperationalError,
    connection,
    models,
    transaction,
)
from django.db.models import F, Func, QuerySet, Value
from django.db.models.expressions import CombinedExpression
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import rules, selectors
from ..audit import audit_record
from ..models import ImportJob
from . import imports
from .errors import ServiceError

log = logging.getLogger(__name__)

CHUNK_ROWS = 500
IMPORT_LOCK = 7302  # pg_advisory_lock(IMPORT_LOCK, job id): held by the one worker running the job
ACTIVE = (ImportJob.State.QUEUED, ImportJob.State.RUNNING)


class JsonArrayLength(Func):
    """The number of items of a JSON array column."""

    function = "jsonb_array_length"
    output_field = models.IntegerField()

    def as_sqlite(self, compiler, connection, **extra):
        return super().as_sql(compiler, connection, function="json_array_length", **extra)


def import_jobs_listed() -> QuerySet[ImportJob]:
    """Jobs without their file and with `error_count` instead of the whole report."""
    return ImportJob.objects.defer("data", "errors", "warnings").annotate(
        error_count=JsonArrayLength("errors"), warning_count=JsonArrayLength("warnings"))


def import_upload_read(*, upload: UploadedFile) -> bytes:
    """The uploaded file's bytes, or ServiceError on "file" when it is over TACT_IMPORT_MAX_BYTES."""
    _size_check(upload.size)
    return upload.read()


def _size_check(size: int) -> None:
    limit = settings.TACT_IMPORT_MAX_BYTES
    if size > limit:
        raise ServiceError({"file": [
            _("the file is %(size)s bytes, over the limit of %(limit)s bytes (TACT_IMPORT_MAX_BYTES); "
              "nothing was imported") % {"size": f"{size:,}", "limit": f"{limit:,}"}
        ]})


def import_rows_check(*, data: bytes, limit: int, advice: str = "") -> int:
    """The file's number of rows, or ServiceError on "file" when there are more than `limit`."""
    rows = imports.csv_row_count(data)
    if rows > limit:
        raise ServiceError({"file": [
            _("the file has %(rows)s rows, over the limit of %(limit)s%(advice)s; nothing was imported")
            % {"rows": f"{rows:,}", "limit": f"{limit:,}", "advice": advice}
        ]})
    return rows


def import_job_create(*, data: bytes, file_name: str, actor: AbstractBaseUser | None) -> ImportJob:
    """A queued import of the file, run by a worker once this commits; ServiceError on "file"
    when the file has more bytes or rows than allowed."""
    _size_check(len(data))
    rows = import_rows_check(data=data, limit=settings.TACT_IMPORT_MAX_ROWS)
    job = ImportJob.objects.create(
        created_by=actor if actor is not None and actor.is_authenticated else None,
        file_name=file_name[:255], data=data, total_rows=rows,
    )
    from ..tasks import import_run

    # robust: a broker that cannot take it is logged; the sweeper enqueues the job again.
    transaction.on_commit(lambda: import_run.delay(job.pk), robust=True)
    return job


def import_job_run(*, job_id: int) -> None:
    """Import the job's file in chunks of CHUNK_ROWS rows, each committed with the progress;
    the file is checked as a whole first (a file that cannot be read imports nothing)."""
    with _runner_lock(job_id) as mine:
        if not mine:
            return  # another worker runs it right now
        job = ImportJob.objects.filter(pk=job_id, state__in=ACTIVE).first()
        if job is None:
            return  # done, failed or purged: a repeated task changes nothing
        if job.state == ImportJob.State.QUEUED:
            job.state, job.started_at = ImportJob.State.RUNNING, timezone.now()
            job.save(update_fields=["state", "started_at"])
        try:
            _run(job)
        except (OperationalError, InterfaceError):
            raise  # the database went away: the task is retried and continues after the last chunk
        except Exception as exc:
            log.exception("import job %s stopped", job_id)
            done = ImportJob.objects.filter(pk=job_id).values_list("processed_rows", flat=True).get()
            _finish(job_id, ImportJob.State.FAILED, problem=_(
                "stopped by an internal error (%(error)s) after %(done)s of %(total)s rows "
                "(the counts say what those did); importing the same file again finishes it: rows already "
                "imported are updated, not duplicated"
            ) % {"error": exc.__class__.__name__, "done": f"{done:,}", "total": f"{job.total_rows:,}"})
            raise


def _run(job: ImportJob) -> None:
    data = bytes(job.data) if job.data is not None else b""
    reader = imports.csv_reader(data)
    try:
        problem = _utf8_problem(data)
        if not problem:
            header = imports.csv_header(reader)
    except imports.ImportFileError as exc:
        problem = "; ".join(exc.messages)
    if problem:
        _finish(job.pk, ImportJob.State.FAILED, problem=problem)
        return
    # The upload's moment is "now" for every pass, so a resumed job judges rows as the first did.
    rows = imports.csv_rows_with_cells(reader, header, now=job.created_at)
    position = job.processed_rows
    with selectors.default_phone_region_cached(), set_actor(job.created_by):
        deque(itertools.islice(rows, position), maxlen=0)  # replayed unwritten: rebuilds the duplicate check
        while chunk := list(itertools.islice(rows, CHUNK_ROWS)):
            if not _chunk_import(job.pk, position, chunk, header):
                return  # another runner has moved on: it finishes the job
            position += len(chunk)
    _finish(job.pk, ImportJob.State.DONE)


def _chunk_import(job_id: int, position: int, chunk: list[tuple[int, imports.Row | None, str, list[str]]],
                  header: list[str]) -> bool:
    """Apply the rows and count them in one transaction; False when the job is not at `position`.
    A refused row keeps its cells by column ("row"), for the file that is fixed and uploaded again."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().only("state", "processed_rows").get(pk=job_id)
        if job.state != ImportJob.State.RUNNING or job.processed_rows != position:
            return False
        created = updated = 0
        refused: list[dict] = []
        warned: list[dict] = []
        for line, row, error, cells in chunk:
            if row is not None:
                is_new, error = imports.row_apply(row)
                if row.warning and not error:
                    warned.append({"line": line, "warning": row.warning})
            if error:
                # [column, cell] pairs: a jsonb object would not keep the file's column order
                refused.append({"line": line, "error": error, "row": [list(p) for p in zip(header, cells, strict=False)]})
            elif is_new:
                created += 1
            else:
                updated += 1
        changes = {"processed_rows": F("processed_rows") + len(chunk), "created": F("created") + created,
                   "updated": F("updated") + updated}
        if refused:
            changes["errors"] = _appended(job, "errors", refused)
        if warned:
            changes["warnings"] = _appended(job, "warnings", warned)
        ImportJob.objects.filter(pk=job_id).update(**changes)
    return True


def _appended(job: ImportJob, field: str, items: list[dict]) -> CombinedExpression | list[dict]:
    if connection.vendor == "postgresql":  # appended in place: the report is not read and sent back each chunk
        return CombinedExpression(F(field), "||", Value(items, output_field=models.JSONField()))
    current = ImportJob.objects.filter(pk=job.pk).values_list(field, flat=True).get()
    return current + items


def _finish(job_id: int, state: str, *, problem: str = "") -> None:
    """Done or failed, the file removed (it holds personal data); a finished import is audited."""
    with transaction.atomic():
        job = import_jobs_listed().select_for_update().get(pk=job_id)
        if job.state not in ACTIVE:
            return
        job.state, job.problem, job.data, job.finished_at = state, problem, None, timezone.now()
        job.save(update_fields=["state", "problem", "data", "finished_at"])
        if state == ImportJob.State.DONE:
            audit_record(job, verb="imported", actor=job.created_by, after={
                "file_name": job.file_name, "rows": job.total_rows, "created": job.created,
                "updated": job.updated, "refused": job.error_count,
            })


def _utf8_problem(data: bytes) -> str:
    """Where the file stops being UTF-8, or "" (decoded a block at a time, split at line ends)."""
    view, start = memoryview(data), 0
    while start < len(data):
        end = data.find(b"\n", start + (1 << 16))
        end = len(data) if end < 0 else end + 1
        try:
            str(view[start:end], "utf-8")
        except UnicodeDecodeError as exc:
            at = start + exc.start
            line = data.count(b"\n", 0, at) + 1
            return _("line %(line)s: not UTF-8 (byte %(byte)s); save the file as UTF-8 and import it again") % {
                "line": line, "byte": f"0x{data[at]:02X}"}
        start = end
    return ""


@contextmanager
def _runner_lock(job_id: int) -> Iterator[bool]:
    """Whether this process may run the job: the job's session advisory lock, which
    PostgreSQL releases by itself when a dead worker's connection goes."""
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [IMPORT_LOCK, job_id])
        mine = cursor.fetchone()[0]
    try:
        yield mine
    finally:
        if mine:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [IMPORT_LOCK, job_id])
            except DatabaseError:
                pass  # the connection, and with it the lock, is gone already


def _job_running(job_id: int) -> bool:
    """Whether a worker holds the job's advisory lock right now."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [IMPORT_LOCK, job_id])
        return not cursor.fetchone()[0]


def import_jobs_sweep(*, now: datetime, enqueue: Callable[[int], None]) -> list[int]:
    """Enqueue again the jobs no worker runs: `running` ones whose worker died, and `queued`
    ones waiting longer than TACT_IMPORT_LEASE_SECONDS (a lost message). PostgreSQL only;
    elsewhere the broker's redelivery of unacknowledged tasks is all there is."""
    if connection.vendor != "postgresql":
        return []
    cutoff = now - timedelta(seconds=settings.TACT_IMPORT_LEASE_SECONDS)
    candidates = ImportJob.objects.filter(
        models.Q(state=ImportJob.State.RUNNING) | models.Q(state=ImportJob.State.QUEUED, created_at__lt=cutoff)
    ).values_list("pk", flat=True)
    orphans = [pk for pk in candidates if not _job_running(pk)]
    for pk in orphans:
        enqueue(pk)
    return orphans


def refused_rows_first(*, job_id: int, count: int = 50) -> list[dict]:
    """The first refused rows of a job, without reading the whole report on PostgreSQL."""
    return _report_first("errors", job_id=job_id, count=count)


def warned_rows_first(*, job_id: int, count: int = 50) -> list[dict]:
    """The first imported rows with a warning (a Viber phone number), as `refused_rows_first`."""
    return _report_first("warnings", job_id=job_id, count=count)


def _report_first(field: str, *, job_id: int, count: int) -> list[dict]:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            table = connection.ops.quote_name(ImportJob._meta.db_table)
            column = connection.ops.quote_name(ImportJob._meta.get_field(field).column)
            cursor.execute(f"SELECT jsonb_path_query_array({column}, %s::jsonpath) FROM {table} WHERE id = %s",
                           [f"$[0 to {count - 1}]", job_id])
            found = cursor.fetchone()
        if found is None:
            return []
        return json.loads(found[0]) if isinstance(found[0], str) else found[0]
    items = ImportJob.objects.filter(pk=job_id).values_list(field, flat=True).first()
    return (items or [])[:count]


def refused_rows_csv(job: ImportJob) -> str:
    """The refused rows as CSV ("line,error"), with a BOM for Excel and formulas defused."""
    return _report_csv(job.errors, "error")


def refused_rows_to_fix_csv(job: ImportJob, *, addresses: bool = True) -> str:
    """The refused rows as they were in the file (its columns, in its order), each followed by its line and
    why it was refused: fixed in a spreadsheet, the file is uploaded again as it is (the import reads its
    columns and ignores the last two; a cell defused for spreadsheets, '+7999..., is read back as +7999...).
    A row whose cells were not kept (an unreadable CSV, an erased person's) has only its line and reason.
    Without `addresses` (a user who may not see them) the address column is left empty."""
    items = job.errors if isinstance(job.errors, list) else []
    columns: list[str] = []
    for item in items:
        for column, _cell in (item.get("row") or []) if isinstance(item, dict) else ():
            if column not in columns:
                columns.append(column)
    for required in imports.REQUIRED_COLUMNS:  # a file of unkept rows still has the columns to fill
        if required not in columns:
            columns.append(required)
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow([*columns, REFUSED_LINE, REFUSED_WHY])
    for item in items:
        cells = {**dict(item.get("row") or []), **({} if addresses else {"address": ""})}
        writer.writerow([*(rules.spreadsheet_safe(cells.get(c, "")) for c in columns), item.get("line", ""),
                         rules.spreadsheet_safe(item.get("error", ""))])
    return out.getvalue()


# The two columns the refused-rows file adds after the file's own (not columns the import reads).
REFUSED_LINE = "refused_line"
REFUSED_WHY = "refused_because"


def warned_rows_csv(job: ImportJob) -> str:
    """The imported rows with a warning as CSV ("line,warning"), as `refused_rows_csv`."""
    return _report_csv(job.warnings, "warning")


def _report_csv(items: list[dict], key: str) -> str:
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(["line", key])
    for item in items:
        writer.writerow([item["line"], rules.spreadsheet_safe(item[key])])
    return out.getvalue()
