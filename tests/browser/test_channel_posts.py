"""A channel post in a real browser: created from the sidebar, scheduled from its page; the
cadence guard's refusal is read on the page, and the dialog's "move" choice takes the next
allowed slot; the scheduled post is shown read-only with each channel's publication.
Elements are found by role, label and visible text, as a person finds them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from campaigns.models import BrandChannel, Post, Publication
from campaigns.services import posts as post_services
from tests.conftest import DraftFactory

pytestmark = pytest.mark.django_db(transaction=True)


def tomorrow(hour: int) -> datetime:
    day = (timezone.now() + timedelta(days=1)).date()
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def page_button(page: Page, label: str):
    """One of the buttons at the top of the page, by the word on it (its icon's name comes first)."""
    return page.get_by_role("link", name=re.compile(rf"(^|\s){re.escape(label)}$"))


def test_a_refused_slot_is_explained_and_the_move_choice_takes_the_next_one(page: Page):
    # given: a channel allowing a post every two hours, with a post at 12:00 UTC tomorrow
    brand = BrandChannel.objects.create(platform="telegram", chat="@brandnews", title="Brand news", can_post=True,
                                        timezone="UTC", night_start=time(0, 0), night_end=time(0, 0),
                                        min_gap_minutes=120)
    first = post_services.post_create(draft=DraftFactory(), channels=[brand], publish_at=tomorrow(12))
    post_services.post_schedule(post=first)
    post = post_services.post_create(draft=DraftFactory(), channels=[brand], publish_at=tomorrow(13),
                                     name="Second sale")

    # when: the marketer finds it under "Channel posts" and schedules it at 13:00
    page.goto("/admin/")
    page.get_by_role("link", name=re.compile(r"Channel posts$")).first.click()
    page.get_by_role("link", name="Second sale").click()
    page_button(page, "Schedule").click()
    page.get_by_role("button", name="Schedule", exact=True).click()

    # then: refused, with the reason and the next allowed slot
    expect(page.get_by_text(re.compile("was not scheduled: .*within 120 minutes"))).to_be_visible()
    expect(page.get_by_text(re.compile(rf"next allowed slot is {tomorrow(14):%Y-%m-%d %H:%M}"))).to_be_visible()
    assert Post.objects.get(pk=post.pk).status == Post.Status.DRAFT

    # when: again, choosing to move it to the next allowed slot
    page_button(page, "Schedule").click()
    page.get_by_label("Move to the next allowed slot").check()
    page.get_by_role("button", name="Schedule", exact=True).click()

    # then: scheduled at 14:00, said on the page, and the page is read-only with the publication
    expect(page.get_by_text(re.compile("is moved to .* by the channel's cadence policy"))).to_be_visible()
    assert Publication.objects.get(post=post).publish_after == tomorrow(14)
    row = page.get_by_role("row").filter(has_text="Brand news").filter(has_text="Planned")
    expect(row.filter(has_text=f"{tomorrow(14):%Y-%m-%d %H:%M}")).to_have_count(1)
    expect(page.get_by_label("Publish at")).to_have_count(0)
    expect(page_button(page, "Schedule")).to_have_count(0)
    expect(page_button(page, "Cancel")).to_have_count(1)
