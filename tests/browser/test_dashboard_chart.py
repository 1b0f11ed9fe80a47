"""The charts in a real browser: the home page's last 30 days and a campaign's sends over time are
drawn by Chart.js (a canvas of real size), and their tables give the exact figures."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from playwright.sync_api import Locator, Page, expect

from campaigns.models import Campaign, Delivery, UserProfile
from tests.conftest import CampaignFactory, SubscriberFactory, subscribe

from .support import accessibility, violations_summary

pytestmark = pytest.mark.django_db(transaction=True)

VLADIVOSTOK = ZoneInfo("Asia/Vladivostok")
S = Delivery.Status


def row(campaign: Campaign, status: str, platform: str = "telegram", **moments: datetime) -> None:
    person = SubscriberFactory()
    Delivery.objects.create(campaign=campaign, subscriber=person, subscription=subscribe(person, platform),
                            platform=platform, list_number=1, status=status, send_after=campaign.send_at, **moments)


def drawn(canvas: Locator) -> tuple[int, int, int]:
    """(width, height, datasets) of the Chart.js chart on `canvas`; fails when Chart.js did not draw it."""
    expect(canvas).to_be_visible()
    found = canvas.evaluate("c => { const chart = Chart.getChart(c);"
                            " return chart ? [c.clientWidth, c.clientHeight, chart.data.datasets.length] : null; }")
    assert found is not None, "Chart.js drew no chart on the canvas"
    return tuple(found)


def figures(table: Locator) -> dict[str, list[str]]:
    """The table's rows as {first cell: the other cells}, header row included."""
    out = {}
    for tr in table.get_by_role("row").all():
        cells = [c.strip() for c in tr.locator("th, td").all_inner_texts()]
        out[cells[0]] = cells[1:]
    return out


def test_the_home_page_draws_the_last_30_days_with_the_exact_figures(page: Page, staff):
    UserProfile.objects.create(user=staff, timezone="Asia/Vladivostok", language="en")
    today = timezone.localdate(timezone.now(), VLADIVOSTOK)
    yesterday = today - timedelta(days=1)
    campaign = CampaignFactory()
    # Just before and just after Vladivostok's midnight: the same UTC day.
    row(campaign, S.READ, sent_at=datetime.combine(yesterday, time(23, 50), VLADIVOSTOK),
        delivered_at=datetime.combine(yesterday, time(23, 51), VLADIVOSTOK),
        read_at=datetime.combine(today, time(0, 10), VLADIVOSTOK))
    row(campaign, S.SENT, sent_at=datetime.combine(today, time(0, 20), VLADIVOSTOK))

    page.goto("/admin/")

    width, height, datasets = drawn(page.get_by_role("img", name=re.compile("^The last 30 days")).locator("canvas"))
    assert width > 300 and height > 100 and datasets == 5
    page.get_by_text("Figures", exact=True).first.click()
    table = page.get_by_role("table", name="The last 30 days")
    expect(table).to_be_visible()
    rows = figures(table)
    assert rows["Day (Asia/Vladivostok)"] == ["sent", "delivered", "read", "clicked", "opted out"]
    assert rows[f"{today:%B} {today.day}"] == ["1", "0", "1", "0", "0"]
    assert rows[f"{yesterday:%B} {yesterday.day}"] == ["1", "1", "0", "0", "0"]
    assert len(rows) == 31  # the header and 30 days
    assert violations_summary(accessibility(page)) == {}


def test_the_campaign_page_draws_its_sends_per_minute_and_platform(page: Page, staff):
    UserProfile.objects.create(user=staff, timezone="Asia/Vladivostok", language="en")
    campaign = CampaignFactory(name="BF sends", platforms=["telegram", "viber"])
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.COMPLETED)
    at = datetime(2026, 11, 20, 7, 0, tzinfo=UTC)  # 17:00 in Vladivostok
    row(campaign, S.SENT, sent_at=at + timedelta(seconds=1))
    row(campaign, S.DELIVERED, sent_at=at + timedelta(seconds=59))
    row(campaign, S.SENT, "viber", sent_at=at + timedelta(minutes=1, seconds=30))

    page.goto(f"/admin/campaigns/campaign/{campaign.pk}/change/")

    chart = page.get_by_role("img", name=re.compile("^Messages sent per minute"))
    width, height, datasets = drawn(chart.locator("canvas"))
    assert width > 200 and height > 50 and datasets == 2
    page.get_by_text("Figures", exact=True).first.click()
    rows = figures(page.get_by_role("table", name="Messages sent per minute"))
    assert rows == {
        "Minute (Asia/Vladivostok)": ["Telegram", "Viber"],
        "5 p.m.": ["2", "0"],
        "5:01 p.m.": ["0", "1"],
    }
    assert violations_summary(accessibility(page)) == {}
