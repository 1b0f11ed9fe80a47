"""Moments in the admin's messages and approval record are shown in the viewer's own zone, named."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import Group, User
from django.test import Client

from campaigns.models import Campaign, UserProfile
from tests.conftest import CampaignFactory

pytestmark = pytest.mark.django_db

VLADIVOSTOK = ZoneInfo("Asia/Vladivostok")


def staff(django_user_model: type[User], username: str, group: str, zone: str = "") -> User:
    user = django_user_model.objects.create_user(username, password="x-secret-123", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    if zone:
        UserProfile.objects.create(user=user, timezone=zone)
    return user


def admin_as(user: User) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def post_action(client: Client, action: str, campaign: Campaign) -> str:
    page = client.post("/admin/campaigns/campaign/", {"action": action, "_selected_action": [campaign.pk]},
                       follow=True)
    assert page.status_code == 200
    return page.content.decode()


@pytest.fixture
def campaign() -> Campaign:
    return CampaignFactory(name="Night sale", send_at=datetime(2030, 1, 1, 0, 5, tzinfo=UTC))


def test_scheduling_says_when_in_the_viewers_zone(django_user_model, campaign):
    # given: a marketer in Vladivostok (UTC+10)
    mia = staff(django_user_model, "mia", "Marketer", zone="Asia/Vladivostok")

    # when
    page = post_action(admin_as(mia), "schedule", campaign)

    # then
    assert "“Night sale” scheduled for 2030-01-01 10:05 Asia/Vladivostok." in page
    assert "UTC." not in page
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.SCHEDULED


def test_without_a_zone_of_their_own_the_installations_zone_is_named(django_user_model, settings, campaign):
    # given: the installation runs on Moscow time (UTC+3), the marketer chose no zone
    settings.TIME_ZONE = "Europe/Moscow"
    mia = staff(django_user_model, "mia", "Marketer")

    # when
    page = post_action(admin_as(mia), "schedule", campaign)

    # then
    assert "“Night sale” scheduled for 2030-01-01 03:05 Europe/Moscow." in page


def test_approval_record_in_the_viewers_zone(django_user_model, settings, campaign):
    # given: maker-checker; mia (no zone of her own, the installation's UTC) submits, ada in Vladivostok approves
    settings.TACT_REQUIRE_APPROVAL = True
    mia = staff(django_user_model, "mia", "Marketer")
    ada = staff(django_user_model, "ada", "Approver", zone="Asia/Vladivostok")
    post_action(admin_as(mia), "schedule", campaign)

    # when
    page = post_action(admin_as(ada), "approve", campaign)

    # then: ada reads her own clock, mia hers
    assert "“Night sale” approved, scheduled for 2030-01-01 10:05 Asia/Vladivostok." in page
    stored = Campaign.objects.get(pk=campaign.pk)
    assert stored.status == Campaign.Status.SCHEDULED
    entries = list(LogEntry.objects.get_for_object(stored).filter(
        additional_data__verb__in=["submitted", "approved"]).order_by("timestamp"))
    assert len(entries) == 2
    for user, zone in ((ada, VLADIVOSTOK), (mia, ZoneInfo("UTC"))):
        change = admin_as(user).get(f"/admin/campaigns/campaign/{stored.pk}/change/").content.decode()
        name = str(zone)
        assert f"submitted by mia at {stored.submitted_at.astimezone(zone):%Y-%m-%d %H:%M} {name}" in change
        assert f"approved by ada at {stored.approved_at.astimezone(zone):%Y-%m-%d %H:%M} {name}" in change
        for entry in entries:
            assert f"<td>{entry.timestamp.astimezone(zone):%Y-%m-%d %H:%M} {name}</td>" in change
