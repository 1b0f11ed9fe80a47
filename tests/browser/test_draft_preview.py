"""Writing a draft in a real browser: the push notification and the counts follow the typing, a
button row appears under the chat bubbles, and the draft saves as the API would store it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from campaigns.models import Draft

from .support import accessibility, violations_summary

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_preview_follows_the_typing_and_the_draft_saves_with_its_button(page: Page):
    # given: a new draft
    page.get_by_role("link", name="Drafts", exact=True).first.click()
    page.get_by_role("link", name=re.compile(r"^add", re.I)).first.click()
    telegram = page.get_by_role("region", name="Telegram")
    whatsapp = page.get_by_role("region", name="WhatsApp")
    viber = page.get_by_role("region", name="Viber")
    expect(telegram.get_by_role("group", name="Telegram push notification")).to_be_visible()
    assert violations_summary(accessibility(page)) == {}

    # when: a title and a first line are typed, key by key
    page.get_by_label("Title").fill("Black Friday")
    body = page.get_by_label("Body")
    body.press_sequentially("Sale 🇷🇺 today", delay=20)

    # then: each notification shows the line; the flag is one character of the 12
    for region in (telegram, whatsapp, viber):
        expect(region.get_by_role("group", name=re.compile("push notification"))).to_contain_text("Sale 🇷🇺 today")
        expect(region.get_by_text("12 / 120", exact=True)).to_be_visible()
    expect(telegram.get_by_text("15 / 4096", exact=True)).to_be_visible()  # UTF-16: the flag counts 4

    # when: the line grows past the notification's 120 characters
    body.press_sequentially(" " + "x" * 108)

    # then: cut with "…" and counted in red with the reason
    expect(viber.get_by_text("121 / 120", exact=True)).to_be_visible()
    expect(viber.get_by_text(
        "1 character over: the notification cuts the first line at 120 characters.", exact=True)).to_be_visible()
    expect(viber.get_by_role("group", name=re.compile("push notification"))).to_contain_text(
        "Sale 🇷🇺 today " + "x" * 106 + "…")
    color = viber.get_by_text("121 / 120", exact=True).evaluate("e => getComputedStyle(e).color")
    assert color == "rgb(183, 28, 28)"

    # when: back under the limit, and a second line and a button are added
    for _ in range(2):
        body.press("Backspace")
    body.press_sequentially("\nEverything −30%")
    page.get_by_role("button", name="Add a button").click()
    page.get_by_label("Button 1: text").fill("Shop")
    page.get_by_label("Button 1: URL").fill("https://example.com/shop")

    # then: the button under Telegram's and Viber's bubbles, WhatsApp's as a line of the text
    expect(telegram.get_by_role("listitem")).to_have_text(["Shop"])
    expect(viber.get_by_role("listitem")).to_have_text(["Shop"])
    expect(whatsapp).to_contain_text("Everything −30%\nShop: https://example.com/shop")
    expect(telegram.get_by_text("119 / 120", exact=True)).to_be_visible()
    assert violations_summary(accessibility(page)) == {}

    # when: saved
    page.get_by_role("button", name="Save", exact=True).click()

    # then
    expect(page.get_by_text("was added successfully")).to_be_visible()
    draft = Draft.objects.get()
    assert draft.body == "Sale 🇷🇺 today " + "x" * 106 + "\nEverything −30%"
    assert draft.buttons == [{"text": "Shop", "url": "https://example.com/shop"}]
    assert draft.whatsapp_template is None


def test_removing_a_button_row_takes_it_out_of_the_bubbles_and_renumbers_the_rest(page: Page):
    page.goto("/admin/campaigns/draft/add/")
    page.get_by_label("Body").fill("Hello")
    viber = page.get_by_role("region", name="Viber")
    for n, text in ((1, "One"), (2, "Two")):
        page.get_by_role("button", name="Add a button").click()
        page.get_by_label(f"Button {n}: text").fill(text)
        page.get_by_label(f"Button {n}: URL").fill(f"https://example.com/{n}")
    expect(viber.get_by_role("listitem")).to_have_text(["One", "Two"])

    page.get_by_role("button", name="Remove button 1").click()

    expect(viber.get_by_role("listitem")).to_have_text(["Two"])
    expect(page.get_by_label("Button 1: text")).to_have_value("Two")
    expect(page.get_by_label("Button 2: text")).to_have_count(0)


def test_the_template_picker_saves_name_language_and_parameters(page: Page):
    page.goto("/admin/campaigns/draft/add/")
    page.get_by_label("Title").fill("Black Friday")
    page.get_by_label("Body").fill("Sale\nToday only")
    page.get_by_label("Template name").fill("black_friday")
    page.get_by_label("Template language").fill("ru")
    for n, value in ((1, "-30%"), (2, "Anna")):
        page.get_by_role("button", name="Add a parameter").click()
        page.get_by_label(f"Parameter {n}", exact=True).fill(value)
    assert violations_summary(accessibility(page)) == {}

    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.get_by_text("was added successfully")).to_be_visible()
    assert Draft.objects.get().whatsapp_template == {
        "name": "black_friday", "language": "ru", "parameters": ["-30%", "Anna"]}
