"""The audit log: each verb is one entry with its actor, before and after (token API, admin
session, the person through the bot); the admin page lists and filters it and changes
nothing; PostgreSQL keeps it append-only."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
from auditlog.models import LogEntry
from django.contrib import admin
from django.contrib.auth.models import Group, User
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, connection, transaction
from django.db.models import Max
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from campaigns.admin.audit import AuditLogAdmin, verb_of
from campaigns.models import Campaign, Draft, Subscription
from tests.conftest import CampaignFactory, DraftFactory, SubscriberFactory, subscribe

pytestmark = pytest.mark.django_db

BODY = "−30% on everything today only\nDetails inside…"
TG_SECRET = "tg-webhook_Secret-42"
CHAT = 700100200


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
def mia(django_user_model) -> User:
    return staff(django_user_model, "mia", "Marketer")


@pytest.fixture
def ada(django_user_model) -> User:
    return staff(django_user_model, "ada", "Approver")


@pytest.fixture
def olga(django_user_model) -> User:
    return staff(django_user_model, "olga", "Operator")


@pytest.fixture
def campaign() -> Campaign:
    return CampaignFactory(name="BF 2026", draft=DraftFactory(title="Black Friday", body=BODY))


def mark() -> int:
    return LogEntry.objects.aggregate(last=Max("pk"))["last"] or 0


def entries_since(since: int) -> list[tuple]:
    """The entries written after `since`: (verb, actor, model, object id, changes)."""
    return [(verb_of(e), e.actor.username if e.actor else None, e.content_type.model, e.object_pk, e.changes)
            for e in LogEntry.objects.filter(pk__gt=since).select_related("actor", "content_type").order_by("pk")]


def scheduled(client: APIClient, campaign: Campaign) -> Campaign:
    assert client.post(f"/api/campaigns/{campaign.pk}/schedule/").status_code == 200
    return campaign


# --- one entry per verb, with who, before and after --------------------------------------------


def test_scheduled_through_the_api_names_the_token_user(settings, mia, campaign):
    # given
    settings.TACT_REQUIRE_APPROVAL = False
    client, since = api_as(mia), mark()

    # when
    scheduled(client, campaign)

    # then
    assert entries_since(since) == [("scheduled", "mia", "campaign", str(campaign.pk), {"status": ["draft", "scheduled"]})]


def test_submitted_approved_and_rejected_are_one_entry_each(settings, mia, ada, campaign):
    # given
    settings.TACT_REQUIRE_APPROVAL = True
    other = CampaignFactory(name="Other")
    marketer, approver = api_as(mia), api_as(ada)

    # when
    since = mark()
    scheduled(marketer, campaign)
    after_submit = mark()
    approver.post(f"/api/campaigns/{campaign.pk}/approve/")
    after_approve = mark()
    scheduled(marketer, other)
    after_other = mark()
    approver.post(f"/api/campaigns/{other.pk}/reject/", {"reason": "not now"}, format="json")

    # then
    pk, other_pk = str(campaign.pk), str(other.pk)
    assert entries_since(since)[:1] == [
        ("submitted", "mia", "campaign", pk, {"status": ["draft", "awaiting_approval"], "submitted_by": [None, "mia"]})]
    assert entries_since(after_submit)[:1] == [
        ("approved", "ada", "campaign", pk, {"status": ["awaiting_approval", "scheduled"], "approved_by": [None, "ada"]})]
    assert entries_since(after_approve)[:1] == [
        ("submitted", "mia", "campaign", other_pk,
         {"status": ["draft", "awaiting_approval"], "submitted_by": [None, "mia"]})]
    assert entries_since(after_other) == [
        ("rejected", "ada", "campaign", other_pk,
         {"status": ["awaiting_approval", "draft"], "submitted_by": ["mia", None]})]
    assert len(entries_since(since)) == 4
    assert LogEntry.objects.get(additional_data__verb="rejected").additional_data == {"verb": "rejected",
                                                                                       "reason": "not now"}


def test_approval_withdrawn_follows_the_draft_edit_with_both_actors(settings, mia, ada, campaign):
    # given
    settings.TACT_REQUIRE_APPROVAL = True
    scheduled(api_as(mia), campaign)
    api_as(ada).post(f"/api/campaigns/{campaign.pk}/approve/")
    client = api_as(mia)
    since = mark()

    # when
    client.patch(f"/api/drafts/{campaign.draft_id}/", {"body": "New\nbody"}, format="json")

    # then
    assert entries_since(since) == [
        ("changed", "mia", "draft", str(campaign.draft_id), {"body": [BODY, "New\nbody"]}),
        ("approval withdrawn", "mia", "campaign", str(campaign.pk),
         {"status": ["scheduled", "awaiting_approval"], "approved_by": ["ada", None], "submitted_by": ["mia", "mia"],
          "content_body": [BODY, "New\nbody"]}),
    ]


def test_paused_resumed_and_cancelled_through_the_api(settings, ada, campaign):
    # given
    settings.TACT_REQUIRE_APPROVAL = False
    client = api_as(ada)
    scheduled(client, campaign)
    since = mark()

    # when
    for action in ("pause", "resume", "cancel"):
        assert client.post(f"/api/campaigns/{campaign.pk}/{action}/").status_code == 200

    # then
    pk = str(campaign.pk)
    assert entries_since(since) == [
        ("paused", "ada", "campaign", pk, {"status": ["scheduled", "paused"]}),
        ("resumed", "ada", "campaign", pk, {"status": ["paused", "scheduled"]}),
        ("cancelled", "ada", "campaign", pk, {"status": ["scheduled", "cancelled"]}),
    ]


def test_transitions_in_the_admin_name_the_session_user(settings, ada, campaign):
    # given
    settings.TACT_REQUIRE_APPROVAL = False
    client = admin_as(ada)
    since = mark()

    # when
    for action in ("schedule", "pause", "resume", "cancel"):
        client.post("/admin/campaigns/campaign/", {"action": action, "_selected_action": [campaign.pk]})

    # then
    assert [(verb, actor) for verb, actor, *_ in entries_since(since)] == [
        ("scheduled", "ada"), ("paused", "ada"), ("resumed", "ada"), ("cancelled", "ada")]
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.CANCELLED


def test_a_refused_transition_writes_no_entry(settings, ada, campaign):
    # given: a draft cannot be paused
    client, since = api_as(ada), mark()

    # when
    response = client.post(f"/api/campaigns/{campaign.pk}/pause/")

    # then
    assert response.status_code == 400
    assert entries_since(since) == []


def test_auditlogs_own_entries_name_the_token_user_and_the_session_user(mia):
    # given
    api, web = api_as(mia), admin_as(mia)
    since = mark()

    # when
    created = api.post("/api/drafts/", {"title": "By token", "body": "Hello\nthere"}, format="json")
    web.post("/admin/campaigns/draft/add/", {"title": "By session", "body": "Hi\nthere", "buttons": "[]",
                                             "whatsapp_template": "null"})

    # then
    assert created.status_code == 201
    by_session = Draft.objects.get(title="By session")
    assert [(verb, actor, model, pk) for verb, actor, model, pk, _ in entries_since(since)] == [
        ("created", "mia", "draft", str(created.json()["id"])),
        ("created", "mia", "draft", str(by_session.pk)),
    ]


def test_opted_out_by_staff_through_the_api_and_the_admin(mia):
    # given
    first = subscribe(SubscriberFactory(), "telegram", "555001")
    second = subscribe(SubscriberFactory(), "telegram", "555002")
    api, web = api_as(mia), admin_as(mia)
    since = mark()

    # when
    api.post("/api/opt-out/", {"platform": "telegram", "address": "555001"}, format="json")
    after_api = mark()
    web.post("/admin/campaigns/subscription/", {"action": "opt_out", "_selected_action": [second.pk]})

    # then
    assert entries_since(since)[:1] == [
        ("opted out", "mia", "subscription", str(first.pk), {"status": ["opted_in", "opted_out"]})]
    assert entries_since(after_api) == [
        ("opted out", "mia", "subscription", str(second.pk), {"status": ["opted_in", "opted_out"]})]
    assert len(entries_since(since)) == 2
    assert [e.additional_data for e in LogEntry.objects.filter(pk__gt=since).order_by("pk")] == [
        {"verb": "opted out", "source": "api", "by_person": False},
        {"verb": "opted out", "source": "admin:mia", "by_person": False},
    ]
    assert list(Subscription.objects.filter(pk__in=[first.pk, second.pk]).values_list("status", flat=True)) == [
        "opted_out", "opted_out"]


def test_opted_out_by_the_person_through_the_bot_names_nobody(settings):
    # given
    settings.TELEGRAM_BOT_TOKEN = ""
    settings.TELEGRAM_WEBHOOK_SECRET = TG_SECRET
    subscription = subscribe(SubscriberFactory(), "telegram", str(CHAT))
    since = mark()
    update = {"update_id": 9001, "message": {
        "message_id": 9001, "date": int(time.time()), "text": "/stop",
        "chat": {"id": CHAT, "type": "private", "first_name": "Ivan"},
        "from": {"id": CHAT, "is_bot": False, "first_name": "Ivan", "language_code": "ru"},
        "entities": [{"type": "bot_command", "offset": 0, "length": 5}]}}

    # when
    response = Client().post("/webhooks/telegram/", data=json.dumps(update), content_type="application/json",
                             headers={"X-Telegram-Bot-Api-Secret-Token": TG_SECRET})

    # then
    assert response.status_code == 200
    assert entries_since(since) == [
        ("opted out", None, "subscription", str(subscription.pk), {"status": ["opted_in", "opted_out"]})]
    entry = LogEntry.objects.get(pk__gt=since)
    assert entry.additional_data == {"verb": "opted out", "source": "telegram_stop", "by_person": True}


# --- the admin page -------------------------------------------------------------------------------


@pytest.fixture
def history(settings, mia, ada, campaign) -> dict[str, int]:
    """A little history: mia edits a draft and schedules, ada pauses."""
    settings.TACT_REQUIRE_APPROVAL = False
    since = mark()
    api_as(mia).patch(f"/api/drafts/{campaign.draft_id}/", {"title": "Black Friday!"}, format="json")
    scheduled(api_as(mia), campaign)
    api_as(ada).post(f"/api/campaigns/{campaign.pk}/pause/")
    return {"since": since, "until": mark()}


def listed(page, history: dict[str, int]) -> list[tuple[str, str | None, str]]:
    """The page's rows written by the history (not by the setup of users and campaigns)."""
    return [(verb_of(e), e.actor.username if e.actor else None, e.object_repr) for e in page.context["cl"].result_list
            if history["since"] < e.pk <= history["until"]]


