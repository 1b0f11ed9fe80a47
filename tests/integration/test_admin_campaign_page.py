"""The campaign page as the control centre: buttons per role and status, each a POST that calls
the service (refused without the permission, nothing changed), duplicate, a read-only page past
the draft, human labels, progress."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import Group, Permission, User
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from campaigns.models import Campaign, Delivery, InstallationSettings
from tests.conftest import CampaignFactory, SubscriberFactory, subscribe

pytestmark = pytest.mark.django_db

S = Campaign.Status
BUTTONS = ("schedule", "approve", "reject", "pause", "resume", "cancel", "duplicate")
PRESS = {"_form_submitted": "True"}  # unfold's dialog form: the confirmation, posted


def staff(username: str, group: str) -> User:
    user = User.objects.create_user(username, password="x-secret-123", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    return user


def admin_as(user: User) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def campaign_in(status: str, **fields) -> Campaign:
    campaign = CampaignFactory(**{"name": "BF 2026", **fields})
    Campaign.objects.filter(pk=campaign.pk).update(status=status)
    campaign.refresh_from_db()
    return campaign


def buttons_on(page: str, campaign: Campaign) -> set[str]:
    found = re.findall(rf'href="/admin/campaigns/campaign/{campaign.pk}/(\w+)/"', page)
    return {name for name in found if name in BUTTONS}


def the_form(page: str) -> str:
    return re.search(r'<form[^>]*id="campaign_form".*?</form>', page, re.S).group(0)


def ledger(campaign: Campaign, statuses: dict[str, list[str]]) -> None:
    """Rows of `campaign`'s ledger: {platform: [status, ...]}, one person each."""
    for platform, wanted in statuses.items():
        for status in wanted:
            person = SubscriberFactory()
            Delivery.objects.create(campaign=campaign, subscriber=person, subscription=subscribe(person, platform),
                                    platform=platform, list_number=1, status=status, send_after=campaign.send_at)


MARKETER = {s: {"duplicate"} for s in S.values} | {S.DRAFT: {"schedule", "duplicate"}}
APPROVER = {
    S.DRAFT: {"schedule", "duplicate"},
    S.AWAITING_APPROVAL: {"approve", "reject", "cancel", "duplicate"},
    S.SCHEDULED: {"pause", "cancel", "duplicate"},
    S.RUNNING: {"pause", "cancel", "duplicate"},
    S.PAUSED: {"resume", "cancel", "duplicate"},
    S.COMPLETED: {"duplicate"},
    S.CANCELLED: {"duplicate"},
}
EXPECTED = {"Marketer": MARKETER, "Approver": APPROVER,
            "Analyst": {s: set() for s in S.values}, "Operator": {s: set() for s in S.values}}


@pytest.mark.parametrize("status", S.values)
@pytest.mark.parametrize("role", list(EXPECTED))
def test_each_role_sees_exactly_the_buttons_its_permissions_and_the_status_allow(role, status):
    # given
    campaign = campaign_in(status)

    # when
    page = admin_as(staff("someone", role)).get(f"/admin/campaigns/campaign/{campaign.pk}/change/")

    # then
    assert page.status_code == 200
    assert buttons_on(page.content.decode(), campaign) == EXPECTED[role][status]


@pytest.mark.parametrize(("button", "before", "after", "data"), [
    ("schedule", S.DRAFT, S.SCHEDULED, {}),
    ("approve", S.AWAITING_APPROVAL, S.SCHEDULED, {}),
    ("reject", S.AWAITING_APPROVAL, S.DRAFT, {"reason": "Use the VIP segment"}),
    ("pause", S.SCHEDULED, S.PAUSED, {}),
    ("resume", S.PAUSED, S.SCHEDULED, {}),
    ("cancel", S.RUNNING, S.CANCELLED, {}),
])
def test_each_button_posted_does_its_transition_as_the_user(button, before, after, data):
    # given: submitted by someone else, so that another user may approve it
    ada = staff("ada", "Approver")
    campaign = campaign_in(before, submitted_by=staff("mia", "Marketer"))

    # when
    answer = admin_as(ada).post(f"/admin/campaigns/campaign/{campaign.pk}/{button}/", {**PRESS, **data})

    # then
    assert answer.status_code == 302
    assert answer["Location"] == f"/admin/campaigns/campaign/{campaign.pk}/change/"
    assert Campaign.objects.get(pk=campaign.pk).status == after
    entry = LogEntry.objects.get_for_object(campaign).order_by("-pk").first()
    assert entry.actor == ada


