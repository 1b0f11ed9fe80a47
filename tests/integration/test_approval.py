"""Maker-checker (TACT_REQUIRE_APPROVAL): draft -> awaiting approval -> scheduled, approved by
another user; editing the content after approval withdraws it; the engine never starts a
campaign that waits for approval. Through the API with tokens and the admin with sessions,
as users put in the real groups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import Group, User
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from campaigns import delivery
from campaigns.models import Campaign
from tests.conftest import CampaignFactory, DraftFactory

pytestmark = pytest.mark.django_db

SEND_AT = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
BODY = "−30% on everything today only\nDetails inside…"
BUTTONS = [{"text": "Shop", "url": "https://example.com"}]


def staff(django_user_model: type[User], username: str, group: str) -> User:
    user = django_user_model.objects.create_user(username, password="x-secret-123", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    return user


def api_as(user: User) -> APIClient:
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def admin_as(user: User) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


@pytest.fixture
def approval(settings):
    settings.TACT_REQUIRE_APPROVAL = True
    return settings


@pytest.fixture
def mia(django_user_model) -> User:
    return staff(django_user_model, "mia", "Marketer")


@pytest.fixture
def max_(django_user_model) -> User:
    return staff(django_user_model, "max", "Marketer")


@pytest.fixture
def ada(django_user_model) -> User:
    return staff(django_user_model, "ada", "Approver")


@pytest.fixture
def abe(django_user_model) -> User:
    return staff(django_user_model, "abe", "Approver")


@pytest.fixture
def campaign() -> Campaign:
    return CampaignFactory(name="BF 2026", draft=DraftFactory(title="Black Friday", body=BODY, buttons=BUTTONS),
                           send_at=SEND_AT)


def approval_state(campaign: Campaign) -> tuple:
    """What an approval step changes, read back from the database."""
    c = Campaign.objects.get(pk=campaign.pk)
    return (c.status, c.submitted_by_id, c.submitted_at, c.approved_by_id, c.approved_at, c.scheduled_at,
            c.content_title, c.content_body, c.content_buttons)


def submit(client: APIClient, campaign: Campaign) -> dict:
    response = client.post(f"/api/campaigns/{campaign.pk}/schedule/")
    assert (response.status_code, response.json()["status"]) == (200, "awaiting_approval")
    return response.json()


# --- approval off: as before ------------------------------------------------------------


def test_without_approval_a_marketers_schedule_goes_straight_to_scheduled(settings, mia, campaign):
    # given
    settings.TACT_REQUIRE_APPROVAL = False

    # when
    response = api_as(mia).post(f"/api/campaigns/{campaign.pk}/schedule/")

    # then
    body = response.json()
    assert response.status_code == 200
    assert (body["status"], body["submitted_by"], body["submitted_at"], body["approved_by"], body["approved_at"]) == (
        "scheduled", None, None, None, None)
    assert body["content"] == {"title": "Black Friday", "body": BODY, "buttons": BUTTONS, "whatsapp_template": None,
                               "track_links": True, "track_body_links": False}
    assert body["scheduled_at"] is not None
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.SCHEDULED


def test_the_setting_is_read_when_scheduling_not_when_the_code_was_loaded(settings, mia):
    # given: the same process, the setting switched between two schedules
    first, second = CampaignFactory(), CampaignFactory()
    client = api_as(mia)

    # when
    settings.TACT_REQUIRE_APPROVAL = True
    on = client.post(f"/api/campaigns/{first.pk}/schedule/").json()["status"]
    settings.TACT_REQUIRE_APPROVAL = False
    off = client.post(f"/api/campaigns/{second.pk}/schedule/").json()["status"]

    # then
    assert (on, off) == ("awaiting_approval", "scheduled")


# --- approval on ------------------------------------------------------------------------


def test_with_approval_a_marketers_schedule_awaits_approval_with_its_content_frozen(approval, mia, campaign):
    # when
    before = timezone.now()
    response = api_as(mia).post(f"/api/campaigns/{campaign.pk}/schedule/")

    # then
    body = response.json()
    assert response.status_code == 200
    assert (body["status"], body["submitted_by"], body["approved_by"], body["approved_at"], body["scheduled_at"]) == (
        "awaiting_approval", "mia", None, None, None)
    assert body["content"] == {"title": "Black Friday", "body": BODY, "buttons": BUTTONS, "whatsapp_template": None,
                               "track_links": True, "track_body_links": False}
    stored = Campaign.objects.get(pk=campaign.pk)
    assert (stored.status, stored.submitted_by, stored.content_body) == (Campaign.Status.AWAITING_APPROVAL, mia, BODY)
    assert before <= stored.submitted_at <= timezone.now()


def test_with_approval_scheduling_still_refuses_what_scheduling_refuses(approval, mia, db_state):
    # given
    campaign = CampaignFactory(send_at=datetime(2020, 1, 1, 9, 0, tzinfo=UTC))
    before = db_state()

    # when
    response = api_as(mia).post(f"/api/campaigns/{campaign.pk}/schedule/")

    # then
    assert response.status_code == 400
    assert list(response.json()) == ["send_at"]
    assert db_state() == before
    assert approval_state(campaign)[:3] == (Campaign.Status.DRAFT, None, None)


def test_an_approver_cannot_approve_what_they_submitted(approval, ada, campaign, db_state):
    # given: an approver asks for scheduling, then approves it themselves
    client = api_as(ada)
    submit(client, campaign)
    before, state, entries = db_state(), approval_state(campaign), LogEntry.objects.count()

    # when
    response = client.post(f"/api/campaigns/{campaign.pk}/approve/")

    # then
    assert response.status_code == 400
    assert response.json() == {"approved_by": ["ada submitted this campaign; another user must approve it"]}
    assert db_state() == before
    assert approval_state(campaign) == state
    assert LogEntry.objects.count() == entries


def test_another_approver_approves_and_the_campaign_is_scheduled(approval, mia, ada, campaign):
    # given
    submit(api_as(mia), campaign)

    # when
    before = timezone.now()
    response = api_as(ada).post(f"/api/campaigns/{campaign.pk}/approve/")

    # then
    body = response.json()
    assert response.status_code == 200
    assert (body["status"], body["submitted_by"], body["approved_by"]) == ("scheduled", "mia", "ada")
    assert body["content"] == {"title": "Black Friday", "body": BODY, "buttons": BUTTONS, "whatsapp_template": None,
                               "track_links": True, "track_body_links": False}
    stored = Campaign.objects.get(pk=campaign.pk)
    assert (stored.status, stored.approved_by) == (Campaign.Status.SCHEDULED, ada)
    assert before <= stored.approved_at == stored.scheduled_at <= timezone.now()


@pytest.mark.parametrize(("action", "payload"), [("approve", {}), ("reject", {"reason": "wrong segment"})])
def test_a_marketer_without_approve_campaign_gets_403(approval, mia, max_, campaign, db_state, action, payload):
    # given: mia submits; max is a marketer too
    submit(api_as(mia), campaign)
    before, state, entries = db_state(), approval_state(campaign), LogEntry.objects.count()

    # when
    response = api_as(max_).post(f"/api/campaigns/{campaign.pk}/{action}/", payload, format="json")

    # then
    assert response.status_code == 403
    assert db_state() == before
    assert approval_state(campaign) == state
    assert LogEntry.objects.count() == entries


def test_an_approval_after_send_at_has_passed_is_refused(approval, mia, ada, campaign):
    # given: submitted in time, approved too late
    submit(api_as(mia), campaign)
    past = timezone.now() - timedelta(minutes=5)
    Campaign.objects.filter(pk=campaign.pk).update(send_at=past)
    state = approval_state(campaign)

    # when
    response = api_as(ada).post(f"/api/campaigns/{campaign.pk}/approve/")

    # then
    assert response.status_code == 400
    assert list(response.json()) == ["send_at"]
    assert response.json()["send_at"][0].startswith(f"send_at {past:%Y-%m-%d %H:%M} UTC is in the past")
    assert approval_state(campaign) == state


def test_only_a_campaign_awaiting_approval_can_be_approved(approval, ada, campaign):
    # when: still a draft
    response = api_as(ada).post(f"/api/campaigns/{campaign.pk}/approve/")

    # then
    assert response.status_code == 400
    assert response.json() == {"non_field_errors": ["only a campaign awaiting approval can be approved; this one is draft"]}
    assert approval_state(campaign)[0] == Campaign.Status.DRAFT


def test_reject_sends_it_back_to_draft_with_the_reason_in_the_audit_log(approval, mia, ada, campaign):
    # given
    submit(api_as(mia), campaign)

    # when
    response = api_as(ada).post(f"/api/campaigns/{campaign.pk}/reject/", {"reason": "wrong segment"}, format="json")

    # then
    body = response.json()
    assert response.status_code == 200
    assert (body["status"], body["submitted_by"], body["submitted_at"], body["approved_by"], body["content"]) == (
        "draft", None, None, None, None)
    entry = LogEntry.objects.get(object_pk=str(campaign.pk), additional_data__verb="rejected")
    assert (entry.actor, entry.additional_data["reason"]) == (ada, "wrong segment")


def test_a_reject_without_a_reason_is_refused(approval, mia, ada, campaign):
    # given
    submit(api_as(mia), campaign)
    state = approval_state(campaign)

    # when
    responses = [api_as(ada).post(f"/api/campaigns/{campaign.pk}/reject/", payload, format="json")
                 for payload in ({}, {"reason": "  "})]

    # then
    assert [(r.status_code, r.json()) for r in responses] == [
        (400, {"reason": ["This field is required."]}),
        (400, {"reason": ["This field may not be blank."]}),
    ]
    assert approval_state(campaign) == state


def test_a_campaign_awaiting_approval_can_be_cancelled(approval, mia, ada, campaign):
    # given
    submit(api_as(mia), campaign)

    # when
    response = api_as(ada).post(f"/api/campaigns/{campaign.pk}/cancel/")

    # then
    assert (response.status_code, response.json()["status"]) == (200, "cancelled")


def test_a_campaign_awaiting_approval_cannot_be_edited_or_deleted(approval, mia, campaign):
    # given
    client = api_as(mia)
    submit(client, campaign)
    state = approval_state(campaign)

    # when
    edited = client.patch(f"/api/campaigns/{campaign.pk}/", {"name": "Renamed"}, format="json")
    deleted = client.delete(f"/api/campaigns/{campaign.pk}/")

    # then
    assert (edited.status_code, edited.json()) == (400, {"status": ["a awaiting_approval campaign cannot be edited"]})
    assert (deleted.status_code, deleted.json()) == (
        400, {"status": ["a awaiting_approval campaign is kept; cancel it instead"]})
    assert approval_state(campaign) == state
    assert Campaign.objects.get(pk=campaign.pk).name == "BF 2026"


def test_a_campaign_created_through_the_api_names_its_creator(mia):
    # given
    draft = DraftFactory()
    segment = CampaignFactory().segment

    # when
    response = api_as(mia).post("/api/campaigns/", {"name": "New", "draft": draft.pk, "segment": segment.pk,
                                                     "platforms": ["telegram"], "send_at": "2030-01-01T09:00:00Z"},
                                format="json")

    # then
    assert (response.status_code, response.json()["created_by"]) == (201, "mia")
    assert Campaign.objects.get(pk=response.json()["id"]).created_by == mia


# --- editing the content withdraws the approval ---------------------------------------------


def test_editing_the_draft_after_approval_withdraws_it_and_refreshes_the_content(approval, mia, ada, campaign):
    # given: submitted by mia, approved by ada
    submit(api_as(mia), campaign)
    assert api_as(ada).post(f"/api/campaigns/{campaign.pk}/approve/").status_code == 200

    # when: mia edits the draft
    edited = api_as(mia).patch(f"/api/drafts/{campaign.draft_id}/", {"body": "−50% today\nNew details"},
                               format="json")

    # then
    assert edited.status_code == 200
    body = api_as(ada).get(f"/api/campaigns/{campaign.pk}/").json()
    assert (body["status"], body["submitted_by"], body["approved_by"], body["approved_at"], body["scheduled_at"]) == (
        "awaiting_approval", "mia", None, None, None)
    assert body["content"] == {"title": "Black Friday", "body": "−50% today\nNew details", "buttons": BUTTONS,
                               "whatsapp_template": None, "track_links": True, "track_body_links": False}
    entry = LogEntry.objects.get(object_pk=str(campaign.pk), additional_data__verb="approval withdrawn")
    assert entry.actor == mia
    assert entry.changes == {"status": ["scheduled", "awaiting_approval"], "approved_by": ["ada", None],
                             "submitted_by": ["mia", "mia"], "content_body": [BODY, "−50% today\nNew details"]}

    # and: ada approves the new content
    again = api_as(ada).post(f"/api/campaigns/{campaign.pk}/approve/")
    assert (again.status_code, again.json()["status"], again.json()["content"]["body"]) == (
        200, "scheduled", "−50% today\nNew details")


def test_whoever_edits_the_content_cannot_approve_their_own_edit(approval, mia, ada, abe, campaign):
    # given: mia submits, ada approves, then ada edits the draft
    submit(api_as(mia), campaign)
    assert api_as(ada).post(f"/api/campaigns/{campaign.pk}/approve/").status_code == 200
    assert api_as(ada).patch(f"/api/drafts/{campaign.draft_id}/", {"title": "Ada's title"},
                             format="json").status_code == 200

    # when
    own = api_as(ada).post(f"/api/campaigns/{campaign.pk}/approve/")
    other = api_as(abe).post(f"/api/campaigns/{campaign.pk}/approve/")

    # then
    assert (own.status_code, own.json()) == (400, {"approved_by": ["ada submitted this campaign; another user must "
                                                                    "approve it"]})
    assert (other.status_code, other.json()["approved_by"], other.json()["content"]["title"]) == (
        200, "abe", "Ada's title")


def test_editing_the_draft_while_awaiting_approval_refreshes_what_the_approver_sees(approval, mia, campaign):
    # given
    submit(api_as(mia), campaign)

    # when
    api_as(mia).patch(f"/api/drafts/{campaign.draft_id}/", {"buttons": []}, format="json")

    # then
    stored = Campaign.objects.get(pk=campaign.pk)
    assert (stored.status, stored.content_buttons, stored.submitted_by) == (Campaign.Status.AWAITING_APPROVAL, [], mia)


def test_an_edit_that_changes_nothing_sent_keeps_the_approval(approval, mia, ada, campaign):
    # given
    submit(api_as(mia), campaign)
    api_as(ada).post(f"/api/campaigns/{campaign.pk}/approve/")
    state = approval_state(campaign)

    # when: the same title and body written again
    response = api_as(mia).patch(f"/api/drafts/{campaign.draft_id}/", {"title": "Black Friday", "body": BODY},
                                 format="json")

    # then
    assert response.status_code == 200
    assert approval_state(campaign) == state
    assert not LogEntry.objects.filter(additional_data__verb="approval withdrawn").exists()


def test_a_campaign_scheduled_before_approval_was_required_keeps_its_frozen_content(settings, mia, campaign):
    # given: scheduled without approval, then approval switched on
    settings.TACT_REQUIRE_APPROVAL = False
    api_as(mia).post(f"/api/campaigns/{campaign.pk}/schedule/")
    settings.TACT_REQUIRE_APPROVAL = True
    state = approval_state(campaign)

    # when
    api_as(mia).patch(f"/api/drafts/{campaign.draft_id}/", {"body": "Changed\nbody"}, format="json")

    # then
    assert approval_state(campaign) == state
    assert state[0] == Campaign.Status.SCHEDULED


def test_editing_the_draft_in_the_admin_after_approval_withdraws_it(approval, mia, ada, campaign):
    # given
    submit(api_as(mia), campaign)
    api_as(ada).post(f"/api/campaigns/{campaign.pk}/approve/")

    # when
    page = admin_as(mia).post(f"/admin/campaigns/draft/{campaign.draft_id}/change/", {
        "title": "Black Friday", "body": "Edited in the admin\nDetails",
        "buttons-text": [b["text"] for b in BUTTONS], "buttons-url": [b["url"] for b in BUTTONS],
    }, follow=True)

    # then
    assert page.status_code == 200
    assert "Approval withdrawn, awaiting approval again with the new content: “BF 2026”" in page.content.decode()
    stored = Campaign.objects.get(pk=campaign.pk)
    assert (stored.status, stored.approved_by, stored.approved_at, stored.submitted_by, stored.content_body) == (
        Campaign.Status.AWAITING_APPROVAL, None, None, mia, "Edited in the admin\nDetails")


# --- the engine -------------------------------------------------------------------------------


def test_the_engine_never_starts_a_campaign_awaiting_approval(approval, mia, campaign):
    # given: one awaiting approval and one scheduled (approval off then), both due
    submit(api_as(mia), campaign)
    approval.TACT_REQUIRE_APPROVAL = False
    scheduled = CampaignFactory(name="Approved earlier")
    api_as(mia).post(f"/api/campaigns/{scheduled.pk}/schedule/")
    Campaign.objects.filter(pk__in=[campaign.pk, scheduled.pk]).update(send_at=timezone.now() - timedelta(minutes=1))
    enqueued: list[int] = []

    # when
    started = delivery.campaigns_start_due(now=timezone.now(), enqueue_plan=enqueued.append)

    # then
    assert started == [scheduled.pk]
    stored = Campaign.objects.get(pk=campaign.pk)
    assert (stored.status, stored.started_at) == (Campaign.Status.AWAITING_APPROVAL, None)
    assert not stored.deliveries.exists()


# --- the admin ---------------------------------------------------------------------------------


def post_action(client: Client, action: str, campaign: Campaign, **extra: str) -> str:
    page = client.post("/admin/campaigns/campaign/", {"action": action, "_selected_action": [campaign.pk], **extra},
                       follow=True)
    assert page.status_code == 200
    return page.content.decode()


def test_admin_schedule_with_approval_awaits_approval(approval, mia, campaign):
    # when
    page = post_action(admin_as(mia), "schedule", campaign)

    # then
    assert "“BF 2026” awaits approval by another user." in page
    assert approval_state(campaign)[:2] == (Campaign.Status.AWAITING_APPROVAL, mia.pk)


def test_admin_approve_by_the_submitter_is_refused_with_a_message(approval, ada, campaign):
    # given
    client = admin_as(ada)
    post_action(client, "schedule", campaign)
    state = approval_state(campaign)

    # when
    page = post_action(client, "approve", campaign)

    # then
    assert "“BF 2026” not approved: ada submitted this campaign; another user must approve it" in page
    assert approval_state(campaign) == state


def test_admin_approve_by_another_user_schedules(approval, mia, ada, campaign):
    # given
    post_action(admin_as(mia), "schedule", campaign)

    # when
    page = post_action(admin_as(ada), "approve", campaign)

    # then
    assert "“BF 2026” approved, scheduled for 2030-01-01 09:00 UTC." in page
    stored = Campaign.objects.get(pk=campaign.pk)
    assert (stored.status, stored.approved_by) == (Campaign.Status.SCHEDULED, ada)
    change = admin_as(mia).get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()
    assert "submitted by mia at" in change and "approved by ada at" in change


def test_admin_reject_asks_why_then_sends_back_to_draft(approval, mia, ada, campaign):
    # given
    post_action(admin_as(mia), "schedule", campaign)
    client = admin_as(ada)

    # when
    form = post_action(client, "reject", campaign)
    blank = post_action(client, "reject", campaign, reason="")
    state = approval_state(campaign)
    done = post_action(client, "reject", campaign, reason="Use the VIP segment")

    # then
    assert "Reject campaigns awaiting approval" in form and 'name="reason"' in form
    assert "This field is required." in blank
    assert state[0] == Campaign.Status.AWAITING_APPROVAL
    assert "“BF 2026” rejected: back to draft." in done
    assert approval_state(campaign)[:3] == (Campaign.Status.DRAFT, None, None)
    change = admin_as(mia).get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()
    assert "Use the VIP segment" in change


def test_a_marketer_has_no_approve_or_reject_action_in_the_admin(approval, mia, max_, campaign):
    # given
    post_action(admin_as(mia), "schedule", campaign)
    state = approval_state(campaign)
    client = admin_as(max_)

    # when
    listing = client.get("/admin/campaigns/campaign/").content.decode()
    page = post_action(client, "approve", campaign)

    # then
    assert 'value="schedule"' in listing
    assert 'value="approve"' not in listing and 'value="reject"' not in listing
    assert "No action selected." in page
    assert approval_state(campaign) == state
