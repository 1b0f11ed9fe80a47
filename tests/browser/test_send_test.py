"""A marketer sends a draft to the testers from the draft page ("Send test", confirmed in its
dialog), reads the outcome on the page, and finds it in "Test sends" under Campaigns; the fake
Telegram over HTTP received exactly the tester's message."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from campaigns.models import TestSend
from tests.conftest import DraftFactory, SubscriberFactory, subscribe
from tests.fakes.telegram import FakeTelegram

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def telegram(settings):
    with FakeTelegram() as server:
        settings.TELEGRAM_BOT_TOKEN, settings.TELEGRAM_API_URL = "123456:TEST-token", server.base_url
        yield server


def page_button(page: Page, label: str):
    """One of the buttons at the top of the page, by the word on it (its icon's name comes first)."""
    return page.get_by_role("link", name=re.compile(rf"(^|\s){re.escape(label)}$"))


def test_send_test_from_the_draft_page_and_find_it_in_the_list(page: Page, telegram):
    # given: Anna is a tester on Telegram; Carl is not
    anna = SubscriberFactory(name="Anna", tester=True)
    subscribe(anna, "telegram", "4201")
    subscribe(SubscriberFactory(name="Carl"), "telegram", "4202")
    draft = DraftFactory(title="Black Friday", body="Black Friday: −30%\nToday only")
    page.goto(f"/admin/campaigns/draft/{draft.pk}/change/")

    # when: Send test, confirmed
    page_button(page, "Send test").click()
    expect(page.get_by_text("Send a test to the testers now?")).to_be_visible()
    page.get_by_role("button", name="Send test", exact=True).click()

    # then: the page says it went, and only Anna got it
    expect(page.get_by_text("Test sent to Anna on Telegram.")).to_be_visible()
    assert telegram.count_by_chat(delivered_only=False) == {4201: 1}
    assert [c.text for c in telegram.sent()] == ["Black Friday: −30%\nToday only"]

    # when: the list of test sends, from the sidebar
    page.get_by_role("link", name=re.compile(r"(^|\s)Test sends$")).click()

    # then: one row: Anna, Telegram, sent
    row = page.get_by_role("row", name=re.compile("Anna"))
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Telegram")
    expect(row).to_contain_text("Sent")
    assert TestSend.objects.get().subscription.subscriber_id == anna.pk