def test_the_dialog_asks_first_a_get_changes_nothing():
    # given
    campaign = campaign_in(S.SCHEDULED)

    # when
    answer = admin_as(staff("ada", "Approver")).get(f"/admin/campaigns/campaign/{campaign.pk}/pause/")

    # then
    assert answer.status_code == 200
    assert "Pause this campaign?" in answer.content.decode()
    assert Campaign.objects.get(pk=campaign.pk).status == S.SCHEDULED


def test_a_reject_without_a_reason_is_asked_again_and_changes_nothing():
    # given
    campaign = campaign_in(S.AWAITING_APPROVAL, submitted_by=staff("mia", "Marketer"))

    # when
    answer = admin_as(staff("ada", "Approver")).post(f"/admin/campaigns/campaign/{campaign.pk}/reject/",
                                                     {**PRESS, "reason": ""})

    # then
    assert answer.status_code == 200
    assert "This field is required." in answer.content.decode()
    assert Campaign.objects.get(pk=campaign.pk).status == S.AWAITING_APPROVAL


@pytest.mark.parametrize(("role", "button", "status"), [
    ("Marketer", "pause", S.SCHEDULED),
    ("Marketer", "cancel", S.SCHEDULED),
    ("Marketer", "approve", S.AWAITING_APPROVAL),
    ("Marketer", "reject", S.AWAITING_APPROVAL),
    ("Marketer", "resume", S.PAUSED),
    ("Analyst", "schedule", S.DRAFT),
    ("Analyst", "duplicate", S.COMPLETED),
    ("Operator", "cancel", S.RUNNING),
])
def test_a_button_posted_without_its_permission_is_refused_and_changes_nothing(role, button, status, db_state):
    # given
    campaign = campaign_in(status)
    before = db_state()

    # when
    answer = admin_as(staff("someone", role)).post(f"/admin/campaigns/campaign/{campaign.pk}/{button}/",
                                                   {**PRESS, "reason": "no"})

    # then
    assert answer.status_code == 403
    assert db_state() == before


def test_a_refusal_of_the_service_is_shown_as_a_message_and_changes_nothing(settings):
    # given: ada submitted it herself
    settings.TACT_REQUIRE_APPROVAL = True
    ada = staff("ada", "Approver")
    campaign = campaign_in(S.AWAITING_APPROVAL, submitted_by=ada)

    # when
    answer = admin_as(ada).post(f"/admin/campaigns/campaign/{campaign.pk}/approve/", PRESS, follow=True)

    # then
    assert "“BF 2026”: ada submitted this campaign; another user must approve it" in answer.content.decode()
    assert Campaign.objects.get(pk=campaign.pk).status == S.AWAITING_APPROVAL


def test_a_button_of_another_status_is_refused_by_the_service_with_a_message():
    # given: the page was open while someone else cancelled it
    campaign = campaign_in(S.CANCELLED)

    # when
    answer = admin_as(staff("ada", "Approver")).post(f"/admin/campaigns/campaign/{campaign.pk}/pause/", PRESS,
                                                     follow=True)

    # then
    assert "“BF 2026”: a cancelled campaign cannot be paused" in answer.content.decode()
    assert Campaign.objects.get(pk=campaign.pk).status == S.CANCELLED


