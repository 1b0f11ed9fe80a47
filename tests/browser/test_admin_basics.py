"""The admin in a real browser: logging in with the login form, a CSV import with bad rows read
on its progress page, and no serious accessibility violations on the main pages. Elements are
found by role, label and visible text, as a person finds them, not by CSS classes."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from campaigns.models import ImportJob, Subscription
from tests.conftest import CampaignFactory
from tests.integration.engine import Engine

from .conftest import STAFF_PASSWORD, STAFF_USERNAME
from .support import accessibility, log_in, violations_summary

pytestmark = pytest.mark.django_db(transaction=True)

HEADER = (
    "external_id,name,timezone,language,tags,platform,address,saved_our_number,consent_source,consent_text,consent_at"
)


@pytest.fixture
def engine(tmp_path):
    """A worker started as the README says, on the live server's (the test) database."""
    started = Engine(tmp_path, {})
    started.start_worker()
    yield started
    started.stop()


def table_rows(page: Page) -> list[list[str]]:
    """Each row of the page's table as the texts of its cells (header cells included)."""
    return [[cell.strip() for cell in row.locator("th, td").all_inner_texts()]
            for row in page.get_by_role("row").all()]


def test_a_wrong_password_is_refused_and_the_right_one_logs_in(anonymous_page: Page, staff):
    page = anonymous_page

    # when: a wrong password
    log_in(page, STAFF_USERNAME, "not-the-password")

    # then: the form says so, and nothing of the admin is shown
    expect(page.get_by_text("Please enter the correct username and password for a staff account.")).to_be_visible()
    assert re.search(r"/admin/login/\?next=/admin/$", page.url), page.url
    page.goto("/admin/")
    assert "/admin/login/" in page.url

    # when: the right one
    log_in(page, STAFF_USERNAME, STAFF_PASSWORD)

    # then: the admin's home, with the user's name and the models
    expect(page).to_have_url(re.compile(r"/admin/$"))
    expect(page.get_by_text(STAFF_USERNAME, exact=True).first).to_be_visible()
    expect(page.get_by_role("link", name="Subscribers", exact=True).first).to_be_visible()


def test_an_import_with_bad_rows_shows_the_refused_rows_with_their_lines(page: Page, engine):
    # given: four rows, of which line 3 (an unknown time zone) and line 5 (an unknown platform) are bad
    data = "\n".join([
        HEADER,
        "c1,Anna,Europe/Moscow,ru,vip,telegram,123456,,form,Yes please,2026-11-01T10:00:00Z",
        "c2,Boris,Mars/Base,ru,,telegram,654321,,form,Yes please,2026-11-01T10:00:00Z",
        "c1,Anna,Europe/Moscow,ru,,whatsapp,+79990001122,yes,form,Yes please,2026-11-01T10:00:00Z",
        "c3,Vera,,,,sms,+79990000001,,form,Yes,2026-11-01",
        "",
    ]).encode()

    # when: Subscribers -> Import from CSV, choose the file, Import
    page.get_by_role("link", name="Subscribers", exact=True).first.click()
    page.get_by_role("link", name="Import from CSV").click()
    page.get_by_label(re.compile("^File")).set_input_files(
        files=[{"name": "crm.csv", "mimeType": "text/csv", "buffer": data}])
    page.get_by_role("button", name="Import").click()

    # then: the job's page follows it until the worker is done
    expect(page).to_have_url(re.compile(r"/admin/campaigns/importjob/\d+/change/$"))
    expect(page.get_by_text("Processed 4 of 4 rows.")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("2 created, 0 updated, 2 refused.")).to_be_visible()
    assert table_rows(page) == [
        ["line", "why it was refused"],
        ["3", "unknown time zone 'Mars/Base' (use an IANA name such as Europe/Moscow)"],
        ["5", "unknown platform 'sms' (use telegram, whatsapp, viber)"],
    ]
    expect(page.get_by_role("link", name=re.compile("Download the refused rows"))).to_be_visible()
    job = ImportJob.objects.get()
    assert (job.state, job.file_name, job.created_by.username) == ("done", "crm.csv", STAFF_USERNAME)
    assert sorted(Subscription.objects.values_list("platform", "address")) == [
        ("telegram", "123456"), ("whatsapp", "+79990001122")]


def test_the_main_pages_have_no_serious_accessibility_violations(anonymous_page: Page, staff):
    # given: a campaign to open
    campaign = CampaignFactory()
    page = anonymous_page
    found: dict[str, dict[str, list[str]]] = {}

    # when: axe checks the login page, then the pages a logged-in marketer sees first
    page.goto("/admin/login/")
    found["login"] = violations_summary(accessibility(page))
    log_in(page, STAFF_USERNAME, STAFF_PASSWORD)
    expect(page).to_have_url(re.compile(r"/admin/$"))
    pages = [
        ("index", "/admin/"),
        ("subscriber list", "/admin/campaigns/subscriber/"),
        ("import", "/admin/campaigns/subscriber/import/"),
        ("campaign list", "/admin/campaigns/campaign/"),
        ("campaign page", f"/admin/campaigns/campaign/{campaign.pk}/change/"),
        ("new campaign", "/admin/campaigns/campaign/add/"),
        ("who was left out", f"/admin/campaigns/delivery/?campaign__id__exact={campaign.pk}&status__in=skipped,held,failed"),
        ("segment list", "/admin/campaigns/segment/"),
        ("draft list", "/admin/campaigns/draft/"),
        ("my settings", "/admin/my-settings/"),
    ]
    for name, url in pages:
        page.goto(url)
        expect(page.get_by_role("heading").first).to_be_visible()
        found[name] = violations_summary(accessibility(page))

    # then
    assert found == {"login": {}, **{name: {} for name, _url in pages}}