def test_the_audit_page_lists_who_did_what_with_before_and_after(history, olga):
    # when
    page = admin_as(olga).get("/admin/auditlog/logentry/")

    # then
    assert page.status_code == 200
    text = page.content.decode()
    assert listed(page, history) == [("paused", "ada", "BF 2026"), ("scheduled", "mia", "BF 2026"),
                                     ("changed", "mia", "Black Friday!")]
    assert "<strong>status</strong>: scheduled → paused" in text
    assert "<strong>title</strong>: Black Friday → Black Friday!" in text


@pytest.mark.parametrize(("query", "expected"), [
    ("verb=paused", [("paused", "ada", "BF 2026")]),
    ("verb=scheduled", [("scheduled", "mia", "BF 2026")]),
    ("verb=changed", [("changed", "mia", "Black Friday!")]),
    ("q=Black+Friday", [("changed", "mia", "Black Friday!")]),
])
def test_the_audit_page_filters_by_verb_and_searches(history, olga, query, expected):
    # when
    page = admin_as(olga).get(f"/admin/auditlog/logentry/?{query}")

    # then
    assert page.status_code == 200
    assert listed(page, history) == expected


def test_the_audit_page_filters_by_actor_object_type_and_date(history, olga, ada):
    # given
    client = admin_as(olga)
    campaign_type = ContentType.objects.get_for_model(Campaign)
    today = datetime.now(UTC)

    # when
    by_actor = client.get(f"/admin/auditlog/logentry/?actor__id__exact={ada.pk}")
    by_type = client.get(f"/admin/auditlog/logentry/?content_type__id__exact={campaign_type.pk}")
    by_date = client.get(f"/admin/auditlog/logentry/?timestamp__year={today.year}&timestamp__month={today.month}"
                         f"&timestamp__day={today.day}")
    other_year = client.get(f"/admin/auditlog/logentry/?timestamp__year={today.year - 1}")

    # then
    assert listed(by_actor, history) == [("paused", "ada", "BF 2026")]
    assert {e.actor_id for e in by_actor.context["cl"].result_list} == {ada.pk}
    assert {e.content_type_id for e in by_type.context["cl"].result_list} == {campaign_type.pk}
    assert listed(by_type, history) == [("paused", "ada", "BF 2026"), ("scheduled", "mia", "BF 2026")]
    assert listed(by_date, history) == [("paused", "ada", "BF 2026"), ("scheduled", "mia", "BF 2026"),
                                   ("changed", "mia", "Black Friday!")]
    assert list(other_year.context["cl"].result_list) == []