def test_duplicate_makes_a_draft_copy_and_opens_it():
    # given: a finished campaign whose send time is past
    mia = staff("mia", "Marketer")
    sent = datetime(2026, 1, 10, 9, 30, tzinfo=UTC)
    campaign = campaign_in(S.COMPLETED, platforms=["telegram", "viber"], send_at=sent, local_time=True,
                           expires_at=sent + timedelta(hours=6))

    # when
    answer = admin_as(mia).post(f"/admin/campaigns/campaign/{campaign.pk}/duplicate/", PRESS)

    # then
    copy = Campaign.objects.exclude(pk=campaign.pk).get()
    assert answer.status_code == 302
    assert answer["Location"] == f"/admin/campaigns/campaign/{copy.pk}/change/"
    assert (copy.name, copy.status, copy.draft_id, copy.segment_id, copy.platforms, copy.local_time, copy.created_by) == (
        "BF 2026 (copy)", S.DRAFT, campaign.draft_id, campaign.segment_id, ["telegram", "viber"], True, mia)
    assert copy.send_at > timezone.now() + timedelta(hours=1)
    assert copy.send_at - timezone.now() <= timedelta(days=1, hours=1)
    assert (copy.send_at - sent) % timedelta(days=1) == timedelta(0)
    assert copy.expires_at - copy.send_at == timedelta(hours=6)
    assert Campaign.objects.get(pk=campaign.pk).status == S.COMPLETED


def test_duplicate_keeps_a_send_time_still_ahead():
    # given
    campaign = campaign_in(S.SCHEDULED, send_at=datetime(2030, 1, 1, 9, 0, tzinfo=UTC))

    # when
    admin_as(staff("mia", "Marketer")).post(f"/admin/campaigns/campaign/{campaign.pk}/duplicate/", PRESS)

    # then
    copy = Campaign.objects.exclude(pk=campaign.pk).get()
    assert (copy.status, copy.send_at, copy.expires_at) == (S.DRAFT, campaign.send_at, None)


def test_the_api_duplicates_with_add_campaign_and_refuses_without_it(db_state):
    # given
    campaign = campaign_in(S.COMPLETED)
    marketer, analyst = APIClient(), APIClient()
    marketer.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=staff('mia', 'Marketer')).key}")
    analyst.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=staff('ann', 'Analyst')).key}")
    before = db_state()

    # when
    refused = analyst.post(f"/api/campaigns/{campaign.pk}/duplicate/")
    unchanged = db_state()
    made = marketer.post(f"/api/campaigns/{campaign.pk}/duplicate/")

    # then
    assert refused.status_code == 403
    assert unchanged == before
    assert made.status_code == 201
    assert (made.json()["name"], made.json()["status"], made.json()["created_by"]) == ("BF 2026 (copy)", "draft", "mia")


@pytest.mark.parametrize("status", [S.AWAITING_APPROVAL, S.SCHEDULED, S.RUNNING, S.PAUSED, S.COMPLETED, S.CANCELLED])
def test_a_campaign_past_its_draft_is_shown_without_save_or_inputs(status):
    # given: an Approver may change campaigns
    campaign = campaign_in(status)

    # when
    page = admin_as(staff("ada", "Approver")).get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()

    # then
    form = the_form(page)
    assert 'name="_save"' not in page and 'name="_continue"' not in page and 'name="_addanother"' not in page
    assert re.findall(r"<input[^>]*>", form) == [i for i in re.findall(r"<input[^>]*>", form) if 'type="hidden"' in i]
    assert "<select" not in form and "<textarea" not in form
    assert f"/admin/campaigns/campaign/{campaign.pk}/delete/" not in page


def test_a_draft_is_edited_with_save():
    # given
    campaign = campaign_in(S.DRAFT)

    # when
    page = admin_as(staff("mia", "Marketer")).get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()

    # then
    assert 'name="_save"' in page
    assert 'name="name"' in the_form(page) and 'name="platforms"' in the_form(page)


def test_a_non_draft_is_not_changed_by_a_posted_form():
    # given
    campaign = campaign_in(S.SCHEDULED)

    # when
    answer = admin_as(staff("ada", "Approver")).post(f"/admin/campaigns/campaign/{campaign.pk}/change/",
                                                     {"name": "Renamed", "_save": "Save"})

    # then
    assert answer.status_code == 403
    assert Campaign.objects.get(pk=campaign.pk).name == "BF 2026"


