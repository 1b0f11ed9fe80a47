"""The content calendar: each brand channel's posts week by week, in the viewer's own zone."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from campaigns.cadence import CadencePolicy
from campaigns.models import BrandChannel, Post, Publication, UserProfile
from campaigns.services.cadence_guard import channel_policy, channel_post_times
from tests.conftest import DraftFactory

pytestmark = pytest.mark.django_db

URL = "/admin/campaigns/post/calendar/"


class Cells(HTMLParser):
    """The calendar table's cells: {(row header's first line, data-day): text}."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[tuple[str, str], str] = {}
        self.headers: list[tuple[str, dict[str, str | None]]] = []
        self._row = ""
        self._in: str | None = None  # "row", "col" or a day
        self._text: list[str] = []
        self._attrs: dict[str, str | None] = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "th":
            self._in, self._text, self._attrs = attrs.get("scope"), [], attrs
        elif tag == "td" and "data-day" in attrs:
            self._in, self._text = attrs["data-day"], []

    def handle_endtag(self, tag):
        if tag not in ("th", "td") or self._in is None:
            return
        text = " ".join("".join(self._text).split())
        if self._in == "row":
            self._row = text.split(" (")[0]
        elif self._in == "col":
            self.headers.append((text, self._attrs))
        else:
            self.cells[(self._row, self._in)] = text
        self._in = None

    def handle_data(self, data):
        if self._in is not None:
            self._text.append(data)


def cells(html: str) -> Cells:
    parser = Cells()
    parser.feed(html)
    return parser


def staff(django_user_model: type[User], username: str, group: str | None, zone: str = "") -> Client:
    user = django_user_model.objects.create_user(username, password="x-secret-123", is_staff=True)
    if group:
        user.groups.add(Group.objects.get(name=group))
    if zone:
        UserProfile.objects.create(user=user, timezone=zone)
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def post_in(channel: BrandChannel, name: str, at: datetime, *, status: str = Publication.Status.PLANNED,
            silent: bool = False) -> Post:
    post = Post.objects.create(name=name, draft=DraftFactory(), publish_at=at,
                               status=Post.Status.PUBLISHED if status == Publication.Status.PUBLISHED
                               else Post.Status.SCHEDULED, silent=silent)
    post.channels.add(channel)
    Publication.objects.create(post=post, channel=channel, status=status, publish_after=at, silent=silent,
                               published_at=at if status == Publication.Status.PUBLISHED else None)
    return post


@pytest.fixture
def channels() -> tuple[BrandChannel, BrandChannel]:
    news = BrandChannel.objects.create(platform="telegram", chat="@brand_news", title="Brand news",
                                       timezone="Europe/Moscow")
    deals = BrandChannel.objects.create(platform="viber", chat="pa:deals", title="Viber deals", max_posts_per_day=2,
                                        min_gap_minutes=60, night_policy=BrandChannel.NightPolicy.MOVE)
    return news, deals


def test_posts_land_in_the_viewers_local_days(django_user_model, channels):
    # given: a marketer in Vladivostok (UTC+10) and posts around the week of 7-13 December 2026
    news, deals = channels
    autumn = post_in(news, "Autumn sale", datetime(2026, 12, 8, 23, 30, tzinfo=UTC))  # 9 Dec 09:30 local
    post_in(news, "Early bird", datetime(2026, 12, 6, 14, 30, tzinfo=UTC),  # 7 Dec 00:30 local
            status=Publication.Status.PUBLISHED)
    post_in(news, "Late news", datetime(2026, 12, 10, 20, 0, tzinfo=UTC))  # 23:00 in Moscow: night, silent
    post_in(deals, "Coupons", datetime(2026, 12, 9, 2, 0, tzinfo=UTC))  # 9 Dec 12:00 local
    post_in(deals, "Asked silent", datetime(2026, 12, 12, 3, 0, tzinfo=UTC), silent=True)
    post_in(news, "Next week", datetime(2026, 12, 13, 14, 30, tzinfo=UTC))  # 14 Dec 00:30 local
    post_in(news, "Called off", datetime(2026, 12, 10, 4, 0, tzinfo=UTC), status=Publication.Status.CANCELLED)
    client = staff(django_user_model, "mia", "Marketer", zone="Asia/Vladivostok")

    # when
    page = client.get(URL, {"week": "2026-12-10"})

    # then: every day of the week has its cell, the posts in theirs, nothing else
    assert page.status_code == 200
    html = page.content.decode()
    table = cells(html)
    days = [f"2026-12-{d:02d}" for d in range(7, 14)]
    assert table.cells == {
        **{("Brand news", day): "" for day in days},
        **{("Viber deals", day): "" for day in days},
        ("Brand news", "2026-12-07"): "00:30 Early bird · Published",
        ("Brand news", "2026-12-09"): "09:30 Autumn sale · Planned · silent",  # 02:30 in Moscow
        ("Brand news", "2026-12-11"): "06:00 Late news · Planned · silent",
        ("Viber deals", "2026-12-09"): "12:00 Coupons · Planned",
        ("Viber deals", "2026-12-12"): "13:00 Asked silent · Planned · silent",
    }
    assert "Posts of the week 2026-12-07 – 2026-12-13, times in Asia/Vladivostok" in html
    assert '<a href="?week=2026-11-30">Previous week</a>' in html
    assert '<a href="?week=2026-12-14">Next week</a>' in html
    # the cadence policy of each channel, in the channel's zone
    assert "at most 3 a day, at least 120 minutes apart; night 22:00–08:00 Europe/Moscow: posted silently" in html
    assert "at most 2 a day, at least 60 minutes apart; night 22:00–08:00 UTC: moved to the night&#x27;s end" in html
    assert f'<a href="/admin/campaigns/post/{autumn.pk}/change/">Autumn sale</a>' in html


