"""Rows imported with a warning (a Viber address that is a phone number): the background job
lists each with its line, in the API (warning_count, a CSV at warnings_url) and on the job's
page in the admin. A real worker imports, as the README starts it."""

from __future__ import annotations

import csv
import importlib
import io
import re

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from campaigns.models import ImportJob, Subscription

from .engine import Engine, wait_until

ROLES = importlib.import_module("campaigns.migrations.0008_roles_and_guards").ROLES

pytestmark = pytest.mark.django_db(transaction=True)

HEADER = (
    "external_id,name,timezone,language,tags,platform,address,saved_our_number,consent_source,consent_text,consent_at"
)
VIBER_PHONE_WARNING = (
    "viber address +79990001122 is a phone number: Viber bots reach people by their Viber user id, "
    "so messages to it fail until the person subscribes to the bot"
)
# Line 3: a Viber phone number (imported, with a warning); line 4: refused (an unknown zone).
WITH_A_VIBER_PHONE = "\n".join([
    HEADER,
    "c1,Anna,Europe/Moscow,ru,,telegram,123456,,form,Yes please,2026-11-01T10:00:00Z",
    "c1,Anna,Europe/Moscow,ru,,viber,+79990001122,,form,Yes please,2026-11-01T10:00:00Z",
    "c2,Boris,Mars/Base,ru,,telegram,654321,,form,Yes please,2026-11-01T10:00:00Z",
    "c3,Vera,Europe/Moscow,ru,,viber,01234567890123456789AB==,,form,Yes please,2026-11-01T10:00:00Z",
]).encode() + b"\n"


@pytest.fixture
def engine(tmp_path):
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


@pytest.fixture
def importer(django_user_model):
    user = django_user_model.objects.create_user("marketer", password="x-secret-123", is_staff=True)
    user.groups.add(Group.objects.get(name="Marketer"))
    return user


@pytest.fixture
def api(importer) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=importer).key}")
    client.raise_request_exception = False
    return client


def imported(api: APIClient, data: bytes) -> dict:
    """Start a background import through the API and wait for the worker to finish it."""
    started = api.post("/api/imports/", {"file": SimpleUploadedFile("people.csv", data, content_type="text/csv")},
                       format="multipart")
    assert started.status_code == 202, started.content
    job_id = started.json()["id"]
    wait_until(lambda: ImportJob.objects.get(pk=job_id).state in ("done", "failed"), 60, "the import")
    return api.get(f"/api/imports/{job_id}/").json()


def rows(content: bytes) -> list[list[str]]:
    """A downloaded CSV as a spreadsheet reads it (UTF-8 with a BOM)."""
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def test_the_api_counts_the_warnings_and_lists_each_with_its_line(engine, api):
    # when
    job = imported(api, WITH_A_VIBER_PHONE)

    # then: the warned row is imported, the refused one is not
    assert (job["state"], job["created"], job["error_count"], job["warning_count"]) == ("done", 3, 1, 1)
    assert job["warnings_url"] == f"http://testserver/api/imports/{job['id']}/warnings/"
    warnings = api.get(f"/api/imports/{job['id']}/warnings/", HTTP_ACCEPT="text/csv")
    assert warnings.status_code == 200
    assert warnings["Content-Type"] == "text/csv; charset=utf-8"
    assert rows(warnings.content) == [["line", "warning"], ["3", VIBER_PHONE_WARNING]]
    assert sorted(Subscription.objects.values_list("platform", "address")) == [
        ("telegram", "123456"), ("viber", "+79990001122"), ("viber", "01234567890123456789AB==")]
    listed = api.get("/api/imports/").json()["results"]
    assert [(j["id"], j["warning_count"]) for j in listed] == [(job["id"], 1)]


def test_a_file_without_such_rows_has_no_warnings(engine, api):
    # when
    job = imported(api, "\n".join(WITH_A_VIBER_PHONE.decode().splitlines()[:2]).encode() + b"\n")

    # then
    assert (job["state"], job["created"], job["warning_count"]) == ("done", 1, 0)
    warnings = api.get(f"/api/imports/{job['id']}/warnings/", HTTP_ACCEPT="text/csv")
    assert rows(warnings.content) == [["line", "warning"]]


def test_the_admin_job_page_shows_each_warning_with_its_line(engine, api, importer):
    # given
    job = imported(api, WITH_A_VIBER_PHONE)
    page = Client()
    page.force_login(importer)

    # when
    text = page.get(f"/admin/campaigns/importjob/{job['id']}/change/").content.decode()

    # then
    assert "3 created, 0 updated, 1 refused." in text
    assert "1 row imported with a warning" in text
    assert f"<td>3</td><td>{VIBER_PHONE_WARNING}</td>" in text
    assert f'href="/admin/campaigns/importjob/{job["id"]}/warnings.csv"' in text
    download = page.get(f"/admin/campaigns/importjob/{job['id']}/warnings.csv")
    assert rows(download.content) == [["line", "warning"], ["3", VIBER_PHONE_WARNING]]
    listing = page.get("/admin/campaigns/importjob/").content.decode()
    assert re.search(r'<td class="field-warned [^"]*" data-label="warnings">1</td>', listing), listing


def test_the_admin_job_page_of_a_file_without_warnings_says_nothing_of_them(engine, api, importer):
    # given
    job = imported(api, "\n".join(WITH_A_VIBER_PHONE.decode().splitlines()[:2]).encode() + b"\n")
    page = Client()
    page.force_login(importer)

    # when
    text = page.get(f"/admin/campaigns/importjob/{job['id']}/change/").content.decode()

    # then
    assert "1 created, 0 updated, 0 refused." in text
    assert "imported with a warning" not in text
    assert "warnings.csv" not in text