def test_the_page_shows_platforms_stats_progress_and_who_was_left_out_in_words():
    # given
    campaign = campaign_in(S.RUNNING, platforms=["telegram", "whatsapp", "viber"])
    ledger(campaign, {"telegram": ["sent", "read", "planned", "held"], "whatsapp": ["failed", "skipped"],
                      "viber": ["delivered", "uncertain"]})

    # when
    page = admin_as(staff("ann", "Analyst")).get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()

    # then
    assert "Telegram, WhatsApp, Viber" in page
    assert '["telegram"' not in page and "opted_out_48h" not in page and "OPTED_OUT" not in page
    assert "<th>opted out within 48 h</th>" in page and "<th>held back (frequency cap, quiet hours)</th>" in page
    assert "6 of 8 · 75%" in page  # sent 3 (read, delivered included) + failed + skipped + uncertain, of 8
    # planned, sent, delivered, read, clicked, failed, held, skipped, uncertain
    assert ("<td>Telegram</td><td>4</td><td>2</td><td>1</td><td>1</td><td>0</td><td>0</td><td>1</td><td>0</td>"
            "<td>0</td>") in page
    assert ("<td>WhatsApp</td><td>2</td><td>0</td><td>0</td><td>0</td><td>0</td><td>1</td><td>0</td><td>1</td>"
            "<td>0</td>") in page
    left_out = f"/admin/campaigns/delivery/?campaign__id__exact={campaign.pk}&amp;status__in=skipped,held,failed"
    assert f"<a href='{left_out}'>Who was left out and why</a>" in page


def test_who_was_left_out_lists_the_skipped_held_and_failed_rows_of_the_campaign():
    # given
    campaign = campaign_in(S.RUNNING, platforms=["telegram", "whatsapp"])
    ledger(campaign, {"telegram": ["sent", "held", "planned"], "whatsapp": ["failed", "skipped", "read"]})
    ledger(campaign_in(S.RUNNING), {"telegram": ["failed"]})

    # when
    page = admin_as(staff("ann", "Analyst")).get(
        "/admin/campaigns/delivery/", {"campaign__id__exact": campaign.pk, "status__in": "skipped,held,failed"})

    # then
    left_out = Delivery.objects.filter(campaign=campaign, status__in=["skipped", "held", "failed"])
    assert page.status_code == 200
    assert set(re.findall(r"/admin/campaigns/delivery/(\d+)/change/", page.content.decode())) == {
        str(pk) for pk in left_out.values_list("pk", flat=True)}
    assert left_out.count() == 3


def test_the_forecast_is_on_the_page_before_sending():
    # given
    campaign = campaign_in(S.SCHEDULED)
    for _ in range(2):
        subscribe(SubscriberFactory(), "telegram")

    # when
    page = admin_as(staff("ann", "Analyst")).get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()

    # then
    assert "<strong>2</strong> will receive it" in page
    assert "<td>telegram</td><td>2</td><td>1</td>" in page


def test_the_list_shows_progress_as_one_bar():
    # given
    campaign = campaign_in(S.RUNNING)
    ledger(campaign, {"telegram": ["sent", "planned", "planned", "failed"]})

    # when
    page = admin_as(staff("ann", "Analyst")).get("/admin/campaigns/campaign/").content.decode()

    # then
    assert "2 of 4 · 50%" in page
    assert "planned / sent / failed" not in page


def test_the_home_page_shows_campaigns_sending_now_and_next():
    # given
    running = campaign_in(S.RUNNING)
    ledger(running, {"telegram": ["sent", "planned"]})
    campaign_in(S.SCHEDULED, name="Spring sale")

    # when
    page = admin_as(staff("ann", "Analyst")).get("/admin/").content.decode()

    # then
    assert "Sending now" in page and "1 of 2 · 50%" in page
    assert "Spring sale" in page