def test_nobody_adds_changes_or_deletes_an_entry_in_the_admin_not_even_a_superuser(history, django_user_model):
    # given
    boss = django_user_model.objects.create_superuser("boss", password="x-secret-123")
    client = admin_as(boss)
    entry = LogEntry.objects.get(additional_data__verb="paused")
    base = f"/admin/auditlog/logentry/{entry.pk}"

    # when
    add = client.get("/admin/auditlog/logentry/add/")
    change = client.post(f"{base}/change/", {"object_repr": "forged"})
    delete = client.post(f"{base}/delete/", {"post": "yes"})
    bulk = client.post("/admin/auditlog/logentry/", {"action": "delete_selected", "_selected_action": [entry.pk],
                                                     "post": "yes"})
    view = client.get(f"{base}/change/")

    # then
    assert (add.status_code, change.status_code, delete.status_code) == (403, 403, 403)
    assert view.status_code == 200
    assert 'name="_save"' not in view.content.decode()
    assert "status</strong>: scheduled → paused" in view.content.decode()
    assert bulk.status_code == 200 and "delete_selected" not in bulk.content.decode()
    assert LogEntry.objects.get(pk=entry.pk).object_repr == "BF 2026"
    assert type(admin.site._registry[LogEntry]) is AuditLogAdmin


