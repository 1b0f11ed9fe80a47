"""The marketer opens the content calendar from the sidebar, reads the week's posts per channel,
goes to the next week and back."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from campaigns.models import BrandChannel, Post, Publication
from tests.conftest import DraftFactory

from .support import accessibility, violations_summary

pytestmark = pytest.mark.django_db(transaction=True)


def planned(channel: BrandChannel, name: str, at: datetime) -> None:
    post = Post.objects.create(name=name, draft=DraftFactory(), publish_at=at, status=Post.Status.SCHEDULED)
    post.channels.add(channel)
    Publication.objects.create(post=post, channel=channel, publish_after=at)


def test_the_calendar_shows_the_weeks_posts_and_moves_between_weeks(page: Page):
    # given: a channel with a post this Wednesday and one next Tuesday (the viewer's zone is the installation's)
    zone = timezone.get_default_timezone()
    today = timezone.localdate(timezone=zone)
    monday = today - timedelta(days=today.weekday())
    channel = BrandChannel.objects.create(platform="telegram", chat="@brand_news", title="Brand news",
                                          timezone="UTC", can_post=True)
    planned(channel, "Wednesday sale", datetime.combine(monday + timedelta(days=2), time(12), tzinfo=zone))
    planned(channel, "Tuesday news", datetime.combine(monday + timedelta(days=8), time(13, 15), tzinfo=zone))
    week = page.get_by_role("table", name=re.compile("Posts of the week"))

    # when: the marketer opens the calendar from the sidebar
    page.get_by_role("link", name="Content calendar").first.click()

    # then: this week, with the post in its channel's row, today marked
    expect(week).to_have_accessible_name(re.compile(f"Posts of the week {monday.isoformat()} – "))
    row = week.get_by_role("row", name=re.compile("Brand news"))
    expect(row.get_by_role("link", name="Wednesday sale")).to_be_visible()
    expect(row).to_contain_text("12:00")
    expect(row).to_contain_text("at most 3 a day, at least 120 minutes apart")
    expect(week.get_by_role("columnheader", name=re.compile(r"\(today\)"))).to_have_count(1)
    expect(week.get_by_text("Tuesday news")).to_have_count(0)
    assert violations_summary(accessibility(page)) == {}

    # when: the next week
    page.get_by_role("link", name="Next week").click()

    # then
    expect(week).to_have_accessible_name(re.compile(f"Posts of the week {(monday + timedelta(days=7)).isoformat()}"))
    expect(row.get_by_role("link", name="Tuesday news")).to_be_visible()
    expect(row).to_contain_text("13:15")
    expect(week.get_by_text("Wednesday sale")).to_have_count(0)
    expect(week.get_by_role("columnheader", name=re.compile(r"\(today\)"))).to_have_count(0)

    # when: back
    page.get_by_role("link", name="Previous week").click()

    # then
    expect(row.get_by_role("link", name="Wednesday sale")).to_be_visible()
    expect(week.get_by_text("Tuesday news")).to_have_count(0)