SIDEBAR = ["Subscribers", "Subscriptions", "Consent events", "Tags", "Import jobs", "Segments", "Drafts",
           "WhatsApp templates", "Campaigns",
           "Deliveries", "Send lists", "Test sends", "Brand channels", "Channel posts", "Content calendar",
           "System status", "Frequency policy and quiet hours", "Installation settings", "Sender accounts",
           "Audit log", "Users", "Groups", "API tokens", "Login attempts", "Sandbox outbox"]


def sidebar_links(page: str) -> list[tuple[str, str]]:
    """(url, title) of the sidebar's groups, before its "All applications"."""
    start = page.index('id="nav-sidebar-apps"')
    nav = page[start:page.index("All applications", start)]
    return re.findall(r'<a href="(/admin/[^"]*)"[^>]*>\s*<span[^>]*>\s*\w+\s*</span>\s*<span>([^<]+)</span>', nav)


def sidebar_of(page: str) -> list[str]:
    return [title for _, title in sidebar_links(page)]


@pytest.mark.parametrize(("role", "shown"), [
    ("Marketer", ["Subscribers", "Subscriptions", "Consent events", "Tags", "Import jobs", "Segments", "Drafts",
                  "WhatsApp templates", "Campaigns", "Deliveries", "Send lists", "Test sends",
                  "Brand channels", "Channel posts", "Content calendar", "Frequency policy and quiet hours",
                  "Sender accounts"]),
    ("Analyst", ["Subscribers", "Subscriptions", "Tags", "Segments", "Drafts", "WhatsApp templates", "Campaigns",
                 "Deliveries", "Send lists", "Test sends", "Brand channels", "Channel posts", "Content calendar",
                 "Frequency policy and quiet hours", "Sender accounts"]),
])
def test_the_sidebar_shows_each_role_the_pages_it_may_view(role, shown):
    # when
    page = admin_as(staff("someone", role)).get("/admin/").content.decode()

    # then
    assert sidebar_of(page) == shown


def test_the_sidebar_shows_a_superuser_every_page_and_each_opens():
    # given
    boss = admin_as(User.objects.create_superuser("boss", password="x-secret-123"))

    # when
    page = boss.get("/admin/").content.decode()

    # then
    assert sidebar_of(page) == SIDEBAR
    for url, _ in sidebar_links(page):
        assert boss.get(url, follow=True).status_code == 200, url


def test_installation_settings_open_as_one_page_for_an_operator_who_may_change_them():
    # given: migration 0010 (the lead's) grants these to existing Operator groups
    operator = staff("olga", "Operator")
    operator.user_permissions.add(*Permission.objects.filter(codename__in=[
        "view_installationsettings", "change_installationsettings"]))

    # when
    client = admin_as(operator)
    listing = client.get("/admin/campaigns/installationsettings/")
    saved = client.post("/admin/campaigns/installationsettings/1/change/", {"default_phone_region": "ru"})

    # then
    assert (listing.status_code, listing["Location"]) == (302, "/admin/campaigns/installationsettings/1/change/")
    assert saved.status_code == 302
    assert InstallationSettings.current().default_phone_region == "RU"
    assert admin_as(staff("mia", "Marketer")).get("/admin/campaigns/installationsettings/1/change/").status_code == 403


def test_delete_selected_in_the_list_refuses_a_campaign_past_draft(db, django_user_model):
    # given: a running campaign and a draft, both selected
    user = django_user_model.objects.create_user("del-marketer", password="x-secret-123", is_staff=True)
    user.groups.add(Group.objects.get(name="Marketer"))
    running, draft = CampaignFactory(), CampaignFactory()
    Campaign.objects.filter(pk=running.pk).update(status=Campaign.Status.RUNNING)
    client = Client()
    client.force_login(user)

    # when: the deletion is confirmed
    response = client.post("/admin/campaigns/campaign/", {"action": "delete_selected", "post": "yes",
                                                           "_selected_action": [running.pk, draft.pk]})

    # then: nothing is deleted, and the page says which one stands in the way
    assert response.status_code == 200
    assert "cancel it instead" in response.content.decode()
    assert set(Campaign.objects.values_list("pk", flat=True)) == {running.pk, draft.pk}
