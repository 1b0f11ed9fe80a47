"""A local-time campaign's page says, per zone of its audience, when people there get it."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from campaigns import selectors, services
from campaigns.models import Campaign, Segment, UserProfile
from tests.conftest import CampaignFactory, SegmentFactory, SubscriberFactory, subscribe

pytestmark = pytest.mark.django_db

# A local-time campaign's send_at is a wall clock read in TIME_ZONE (UTC in tests): 10:05.
SEND_AT = datetime(2030, 1, 1, 10, 5, tzinfo=UTC)


def marketer_in(zone: str) -> Client:
    user = User.objects.create_user("vlad", password="x-secret-123", is_staff=True)
    user.groups.add(Group.objects.get(name="Marketer"))
    UserProfile.objects.create(user=user, timezone=zone, language="")
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def people_in(segment: Segment, zone: str, count: int) -> list:
    people = [SubscriberFactory(timezone=zone) for _ in range(count)]
    segment.members.add(*people)
    return [subscribe(person) for person in people]


def zone_rows(page: str) -> list[list[str]]:
    """The cells of the local-times table on the campaign page."""
    field = re.search(r"When each zone gets it</label>.*?</table>", page, re.DOTALL).group(0)
    body = re.search(r"<tbody>(.*?)</tbody>", field, re.DOTALL).group(1)
    return [re.findall(r"<td>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", body, re.DOTALL)]


@pytest.fixture
def campaign() -> Campaign:
    """People in Moscow (3), Vladivostok (2) and an opted-out New Yorker, added in that order."""
    segment = SegmentFactory(kind=Segment.Kind.STATIC, rules={})
    people_in(segment, "Europe/Moscow", 3)
    people_in(segment, "Asia/Vladivostok", 2)
    (gone,) = people_in(segment, "America/New_York", 1)
    services.subscription_opt_out(subscription=gone, consent=services.Consent(
        source="test", text="STOP", at=datetime(2026, 11, 2, tzinfo=UTC)))
    return CampaignFactory(segment=segment, send_at=SEND_AT, local_time=True)


def test_audience_zones_count_only_people_opted_in_on_the_campaigns_platforms(campaign):
    # given the campaign's audience; when its zones are read
    zones = selectors.campaign_audience_zones(campaign)
    # then the opted-out New Yorker is not among them
    assert zones == [("Asia/Vladivostok", 2), ("Europe/Moscow", 3)]


def test_local_time_campaign_shows_each_zone_in_utc_order(campaign):
    # given a marketer whose own zone is Vladivostok
    client = marketer_in("Asia/Vladivostok")
    # when they open the campaign's page
    response = client.get(f"/admin/campaigns/campaign/{campaign.pk}/change/")
    # then each zone reads 10:05 locally, earliest instant first, and New York is absent
    assert response.status_code == 200
    page = response.content.decode()
    assert zone_rows(page) == [
        ["Vladivostok", "2030-01-01 10:05", "2030-01-01 00:05 UTC", "2030-01-01 10:05", "2"],
        ["Moscow", "2030-01-01 10:05", "2030-01-01 07:05 UTC", "2030-01-01 17:05", "3"],
    ]
    assert "your time (Asia/Vladivostok)" in page
    assert "New York" not in page


def test_plain_campaign_shows_one_time_for_everyone(campaign):
    # given the same audience but a campaign without local time
    Campaign.objects.filter(pk=campaign.pk).update(local_time=False)
    client = marketer_in("Asia/Vladivostok")
    # when its page is opened
    page = client.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()
    # then one line gives the send time in the viewer's zone, and no zone table
    assert "Everyone gets it at 2030-01-01 20:05 (Asia/Vladivostok)." in page
    assert "Vladivostok</td>" not in page
