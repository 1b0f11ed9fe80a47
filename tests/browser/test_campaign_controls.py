"""The campaign page's buttons in a real browser (Schedule, Pause, Resume, Cancel, each confirmed
in its dialog), and a marketer who switches to Russian and Vladivostok time on "My settings".
Elements are found by role, label and visible text, as a person finds them."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Page, expect

from campaigns.models import Campaign, UserProfile
from tests.conftest import CampaignFactory, DraftFactory, SegmentFactory

from .conftest import STAFF_USERNAME

pytestmark = pytest.mark.django_db(transaction=True)


def page_button(page: Page, label: str):
    """One of the buttons at the top of the page, by the word on it (its icon's name comes first)."""
    return page.get_by_role("link", name=re.compile(rf"(^|\s){re.escape(label)}$"))


def press(page: Page, button: str, confirm: str) -> None:
    """Press one of the page's buttons, then confirm in the dialog it opens."""
    page_button(page, button).click()
    page.get_by_role("button", name=confirm, exact=True).click()


def shown(page: Page, label: str):
    """The value a read-only page shows next to a field's label."""
    return page.get_by_text(label, exact=True).locator("xpath=../following-sibling::div[1]")


def pick(page: Page, field: str, typed: str, option: str) -> None:
    """Choose in one of the form's search-as-you-type pickers (a draft, a segment), as a person does."""
    page.locator(f".field-{field} [role=combobox]").click()
    page.locator(f"[role=searchbox][aria-controls=select2-id_{field}-results]").fill(typed)
    page.get_by_role("option", name=option).click()


def test_create_schedule_pause_resume_and_cancel_with_the_page_buttons(page: Page):
    # given: a draft and a segment to send
    DraftFactory(title="Spring offer")
    SegmentFactory(name="Everyone in Moscow")

    # when: Campaigns -> Add campaign, filled in and saved; due in 2030 (so it stays scheduled: no worker starts it)
    page.goto("/admin/campaigns/campaign/")
    page.get_by_role("link", name=re.compile("Add campaign", re.I)).first.click()
    page.get_by_label("Name").fill("Spring sale")
    pick(page, "draft", "Spring", "Spring offer")
    pick(page, "segment", "Moscow", "Everyone in Moscow")
    page.get_by_label("Telegram", exact=True).check()
    page.get_by_label("Viber", exact=True).check()
    send_at = page.locator("label", has_text=re.compile(r"^Send at")).locator("xpath=../following-sibling::div[1]")
    send_at.get_by_role("textbox").nth(0).fill("2030-03-01")
    send_at.get_by_role("textbox").nth(1).fill("10:30")
    page.get_by_role("button", name="Save and continue editing").click()

    # then: stored as typed (the installation's zone is UTC here), and its page opens as a draft
    expect(page.get_by_text("was added successfully")).to_be_visible()
    campaign = Campaign.objects.get()
    assert (campaign.name, campaign.draft.title, campaign.segment.name, campaign.platforms, campaign.send_at,
            campaign.status, campaign.created_by.username) == (
        "Spring sale", "Spring offer", "Everyone in Moscow", ["telegram", "viber"],
        datetime(2030, 3, 1, 10, 30, tzinfo=UTC), Campaign.Status.DRAFT, STAFF_USERNAME)
    expect(page.get_by_role("heading", name=re.compile("Spring sale"))).to_be_visible()

    steps = [
        ("Schedule", "Schedule", "Scheduled", Campaign.Status.SCHEDULED),
        ("Pause", "Pause", "Paused", Campaign.Status.PAUSED),
        ("Resume", "Resume", "Scheduled", Campaign.Status.SCHEDULED),  # never started: back to scheduled
        ("Cancel", "Cancel the campaign", "Cancelled", Campaign.Status.CANCELLED),
    ]
    for button, confirm, status, stored in steps:
        # when
        press(page, button, confirm)

        # then: the page (reloaded on the campaign) shows the new status, and so does the database
        expect(shown(page, "Status")).to_have_text(status)
        assert Campaign.objects.get(pk=campaign.pk).status == stored, button

    # and: a cancelled campaign offers none of the four any more
    for button in ("Schedule", "Pause", "Resume", "Cancel"):
        expect(page_button(page, button)).to_have_count(0)


def test_a_marketer_switches_to_russian_and_vladivostok_time(page: Page, staff):
    # given: a campaign sent at 00:05 UTC, which is 10:05 in Vladivostok (UTC+10, no summer time)
    campaign = CampaignFactory(name="Night sale", send_at=datetime(2030, 1, 1, 0, 5, tzinfo=UTC))
    send_at_label = re.compile(r"^(Send at|Плановое время отправки)")

    # given: before, the campaign's page in English and the installation's zone (UTC here), which the header names
    page.goto(f"/admin/campaigns/campaign/{campaign.pk}/change/")
    send_at = page.locator("label", has_text=send_at_label).locator("xpath=../following-sibling::div[1]")
    expect(send_at.get_by_role("textbox").nth(0)).to_have_value("2030-01-01")
    expect(send_at.get_by_role("textbox").nth(1)).to_have_value("00:05:00")
    expect(page.locator("#header-inner").get_by_text("Times in UTC", exact=True)).to_be_visible()
    expect(page.get_by_text("Everyone gets it at 2030-01-01 00:05 (UTC).")).to_be_visible()

    # when: on "My settings", choose Russian and Asia/Vladivostok, and save
    page.goto("/admin/my-settings/")
    page.get_by_label("Time zone").select_option("Asia/Vladivostok")
    page.get_by_label("Language").select_option("ru")
    page.get_by_role("button", name="Save", exact=True).click()

    # then: stored, and the page speaks Russian: Django's admin and our own strings
    expect(page.get_by_role("button", name="Сохранить", exact=True)).to_be_visible()
    assert UserProfile.objects.filter(user=staff).values_list("timezone", "language").get() == ("Asia/Vladivostok", "ru")
    assert page.locator("html").get_attribute("lang") == "ru"

    # when: the campaign's page
    page.goto(f"/admin/campaigns/campaign/{campaign.pk}/change/")

    # then: its send time in Vladivostok (in the form, written the Russian way, and in words), named,
    # in Russian, with Django's Russian around it
    send_at = page.locator("label", has_text=send_at_label).locator("xpath=../following-sibling::div[1]")
    expect(send_at.get_by_role("textbox").nth(0)).to_have_value("01.01.2030")
    expect(send_at.get_by_role("textbox").nth(1)).to_have_value("10:05:00")
    expect(send_at.get_by_text("Время указано в часовом поясе Asia/Vladivostok.", exact=True)).to_be_visible()
    expect(page.get_by_text("Все получат сообщение в 2030-01-01 10:05 (Asia/Vladivostok).")).to_be_visible()
    expect(page.locator("#header-inner").get_by_text(re.compile("Asia/Vladivostok"))).to_be_visible()
    expect(page.get_by_role("button", name="Сохранить", exact=True)).to_be_visible()
    expect(page.get_by_text("Выйти")).to_have_count(1)
    expect(page.get_by_role("navigation").get_by_role("link", name=re.compile(r" Кампании$")).first).to_be_visible()  # our sidebar