def test_a_marketer_does_not_see_the_audit_log(history, mia):
    assert admin_as(mia).get("/admin/auditlog/logentry/").status_code == 403


# --- append-only on PostgreSQL -----------------------------------------------------------------


def test_the_database_refuses_to_update_or_delete_an_entry(history):
    # given
    entry = LogEntry.objects.get(additional_data__verb="paused")

    # when / then
    with pytest.raises(IntegrityError, match="the audit log is append-only \\(UPDATE refused\\)"):
        with transaction.atomic():
            LogEntry.objects.filter(pk=entry.pk).update(object_repr="forged")
    with pytest.raises(IntegrityError, match="the audit log is append-only \\(DELETE refused\\)"):
        with transaction.atomic():
            LogEntry.objects.filter(pk=entry.pk).delete()
    stored = LogEntry.objects.get(pk=entry.pk)
    assert (stored.object_repr, stored.changes, stored.actor_id) == ("BF 2026", entry.changes, entry.actor_id)


def test_outside_the_scrub_form_even_an_erasure_transaction_cannot_rewrite_or_delete(history, ada):
    # given
    entry = LogEntry.objects.get(additional_data__verb="paused")

    # when / then: deleting, or changing who or what, stays refused
    for change in (lambda q: q.delete(), lambda q: q.update(actor=None), lambda q: q.update(action=0)):
        with pytest.raises(IntegrityError, match="the audit log is append-only"):
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL tact.erasure = 'on'")
                change(LogEntry.objects.filter(pk=entry.pk))
    stored = LogEntry.objects.get(pk=entry.pk)
    assert (stored.action, stored.actor_id) == (LogEntry.Action.UPDATE, ada.pk)
