"""CSV imports as background jobs: a real worker (`celery -A config worker`, as the README
says) imports a shuffled 50,000-row file in chunks while the API shows its progress; bounded
uploads are refused before anything is stored; a file that cannot be read imports nothing;
a worker killed mid-import leaves nothing twice and nothing stuck."""

from __future__ import annotations

import csv
import importlib
import io
import random
import time

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import Group, Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from campaigns.models import ConsentEvent, ImportJob, Subscriber, Subscription
from campaigns.services import import_jobs, imports

from .engine import Engine, wait_until

ROLES = importlib.import_module("campaigns.migrations.0008_roles_and_guards").ROLES

pytestmark = pytest.mark.django_db(transaction=True)

HEADER = (
    "external_id,name,timezone,language,tags,platform,address,saved_our_number,consent_source,consent_text,consent_at"
)
JOB_FIELDS = {"id", "state", "file_name", "total_rows", "processed_rows", "created", "updated", "error_count",
              "warning_count", "problem", "created_at", "started_at", "finished_at", "errors_url", "warnings_url"}


@pytest.fixture
def engine(tmp_path):
    """A worker and beat, started as the README says (one per test: a flush between tests
    makes new content types, which a long-lived worker would still have cached)."""
    started = Engine(tmp_path, {"TACT_IMPORT_LEASE_SECONDS": "2"}).start()
    yield started
    started.stop()


@pytest.fixture(autouse=True)
def roles() -> None:
    """The groups the roles migration made: a transactional test's flush removed them."""
    for name, perms in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set([
            Permission.objects.get(content_type__app_label=perm.split(".")[0], codename=perm.split(".")[1])
            for perm in perms
        ])


def api_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    client.raise_request_exception = False  # a 500 is a response to assert on
    return client


@pytest.fixture
def importer(django_user_model):
    user = django_user_model.objects.create_user("marketer", password="x-secret-123", is_staff=True)
    user.groups.add(Group.objects.get(name="Marketer"))
    return user


@pytest.fixture
def api(importer) -> APIClient:
    return api_client(importer)


def reasons(errors: list[dict]) -> list[dict]:
    """A job's refused rows as line and reason (without the cells kept for the file to fix)."""
    return [{"line": e["line"], "error": e["error"]} for e in errors]


def csv_file(*lines: str | bytes) -> bytes:
    return b"".join((line.encode() if isinstance(line, str) else line) + b"\n" for line in lines)


def start(api: APIClient, data: bytes, name: str = "people.csv"):
    return api.post("/api/imports/", {"file": SimpleUploadedFile(name, data, content_type="text/csv")},
                    format="multipart")


def sync_upload(api: APIClient, data: bytes):
    return api.post("/api/subscribers/import/", {"file": SimpleUploadedFile("people.csv", data, content_type="text/csv")},
                    format="multipart")


