"""Each staff user's own time zone and language in the admin (campaigns.UserProfile)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from campaigns.models import Campaign, UserProfile
from tests.conftest import CampaignFactory

pytestmark = pytest.mark.django_db

SEND_AT = datetime(2030, 1, 1, 0, 5, tzinfo=UTC)


def marketer(username: str, *, timezone: str | None = None, language: str = "") -> User:
    user = User.objects.create_user(username, password="x-secret-123", is_staff=True)
    user.groups.add(Group.objects.get(name="Marketer"))
    if timezone is not None:
        UserProfile.objects.create(user=user, timezone=timezone, language=language)
    return user


def admin_as(user: User) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def change_page(user: User, campaign: Campaign) -> str:
    response = admin_as(user).get(f"/admin/campaigns/campaign/{campaign.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


def test_send_at_is_shown_in_the_users_zone_and_labelled():
    # given a campaign at 00:05 UTC and a user in Vladivostok (UTC+10)
    campaign = CampaignFactory(send_at=SEND_AT)
    user = marketer("vlad", timezone="Asia/Vladivostok")
    # when they open its page
    page = change_page(user, campaign)
    # then the time reads 10:05 there, and says in which zone
    assert 'name="send_at_0" value="2030-01-01"' in page
    assert 'name="send_at_1" value="10:05:00"' in page
    assert "Times are in Asia/Vladivostok." in page


def test_send_at_typed_in_the_users_zone_is_stored_in_utc():
    # given a draft campaign and a user in Vladivostok
    campaign = CampaignFactory(send_at=datetime(2030, 6, 1, 9, 0, tzinfo=UTC))
    user = marketer("vlad", timezone="Asia/Vladivostok")
    # when they type 2030-01-01 10:05 and save
    response = admin_as(user).post(f"/admin/campaigns/campaign/{campaign.pk}/change/", {
        "name": campaign.name, "draft": campaign.draft_id, "segment": campaign.segment_id, "platforms": ["telegram"],
        "send_at_0": "2030-01-01", "send_at_1": "10:05:00", "expires_at_0": "", "expires_at_1": "",
    })
    # then 00:05 UTC is stored
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.send_at == SEND_AT


def test_a_user_without_a_profile_sees_the_installation_zone(settings):
    # given the installation in Moscow (UTC+3), a campaign at 00:05 UTC, and a user in
    # Vladivostok who used the admin just before (same thread)
    settings.TIME_ZONE = "Europe/Moscow"
    campaign = CampaignFactory(send_at=SEND_AT)
    change_page(marketer("vlad", timezone="Asia/Vladivostok"), campaign)
    # when a user without a profile opens the page
    page = change_page(marketer("anna"), campaign)
    # then they see Moscow time, labelled
    assert 'name="send_at_1" value="03:05:00"' in page
    assert "Times are in Europe/Moscow." in page


def test_an_empty_zone_in_a_profile_means_the_installation_zone(settings):
    settings.TIME_ZONE = "Europe/Moscow"
    campaign = CampaignFactory(send_at=SEND_AT)
    page = change_page(marketer("anna", timezone="", language="ru"), campaign)
    assert 'name="send_at_1" value="03:05:00"' in page
    assert "Время указано в часовом поясе Europe/Moscow." in page  # her language, the installation's zone


@pytest.mark.parametrize("zone", ["Mars/Olympus", "../../etc/passwd", "Europe", "Europe/Moscow/x", "zone.tab"])
def test_an_invalid_zone_in_a_profile_falls_back_to_the_installation_zone(settings, zone):
    # given a profile whose zone is not an IANA zone (written around the form)
    settings.TIME_ZONE = "Europe/Moscow"
    campaign = CampaignFactory(send_at=SEND_AT)
    user = marketer("anna", timezone=zone)
    # when they open the page, then it works in the installation's zone
    page = change_page(user, campaign)
    assert 'name="send_at_1" value="03:05:00"' in page
    assert "Times are in Europe/Moscow." in page


def test_a_profile_language_ru_gives_djangos_russian_admin():
    # given a user whose profile says Russian, with an English browser
    campaign = CampaignFactory(send_at=SEND_AT)
    client = admin_as(marketer("olga", timezone="Asia/Vladivostok", language="ru"))
    # when they open an admin page
    response = client.get(f"/admin/campaigns/campaign/{campaign.pk}/change/", HTTP_ACCEPT_LANGUAGE="en")
    # then Django's own strings are Russian
    page = response.content.decode()
    assert response.status_code == 200
    assert response["Content-Language"] == "ru"
    assert "Сохранить" in page
    assert "Выйти" in page


def test_without_a_profile_language_the_browser_decides():
    client = admin_as(marketer("anna"))
    russian = client.get("/admin/", HTTP_ACCEPT_LANGUAGE="ru-RU,ru;q=0.9")
    english = client.get("/admin/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert (russian["Content-Language"], english["Content-Language"]) == ("ru", "en")
    assert "Выйти" in russian.content.decode()
    assert "Выйти" not in english.content.decode()


def test_a_profile_language_en_wins_over_a_russian_browser():
    client = admin_as(marketer("anna", timezone="", language="en"))
    response = client.get("/admin/", HTTP_ACCEPT_LANGUAGE="ru")
    assert response["Content-Language"] == "en"
    assert "Выйти" not in response.content.decode()


def test_my_settings_offers_every_iana_zone_and_both_languages():
    response = admin_as(marketer("anna")).get("/admin/my-settings/")
    page = response.content.decode()
    assert response.status_code == 200
    for zone in ("Europe/Moscow", "Asia/Vladivostok", "Europe/Kaliningrad", "UTC"):
        assert f'<option value="{zone}">{zone}</option>' in page
    assert '<option value="ru">Русский</option>' in page
    assert '<option value="en">English</option>' in page
    assert 'href="/admin/my-settings/"' in page  # in the user menu


def test_my_settings_saves_only_the_current_users_profile():
    # given two users, the other one with a profile of their own
    anna = marketer("anna")
    other = marketer("boris", timezone="Europe/Moscow", language="en")
    # when anna saves Vladivostok and Russian on her page
    response = admin_as(anna).post("/admin/my-settings/", {"timezone": "Asia/Vladivostok", "language": "ru",
                                                           "user": other.pk})
    # then her profile holds them, and boris's is unchanged
    assert response.status_code == 302
    assert response["Location"] == "/admin/my-settings/"
    assert UserProfile.objects.filter(user=anna).values_list("timezone", "language").get() == ("Asia/Vladivostok", "ru")
    assert UserProfile.objects.filter(user=other).values_list("timezone", "language").get() == ("Europe/Moscow", "en")
    assert UserProfile.objects.count() == 2


def test_my_settings_refuses_an_unknown_zone_and_changes_nothing():
    anna = marketer("anna", timezone="Europe/Moscow", language="en")
    response = admin_as(anna).post("/admin/my-settings/", {"timezone": "Mars/Olympus", "language": "fr"})
    assert response.status_code == 200
    assert list(response.context["form"].errors) == ["timezone", "language"]
    assert UserProfile.objects.filter(user=anna).values_list("timezone", "language").get() == ("Europe/Moscow", "en")


def test_my_settings_is_for_staff_only():
    person = User.objects.create_user("guest", password="x-secret-123")
    client = Client()
    client.force_login(person)
    response = client.post("/admin/my-settings/", {"timezone": "Asia/Vladivostok", "language": "ru"})
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert UserProfile.objects.count() == 0


def test_the_user_admin_edits_a_users_profile_inline():
    # given an operator allowed to change users, and a user without a profile
    operator = User.objects.create_superuser("root", password="x-secret-123")
    anna = marketer("anna")
    page = admin_as(operator).get(f"/admin/auth/user/{anna.pk}/change/").content.decode()
    assert 'name="tact_profile-0-timezone"' in page
