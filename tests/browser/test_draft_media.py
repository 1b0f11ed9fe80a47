"""Attaching a picture to a draft in a real browser: the preview shows the file as soon as it
is chosen, with the caption limits, and after saving a thumbnail from the stored file."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from campaigns.models import Draft

pytestmark = pytest.mark.django_db(transaction=True)

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
       b"\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82")


def test_a_picture_chosen_in_the_draft_form_shows_in_the_preview_and_saves(page: Page, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    page.get_by_role("link", name="Drafts", exact=True).first.click()
    page.get_by_role("link", name=re.compile(r"^add", re.I)).first.click()
    page.get_by_label("Title").fill("Photo offer")
    page.get_by_label("Body").fill("Sale today")
    telegram = page.get_by_role("region", name="Telegram")
    viber = page.get_by_role("region", name="Viber")
    expect(viber.get_by_text("10 / 7000", exact=True)).to_be_visible()

    # when: a picture is chosen
    page.get_by_label("Media", exact=True).set_input_files(
        {"name": "offer.png", "mimeType": "image/png", "buffer": PNG})

    # then: every bubble shows the file, and the text counts against the caption limits
    expect(telegram.get_by_role("img", name="offer.png")).to_be_visible()
    expect(telegram.get_by_text("10 / 1024", exact=True)).to_be_visible()
    expect(viber.get_by_text("10 / 768", exact=True)).to_be_visible()

    # when: saved and opened again
    page.get_by_role("button", name=re.compile(r"^Save$", re.I)).first.click()
    expect(page.get_by_text(re.compile("was added successfully"))).to_be_visible()
    draft = Draft.objects.get()
    assert (draft.media_kind, draft.media_size) == ("image", len(PNG))
    page.goto(page.url.split("/admin/")[0] + f"/admin/campaigns/draft/{draft.pk}/change/")

    # then: a thumbnail of the stored picture, loaded from its signed address
    thumbnail = page.get_by_role("region", name="Telegram").get_by_role("img", name="offer.png")
    expect(thumbnail).to_be_visible()
    assert thumbnail.evaluate("img => img.complete && img.naturalWidth") == 1
