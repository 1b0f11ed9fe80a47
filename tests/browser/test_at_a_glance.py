"""Results at a glance on a 1400-pixel-wide screen (the tests' window): the campaign list's progress
column is on the screen, not past its right edge, and the home page's channel table writes each
platform's name on one line (it once wrapped "Telegram" one letter per line)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Locator, Page, expect

from campaigns.models import Campaign
from tests.conftest import CampaignFactory

pytestmark = pytest.mark.django_db(transaction=True)

WIDTH = 1400


def lines_of(element: Locator) -> int:
    """How many lines the element's text takes on the screen."""
    return element.evaluate("""e => { const range = document.createRange(); range.selectNodeContents(e);
        return new Set(Array.from(range.getClientRects()).filter(r => r.width > 0).map(r => Math.round(r.top))).size; }""")


def test_the_campaign_lists_progress_column_is_on_a_1400_pixel_screen(page: Page):
    # given: a campaign with a long name and every platform, in the list
    CampaignFactory(name="Black Friday for every VIP of the Moscow shops, second wave", status=Campaign.Status.DRAFT,
                    platforms=["telegram", "whatsapp", "viber"])
    assert page.viewport_size["width"] == WIDTH

    page.goto("/admin/campaigns/campaign/")

    header = page.get_by_role("columnheader", name="progress")
    expect(header).to_be_visible()
    box = header.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= WIDTH, box
    cell = page.get_by_text("0 of 0 · 0%", exact=True)
    expect(cell).to_be_visible()
    cell_box = cell.bounding_box()
    assert cell_box["x"] + cell_box["width"] <= WIDTH, cell_box


def test_the_home_pages_channel_table_writes_each_platform_on_one_line(page: Page):
    page.goto("/admin/")

    table = page.get_by_role("table", name="Channels").filter(has=page.get_by_role("rowheader", name="Viber", exact=True))
    expect(table).to_be_visible()
    names = {name: table.get_by_role("rowheader", name=name, exact=True) for name in ("Telegram", "WhatsApp", "Viber")}
    assert {name: lines_of(cell) for name, cell in names.items()} == {"Telegram": 1, "WhatsApp": 1, "Viber": 1}