def test_a_week_with_several_posts_a_day_lists_them_in_time_order(django_user_model, channels):
    news, _deals = channels
    post_in(news, "Evening", datetime(2026, 12, 8, 10, 0, tzinfo=UTC))
    post_in(news, "Morning", datetime(2026, 12, 7, 23, 0, tzinfo=UTC))
    client = staff(django_user_model, "mia", "Marketer", zone="Asia/Vladivostok")

    table = cells(client.get(URL, {"week": "2026-12-07"}).content.decode())

    assert table.cells[("Brand news", "2026-12-08")] == "09:00 Morning · Planned · silent 20:00 Evening · Planned"  # 02:00 in Moscow: night


def test_this_week_is_shown_by_default_with_today_marked(django_user_model, channels):
    client = staff(django_user_model, "mia", "Marketer", zone="Asia/Vladivostok")
    today = datetime.now(ZoneInfo("Asia/Vladivostok")).date()
    monday = today - timedelta(days=today.weekday())

    page = client.get(URL)

    assert page.status_code == 200
    table = cells(page.content.decode())
    assert sorted(day for (_row, day) in table.cells) == sorted(
        (monday + timedelta(days=n)).isoformat() for n in range(7) for _row in range(2))
    marked = [text for text, attrs in table.headers if attrs.get("aria-current") == "date"]
    assert len(marked) == 1
    assert marked[0].endswith("(today)")
    assert re.search(rf"\b{today.day}\b", marked[0])


def test_without_the_view_post_permission_the_calendar_is_forbidden(django_user_model, channels):
    news, _deals = channels
    post_in(news, "Autumn sale", datetime(2026, 12, 8, 23, 30, tzinfo=UTC))
    client = staff(django_user_model, "stranger", None)

    page = client.get(URL, {"week": "2026-12-07"})

    assert page.status_code == 403
    assert "Autumn sale" not in page.content.decode()


def test_a_week_that_is_not_a_date_is_refused_naming_the_field(django_user_model, channels):
    client = staff(django_user_model, "mia", "Marketer")

    page = client.get(URL, {"week": "next tuesday"})

    assert page.status_code == 400
    assert page.content.decode() == "week: “next tuesday” is not a date (YYYY-MM-DD)"


def test_the_sidebar_links_to_the_calendar(django_user_model, channels):
    client = staff(django_user_model, "mia", "Marketer")

    html = client.get("/admin/").content.decode()

    assert f'href="{URL}"' in html
    assert "Content calendar" in html


def test_the_guard_reads_the_channels_policy_and_its_counted_post_times(settings, channels):
    # given: the installation on Vladivostok time; posts in every ledger state
    settings.TIME_ZONE = "Asia/Vladivostok"
    news, deals = channels
    at = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)
    statuses = [Publication.Status.PLANNED, Publication.Status.SENDING, Publication.Status.PUBLISHED,
                Publication.Status.FAILED, Publication.Status.UNCERTAIN, Publication.Status.CANCELLED]
    posts = [post_in(news, status, at + timedelta(hours=n), status=status) for n, status in enumerate(statuses)]
    post_in(deals, "Elsewhere", at)

    # then: planned, sending and published count, the post being rescheduled does not
    assert channel_post_times(news) == [at, at + timedelta(hours=1), at + timedelta(hours=2)]
    assert channel_post_times(news, exclude_post=posts[1]) == [at, at + timedelta(hours=2)]
    assert channel_policy(news) == CadencePolicy(max_posts_per_day=3, min_gap_minutes=120, night_start=time(22),
                                                 night_end=time(8), night_policy="silent",
                                                 tz=ZoneInfo("Europe/Moscow"))
    assert channel_policy(deals).tz == ZoneInfo("Asia/Vladivostok")  # no zone of its own: the installation's
    assert channel_policy(deals).night_policy == "move"
