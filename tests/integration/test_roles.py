"""Per role, every API endpoint and admin action: allowed, or 403 with nothing changed.

The roles are the groups the migration creates (Marketer, Approver, Analyst, Operator),
plus a staff user holding every view permission and nothing else. Each case builds its
own small world, so an allowed delete in one case cannot hide a refusal in another.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from campaigns.models import Campaign, Delivery, ImportJob, Subscriber, Tag
from tests.conftest import CampaignFactory, DraftFactory, SegmentFactory, SubscriberFactory, subscribe

ROLES = ("Marketer", "Approver", "Analyst", "Operator", "viewer")
MARKETING = {"Marketer", "Approver"}
EVERYONE = set(ROLES)


def _user(django_user_model, role: str):
    user = django_user_model.objects.create_user(f"u-{role.lower()}", password="x-secret-123", is_staff=True)
    if role == "viewer":
        user.user_permissions.add(*Permission.objects.filter(codename__startswith="view_").exclude(codename="view_address"))
    else:
        user.groups.add(Group.objects.get(name=role))
    return user


@dataclass
class World:
    subscriber: Subscriber
    draft_campaign: Campaign
    running: Campaign
    segment_id: int
    draft_id: int
    address: str
    import_job_id: int


@pytest.fixture
def world(db) -> World:
    person = SubscriberFactory()
    person.tags.add(Tag.objects.create(name="vip"))  # an empty changelist offers no actions at all
    subscription = subscribe(person, "telegram")
    segment = SegmentFactory()
    draft = DraftFactory()
    draft_campaign = CampaignFactory(segment=segment, draft=draft)
    running = CampaignFactory(segment=segment, draft=draft)
    Campaign.objects.filter(pk=running.pk).update(status=Campaign.Status.RUNNING,
                                                  started_at=datetime(2026, 11, 1, tzinfo=UTC))
    Delivery.objects.create(campaign=running, subscriber=person, subscription=subscription, platform="telegram",
                            list_number=1, send_after=datetime(2026, 11, 1, tzinfo=UTC))
    job = ImportJob.objects.create(file_name="old.csv", state=ImportJob.State.DONE, total_rows=1, processed_rows=1,
                                   errors=[{"line": 2, "error": "bad phone"}])
    return World(person, draft_campaign, running, segment.pk, draft.pk, subscription.address, job.pk)


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: Callable[[World], str]
    allowed: frozenset[str]
    body: Callable[[World], dict] = lambda w: {}
    fmt: str = "json"

    def __str__(self) -> str:
        return self.name


def _csv(w: World) -> dict:
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = ("external_id,name,timezone,language,tags,platform,address,saved_our_number,consent_source,"
            "consent_text,consent_at\ncrm-new,New,UTC,en,,telegram,99887766,,import,Yes please,2026-11-01T10:00:00Z\n")
    return {"file": SimpleUploadedFile("people.csv", data.encode(), content_type="text/csv")}


ENDPOINTS = [
    Endpoint("subscribers list", "get", lambda w: "/api/subscribers/", frozenset(EVERYONE)),
    Endpoint("subscriber detail", "get", lambda w: f"/api/subscribers/{w.subscriber.pk}/", frozenset(EVERYONE)),
    Endpoint("subscriber create", "post", lambda w: "/api/subscribers/", frozenset(MARKETING),
             lambda w: {"name": "Zoe", "timezone": "UTC", "language": "en", "subscriptions": []}),
    Endpoint("subscriber change", "patch", lambda w: f"/api/subscribers/{w.subscriber.pk}/", frozenset(MARKETING),
             lambda w: {"name": "Renamed"}),
    Endpoint("subscriber delete", "delete", lambda w: f"/api/subscribers/{w.subscriber.pk}/", frozenset(MARKETING)),
    Endpoint("subscribers import", "post", lambda w: "/api/subscribers/import/", frozenset(MARKETING), _csv,
             "multipart"),
    Endpoint("subscriber erase", "post", lambda w: f"/api/subscribers/{w.subscriber.pk}/erase/",
             frozenset({"Operator"})),
    Endpoint("subscriber export", "get", lambda w: f"/api/subscribers/{w.subscriber.pk}/export/",
             frozenset({"Operator"})),
    Endpoint("opt-out", "post", lambda w: "/api/opt-out/", frozenset(MARKETING),
             lambda w: {"platform": "telegram", "address": w.address}),
    Endpoint("segments list", "get", lambda w: "/api/segments/", frozenset(EVERYONE)),
    Endpoint("segment create", "post", lambda w: "/api/segments/", frozenset(MARKETING),
             lambda w: {"name": "New", "kind": "dynamic", "rules": {}}),
    Endpoint("segment change", "patch", lambda w: f"/api/segments/{w.segment_id}/", frozenset(MARKETING),
             lambda w: {"name": "Renamed"}),
    Endpoint("segment delete", "delete", lambda w: f"/api/segments/{w.segment_id}/", frozenset(MARKETING)),
    Endpoint("drafts list", "get", lambda w: "/api/drafts/", frozenset(EVERYONE)),
    Endpoint("draft create", "post", lambda w: "/api/drafts/", frozenset(MARKETING),
             lambda w: {"title": "T", "body": "Hello\nthere"}),
    Endpoint("draft change", "patch", lambda w: f"/api/drafts/{w.draft_id}/", frozenset(MARKETING),
             lambda w: {"title": "Renamed"}),
    Endpoint("draft delete", "delete", lambda w: f"/api/drafts/{w.draft_id}/", frozenset(MARKETING)),
    Endpoint("campaigns list", "get", lambda w: "/api/campaigns/", frozenset(EVERYONE)),
    Endpoint("campaign create", "post", lambda w: "/api/campaigns/", frozenset(MARKETING),
             lambda w: {"name": "C", "draft": w.draft_id, "segment": w.segment_id, "platforms": ["telegram"],
                        "send_at": "2030-01-01T09:00:00Z"}),
    Endpoint("campaign change", "patch", lambda w: f"/api/campaigns/{w.draft_campaign.pk}/", frozenset(MARKETING),
             lambda w: {"name": "Renamed"}),
    Endpoint("campaign delete", "delete", lambda w: f"/api/campaigns/{w.draft_campaign.pk}/", frozenset(MARKETING)),
    Endpoint("campaign schedule", "post", lambda w: f"/api/campaigns/{w.draft_campaign.pk}/schedule/",
             frozenset(MARKETING)),
    Endpoint("campaign approve", "post", lambda w: f"/api/campaigns/{w.draft_campaign.pk}/approve/",
             frozenset({"Approver"})),
    Endpoint("campaign reject", "post", lambda w: f"/api/campaigns/{w.draft_campaign.pk}/reject/",
             frozenset({"Approver"}), lambda w: {"reason": "no"}),
    Endpoint("campaign pause", "post", lambda w: f"/api/campaigns/{w.running.pk}/pause/", frozenset({"Approver"})),
    Endpoint("campaign resume", "post", lambda w: f"/api/campaigns/{w.running.pk}/resume/", frozenset({"Approver"})),
    Endpoint("campaign cancel", "post", lambda w: f"/api/campaigns/{w.running.pk}/cancel/", frozenset({"Approver"})),
    Endpoint("campaign duplicate", "post", lambda w: f"/api/campaigns/{w.running.pk}/duplicate/", frozenset(MARKETING)),
    Endpoint("campaign forecast", "get", lambda w: f"/api/campaigns/{w.draft_campaign.pk}/forecast/",
             frozenset(EVERYONE)),
    Endpoint("deliveries list", "get", lambda w: f"/api/deliveries/?campaign={w.running.pk}", frozenset(EVERYONE)),
    Endpoint("imports list", "get", lambda w: "/api/imports/", frozenset({"Marketer", "Approver", "Operator", "viewer"})),
    Endpoint("import start", "post", lambda w: "/api/imports/", frozenset(MARKETING), _csv, "multipart"),
    Endpoint("import detail", "get", lambda w: f"/api/imports/{w.import_job_id}/",
             frozenset({"Marketer", "Approver", "Operator", "viewer"})),
    Endpoint("import refused rows", "get", lambda w: f"/api/imports/{w.import_job_id}/errors/",
             frozenset({"Marketer", "Approver", "Operator", "viewer"})),
    Endpoint("schema", "get", lambda w: "/api/schema/", frozenset(EVERYONE)),
    Endpoint("docs", "get", lambda w: "/api/docs/", frozenset(EVERYONE)),
    Endpoint("redoc", "get", lambda w: "/api/redoc/", frozenset(EVERYONE)),
]


def _client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_each_role_may_call_exactly_its_endpoints(endpoint, role, world, django_user_model, db_state):
    # given
    client = _client(_user(django_user_model, role))
    before = db_state()

    # when
    response = getattr(client, endpoint.method)(endpoint.path(world), endpoint.body(world), format=endpoint.fmt)

    # then
    if role in endpoint.allowed:
        assert response.status_code not in (401, 403), response.content[:300]
        assert response.status_code < 500
    else:
        assert response.status_code == 403, response.content[:300]
        assert db_state() == before


def test_a_staff_user_without_any_permission_reads_nothing(world, django_user_model):
    # given
    client = _client(django_user_model.objects.create_user("bare", password="x-secret-123", is_staff=True))

    # when
    codes = {e.name: getattr(client, e.method)(e.path(world), e.body(world), format=e.fmt).status_code
             for e in ENDPOINTS if e.name not in ("schema", "docs", "redoc")}

    # then
    assert set(codes.values()) == {403}, codes


# --- the admin: every action is offered only to those whose permission it declares --------

ADMIN_ACTIONS = {
    # changelist URL: {action: roles that are offered it}
    "/admin/campaigns/campaign/": {
        "schedule": MARKETING, "approve": {"Approver"}, "reject": {"Approver"},
        "pause": {"Approver"}, "resume": {"Approver"}, "cancel": {"Approver"}, "delete_selected": MARKETING,
    },
    "/admin/campaigns/subscription/": {"opt_out": MARKETING},
    "/admin/campaigns/subscriber/": {"delete_selected": MARKETING, "erase": {"Operator"}},
    "/admin/campaigns/segment/": {"split_vip_groups": MARKETING, "delete_selected": MARKETING},
    "/admin/campaigns/draft/": {"delete_selected": MARKETING},
    "/admin/campaigns/consentevent/": {"export_csv": {"Marketer", "Approver", "Operator", "viewer"}},
    "/admin/campaigns/tag/": {"delete_selected": MARKETING},
    "/admin/campaigns/importjob/": {},
    "/admin/auditlog/logentry/": {},
    "/admin/auth/user/": {"delete_selected": {"Operator"}},
}


def _offered_actions(html: str) -> set[str]:
    select = re.search(r'<select name="action"[^>]*>(.*?)</select>', html, re.S)
    return set(re.findall(r'<option value="(\w+)"', select.group(1))) - {""} if select else set()


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("url", list(ADMIN_ACTIONS))
def test_each_role_is_offered_exactly_its_admin_actions(url, role, world, django_user_model):
    # given
    client = Client()
    client.force_login(_user(django_user_model, role))

    # when
    response = client.get(url)

    # then
    expected = {action for action, roles in ADMIN_ACTIONS[url].items() if role in roles}
    if response.status_code == 403:
        assert expected == set()
    else:
        assert response.status_code == 200
        assert _offered_actions(response.content.decode()) == expected


@pytest.mark.parametrize("role", ["Marketer", "Analyst", "viewer"])
def test_an_action_posted_without_its_permission_changes_nothing(role, world, django_user_model, db_state):
    # given: pause is the Approver's; the form is posted anyway
    client = Client()
    client.force_login(_user(django_user_model, role))
    before = db_state()

    # when
    response = client.post("/admin/campaigns/campaign/", {"action": "pause", "_selected_action": [world.running.pk]})

    # then
    assert response.status_code in (200, 302, 403)
    assert Campaign.objects.get(pk=world.running.pk).status == Campaign.Status.RUNNING
    assert db_state() == before


@pytest.mark.parametrize("role", ["Analyst", "viewer"])
@pytest.mark.parametrize("url", ["/admin/campaigns/subscriber/add/", "/admin/campaigns/campaign/add/",
                                 "/admin/campaigns/draft/add/", "/admin/campaigns/segment/add/",
                                 "/admin/campaigns/subscriber/import/"])
def test_view_only_staff_cannot_open_a_form_that_writes(url, role, world, django_user_model):
    # given
    client = Client()
    client.force_login(_user(django_user_model, role))

    # when
    response = client.get(url)

    # then
    assert response.status_code == 403
