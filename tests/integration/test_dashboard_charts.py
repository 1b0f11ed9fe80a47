"""The home page's last 30 days (per day in the viewer's zone), its warnings that need action,
and the campaign page's sends over time: exact figures read from the pages' tables."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, time, timedelta
from html import unescape
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from campaigns import services
from campaigns.admin.attention import QUEUES_CACHE_KEY
from campaigns.models import Campaign, Delivery, Segment, Subscription, UserProfile
from tests.conftest import (
    CampaignFactory,
    DraftFactory,
    SegmentFactory,
    SubscriberFactory,
    subscribe,
)

from .engine import Engine

pytestmark = pytest.mark.django_db

VLADIVOSTOK = ZoneInfo("Asia/Vladivostok")  # UTC+10: its midnight is 14:00 UTC the day before
KOLKATA = ZoneInfo("Asia/Kolkata")  # UTC+5:30: its hours start at half past in UTC
S = Delivery.Status


@pytest.fixture(autouse=True)
def _workers_asked_afresh():
    cache.delete(QUEUES_CACHE_KEY)
    yield
    cache.delete(QUEUES_CACHE_KEY)


def viewer(zone: str, username: str = "viewer") -> Client:
    user = User.objects.create_superuser(username, f"{username}@example.com", "x-secret-123")
    UserProfile.objects.create(user=user, timezone=zone, language="en")
    client = Client(raise_request_exception=True)
    client.force_login(user)
    return client


def local(day: date, hour: int, minute: int = 0, second: int = 0, zone: ZoneInfo = VLADIVOSTOK) -> datetime:
    return datetime.combine(day, time(hour, minute, second), zone)


def row(campaign: Campaign, status: str, platform: str = "telegram", **moments: datetime | None) -> Delivery:
    person = SubscriberFactory()
    return Delivery.objects.create(campaign=campaign, subscriber=person, subscription=subscribe(person, platform),
                                   platform=platform, list_number=1, status=status, send_after=campaign.send_at,
                                   **moments)


def chart_table(page: str, name: str) -> tuple[list[str], dict[str, list[int]]]:
    """(column names, {row's datetime attribute: [figures]}) of the chart's table called `name`."""
    block = re.search(rf'data-chart="{name}".*?</table>', page, re.S).group(0)
    columns = [unescape(c) for c in re.findall(r'<th scope="col"[^>]*>(.*?)</th>', block)]
    rows = {
        iso: [int(n) for n in re.findall(r"<td[^>]*>(\d+)</td>", cells)]
        for iso, cells in re.findall(r'<time datetime="([^"]+)">.*?</th>(.*?)</tr>', block, re.S)
    }
    return columns, rows


def chart_data(page: str, name: str) -> dict:
    block = re.search(rf'data-chart="{name}".*?<canvas[^>]*data-value="([^"]*)"', page, re.S).group(1)
    return json.loads(unescape(block))


def warnings_on(page: str) -> list[tuple[str, str]]:
    """(kind, text with its links) of each warning shown."""
    found = re.findall(r'<li [^>]*data-warning="(\w+)">(.*?)</li>', page, re.S)
    return [(kind, " ".join(unescape(re.sub(r"<[^>]+>", " ", text)).split())) for kind, text in found]


# --- the last 30 days ------------------------------------------------------------------


def test_the_last_30_days_are_counted_per_day_in_the_viewers_zone():
    today = timezone.localdate(timezone.now(), VLADIVOSTOK)
    yesterday, first = today - timedelta(days=1), today - timedelta(days=29)
    campaign = CampaignFactory()
    # Each side of Vladivostok's midnight (14:00 UTC): in UTC all of these fall on one day.
    row(campaign, S.READ, sent_at=local(yesterday, 23, 50), delivered_at=local(yesterday, 23, 55),
        read_at=local(today, 0, 5), clicked_at=local(yesterday, 23, 59))
    row(campaign, S.DELIVERED, sent_at=local(today, 0, 30), delivered_at=local(today, 0, 31),
        clicked_at=local(today, 0, 32))
    row(campaign, S.SENT, sent_at=local(first, 0, 0))  # the first second of the 30 days
    row(campaign, S.SENT, sent_at=local(first, 0, 0) - timedelta(seconds=1))  # a second too early
    row(campaign, S.FAILED)  # never sent
    row(campaign, S.UNCERTAIN, sent_at=local(today, 1, 0))  # maybe sent: not counted as sent
    leaving = [subscribe(SubscriberFactory()) for _ in range(3)]
    services.subscription_opt_out(subscription=leaving[0], consent=services.Consent(
        source="test", at=local(yesterday, 23, 59), by_person=True))
    services.subscription_opt_out(subscription=leaving[1], consent=services.Consent(
        source="test", at=local(today, 0, 0), by_person=True))
    # A bounce suppresses the subscription but is not someone opting out.
    services.subscription_opt_out(subscription=leaving[2], status=Subscription.Status.UNREACHABLE,
                                  consent=services.Consent(source="test", at=local(today, 0, 1)))

    page = viewer("Asia/Vladivostok").get("/admin/").content.decode()

    columns, rows = chart_table(page, "daily")
    assert columns == ["Day (Asia/Vladivostok)", "sent", "delivered", "read", "clicked", "opted out"]
    expected = {(first + timedelta(days=n)).isoformat(): [0, 0, 0, 0, 0] for n in range(30)}
    expected[today.isoformat()] = [1, 1, 1, 1, 1]
    expected[yesterday.isoformat()] = [1, 1, 0, 1, 1]
    expected[first.isoformat()] = [1, 0, 0, 0, 0]
    assert rows == expected
    assert list(rows) == sorted(rows)  # oldest first, today last
    data = chart_data(page, "daily")
    assert [d["label"] for d in data["datasets"]] == ["sent", "delivered", "read", "clicked", "opted out"]
    assert [d["data"] for d in data["datasets"]] == [[r[i] for r in expected.values()] for i in range(5)]


def test_the_same_rows_counted_in_utc_fall_on_other_days():
    today = timezone.localdate(timezone.now(), VLADIVOSTOK)
    yesterday = today - timedelta(days=1)
    campaign = CampaignFactory()
    row(campaign, S.SENT, sent_at=local(yesterday, 23, 50))
    row(campaign, S.SENT, sent_at=local(today, 0, 30))

    _, in_vladivostok = chart_table(viewer("Asia/Vladivostok").get("/admin/").content.decode(), "daily")
    _, in_utc = chart_table(viewer("UTC", "utc_viewer").get("/admin/").content.decode(), "daily")

    assert (in_vladivostok[yesterday.isoformat()][0], in_vladivostok[today.isoformat()][0]) == (1, 1)
    # 13:50 and 14:30 UTC of the same day
    assert in_utc[yesterday.isoformat()][0] == 2
    assert in_utc.get(today.isoformat(), [0])[0] == 0


# --- the campaign's sends over time --------------------------------------------------


def test_a_short_campaign_is_charted_per_minute_and_platform():
    campaign = CampaignFactory(platforms=["telegram", "whatsapp"])
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.COMPLETED)
    at = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    row(campaign, S.SENT, sent_at=at + timedelta(seconds=5))
    row(campaign, S.READ, sent_at=at + timedelta(seconds=50), read_at=at + timedelta(minutes=9))
    row(campaign, S.DELIVERED, "whatsapp", sent_at=at + timedelta(minutes=2, seconds=10))
    row(campaign, S.FAILED, "whatsapp")
    row(campaign, S.PLANNED)

    page = viewer("Asia/Kolkata").get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()

    columns, rows = chart_table(page, "campaign-sends")
    assert columns == ["Minute (Asia/Kolkata)", "Telegram", "WhatsApp"]
    assert rows == {
        "2026-11-20T15:30:00+05:30": [2, 0],
        "2026-11-20T15:31:00+05:30": [0, 0],
        "2026-11-20T15:32:00+05:30": [0, 1],
    }
    assert "Messages sent per minute" in page


def test_a_long_campaign_is_charted_per_hour_of_the_viewers_zone():
    campaign = CampaignFactory()
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.RUNNING)
    row(campaign, S.SENT, sent_at=datetime(2026, 11, 20, 9, 10, tzinfo=UTC))  # 14:40 in Kolkata
    row(campaign, S.SENT, sent_at=datetime(2026, 11, 20, 9, 40, tzinfo=UTC))  # 15:10: the next hour there
    row(campaign, S.SENT, sent_at=datetime(2026, 11, 20, 14, 20, tzinfo=UTC))  # 19:50

    page = viewer("Asia/Kolkata").get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()

    columns, rows = chart_table(page, "campaign-sends")
    assert columns == ["Hour (Asia/Kolkata)", "Telegram"]
    assert rows == {f"2026-11-20T{h}:00:00+05:30": [n] for h, n in
                    [(14, 1), (15, 1), (16, 0), (17, 0), (18, 0), (19, 1)]}


def test_a_campaign_with_nothing_sent_has_no_chart():
    campaign = CampaignFactory()
    row(campaign, S.PLANNED)

    page = viewer("UTC").get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()

    assert 'data-chart="campaign-sends"' not in page
    assert "Nothing sent yet." in page


# --- warnings that need action ---------------------------------------------------------


def campaign_in(status: str, **fields) -> Campaign:
    campaign = CampaignFactory(**fields)
    Campaign.objects.filter(pk=campaign.pk).update(status=status)
    campaign.refresh_from_db()
    return campaign


def test_a_campaign_held_up_by_a_platform_refusal_is_a_warning_with_its_link():
    since = datetime(2026, 11, 29, 20, 15, tzinfo=UTC)  # 06:15 the next morning in Vladivostok
    refused = campaign_in(Campaign.Status.RUNNING, name="Refused BF",
                          problem="Telegram refuses our account: Unauthorized", problem_since=since)
    campaign_in(Campaign.Status.COMPLETED, name="Old trouble", problem="Viber refuses our account", problem_since=since)
    campaign_in(Campaign.Status.RUNNING, name="Fine one")
    cache.set(QUEUES_CACHE_KEY, {"queues": ["celery", "telegram", "whatsapp", "viber"], "error": ""}, 30)

    page = viewer("Asia/Vladivostok").get("/admin/").content.decode()

    shown = warnings_on(page)
    assert [kind for kind, _ in shown] == ["problem"]
    assert shown[0][1] == ("“Refused BF” (Running) is held up since 11/30/2026 6:15 a.m.: "
                           "Telegram refuses our account: Unauthorized Refused BF")
    assert f'href="/admin/campaigns/campaign/{refused.pk}/change/">Refused BF</a>' in page


def test_whatsapp_receivers_outside_the_window_without_a_template_are_a_warning():
    now = timezone.now()
    soon = now + timedelta(hours=1)
    outside, inside = SubscriberFactory(), SubscriberFactory()
    subscribe(outside, "whatsapp")
    subscribe(inside, "whatsapp")
    Subscription.objects.filter(subscriber=inside).update(last_inbound_at=now)
    both = SegmentFactory(kind=Segment.Kind.STATIC)
    both.members.set([outside, inside])
    only_inside = SegmentFactory(kind=Segment.Kind.STATIC)
    only_inside.members.set([inside])
    no_template = campaign_in(Campaign.Status.SCHEDULED, name="No template", segment=both,
                              platforms=["whatsapp"], send_at=soon)
    campaign_in(Campaign.Status.SCHEDULED, name="With template", segment=both, platforms=["whatsapp"],
                send_at=soon, content_whatsapp_template={"name": "bf", "language": "ru", "parameters": []})
    campaign_in(Campaign.Status.SCHEDULED, name="All inside", segment=only_inside, platforms=["whatsapp"],
                send_at=soon)
    campaign_in(Campaign.Status.DRAFT, name="Only a draft", segment=both, platforms=["whatsapp"], send_at=soon,
                draft=DraftFactory())
    cache.set(QUEUES_CACHE_KEY, {"queues": ["celery", "telegram", "whatsapp", "viber"], "error": ""}, 30)

    page = viewer("UTC").get("/admin/").content.decode()

    shown = warnings_on(page)
    assert [kind for kind, _ in shown] == ["template"]
    assert shown[0][1].startswith("“No template”: 1 WhatsApp receiver is outside the 24-hour window")
    assert f'href="/admin/campaigns/campaign/{no_template.pk}/change/"' in page
    assert f'href="/admin/campaigns/draft/{no_template.draft_id}/change/"' in page


def test_no_warning_when_nothing_needs_action():
    campaign_in(Campaign.Status.COMPLETED, name="Done")

    page = viewer("UTC").get("/admin/").content.decode()

    assert warnings_on(page) == []
    assert "Needs action" not in page


@pytest.mark.django_db(transaction=True)
def test_a_queue_without_a_worker_is_a_warning_until_a_worker_takes_it(tmp_path):
    campaign_in(Campaign.Status.SCHEDULED, name="Telegram BF", platforms=["telegram"])
    client = viewer("UTC")
    engine = Engine(tmp_path, {})  # empties the test broker: no worker listens

    try:
        shown = warnings_on(client.get("/admin/").content.decode())
        assert [(kind, text.split(" queue")[0]) for kind, text in shown] == [
            ("queue", "No worker takes the “celery”"), ("queue", "No worker takes the “telegram”")]
        assert "Telegram BF" in shown[1][1]

        engine.start_worker()  # `celery -A config worker`: every queue
        cache.delete(QUEUES_CACHE_KEY)
        after = warnings_on(client.get("/admin/").content.decode())
    finally:
        engine.stop()

    assert after == [], engine.logs()


def test_a_broker_that_cannot_be_asked_is_said_so():
    from config.celery import app

    campaign_in(Campaign.Status.RUNNING, name="Viber BF", platforms=["viber"])
    client = viewer("UTC")
    reachable = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    try:
        shown = warnings_on(client.get("/admin/").content.decode())
    finally:
        app.conf.broker_url = reachable

    assert [kind for kind, _ in shown] == ["broker"]
    assert shown[0][1].startswith("The task broker cannot be asked which queues have a worker (")
    assert "Connection refused" in shown[0][1]
    assert shown[0][1].endswith("it is not known whether scheduled and running campaigns can be sent. Viber BF")
