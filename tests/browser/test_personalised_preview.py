"""A personalised draft in a real browser: the preview renders for a sample person, then for a
subscriber whose id is typed; an unknown placeholder is named; a copy-code button saves."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from campaigns.models import Draft
from tests.conftest import SubscriberFactory

from .support import accessibility, violations_summary

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_preview_renders_for_a_chosen_subscriber_and_a_copy_button_saves(page: Page):
    boris = SubscriberFactory(name="Boris Godunov", attributes={"city": "Tver"})
    page.goto("/admin/campaigns/draft/add/")
    telegram = page.get_by_role("region", name="Telegram")
    whatsapp = page.get_by_role("region", name="WhatsApp")
    page.get_by_label("Title").fill("Coupons")
    body = page.get_by_label("Body")

    # when: a placeholder with a default is typed
    body.fill('Hi {{ first_name|default:"friend" }} from {{ attributes.city|default:"your town" }}')

    # then: rendered for the sample person (no city: the default)
    expect(telegram.get_by_role("group", name="Telegram push notification")).to_contain_text("Hi Alex from your town")

    # when: a real subscriber's id is typed in the preview
    page.get_by_label("Preview as subscriber (id, name or external id)").fill(str(boris.pk))

    # then: their own rendering, and whom it shows
    expect(telegram.get_by_role("group", name="Telegram push notification")).to_contain_text("Hi Boris from Tver")
    expect(page.get_by_text(f"As subscriber #{boris.pk} Boris Godunov receives it.").first).to_be_visible()
    assert violations_summary(accessibility(page)) == {}

    # when: a misspelt placeholder
    body.fill("Hi {{ frist_name }}")

    # then: the preview names it
    expect(page.get_by_text("unknown placeholder {{ frist_name }}", exact=False)).to_be_visible()

    # when: fixed, and a copy-code button added
    body.fill("Your code: {{ coupon }}")
    page.get_by_role("button", name="Add a button").click()
    page.get_by_label("Button 1: text").fill("Copy code")
    page.get_by_label("Button 1: copy text (instead of URL)").fill("{{ coupon }}")

    # then: WhatsApp shows it as a line; Telegram as a button
    expect(whatsapp).to_contain_text("Your code: SAMPLE-CODE-1234\nCopy code: SAMPLE-CODE-1234")
    expect(telegram.get_by_role("listitem")).to_have_text(["Copy code"])

    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("was added successfully")).to_be_visible()
    draft = Draft.objects.get()
    assert (draft.body, draft.buttons) == ("Your code: {{ coupon }}", [{"text": "Copy code", "copy_text": "{{ coupon }}"}])