def finished(api: APIClient, job_id: int, timeout: float, seen: list[int] | None = None) -> dict:
    """Poll the job until it is done or failed; `seen` collects processed_rows on the way."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = api.get(f"/api/imports/{job_id}/").json()
        if seen is not None:
            seen.append(job["processed_rows"])
        if job["state"] in ("done", "failed"):
            return job
        time.sleep(0.25)
    raise AssertionError(f"import {job_id} did not finish in {timeout:.0f} s: {job}")


def stored() -> dict[str, int]:
    return {"subscribers": Subscriber.objects.count(), "subscriptions": Subscription.objects.count(),
            "consent_events": ConsentEvent.objects.count(), "jobs": ImportJob.objects.count()}


NOTHING = {"subscribers": 0, "subscriptions": 0, "consent_events": 0, "jobs": 0}


# --- a large file ----------------------------------------------------------------------

ADDRESS = {"telegram": lambda i: str(5_000_000 + i), "whatsapp": lambda i: f"+7999{i:07d}",
           "viber": lambda i: f"+7998{i:07d}"}
PLATFORMS_OF = [("telegram", "whatsapp", "viber"), ("telegram", "whatsapp"), ("viber",), ("whatsapp", "telegram")]


def people_rows(n: int, seed: int) -> list[tuple[str, str, str, str]]:
    """n good rows, several per person (joined by external_id), shuffled: (row, external_id, platform, address)."""
    rows = []
    person = 0
    while len(rows) < n:
        person += 1
        for platform in PLATFORMS_OF[person % len(PLATFORMS_OF)][: n - len(rows)]:
            address = ADDRESS[platform](person)
            row = (f"crm-{person},Person {person},Europe/Moscow,ru,vip;p{person % 7},{platform},{address},"
                   f"{'yes' if platform == 'whatsapp' else ''},import,\"Yes, send me offers\",2026-11-01T10:00:00Z")
            rows.append((row, f"crm-{person}", platform, address))
    random.Random(seed).shuffle(rows)
    return rows


def with_bad_rows(good: list[tuple[str, str, str, str]], total: int) -> tuple[bytes, list[dict]]:
    """The file: good rows with bad ones at known lines; and the errors expected for them."""
    first_telegram = next(i for i, r in enumerate(good) if r[2] == "telegram")
    dup_address = good[first_telegram][3]
    bad = {  # line -> (row, error)
        2: ("crm-bad-1,X,,,,sms,+79990000001,,import,Yes,2026-11-01",
            "unknown platform 'sms' (use telegram, whatsapp, viber)"),
        777: ("crm-bad-2,X,,,,telegram,777,,import,Yes,",
              "missing consent: consent_at empty; no subscription without consent"),
        total // 2: ("crm-bad-3,X,Mars/Olympus,,,telegram,778,,import,Yes,2026-11-01",
                     "unknown time zone 'Mars/Olympus' (use an IANA name such as Europe/Moscow)"),
        total - 10: (f"crm-bad-4,X,,,,telegram,{dup_address},,import,Yes,2026-11-01", None),
        total + 1: ("crm-bad-5,X,,,,whatsapp,12345,,import,Yes,2026-11-01",
                    "phone number '12345' has no country code: write it as +<country><number>"),
    }
    lines, rows = [HEADER], iter(good)
    for line in range(2, total + 2):
        lines.append(bad[line][0] if line in bad else next(rows)[0])
    dup_line = lines.index(good[first_telegram][0]) + 1
    assert dup_line < total - 10
    bad[total - 10] = (bad[total - 10][0], f"duplicate telegram address {dup_address}: already on line {dup_line}")
    return "\n".join(lines).encode() + b"\n", [{"line": line, "error": bad[line][1]} for line in sorted(bad)]


def test_a_50000_row_file_imports_completely_through_the_background_job(engine, api, importer, capsys):
    # given: 50,000 shuffled rows, several per person, 5 bad ones at known lines
    total = 50_000
    good = people_rows(total - 5, seed=8)
    data, expected_errors = with_bad_rows(good, total)

    # when
    began = time.monotonic()
    response = start(api, data, name="crm-export.csv")
    assert response.status_code == 202, response.content[:500]
    job = response.json()
    seen: list[int] = []
    done = finished(api, job["id"], timeout=1200, seen=seen)
    elapsed = time.monotonic() - began

    # then: it was queued with the row count, and progress was visible on the way
    assert set(job) == JOB_FIELDS
    assert (job["state"], job["file_name"], job["total_rows"], job["processed_rows"]) == (
        "queued", "crm-export.csv", total, 0)
    assert job["errors_url"] == f"http://testserver/api/imports/{job['id']}/errors/"
    assert any(0 < n < total for n in seen), sorted(set(seen))[:20]
    assert seen == sorted(seen)
    # every good row is a subscription of its person, the bad ones are refused by line
    assert {k: done[k] for k in ("state", "total_rows", "processed_rows", "created", "updated", "error_count",
                                 "problem")} == {
        "state": "done", "total_rows": total, "processed_rows": total, "created": total - 5, "updated": 0,
        "error_count": 5, "problem": "",
    }
    assert done["started_at"] is not None and done["finished_at"] is not None
    assert set(Subscription.objects.values_list("subscriber__external_id", "platform", "address")) == {
        (external_id, platform, address) for _, external_id, platform, address in good
    }
    assert Subscription.objects.count() == total - 5
    assert Subscriber.objects.count() == len({r[1] for r in good})
    assert ConsentEvent.objects.count() == total - 5
    stored_job = ImportJob.objects.get(pk=job["id"])
    assert reasons(stored_job.errors) == expected_errors
    assert stored_job.data is None
    # the refused rows as CSV, in Excel's UTF-8
    report = api.get(job["errors_url"], HTTP_ACCEPT="text/csv")
    assert report.status_code == 200
    assert report["Content-Type"] == "text/csv; charset=utf-8"
    assert report.content.startswith(b"\xef\xbb\xbfline,error\r\n")
    assert list(csv.reader(io.StringIO(report.content.decode("utf-8-sig")))) == [
        ["line", "error"], *([str(e["line"]), e["error"]] for e in expected_errors)
    ]
    # one audit entry, by the person who started it
    entry = LogEntry.objects.get_for_object(stored_job).get()
    assert (entry.actor, entry.additional_data["verb"]) == (importer, "imported")
    assert entry.changes_dict == {"file_name": [None, "crm-export.csv"], "rows": [None, total],
                                  "created": [None, total - 5], "updated": [None, 0], "refused": [None, 5]}
    # each subscriber and subscription it made is in the log as made by that person too
    made = LogEntry.objects.filter(action=LogEntry.Action.CREATE, content_type__model__in=["subscriber", "subscription"])
    assert made.count() == Subscriber.objects.count() + total - 5
    assert not made.exclude(actor=importer).exists()
    with capsys.disabled():
        print(f"\n50,000-row import: {elapsed:.1f} s from upload to done, {total / elapsed:.0f} rows/s")


def test_a_worker_killed_mid_import_leaves_nothing_twice_and_the_job_finishes(engine, api):
    # given: an import under way
    total = 6_000
    good = people_rows(total - 5, seed=9)
    data, expected_errors = with_bad_rows(good, total)
    job_id = start(api, data).json()["id"]
    wait_until(lambda: ImportJob.objects.get(pk=job_id).processed_rows >= 1000, 300, "the first chunks")

    # when: the worker dies (kill -9) and another one starts
    engine.kill_worker(engine.workers[-1])
    stuck = ImportJob.objects.get(pk=job_id)
    engine.start_worker()
    done = finished(api, job_id, timeout=600)

    # then: it went on after the last committed chunk; nothing imported or counted twice
    assert stuck.state == "running" and 0 < stuck.processed_rows < total
    assert (done["state"], done["processed_rows"], done["created"], done["updated"], done["error_count"]) == (
        "done", total, total - 5, 0, 5)
    assert reasons(ImportJob.objects.get(pk=job_id).errors) == expected_errors
    assert Subscription.objects.count() == total - 5
    assert ConsentEvent.objects.count() == total - 5


def test_a_job_whose_message_was_lost_is_enqueued_again_by_the_sweeper(engine):
    # given: a queued job that never reached the broker (a Redis flushed after the upload)
    data = csv_file(HEADER, "crm-1,Anna,,,,telegram,111111,,import,Yes,2026-11-01")
    job = ImportJob.objects.create(file_name="lost.csv", data=data, total_rows=1)

    # when: a few sweeps pass
    wait_until(lambda: ImportJob.objects.get(pk=job.pk).state == "done", 60, "the sweeper to enqueue the job")

    # then
    job.refresh_from_db()
    assert (job.processed_rows, job.created, job.errors, job.data) == (1, 1, [], None)
    assert list(Subscription.objects.values_list("address", flat=True)) == ["111111"]


# --- files that cannot be imported --------------------------------------------------------


def test_a_file_that_is_not_utf8_fails_the_job_and_imports_nothing(engine, api):
    # given: a CRM export saved in cp1251; its first rows are plain ASCII
    data = "\n".join([
        HEADER,
        "crm-1,Anna,Europe/Moscow,ru,vip,telegram,111111,,import,Yes,2026-11-01",
        "crm-2,Анна,Europe/Moscow,ru,vip,telegram,222222,,import,Да,2026-11-01",
        "",
    ]).encode("cp1251")

    # when
    job = finished(api, start(api, data).json()["id"], timeout=60)

    # then
    assert (job["state"], job["problem"], job["processed_rows"], job["created"], job["error_count"]) == (
        "failed", "line 3: not UTF-8 (byte 0xC0); save the file as UTF-8 and import it again", 0, 0, 0)
    assert ImportJob.objects.get().data is None
    assert {**stored(), "jobs": 0} == NOTHING
    assert not LogEntry.objects.filter(additional_data__verb="imported").exists()


def test_a_file_without_the_required_columns_fails_the_job(engine, api):
    job = finished(api, start(api, csv_file("external_id,name,platform", "crm-1,Anna,telegram")).json()["id"], 60)

    assert (job["state"], job["problem"]) == ("failed", (
        "line 1: missing column(s) address, consent_source, consent_text, consent_at; expected "
        "external_id, name, timezone, language, tags, platform, address, saved_our_number, consent_source, "
        "consent_text, consent_at"))
    assert {**stored(), "jobs": 0} == NOTHING


def test_an_over_size_upload_is_refused_with_400_and_nothing_is_stored(api, settings):
    # given: a limit of 1 MB and a 3 MB file (past Django's in-memory upload size)
    settings.TACT_IMPORT_MAX_BYTES = 1024 * 1024
    row = "crm-1,Anna,,,,telegram,111111,,import,Yes,2026-11-01"
    data = csv_file(HEADER, *[row] * 60_000)
    assert len(data) > 3 * 1024 * 1024

    # when
    job = start(api, data)
    sync = sync_upload(api, data)

    # then
    message = f"the file is {len(data):,} bytes, over the limit of 1,048,576 bytes (TACT_IMPORT_MAX_BYTES); nothing was imported"
    assert (job.status_code, job.json()) == (400, {"file": [message]})
    assert (sync.status_code, sync.json()) == (400, {"file": [message]})
    assert stored() == NOTHING


def test_a_file_with_too_many_rows_for_a_job_is_refused(api, settings):
    settings.TACT_IMPORT_MAX_ROWS = 2
    data = csv_file(HEADER, *(f"crm-{i},N,,,,telegram,{i}00,,import,Yes,2026-11-01" for i in range(1, 4)))

    response = start(api, data)

    assert (response.status_code, response.json()) == (400, {"file": [
        "the file has 3 rows, over the limit of 2; nothing was imported"]})
    assert stored() == NOTHING


def test_the_synchronous_import_refuses_more_rows_than_its_limit_and_imports_nothing(api, settings):
    # given: at most 10 rows answered synchronously
    settings.TACT_IMPORT_SYNC_MAX_ROWS = 10
    rows = [f"crm-{i},N,,,,telegram,{i}00,,import,Yes,2026-11-01" for i in range(1, 12)]

    # when
    refused = sync_upload(api, csv_file(HEADER, *rows))

    # then
    assert (refused.status_code, refused.json()) == (400, {"file": [
        "the file has 11 rows, over the limit of 10 for this endpoint; import it in the background with "
        "POST /api/imports/ (up to 200,000 rows); nothing was imported"]})
    assert stored() == NOTHING

    # when: blank lines are not rows, and 10 rows are within the limit
    accepted = sync_upload(api, csv_file(HEADER, *rows[:5], "", "", *rows[5:10]))

    # then
    assert (accepted.status_code, accepted.json()) == (200, {"created": 10, "updated": 0, "errors": [], "warnings": []})


# --- who may ------------------------------------------------------------------------------


def test_without_import_subscribers_starting_an_import_is_forbidden(django_user_model, engine):
    # given: may add subscribers and import jobs, but not import_subscribers
    user = django_user_model.objects.create_user("clerk", password="x-secret-123", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(
        content_type__app_label="campaigns", codename__in=["add_importjob", "view_importjob", "add_subscriber"]))
    client = api_client(user)
    page = Client()
    page.force_login(user)
    data = csv_file(HEADER, "crm-1,Anna,,,,telegram,111111,,import,Yes,2026-11-01")

    # when
    answers = [
        start(client, data).status_code,
        sync_upload(client, data).status_code,
        page.get("/admin/campaigns/subscriber/import/").status_code,
        page.post("/admin/campaigns/subscriber/import/", {"file": SimpleUploadedFile("a.csv", data)}).status_code,
    ]
    time.sleep(1)  # a worker would have had time to import anything that got through

    # then
    assert answers == [403, 403, 403, 403]
    assert stored() == NOTHING


def test_an_operator_reads_imports_but_cannot_start_one(django_user_model, api):
    # given: a job started by a marketer
    job = start(api, csv_file(HEADER, "crm-1,Anna,,,,telegram,111111,,import,Yes,2026-11-01")).json()
    operator = django_user_model.objects.create_user("ops", password="x-secret-123", is_staff=True)
    operator.groups.add(Group.objects.get(name="Operator"))
    client = api_client(operator)

    # when
    listed = client.get("/api/imports/")
    refused = start(client, csv_file(HEADER, "crm-2,Boris,,,,telegram,222222,,import,Yes,2026-11-01"))

    # then
    assert listed.status_code == 200
    assert [j["id"] for j in listed.json()["results"]] == [job["id"]]
    assert client.get(f"/api/imports/{job['id']}/errors/").status_code == 200
    assert refused.status_code == 403
    assert ImportJob.objects.count() == 1


# --- the admin ----------------------------------------------------------------------------


def test_the_admin_import_page_starts_a_job_and_its_page_shows_the_progress_and_refused_rows(engine, importer):
    # given
    page = Client()
    page.force_login(importer)
    data = csv_file(
        HEADER,
        "c1,Anna,Europe/Moscow,ru,vip,telegram,123456,,form,Yes please,2026-11-01T10:00:00Z",
        "c2,Boris,Mars/Base,ru,,telegram,654321,,form,Yes please,2026-11-01T10:00:00Z",
        "c1,Anna,Europe/Moscow,ru,,whatsapp,+79990001122,yes,form,Yes please,2026-11-01T10:00:00Z",
    )
    form = page.get("/admin/campaigns/subscriber/import/").content.decode()
    assert 'href="/admin/campaigns/subscriber/import/sample.csv"' in form

    # when
    started = page.post("/admin/campaigns/subscriber/import/", {"file": SimpleUploadedFile("a.csv", data)})

    # then: it goes to the job's page, which refreshes itself until the job is over
    job = ImportJob.objects.get()
    assert (started.status_code, started["Location"]) == (302, f"/admin/campaigns/importjob/{job.pk}/change/")
    wait_until(lambda: ImportJob.objects.get().state == "done", 60, "the import")
    text = page.get(started["Location"]).content.decode()
    assert "Processed 3 of 3 rows." in text
    assert "2 created, 0 updated, 1 refused." in text
    assert "<td>3</td><td>unknown time zone &#x27;Mars/Base&#x27;" in text
    assert 'http-equiv="refresh"' not in text
    assert f'href="/admin/campaigns/importjob/{job.pk}/refused.csv"' in text
    refused = page.get(f"/admin/campaigns/importjob/{job.pk}/refused.csv")
    assert refused.content.decode("utf-8-sig").splitlines() == [
        f"{HEADER},refused_line,refused_because",
        "c2,Boris,Mars/Base,ru,,telegram,654321,,form,Yes please,2026-11-01T10:00:00Z,3,"
        "unknown time zone 'Mars/Base' (use an IANA name such as Europe/Moscow)"]
    assert sorted(Subscription.objects.values_list("platform", "address")) == [
        ("telegram", "123456"), ("whatsapp", "+79990001122")]
    listing = page.get("/admin/campaigns/importjob/").content.decode()
    assert "3 of 3" in listing and "a.csv" in listing


def test_the_refused_rows_file_is_fixed_in_place_and_uploaded_again(engine, importer, django_user_model):
    # given: an import whose WhatsApp row is refused (a zone that does not exist), Olga's row imported
    page = Client()
    page.force_login(importer)
    page.post("/admin/campaigns/subscriber/import/", {"file": SimpleUploadedFile("crm.csv", csv_file(
        HEADER,
        "c5,Дарья,Mars/Base,ru,vip,whatsapp,+79990005566,yes,form,Yes please,2026-11-01T10:00:00Z",
        "c6,Olga,Europe/Moscow,ru,,telegram,555000,,form,Yes please,2026-11-01T10:00:00Z",
    ))})
    first = ImportJob.objects.get()
    wait_until(lambda: ImportJob.objects.get(pk=first.pk).state == "done", 60, "the first import")

    # when: the refused rows are downloaded
    refused = page.get(f"/admin/campaigns/importjob/{first.pk}/refused.csv")

    # then: the row as it was in the file (the phone defused for spreadsheets), then its line and why
    rows = list(csv.reader(io.StringIO(refused.content.decode("utf-8-sig"))))
    assert rows == [
        [*HEADER.split(","), "refused_line", "refused_because"],
        ["c5", "Дарья", "Mars/Base", "ru", "vip", "whatsapp", "'+79990005566", "yes", "form", "Yes please",
         "2026-11-01T10:00:00Z", "2", "unknown time zone 'Mars/Base' (use an IANA name such as Europe/Moscow)"],
    ]

    # when: the zone is fixed in that file, which is uploaded again as it is
    rows[1][2] = "Asia/Vladivostok"
    fixed = io.StringIO()
    csv.writer(fixed).writerows(rows)
    again = page.post("/admin/campaigns/subscriber/import/", {"file": SimpleUploadedFile(
        "crm-refused.csv", fixed.getvalue().encode())})

    # then: the row is imported, with the phone as it was typed, and nothing is refused
    second = ImportJob.objects.exclude(pk=first.pk).get()
    assert again["Location"] == f"/admin/campaigns/importjob/{second.pk}/change/"
    wait_until(lambda: ImportJob.objects.get(pk=second.pk).state == "done", 60, "the second import")
    second.refresh_from_db()
    assert (second.created, second.updated, second.errors) == (1, 0, [])
    dasha = Subscriber.objects.get(external_id="c5")
    assert (dasha.name, dasha.timezone, list(dasha.tags.values_list("name", flat=True))) == (
        "Дарья", "Asia/Vladivostok", ["vip"])
    assert list(dasha.subscriptions.values_list("platform", "address")) == [("whatsapp", "+79990005566")]

    # and: someone who may read imports but not addresses gets the file without them
    reader = django_user_model.objects.create_user("reader", password="x-secret-123", is_staff=True)
    reader.user_permissions.add(Permission.objects.get(codename="view_importjob"))
    reader_page = Client()
    reader_page.force_login(reader)
    masked = list(csv.reader(io.StringIO(
        reader_page.get(f"/admin/campaigns/importjob/{first.pk}/refused.csv").content.decode("utf-8-sig"))))
    assert [row[6] for row in masked] == ["address", ""]
    assert masked[1][:6] == ["c5", "Дарья", "Mars/Base", "ru", "vip", "whatsapp"]


def test_the_progress_page_refreshes_while_the_job_waits(importer):
    # given: a queued job (no worker in this test)
    page = Client()
    page.force_login(importer)
    page.post("/admin/campaigns/subscriber/import/", {"file": SimpleUploadedFile(
        "a.csv", csv_file(HEADER, "c1,Anna,,,,telegram,123456,,form,Yes,2026-11-01"))})
    job = ImportJob.objects.get()

    # when
    text = page.get(f"/admin/campaigns/importjob/{job.pk}/change/").content.decode()

    # then
    assert '<meta http-equiv="refresh" content="2">' in text
    assert "Processed 0 of 1 row." in text
    assert "State: <strong>Queued</strong>" in text
    assert Subscription.objects.count() == 0


def test_the_sample_csv_has_every_column_and_imports_one_row_per_platform(api, importer):
    page = Client()
    page.force_login(importer)

    sample = page.get("/admin/campaigns/subscriber/import/sample.csv")
    response = sync_upload(api, sample.content)

    assert sample["Content-Type"] == "text/csv; charset=utf-8"
    assert sample.content.decode().splitlines()[0] == HEADER
    assert response.json() == {"created": 3, "updated": 0, "errors": [], "warnings": []}
    assert sorted(Subscription.objects.values_list("platform", flat=True)) == ["telegram", "viber", "whatsapp"]


# --- the refused-rows report ----------------------------------------------------------------


def test_the_refused_rows_report_defuses_cells_a_spreadsheet_would_run():
    job = ImportJob(errors=[
        {"line": 2, "error": "=HYPERLINK(\"http://x\")"}, {"line": 3, "error": "+1"}, {"line": 4, "error": "-1"},
        {"line": 5, "error": "@SUM(A1)"}, {"line": 6, "error": "\tx"}, {"line": 7, "error": "plain, with comma"},
    ])

    text = import_jobs.refused_rows_csv(job)

    assert text.startswith("\ufeff")
    assert list(csv.reader(io.StringIO(text[1:]))) == [
        ["line", "error"], ["2", "'=HYPERLINK(\"http://x\")"], ["3", "'+1"], ["4", "'-1"], ["5", "'@SUM(A1)"],
        ["6", "'\tx"], ["7", "plain, with comma"],
    ]


def test_the_row_count_is_the_number_of_rows_the_import_reads():
    # given: blank lines, a row over two lines, a short row, and an unreadable end
    data = csv_file(HEADER, "crm-1,Anna,,,,telegram,111111,,import,Yes,2026-11-01", "", " , ",
                    'crm-2,"Bo', 'ris",,,,telegram,222222,,import,Yes,2026-11-01', "crm-3,short",
                    "crm-4," + "x" * 200_000, "crm-5,never,read")

    # when
    reader = imports.csv_reader(data)
    rows = list(imports.csv_rows(reader, imports.csv_header(reader), now=timezone.now()))

    # then
    assert [(line, row is not None) for line, row, _ in rows] == [(2, True), (5, True), (7, False), (8, False)]
    assert rows[-1][2] == "unreadable CSV (field larger than field limit (131072)); the rest of the file was not read"
    assert imports.csv_row_count(data) == len(rows) == 4
    assert (imports.csv_row_count(b""), imports.csv_row_count(csv_file(HEADER))) == (0, 0)


def test_a_large_upload_sent_as_a_plain_form_field_answers_400_not_500(api):
    # given: 3 MB in the `file` field without a file name (past DATA_UPLOAD_MAX_MEMORY_SIZE)
    body = "x" * (3 * 1024 * 1024)

    # when
    response = api.post("/api/imports/", {"file": body}, format="multipart")

    # then
    assert response.status_code == 400, response.content[:300]
    assert stored() == NOTHING
