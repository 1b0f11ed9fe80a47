"""The REST API of shared/API.md, through HTTP with token auth, on real PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from rest_framework import serializers
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from campaigns import services
from campaigns.models import Campaign, ConsentEvent, Delivery, Draft, Segment, Subscriber, Subscription
from tests.conftest import CampaignFactory, DraftFactory, SegmentFactory, SubscriberFactory, subscribe

pytestmark = pytest.mark.django_db

CONSENT = {"source": "import", "text": "Yes, send me offers", "at": "2026-11-01T10:00:00Z"}
NOV_1_10H = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
NOV_10 = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
SEND_AT = "2030-01-01T09:00:00Z"
NO_STATS = {"planned": 0, "sent": 0, "delivered": 0, "read": 0, "clicked": 0, "failed": 0, "held": 0, "skipped": 0,
            "uncertain": 0, "opted_out_48h": 0}


@pytest.fixture
def api(admin_client_api: APIClient) -> APIClient:
    # A 500 comes back as a response to assert on, not as an exception in the test.
    admin_client_api.raise_request_exception = False
    return admin_client_api


def iso(moment: datetime | None) -> str | None:
    return serializers.DateTimeField().to_representation(moment) if moment else None


def anna_payload(**overrides: object) -> dict:
    payload = {
        "external_id": "crm-42",
        "name": "Anna",
        "timezone": "Europe/Moscow",
        "language": "ru",
        "tags": ["vip"],
        "attributes": {"avg_check": 5400},
        "tester": False,
        "subscriptions": [
            {"platform": "telegram", "address": "123456789", "consent": CONSENT},
            {"platform": "whatsapp", "address": "+7 (999) 000-11-22", "saved_our_number": True, "consent": CONSENT},
        ],
    }
    payload.update(overrides)
    return payload


def consent_json(event: ConsentEvent) -> dict:
    return {"source": event.source, "text": event.text, "at": iso(event.at), "evidence": event.evidence}


def opted_out(subscription: Subscription, at: datetime = NOV_10) -> Subscription:
    services.subscription_opt_out(subscription=subscription, consent=services.Consent(source="api", at=at))
    subscription.refresh_from_db()
    return subscription


# --- authentication ------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/subscribers/", "/api/segments/", "/api/drafts/", "/api/campaigns/",
                                  "/api/deliveries/"])
def test_every_resource_needs_a_token(db, path):
    # when
    response = APIClient().get(path)

    # then
    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication credentials were not provided."}
    assert response["WWW-Authenticate"] == "Token"


def test_an_unknown_token_is_refused(db):
    # given
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token 0000000000000000000000000000000000000000")

    # when
    response = client.get("/api/subscribers/")

    # then
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token."}


def test_a_token_of_a_user_who_is_not_staff_is_forbidden(db, django_user_model, db_state):
    # given
    user = django_user_model.objects.create_user("intern", password="x-secret-123", is_staff=False)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    before = db_state()

    # when
    listing = client.get("/api/subscribers/")
    creating = client.post("/api/subscribers/", anna_payload(), format="json")
    opting_out = client.post("/api/opt-out/", {"platform": "telegram", "address": "123456789"}, format="json")

    # then
    for response in (listing, creating, opting_out):
        assert response.status_code == 403
        assert response.json() == {"detail": "You do not have permission to perform this action."}
    assert db_state() == before


def test_a_token_is_obtained_with_username_and_password(admin_client_api, django_user_model):
    # given: the fixture's staff user "marketer"
    user = django_user_model.objects.get(username="marketer")

    # when
    response = APIClient().post(
        "/api/auth/token/", {"username": "marketer", "password": "x-secret-123"}, format="json"
    )

    # then: the token and when it expires (TACT_TOKEN_TTL_HOURS after it was made)
    assert response.status_code == 200
    token = Token.objects.get(user=user)
    assert response.json() == {"token": token.key, "expires_at": iso(token.created + timedelta(hours=720))}
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    assert client.get("/api/subscribers/").status_code == 200


def test_a_token_is_refused_for_a_wrong_password(admin_client_api):
    # when
    response = APIClient().post("/api/auth/token/", {"username": "marketer", "password": "wrong"}, format="json")

    # then
    assert response.status_code == 400
    assert response.json() == {"non_field_errors": ["Unable to log in with provided credentials."]}


# --- schema and docs ---------------------------------------------------------------


def test_the_openapi_schema_lists_the_public_paths(api):
    # when
    response = api.get("/api/schema/", {"format": "json"})

    # then
    assert response.status_code == 200
    paths = json.loads(response.content)["paths"]
    for path in (
        "/api/subscribers/",
        "/api/subscribers/import/",
        "/api/opt-out/",
        "/api/segments/",
        "/api/drafts/",
        "/api/campaigns/",
        "/api/campaigns/{id}/schedule/",
        "/api/campaigns/{id}/cancel/",
        "/api/deliveries/",
    ):
        assert path in paths
    assert list(paths["/api/subscribers/import/"]) == ["post"]
    assert "multipart/form-data" in paths["/api/subscribers/import/"]["post"]["requestBody"]["content"]


def test_the_schema_is_served_as_openapi_yaml_by_default(api):
    # when
    response = api.get("/api/schema/")

    # then
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.oai.openapi; charset=utf-8"
    text = response.content.decode()
    assert text.startswith("openapi: 3.")
    for path in ("/api/subscribers/import/:", "/api/opt-out/:", "/api/campaigns/{id}/schedule/:"):
        assert f"\n  {path}\n" in text


def test_the_browsable_docs_are_served(api):
    # when
    response = api.get("/api/docs/")

    # then
    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert b"/api/schema/" in response.content


# --- subscribers: read and write -------------------------------------------------------


def test_creating_a_subscriber_answers_the_api_md_shape(api):
    # when
    response = api.post("/api/subscribers/", anna_payload(language="RU"), format="json")

    # then
    assert response.status_code == 201
    anna = Subscriber.objects.get()
    telegram, whatsapp = anna.subscriptions.order_by("id")
    assert response.json() == {
        "id": anna.pk,
        "external_id": "crm-42",
        "name": "Anna",
        "timezone": "Europe/Moscow",
        "language": "ru",
        "tags": ["vip"],
        "attributes": {"avg_check": 5400},
        "tester": False,
        "unanswered": 0,
        "subscriptions": [
            {"platform": "telegram", "account": None, "address": "123456789", "status": "opted_in",
             "consent": {**CONSENT, "evidence": {"api": True}}},
            {
                "platform": "whatsapp",
                "account": None,  # the default account (the environment's number)
                "address": "+79990001122",
                "status": "opted_in",
                "saved_our_number": True,
                "consent": {**CONSENT, "evidence": {"api": True}},
            },
        ],
        "created_at": iso(anna.created_at),
        "updated_at": iso(anna.updated_at),
    }
    assert [(s.platform, s.address, s.status, s.saved_our_number) for s in (telegram, whatsapp)] == [
        ("telegram", "123456789", "opted_in", False),
        ("whatsapp", "+79990001122", "opted_in", True),
    ]
    events = ConsentEvent.objects.order_by("id")
    assert [(e.subscription_id, e.kind, e.status, e.source, e.text, e.at, e.evidence) for e in events] == [
        (telegram.pk, "opt_in", "opted_in", "import", "Yes, send me offers", NOV_1_10H, {"api": True}),
        (whatsapp.pk, "opt_in", "opted_in", "import", "Yes, send me offers", NOV_1_10H, {"api": True}),
    ]


def test_a_subscriber_is_read_back_with_its_consent(api):
    # given
    anna = SubscriberFactory(name="Anna", external_id="crm-42", attributes={"city": "Moscow"})
    services.tags_set(subscriber=anna, names=["vip", "moscow"])
    telegram = subscribe(anna, "telegram", "123456789", at=NOV_1_10H)
    viber = opted_out(subscribe(anna, "viber", "+79980001122", saved_our_number=True, at=NOV_1_10H))
    anna.refresh_from_db()

    # when
    detail = api.get(f"/api/subscribers/{anna.pk}/")
    listing = api.get("/api/subscribers/")

    # then
    expected = {
        "id": anna.pk,
        "external_id": "crm-42",
        "name": "Anna",
        "timezone": "Europe/Moscow",
        "language": "ru",
        "tags": ["moscow", "vip"],
        "attributes": {"city": "Moscow"},
        "tester": False,
        "unanswered": 0,
        "subscriptions": [
            {"platform": "telegram", "account": None, "address": "123456789", "status": "opted_in",
             "consent": consent_json(telegram.consent_events.get())},
            # the consent shown is the opt-in that allowed messages; Viber has no saved_our_number
            {"platform": "viber", "account": None, "address": "+79980001122", "status": "opted_out",
             "consent": {"source": "test", "text": "Yes, send me offers", "at": "2026-11-01T10:00:00Z",
                         "evidence": {}}},
        ],
        "created_at": iso(anna.created_at),
        "updated_at": iso(anna.updated_at),
    }
    assert viber.status == "opted_out"
    assert detail.status_code == 200
    assert detail.json() == expected
    assert listing.status_code == 200
    assert listing.json() == {"count": 1, "next": None, "previous": None, "results": [expected]}


def test_updating_a_subscriber_changes_only_what_was_sent(api):
    # given
    anna = SubscriberFactory(name="Anna", timezone="Europe/Moscow", language="ru", attributes={"a": 1})
    services.tags_set(subscriber=anna, names=["vip"])
    subscribe(anna, "telegram", "123456789")
    events_before = ConsentEvent.objects.count()

    # when
    response = api.patch(
        f"/api/subscribers/{anna.pk}/",
        {"name": "Anna K.", "timezone": "Asia/Yekaterinburg", "language": "pt_BR", "tags": ["moscow", "new"],
         "attributes": {"avg_check": 1200}},
        format="json",
    )

    # then
    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["timezone"], body["language"], body["tags"], body["attributes"]) == (
        "Anna K.", "Asia/Yekaterinburg", "pt-br", ["moscow", "new"], {"avg_check": 1200}
    )
    assert [(s["platform"], s["address"], s["status"]) for s in body["subscriptions"]] == [
        ("telegram", "123456789", "opted_in")
    ]
    anna.refresh_from_db()
    assert (anna.name, anna.timezone, anna.language, anna.attributes) == (
        "Anna K.", "Asia/Yekaterinburg", "pt-br", {"avg_check": 1200}
    )
    assert sorted(anna.tags.values_list("name", flat=True)) == ["moscow", "new"]
    assert ConsentEvent.objects.count() == events_before


def test_adding_a_subscription_to_an_existing_subscriber(api):
    # given
    anna = SubscriberFactory()
    subscribe(anna, "telegram", "123456789")

    # when
    response = api.patch(
        f"/api/subscribers/{anna.pk}/",
        {"subscriptions": [{"platform": "viber", "address": "+7 998 000 11 22", "consent": CONSENT}]},
        format="json",
    )

    # then
    assert response.status_code == 200
    assert [(s["platform"], s["address"], s["status"]) for s in response.json()["subscriptions"]] == [
        ("telegram", "123456789", "opted_in"),
        ("viber", "+79980001122", "opted_in"),
    ]
    assert anna.subscriptions.count() == 2


def test_new_consent_through_the_api_does_not_opt_in_someone_who_opted_out_themselves(api, db_state):
    # given: Anna sent /stop on Nov 10; a CRM script later sends a newer consent for her chat
    anna = SubscriberFactory()
    subscribe(anna, "telegram", "123456789", at=NOV_1_10H)
    services.person_opt_out("telegram", "123456789",
                            consent=services.Consent(source="telegram_stop", text="/stop", at=NOV_10))
    before = db_state()
    new_consent = {"source": "crm", "text": "Yes, send me offers", "at": "2026-11-20T08:00:00Z"}

    # when
    response = api.patch(
        f"/api/subscribers/{anna.pk}/",
        {"name": "Anna K.",
         "subscriptions": [{"platform": "telegram", "address": "123456789", "consent": new_consent}]},
        format="json",
    )

    # then: refused on the consent, with the date of her opt-out; nothing changed
    assert response.status_code == 400
    assert response.json() == {"subscriptions": [{"consent": [
        "Telegram 123456789 opted out themselves on 2026-11-10 12:00 UTC (via telegram_stop); "
        "only their own opt-in (/start, START, Viber subscribe) brings them back"
    ]}]}
    assert db_state() == before
    assert Subscription.objects.get().status == "opted_out"


def test_a_consent_older_than_the_opt_out_does_not_opt_in_again(api, db_state):
    # given
    anna = SubscriberFactory()
    opted_out(subscribe(anna, "telegram", "123456789", at=NOV_1_10H), at=NOV_10)
    before = db_state()

    # when
    response = api.patch(
        f"/api/subscribers/{anna.pk}/",
        {"subscriptions": [{"platform": "telegram", "address": "123456789", "consent": CONSENT}]},
        format="json",
    )

    # then
    assert response.status_code == 400
    assert response.json() == {"subscriptions": [{"consent": [
        "Telegram 123456789 was opted out on 2026-11-10 12:00 UTC (via api); "
        "only their own opt-in (/start, START, Viber subscribe) brings them back"
    ]}]}
    assert db_state() == before


def test_a_refused_opt_in_leaves_the_other_subscriptions_of_the_request_unwritten(api, db_state):
    # given: Anna's Telegram opted out; the request also adds her WhatsApp
    anna = SubscriberFactory()
    opted_out(subscribe(anna, "telegram", "123456789", at=NOV_1_10H), at=NOV_10)
    before = db_state()

    # when
    response = api.patch(
        f"/api/subscribers/{anna.pk}/",
        {"subscriptions": [
            {"platform": "whatsapp", "address": "+79990001122", "consent": {**CONSENT, "at": "2026-11-20T08:00:00Z"}},
            {"platform": "telegram", "address": "123456789", "consent": {**CONSENT, "at": "2026-11-20T08:00:00Z"}},
        ]},
        format="json",
    )

    # then
    assert response.status_code == 400
    assert response.json() == {"subscriptions": [{}, {"consent": [
        "Telegram 123456789 was opted out on 2026-11-10 12:00 UTC (via api); "
        "only their own opt-in (/start, START, Viber subscribe) brings them back"
    ]}]}
    assert db_state() == before


def test_new_consent_through_the_api_opts_in_again_a_subscription_that_bounced(api):
    # given: Telegram said the chat was unreachable on Nov 10 (a bounce, not a "stop")
    anna = SubscriberFactory()
    telegram = subscribe(anna, "telegram", "123456789", at=NOV_1_10H)
    services.person_opt_out("telegram", "123456789", consent=services.Consent(source="telegram_error", at=NOV_10),
                            status="unreachable")
    new_consent = {"source": "crm", "text": "Yes, send me offers", "at": "2026-11-20T08:00:00Z"}

    # when
    response = api.patch(
        f"/api/subscribers/{anna.pk}/",
        {"subscriptions": [{"platform": "telegram", "address": "123456789", "consent": new_consent}]},
        format="json",
    )

    # then
    assert response.status_code == 200, response.json()
    assert response.json()["subscriptions"] == [
        {"platform": "telegram", "account": None, "address": "123456789", "status": "opted_in",
         "consent": {**new_consent, "evidence": {"api": True}}}
    ]
    telegram.refresh_from_db()
    assert telegram.status == "opted_in"
    assert list(telegram.consent_events.order_by("id").values_list("kind", "status", "source", "by_person")) == [
        ("opt_in", "opted_in", "test", False),
        ("suppress", "unreachable", "telegram_error", False),
        ("opt_in", "opted_in", "crm", False),
    ]


def test_a_consent_older_than_the_bounce_does_not_opt_in_again(api, db_state):
    # given
    anna = SubscriberFactory()
    subscribe(anna, "telegram", "123456789", at=NOV_1_10H)
    services.person_opt_out("telegram", "123456789", consent=services.Consent(source="telegram_error", at=NOV_10),
                            status="unreachable")
    before = db_state()

    # when
    response = api.patch(
        f"/api/subscribers/{anna.pk}/",
        {"subscriptions": [{"platform": "telegram", "address": "123456789", "consent": CONSENT}]},
        format="json",
    )

    # then
    assert response.status_code == 400
    assert response.json() == {"subscriptions": [{"consent": [
        "Telegram 123456789 was unreachable at 2026-11-10 12:00 UTC, "
        "after this consent (2026-11-01 10:00 UTC); not opted in again"
    ]}]}
    assert db_state() == before


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        pytest.param("0001-01-01T00:00:00Z", "consent time 1-01-01 is before 2000-01-01", id="year-0001"),
        pytest.param("1999-12-31T23:59:59Z", "consent time 1999-12-31 is before 2000-01-01", id="before-2000"),
        pytest.param("2099-01-01T00:00:00Z", "consent time 2099-01-01 00:00 UTC is in the future", id="future"),
        pytest.param("0001-01-01T00:00:00+05:00", "Datetime value out of range.", id="year-0001-east-of-utc"),
        pytest.param("2026-02-30T10:00:00Z",
                     "Datetime has wrong format. Use one of these formats instead: "
                     "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].", id="no-such-day"),
    ],
)
def test_a_consent_date_that_cannot_be_true_is_a_400_on_its_field(api, db_state, at, expected):
    # given
    before = db_state()
    payload = anna_payload(subscriptions=[
        {"platform": "telegram", "address": "123456789", "consent": CONSENT},
        {"platform": "whatsapp", "address": "+79990001122", "consent": {**CONSENT, "at": at}},
    ])

    # when
    response = api.post("/api/subscribers/", payload, format="json")

    # then
    assert response.status_code == 400
    assert response.json() == {"subscriptions": {"1": {"consent": {"at": [expected]}}}}
    assert db_state() == before


def test_a_consent_date_minutes_ahead_of_our_clock_is_accepted(api):
    # given: the sender's clock runs 2 minutes ahead of ours
    ahead = timezone.now() + timedelta(minutes=2)

    # when
    response = api.post("/api/subscribers/", anna_payload(subscriptions=[
        {"platform": "telegram", "address": "123456789", "consent": {**CONSENT, "at": iso(ahead)}},
    ]), format="json")

    # then
    assert response.status_code == 201, response.json()
    assert ConsentEvent.objects.get().at == ahead


def test_a_consent_date_of_year_0001_on_an_existing_subscription_is_a_400(api, db_state):
    # given
    anna = SubscriberFactory()
    opted_out(subscribe(anna, "telegram", "123456789", at=NOV_1_10H), at=NOV_10)
    before = db_state()

    # when
    response = api.put(
        f"/api/subscribers/{anna.pk}/",
        anna_payload(subscriptions=[{"platform": "telegram", "address": "123456789",
                                     "consent": {**CONSENT, "at": "0001-01-01T00:00:00Z"}}]),
        format="json",
    )

    # then
    assert response.status_code == 400
    assert response.json() == {"subscriptions": {"0": {"consent": {"at": [
        "consent time 1-01-01 is before 2000-01-01"
    ]}}}}
    assert db_state() == before


def test_an_address_cannot_be_changed_on_an_existing_subscription(api, db_state):
    # given
    anna = SubscriberFactory()
    subscribe(anna, "telegram", "123456789")
    before = db_state()

    # when
    response = api.patch(
        f"/api/subscribers/{anna.pk}/",
        {"name": "Renamed", "subscriptions": [{"platform": "telegram", "address": "987654321", "consent": CONSENT}]},
        format="json",
    )

    # then
    assert response.status_code == 400
    assert response.json() == {"subscriptions": [{"address": [
        "this subscriber's telegram address is 123456789; opt it out and add a new subscriber to change it"
    ]}]}
    assert db_state() == before


def test_deleting_a_subscriber_without_subscriptions(api):
    # given
    anna, boris = SubscriberFactory(), SubscriberFactory()

    # when
    response = api.delete(f"/api/subscribers/{anna.pk}/")

    # then
    assert response.status_code == 204
    assert list(Subscriber.objects.values_list("pk", flat=True)) == [boris.pk]


def test_a_subscriber_with_a_consent_record_is_kept(api, db_state):
    # given
    anna = SubscriberFactory()
    subscribe(anna, "telegram")
    subscribe(anna, "whatsapp")
    before = db_state()

    # when
    response = api.delete(f"/api/subscribers/{anna.pk}/")

    # then: consent events are proof and may not go
    assert response.status_code == 409
    assert response.json() == {"detail": "still in use by 2 record(s); not deleted"}
    assert db_state() == before


# --- subscribers: filters and search -------------------------------------------------


@pytest.fixture
def people():
    """Xenia: Telegram opted out, WhatsApp opted in. Yuri: Telegram opted in. Zoe: WhatsApp
    opted out. Tags: Xenia vip+moscow, Yuri vip."""
    xenia = SubscriberFactory(name="Xenia", external_id="crm-x")
    yuri = SubscriberFactory(name="Yuri", external_id="crm-y")
    zoe = SubscriberFactory(name="Zoe", external_id="crm-z")
    opted_out(subscribe(xenia, "telegram", "111111"))
    subscribe(xenia, "whatsapp", "+79990001111")
    subscribe(yuri, "telegram", "222222")
    opted_out(subscribe(zoe, "whatsapp", "+79990003333"))
    services.tags_set(subscriber=xenia, names=["vip", "moscow"])
    services.tags_set(subscriber=yuri, names=["vip"])
    return {"xenia": xenia, "yuri": yuri, "zoe": zoe}


def listed(response) -> list[str]:
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["count"] == len(body["results"])
    return [r["name"] for r in body["results"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, ["Xenia", "Yuri", "Zoe"]),
        # platform and status describe the same subscription
        ({"platform": "telegram", "status": "opted_in"}, ["Yuri"]),
        ({"platform": "telegram", "status": "opted_out"}, ["Xenia"]),
        ({"platform": "whatsapp", "status": "opted_in"}, ["Xenia"]),
        ({"platform": "whatsapp", "status": "opted_out"}, ["Zoe"]),
        ({"platform": "viber"}, []),
        ({"platform": "telegram"}, ["Xenia", "Yuri"]),
        ({"status": "opted_out"}, ["Xenia", "Zoe"]),
        ({"tag": "vip"}, ["Xenia", "Yuri"]),
        ({"tag": "moscow"}, ["Xenia"]),
        ({"tag": "vip", "platform": "telegram", "status": "opted_in"}, ["Yuri"]),
        ({"search": "yur"}, ["Yuri"]),
        ({"search": "crm-z"}, ["Zoe"]),
        ({"search": "+79990001111"}, ["Xenia"]),
        # "1" is in both of Xenia's addresses: she is listed once
        ({"search": "1"}, ["Xenia"]),
        ({"external_id": "crm-y"}, ["Yuri"]),
    ],
)
def test_the_subscriber_list_filters(api, people, query, expected):
    # when / then
    assert listed(api.get("/api/subscribers/", query)) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"platform": "sms"}, {"platform": ["Select a valid choice. sms is not one of the available choices."]}),
        ({"status": "gone"}, {"status": ["Select a valid choice. gone is not one of the available choices."]}),
    ],
)
def test_an_unknown_filter_value_is_a_400(api, people, query, expected):
    # when
    response = api.get("/api/subscribers/", query)

    # then
    assert response.status_code == 400
    assert response.json() == expected


# --- subscribers: refusals -----------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        pytest.param(
            {"subscriptions": [{"platform": "telegram", "address": "123456789"}]},
            {"subscriptions": {"0": {"consent": ["This field is required."]}}},
            id="missing-consent",
        ),
        pytest.param(
            {"subscriptions": [{"platform": "telegram", "address": "123456789",
                                "consent": {"source": "import", "text": ""}}]},
            {"subscriptions": {"0": {"consent": {"text": ["This field may not be blank."]}}}},
            id="consent-without-wording",
        ),
        pytest.param(
            {"subscriptions": [{"platform": "whatsapp", "address": "8 999 000 11 22", "consent": CONSENT}]},
            {"subscriptions": {"0": {"address": [
                "phone number '8 999 000 11 22' has no country code: write it as +<country><number>"
            ]}}},
            id="phone-without-country-code",
        ),
        pytest.param(
            {"subscriptions": [{"platform": "telegram", "address": "123456789", "consent": CONSENT},
                               {"platform": "whatsapp", "address": "+7999", "consent": CONSENT}]},
            {"subscriptions": {"1": {"address": ["'+7999' is not a valid phone number"]}}},
            id="bad-phone",
        ),
        pytest.param(
            {"subscriptions": [{"platform": "sms", "address": "+79990001122", "consent": CONSENT}]},
            {"subscriptions": {"0": {"platform": ['"sms" is not a valid choice.']}}},
            id="unknown-platform",
        ),
        pytest.param(
            {"subscriptions": [{"platform": "telegram", "address": "@anna", "consent": CONSENT}]},
            {"subscriptions": {"0": {"address": ["a Telegram address is a numeric chat id, not '@anna'"]}}},
            id="telegram-username",
        ),
        pytest.param(
            {"timezone": "Mars/Olympus"},
            {"timezone": ["unknown time zone 'Mars/Olympus' (use an IANA name such as Europe/Moscow)"]},
            id="bad-timezone",
        ),
        pytest.param(
            {"timezone": "europe/moscow"},
            {"timezone": ["unknown time zone 'europe/moscow' (use an IANA name such as Europe/Moscow)"]},
            id="timezone-misspelt",
        ),
        pytest.param(
            {"language": "english!"},
            {"language": ["'english!' is not a language code such as 'ru' or 'en'"]},
            id="bad-language",
        ),
        pytest.param({"attributes": [1, 2]}, {"attributes": ["attributes must be an object"]}, id="attributes-list"),
        pytest.param({"attributes": "vip"}, {"attributes": ["attributes must be an object"]}, id="attributes-text"),
        pytest.param(
            {"subscriptions": [{"platform": "telegram", "address": "1", "consent": CONSENT},
                               {"platform": "telegram", "address": "2", "consent": CONSENT}]},
            {"subscriptions": ["one subscription per platform; telegram repeated"]},
            id="repeated-platform",
        ),
        pytest.param(
            {"tags": ["x" * 51]},
            {"tags": {"0": ["Ensure this field has no more than 50 characters."]}},
            id="tag-too-long",
        ),
    ],
)
def test_an_invalid_subscriber_is_refused_and_nothing_is_written(api, db_state, overrides, expected):
    # given
    before = db_state()

    # when
    response = api.post("/api/subscribers/", anna_payload(**overrides), format="json")

    # then
    assert response.status_code == 400
    assert response.json() == expected
    assert db_state() == before


def test_an_address_taken_by_another_subscriber_is_refused_and_nothing_is_written(api, db_state):
    # given
    boris = SubscriberFactory(name="Boris")
    subscribe(boris, "telegram", "123456789")
    before = db_state()

    # when: Anna's WhatsApp is fine, her Telegram is Boris's
    response = api.post("/api/subscribers/", anna_payload(), format="json")

    # then
    assert response.status_code == 400
    assert response.json() == {"subscriptions": [
        {"address": ["telegram address 123456789 already belongs to Boris"]}, {}
    ]}
    assert db_state() == before


def test_an_address_taken_by_another_subscriber_is_refused_whatever_its_spelling(api, db_state):
    # given
    boris = SubscriberFactory(name="Boris")
    subscribe(boris, "whatsapp", "+79990001122")
    before = db_state()

    # when: "+7 (999) 000-11-22" is +79990001122
    response = api.post("/api/subscribers/", anna_payload(), format="json")

    # then
    assert response.status_code == 400
    assert response.json() == {"subscriptions": [
        {}, {"address": ["whatsapp address +79990001122 already belongs to Boris"]}
    ]}
    assert db_state() == before


def test_a_duplicate_external_id_is_refused(api, db_state):
    # given
    SubscriberFactory(external_id="crm-42")
    before = db_state()

    # when
    response = api.post("/api/subscribers/", anna_payload(external_id="crm-42"), format="json")

    # then
    assert response.status_code == 400
    assert response.json() == {"external_id": ["subscriber with this external id already exists."]}
    assert db_state() == before


def test_several_subscribers_may_have_no_external_id(api):
    # given
    SubscriberFactory(external_id="")

    # when
    response = api.post("/api/subscribers/", anna_payload(external_id="", subscriptions=[]), format="json")

    # then
    assert response.status_code == 201
    assert list(Subscriber.objects.values_list("external_id", flat=True)) == ["", ""]


# --- opt-out -------------------------------------------------------------------------


def test_opt_out_stops_a_subscription_once(api):
    # given
    anna = SubscriberFactory()
    whatsapp = subscribe(anna, "whatsapp", "+79990001122", saved_our_number=True, at=NOV_1_10H)
    campaign = CampaignFactory(platforms=["whatsapp"])
    queued = Delivery.objects.create(campaign=campaign, subscriber=anna, subscription=whatsapp, platform="whatsapp",
                                     list_number=1, send_after=campaign.send_at)

    # when: the address as a person would type it
    first = api.post("/api/opt-out/", {"platform": "whatsapp", "address": "+7 (999) 000-11-22",
                                       "source": "call_center", "text": "Please stop"}, format="json")
    events_after_first = ConsentEvent.objects.count()
    second = api.post("/api/opt-out/", {"platform": "whatsapp", "address": "+79990001122"}, format="json")

    # then
    shown = {"platform": "whatsapp", "account": None, "address": "+79990001122", "status": "opted_out",
             "saved_our_number": True,
             "consent": {"source": "test", "text": "Yes, send me offers", "at": "2026-11-01T10:00:00Z",
                         "evidence": {}}}
    assert first.status_code == 200
    assert first.json() == {**shown, "changed": True}
    assert second.status_code == 200
    assert second.json() == {**shown, "changed": False}
    assert ConsentEvent.objects.count() == events_after_first == 2
    last = whatsapp.consent_events.order_by("id").last()
    assert (last.kind, last.status, last.source, last.text, last.evidence) == (
        "opt_out", "opted_out", "call_center", "Please stop", {"api": True}
    )
    queued.refresh_from_db()
    assert (queued.status, queued.reason) == ("skipped", "opted out via call_center")


def test_opt_out_of_an_unknown_address_is_a_404(api, db_state):
    # given
    subscribe(SubscriberFactory(), "telegram", "123456789")
    before = db_state()

    # when
    response = api.post("/api/opt-out/", {"platform": "telegram", "address": "987654321"}, format="json")

    # then
    assert response.status_code == 404
    assert response.json() == {"address": ["no telegram subscription with address 987654321"]}
    assert db_state() == before


def test_opt_out_on_another_platform_than_the_address_is_a_404(api, db_state):
    # given
    subscribe(SubscriberFactory(), "whatsapp", "+79990001122")
    before = db_state()

    # when
    response = api.post("/api/opt-out/", {"platform": "viber", "address": "+79990001122"}, format="json")

    # then
    assert response.status_code == 404
    assert response.json() == {"address": ["no viber subscription with address +79990001122"]}
    assert db_state() == before


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"platform": "sms", "address": "123456789"}, {"platform": ['"sms" is not a valid choice.']}),
        ({"address": "123456789"}, {"platform": ["This field is required."]}),
        ({"platform": "telegram"}, {"address": ["This field is required."]}),
        ({"platform": "whatsapp", "address": "not a phone"},
         {"address": ["phone number 'not a phone' has no country code: write it as +<country><number>"]}),
    ],
)
def test_opt_out_with_bad_input_is_a_400(api, db_state, payload, expected):
    # given
    subscribe(SubscriberFactory(), "telegram", "123456789")
    before = db_state()

    # when
    response = api.post("/api/opt-out/", payload, format="json")

    # then
    assert response.status_code == 400
    assert response.json() == expected
    assert db_state() == before


# --- segments ----------------------------------------------------------------------


@pytest.fixture
def vip_audience():
    """Anna: vip, Moscow, Telegram. Boris: vip, Moscow, Telegram opted out, Viber.
    Clara: vip, Kazan, Telegram + WhatsApp. Dmitri: Moscow, no tags."""
    anna = SubscriberFactory(name="Anna", attributes={"city": "Moscow"})
    boris = SubscriberFactory(name="Boris", attributes={"city": "Moscow"})
    clara = SubscriberFactory(name="Clara", attributes={"city": "Kazan"})
    dmitri = SubscriberFactory(name="Dmitri", attributes={"city": "Moscow"})
    for person in (anna, boris, clara):
        services.tags_set(subscriber=person, names=["vip"])
    subscribe(anna, "telegram")
    opted_out(subscribe(boris, "telegram"))
    subscribe(boris, "viber")
    subscribe(clara, "telegram")
    subscribe(clara, "whatsapp")
    return {"anna": anna, "boris": boris, "clara": clara, "dmitri": dmitri}


def test_creating_a_dynamic_segment_answers_its_full_rules_and_sizes(api, vip_audience):
    # when
    response = api.post(
        "/api/segments/",
        {"name": "VIP Moscow", "kind": "dynamic", "max_size": 15,
         "rules": {"tags_all": ["vip"], "platforms": ["viber", "telegram"], "attributes": {"city": "Moscow"}}},
        format="json",
    )

    # then: Anna and Boris; Boris is reachable on Viber only
    assert response.status_code == 201
    segment = Segment.objects.get()
    assert response.json() == {
        "id": segment.pk,
        "name": "VIP Moscow",
        "kind": "dynamic",
        "rules": {"tags_all": ["vip"], "tags_any": [], "platforms": ["telegram", "viber"],
                  "attributes": {"city": "Moscow"}},
        "members": [],
        "max_size": 15,
        "size": 2,
        "sizes": {"telegram": 1, "whatsapp": 0, "viber": 1},
    }
    assert segment.rules == response.json()["rules"]


def test_a_static_segment_counts_its_members(api, vip_audience):
    # given
    members = [vip_audience["anna"].pk, vip_audience["boris"].pk, vip_audience["dmitri"].pk]

    # when
    response = api.post("/api/segments/", {"name": "Hand-picked", "kind": "static", "members": members},
                        format="json")

    # then
    assert response.status_code == 201
    body = response.json()
    assert (body["kind"], sorted(body["members"]), body["rules"], body["size"], body["sizes"]) == (
        "static", sorted(members), {}, 3, {"telegram": 1, "whatsapp": 0, "viber": 1}
    )


def test_the_segment_list_shows_each_size(api, vip_audience):
    # given
    everyone = SegmentFactory(name="Everyone")
    vip_whatsapp = SegmentFactory(name="VIP WhatsApp", rules={"tags_all": ["vip"], "platforms": ["whatsapp"]})

    # when
    response = api.get("/api/segments/")

    # then
    assert response.status_code == 200
    assert [(s["id"], s["size"], s["sizes"]) for s in response.json()["results"]] == [
        (everyone.pk, 4, {"telegram": 2, "whatsapp": 1, "viber": 1}),
        (vip_whatsapp.pk, 1, {"telegram": 1, "whatsapp": 1, "viber": 0}),
    ]


def test_changing_the_rules_changes_the_size(api, vip_audience):
    # given
    segment = SegmentFactory(name="VIP", rules={"tags_all": ["vip"], "tags_any": [], "platforms": [],
                                                "attributes": {}})

    # when
    response = api.patch(f"/api/segments/{segment.pk}/", {"rules": {"attributes": {"city": "Kazan"}}},
                         format="json")

    # then
    assert response.status_code == 200
    assert (response.json()["size"], response.json()["sizes"]) == (1, {"telegram": 1, "whatsapp": 1, "viber": 0})
    segment.refresh_from_db()
    assert segment.rules == {"tags_all": [], "tags_any": [], "platforms": [], "attributes": {"city": "Kazan"}}


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"name": "S", "rules": {"tags": ["vip"], "city": "Moscow", "tags_all": ["vip"]}},
         {"rules": ["unknown rule(s) city, tags; known: tags_all, tags_any, platforms, attributes"]}),
        ({"name": "S", "rules": {"tags_all": "vip"}}, {"rules": ["tags_all must be a list of tag names"]}),
        ({"name": "S", "rules": {"tags_any": [""]}}, {"rules": ["tags_any must be a list of tag names"]}),
        ({"name": "S", "rules": {"platforms": ["sms"]}},
         {"rules": ["platforms must be a list of telegram, whatsapp, viber"]}),
        ({"name": "S", "rules": {"attributes": {"city": ["Moscow"]}}},
         {"rules": ["attributes must map names to a text, number or true/false value"]}),
        ({"name": "S", "rules": ["vip"]}, {"rules": ["rules must be an object"]}),
        ({"name": "S", "kind": "dynamic", "members": ["MEMBER"]},
         {"members": ["members are for static segments; use rules"]}),
        ({"name": "S", "kind": "static", "rules": {"tags_all": ["vip"]}},
         {"rules": ["rules are for dynamic segments; use members"]}),
        ({"name": "S", "kind": "smart"}, {"kind": ['"smart" is not a valid choice.']}),
        ({"name": "S", "kind": "static", "members": [999999]},
         {"members": ['Invalid pk "999999" - object does not exist.']}),
    ],
)
def test_an_invalid_segment_is_refused(api, vip_audience, db_state, payload, expected):
    # given
    payload = json.loads(json.dumps(payload).replace('"MEMBER"', str(vip_audience["anna"].pk)))
    before = db_state()

    # when
    response = api.post("/api/segments/", payload, format="json")

    # then
    assert response.status_code == 400
    assert response.json() == expected
    assert db_state() == before


# --- drafts --------------------------------------------------------------------------


def test_creating_a_draft_answers_its_previews(api):
    # when
    response = api.post(
        "/api/drafts/",
        {"title": "Black Friday", "body": "−30% on everything today only\nDetails inside…",
         "buttons": [{"text": "Shop", "url": "https://example.com"}],
         "whatsapp_template": {"name": "black_friday", "language": "ru", "parameters": ["−30%"]}},
        format="json",
    )

    # then: 29 characters of push, 45 of body; WhatsApp gets the button appended as a line
    # ("\nShop: https://example.com", 26 more), and its length is checked on that
    assert response.status_code == 201
    draft = Draft.objects.get()
    preview = {"push": "−30% on everything today only", "shown": "−30% on everything today only", "length": 29,
               "limit": 120, "fits": True, "body_length": 45, "body_fits": True, "caption": False}
    assert response.json() == {
        "id": draft.pk,
        "title": "Black Friday",
        "body": "−30% on everything today only\nDetails inside…",
        "buttons": [{"text": "Shop", "url": "https://example.com"}],
        "whatsapp_template": {"name": "black_friday", "language": "ru", "parameters": ["−30%"]},
        "media_url": "", "media": None, "track_links": True, "track_body_links": False,
        "previews": {
            "telegram": {**preview, "body_limit": 4096},
            "whatsapp": {**preview, "body_length": 71, "body_limit": 4096},
            "viber": {**preview, "body_limit": 7000},
        },
        "created_at": iso(draft.created_at),
        "updated_at": iso(draft.updated_at),
    }


def test_a_first_line_of_130_characters_is_cut_in_the_preview(api):
    # given: 118 "a", a space, 11 "b"; the cut keeps 119 characters, drops the space, adds "…"
    line = "a" * 118 + " " + "b" * 11
    draft = DraftFactory(body=line + "\nDetails inside")

    # when
    response = api.get(f"/api/drafts/{draft.pk}/")

    # then
    assert response.status_code == 200
    preview = {"push": line, "shown": "a" * 118 + "…", "length": 130, "limit": 120, "fits": False,
               "body_length": 145, "body_fits": True, "caption": False}
    assert response.json()["previews"] == {
        "telegram": {**preview, "body_limit": 4096},
        # the factory's button "Shop" is appended for WhatsApp: "\nShop: https://example.com"
        "whatsapp": {**preview, "body_length": 171, "body_limit": 4096},
        "viber": {**preview, "body_limit": 7000},
    }


def test_previews_are_read_only(api):
    # given
    draft = DraftFactory(body="Hello")

    # when
    response = api.patch(f"/api/drafts/{draft.pk}/", {"previews": {"telegram": {"fits": True}}, "body": "Hi"},
                         format="json")

    # then
    assert response.status_code == 200
    assert response.json()["previews"]["telegram"]["push"] == "Hi"
    draft.refresh_from_db()
    assert draft.body == "Hi"


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"body": ""}, {"body": ["This field may not be blank."]}),
        ({"body": "  \n\t "}, {"body": ["This field may not be blank."]}),
        ({"body": None}, {"body": ["This field may not be null."]}),
        ({"buttons": [{"text": "Shop", "url": "ftp://example.com/file"}]},
         {"buttons": {"0": {"url": ["a button URL starts with https:// or http://"]}}}),
        ({"buttons": [{"text": "Shop", "url": "https://example.com"}, {"text": "Bad", "url": "javascript:alert(1)"}]},
         {"buttons": {"1": {"url": ["Enter a valid URL."]}}}),
        ({"buttons": [{"text": "Shop"}]}, {"buttons": {"0": {"url": ["This field is required."]}}}),
        ({"buttons": [{"text": f"B{i}", "url": "https://example.com"} for i in range(4)]},
         {"buttons": ["at most 3 buttons (WhatsApp shows no more)"]}),
        ({"whatsapp_template": {"name": "Black Friday", "language": "ru"}},
         {"whatsapp_template": {"name": ["This value does not match the required pattern."]}}),
    ],
)
def test_an_invalid_draft_is_refused(api, db_state, payload, expected):
    # given
    before = db_state()

    # when
    response = api.post("/api/drafts/", {"title": "Black Friday", "body": "Hello", **payload}, format="json")

    # then
    assert response.status_code == 400
    assert response.json() == expected
    assert db_state() == before


# --- campaigns ---------------------------------------------------------------------


def campaign_payload(draft: Draft, segment: Segment, /, **overrides: object) -> dict:
    return {"name": "BF 2026", "draft": draft.pk, "segment": segment.pk,
            "platforms": ["viber", "telegram", "whatsapp"], "send_at": SEND_AT, **overrides}


def test_creating_a_campaign_answers_the_api_md_shape(api):
    # given
    draft, segment = DraftFactory(), SegmentFactory()

    # when
    response = api.post("/api/campaigns/", campaign_payload(draft, segment, platforms=["viber", "telegram", "viber"],
                                                            expires_at="2030-01-02T09:00:00Z"), format="json")

    # then
    assert response.status_code == 201
    campaign = Campaign.objects.get()
    assert response.json() == {
        "id": campaign.pk,
        "name": "BF 2026",
        "draft": draft.pk,
        "segment": segment.pk,
        "platforms": ["telegram", "viber"],
        "send_at": "2030-01-01T09:00:00Z",
        "local_time": False,
        "expires_at": "2030-01-02T09:00:00Z",
        "status": "draft",
        "problem": "",
        "problem_since": None,
        "stats": NO_STATS,
        "content": None,
        "scheduled_at": None,
        "started_at": None,
        "finished_at": None,
        "cancelled_at": None,
        "created_by": "marketer",
        "submitted_by": None,
        "submitted_at": None,
        "approved_by": None,
        "approved_at": None,
        "created_at": iso(campaign.created_at),
        "updated_at": iso(campaign.updated_at),
        "follow_up_of": None,
        "follow_up_rule": "",
        "timezone": "", "recurrence": "", "recurrence_until": None,  # a series' fields, empty: once
        "series": None, "occurrence": None, "next_run_at": None, "next_occurrences": [],
        "paid_broadcast": False,
        "spread_hours": None, "send_window_start": None, "send_window_end": None,  # at once, at any hour
        "kind": "standard", "protect_content": False, "variants": [],  # one message (not an A/B test or VIP offers)
        "ab_test_share": None, "ab_wait_minutes": None, "ab_metric": "clicks", "ab_auto": True, "ab_winner": None,
        "ab_decided_at": None,
        "manual": False,  # sent by the workers, not by hand from the phone apps
        "telegram_account": None, "whatsapp_account": None, "viber_account": None,  # the default accounts
    }
    assert (campaign.platforms, campaign.status) == (["telegram", "viber"], "draft")


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"platforms": []}, {"platforms": ["choose at least one platform"]}),
        ({"platforms": ["telegram", "sms"]}, {"platforms": ['"sms" is not a valid choice.']}),
        ({"platforms": "telegram"}, {"platforms": ['Expected a list of items but got type "str".']}),
        ({"expires_at": "2030-01-01T08:00:00Z"}, {"expires_at": ["expires_at must be after send_at"]}),
        ({"expires_at": SEND_AT}, {"expires_at": ["expires_at must be after send_at"]}),
        ({"draft": 999999}, {"draft": ['Invalid pk "999999" - object does not exist.']}),
        ({"send_at": "tomorrow"}, {"send_at": [
            "Datetime has wrong format. Use one of these formats instead: "
            "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
        ]}),
    ],
)
def test_an_invalid_campaign_is_refused(api, db_state, overrides, expected):
    # given
    draft, segment = DraftFactory(), SegmentFactory()
    before = db_state()

    # when
    response = api.post("/api/campaigns/", campaign_payload(draft, segment, **overrides), format="json")

    # then
    assert response.status_code == 400
    assert response.json() == expected
    assert db_state() == before


def test_scheduling_a_campaign_freezes_its_content(api):
    # given
    draft = DraftFactory(title="Black Friday", body="−30% today\nDetails inside",
                         buttons=[{"text": "Shop", "url": "https://example.com"}])
    campaign = CampaignFactory(draft=draft, platforms=["telegram", "whatsapp"])

    # when
    scheduled = api.post(f"/api/campaigns/{campaign.pk}/schedule/")
    edited = api.patch(f"/api/drafts/{draft.pk}/", {"title": "Edited", "body": "Edited body", "buttons": []},
                       format="json")
    after_edit = api.get(f"/api/campaigns/{campaign.pk}/")

    # then
    frozen = {"title": "Black Friday", "body": "−30% today\nDetails inside",
              "buttons": [{"text": "Shop", "url": "https://example.com"}], "whatsapp_template": None,
              "track_links": True, "track_body_links": False}
    assert scheduled.status_code == 200
    assert (scheduled.json()["status"], scheduled.json()["content"]) == ("scheduled", frozen)
    assert scheduled.json()["scheduled_at"] is not None
    assert edited.status_code == 200
    assert after_edit.json()["content"] == frozen
    campaign.refresh_from_db()
    assert (campaign.status, campaign.content_body) == ("scheduled", "−30% today\nDetails inside")


def assert_still_a_draft(api: APIClient, campaign: Campaign) -> None:
    body = api.get(f"/api/campaigns/{campaign.pk}/").json()
    assert (body["status"], body["content"], body["scheduled_at"]) == ("draft", None, None)


def test_scheduling_refuses_a_send_at_in_the_past(api, db_state):
    # given
    campaign = CampaignFactory(send_at=datetime(2020, 1, 1, 9, 0, tzinfo=UTC))
    before = db_state()

    # when
    now_before = timezone.now()
    response = api.post(f"/api/campaigns/{campaign.pk}/schedule/")
    now_after = timezone.now()

    # then
    assert response.status_code == 400
    assert response.json() in [
        {"send_at": [f"send_at 2020-01-01 09:00 UTC is in the past (now {now:%Y-%m-%d %H:%M} UTC)"]}
        for now in (now_before, now_after)
    ]
    assert db_state() == before
    assert_still_a_draft(api, campaign)


def test_scheduling_refuses_a_body_over_telegrams_limit(api, db_state):
    # given: 15 + 2041 * 2 = 4097 UTF-16 units; 2056 code points fit WhatsApp
    campaign = CampaignFactory(draft=DraftFactory(body="Short headline\n" + "😀" * 2041),
                               platforms=["telegram", "whatsapp"])
    before = db_state()

    # when
    response = api.post(f"/api/campaigns/{campaign.pk}/schedule/")

    # then
    assert response.status_code == 400
    assert response.json() == {"draft": ["telegram: the message is 4097 characters, over the limit of 4096"]}
    assert db_state() == before
    assert_still_a_draft(api, campaign)


def test_scheduling_refuses_a_push_preview_over_120_characters(api, db_state):
    # given
    campaign = CampaignFactory(draft=DraftFactory(body="x" * 121 + "\nmore"), platforms=["viber"])
    before = db_state()

    # when
    response = api.post(f"/api/campaigns/{campaign.pk}/schedule/")

    # then
    assert response.status_code == 400
    assert response.json() == {
        "draft": ["viber: the push preview (first line) is 121 characters, over the limit of 120"]
    }
    assert db_state() == before
    assert_still_a_draft(api, campaign)


def test_scheduling_refuses_a_segment_over_its_max_size(api, db_state):
    # given
    segment = SegmentFactory(name="VIP group", kind="static", rules={}, max_size=15)
    segment.members.set(SubscriberFactory.create_batch(16))
    campaign = CampaignFactory(segment=segment)
    before = db_state()

    # when
    response = api.post(f"/api/campaigns/{campaign.pk}/schedule/")

    # then
    assert response.status_code == 400
    assert response.json() == {"segment": ["segment 'VIP group' has 16 people, over its max_size of 15"]}
    assert db_state() == before
    assert_still_a_draft(api, campaign)


def test_scheduling_a_scheduled_campaign_again_is_refused(api):
    # given
    campaign = CampaignFactory()
    api.post(f"/api/campaigns/{campaign.pk}/schedule/")
    scheduled_at = Campaign.objects.get().scheduled_at

    # when
    response = api.post(f"/api/campaigns/{campaign.pk}/schedule/")

    # then
    assert response.status_code == 400
    assert response.json() == {"non_field_errors": ["only a draft campaign can be scheduled; this one is scheduled"]}
    assert Campaign.objects.get().scheduled_at == scheduled_at


def test_cancelling_a_scheduled_campaign(api):
    # given
    campaign = CampaignFactory()
    services.campaign_schedule(campaign=campaign)
    subscription = subscribe(SubscriberFactory(), "telegram")
    planned = Delivery.objects.create(campaign=campaign, subscriber=subscription.subscriber,
                                      subscription=subscription, platform="telegram", list_number=1,
                                      send_after=campaign.send_at)

    # when
    response = api.post(f"/api/campaigns/{campaign.pk}/cancel/")

    # then
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert response.json()["stats"] == {**NO_STATS, "planned": 1, "skipped": 1}
    campaign.refresh_from_db()
    assert response.json()["cancelled_at"] == iso(campaign.cancelled_at) is not None
    planned.refresh_from_db()
    assert (planned.status, planned.reason) == ("skipped", "campaign cancelled")


def test_cancelling_a_draft_campaign_is_refused(api, db_state):
    # given
    campaign = CampaignFactory()
    before = db_state()

    # when
    response = api.post(f"/api/campaigns/{campaign.pk}/cancel/")

    # then
    assert response.status_code == 400
    assert response.json() == {"non_field_errors": ["a draft campaign cannot be cancelled"]}
    assert db_state() == before


def test_editing_a_scheduled_campaign_is_refused(api, db_state):
    # given
    campaign = CampaignFactory(name="BF 2026")
    services.campaign_schedule(campaign=campaign)
    before = db_state()

    # when
    response = api.patch(f"/api/campaigns/{campaign.pk}/", {"name": "Renamed", "send_at": "2031-01-01T09:00:00Z"},
                         format="json")

    # then
    assert response.status_code == 400
    assert response.json() == {"status": ["a scheduled campaign cannot be edited"]}
    assert db_state() == before


def test_editing_a_draft_campaign(api):
    # given
    campaign = CampaignFactory(name="BF 2026")

    # when
    response = api.patch(f"/api/campaigns/{campaign.pk}/", {"name": "BF 2026 (v2)", "platforms": ["whatsapp"]},
                         format="json")

    # then
    assert response.status_code == 200
    assert (response.json()["name"], response.json()["platforms"]) == ("BF 2026 (v2)", ["whatsapp"])
    campaign.refresh_from_db()
    assert (campaign.name, campaign.platforms) == ("BF 2026 (v2)", ["whatsapp"])


def test_deleting_a_scheduled_campaign_is_refused(api, db_state):
    # given
    campaign = CampaignFactory()
    services.campaign_schedule(campaign=campaign)
    before = db_state()

    # when
    response = api.delete(f"/api/campaigns/{campaign.pk}/")

    # then
    assert response.status_code == 400
    assert response.json() == {"status": ["a scheduled campaign is kept; cancel it instead"]}
    assert db_state() == before


def test_deleting_a_draft_campaign(api):
    # given
    campaign, other = CampaignFactory(), CampaignFactory()

    # when
    response = api.delete(f"/api/campaigns/{campaign.pk}/")

    # then
    assert response.status_code == 204
    assert list(Campaign.objects.values_list("pk", flat=True)) == [other.pk]


def test_campaign_stats_count_the_ledger(api):
    # given: one row in each state
    campaign = CampaignFactory()
    statuses = ["planned", "sending", "sent", "delivered", "read", "failed", "held", "skipped", "uncertain"]
    for status in statuses:
        subscription = subscribe(SubscriberFactory(), "telegram")
        Delivery.objects.create(campaign=campaign, subscriber=subscription.subscriber, subscription=subscription,
                                platform="telegram", list_number=1, status=status, send_after=campaign.send_at)

    # when
    response = api.get(f"/api/campaigns/{campaign.pk}/")

    # then: sent includes delivered and read; delivered includes read
    assert response.json()["stats"] == {"planned": 9, "sent": 3, "delivered": 2, "read": 1, "clicked": 0, "failed": 1,
                                        "held": 1, "skipped": 1, "uncertain": 1, "opted_out_48h": 0}


# --- deliveries ----------------------------------------------------------------------


def test_the_delivery_list_is_filtered_by_campaign(api):
    # given
    first, second = CampaignFactory(), CampaignFactory()
    anna, boris = SubscriberFactory(), SubscriberFactory()
    anna_telegram, boris_whatsapp = subscribe(anna, "telegram", "123456789"), subscribe(boris, "whatsapp")
    sent_at = datetime(2030, 1, 1, 9, 1, tzinfo=UTC)
    mine = [
        Delivery.objects.create(campaign=first, subscriber=anna, subscription=anna_telegram, platform="telegram",
                                list_number=1, status="sent", send_after=first.send_at, attempts=1, sent_at=sent_at,
                                platform_message_id="m-1"),
        Delivery.objects.create(campaign=first, subscriber=boris, subscription=boris_whatsapp, platform="whatsapp",
                                list_number=2, status="held", reason="daily cap",
                                send_after=first.send_at + timedelta(days=1)),
    ]
    Delivery.objects.create(campaign=second, subscriber=anna, subscription=anna_telegram, platform="telegram",
                            list_number=1, send_after=second.send_at)

    # when
    response = api.get("/api/deliveries/", {"campaign": first.pk})

    # then
    assert response.status_code == 200
    assert response.json() == {"next": None, "previous": None, "results": [
        {"id": d.pk, "campaign": first.pk, "subscriber": d.subscriber_id, "platform": d.platform, "account": None,
         "address": d.subscription.address, "list_number": d.list_number, "status": d.status, "reason": d.reason,
         "send_after": iso(d.send_after), "attempts": d.attempts, "sent_at": iso(d.sent_at),
         "delivered_at": None, "read_at": None, "clicked_at": None, "coupon": None, "created_at": iso(d.created_at),
         "updated_at": iso(d.updated_at)}
        for d in mine
    ]}
    assert response.json()["results"][0]["address"] == "123456789"
    assert response.json()["results"][0]["sent_at"] == "2030-01-01T09:01:00Z"


def test_the_delivery_ledger_is_read_only(api, db_state):
    # given
    campaign = CampaignFactory()
    subscription = subscribe(SubscriberFactory(), "telegram")
    delivery = Delivery.objects.create(campaign=campaign, subscriber=subscription.subscriber,
                                       subscription=subscription, platform="telegram", list_number=1,
                                       send_after=campaign.send_at)
    before = db_state()

    # when
    patched = api.patch(f"/api/deliveries/{delivery.pk}/", {"status": "sent"}, format="json")
    deleted = api.delete(f"/api/deliveries/{delivery.pk}/")

    # then
    assert (patched.status_code, deleted.status_code) == (405, 405)
    assert db_state() == before


# --- garbage never gives a 500 ------------------------------------------------------------


HUGE = "9" * 100_000

GARBAGE = [
    pytest.param("/api/subscribers/", "{not json", {"detail": (
        "JSON parse error - Expecting property name enclosed in double quotes: line 1 column 2 (char 1)")},
        id="not-json"),
    pytest.param("/api/campaigns/", "", None, id="empty-body"),
    pytest.param("/api/subscribers/", "[1, 2]",
                 {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}, id="list"),
    pytest.param("/api/opt-out/", '"stop"',
                 {"non_field_errors": ["Invalid data. Expected a dictionary, but got str."]}, id="string"),
    pytest.param("/api/segments/", "42",
                 {"non_field_errors": ["Invalid data. Expected a dictionary, but got int."]}, id="number"),
    pytest.param("/api/subscribers/", json.dumps({"name": "x" * 100_000}),
                 {"name": ["Ensure this field has no more than 200 characters."]}, id="huge-name"),
    pytest.param("/api/subscribers/", json.dumps({"subscriptions": [
        {"platform": "telegram", "address": HUGE, "consent": CONSENT}]}),
        {"subscriptions": {"0": {"address": ["Ensure this field has no more than 64 characters."]}}},
        id="huge-address"),
    pytest.param("/api/subscribers/", json.dumps({"timezone": "x" * 100_000}),
                 {"timezone": ["Ensure this field has no more than 64 characters."]}, id="huge-timezone"),
    pytest.param("/api/opt-out/", json.dumps({"platform": "whatsapp", "address": "+" + HUGE}),
                 {"address": ["Ensure this field has no more than 64 characters."]}, id="huge-opt-out"),
    pytest.param("/api/subscribers/", '{"attributes": {"n": ' + "9" * 5000 + "}}", None, id="huge-number"),
    pytest.param("/api/subscribers/", '{"attributes": {"n": 1e400}}',
                 {"attributes": ["Value must be valid JSON."]}, id="infinite-number"),
    pytest.param("/api/segments/", json.dumps({"name": "S", "max_size": 10**20}),
                 {"max_size": ["Ensure this value is less than or equal to 2147483647."]}, id="huge-max-size"),
    pytest.param("/api/subscribers/", json.dumps({"name": None, "tags": None, "attributes": None}),
                 {"name": ["This field may not be null."], "tags": ["This field may not be null."],
                  "attributes": ["This field may not be null."]}, id="null-subscriber"),
    pytest.param("/api/subscribers/", json.dumps({"subscriptions": [None]}),
                 {"subscriptions": {"0": ["This field may not be null."]}}, id="null-subscription"),
    pytest.param("/api/subscribers/", json.dumps({"subscriptions": [
        {"platform": None, "address": None, "consent": None}]}),
        {"subscriptions": {"0": {"platform": ["This field may not be null."],
                                 "address": ["This field may not be null."],
                                 "consent": ["This field may not be null."]}}}, id="null-subscription-fields"),
    pytest.param("/api/opt-out/", json.dumps({"platform": None, "address": None}),
                 {"platform": ["This field may not be null."], "address": ["This field may not be null."]},
                 id="null-opt-out"),
    pytest.param("/api/segments/", json.dumps({"name": None, "kind": None, "rules": None, "members": None}),
                 {"name": ["This field may not be null."], "kind": ["This field may not be null."],
                  "rules": ["This field may not be null."], "members": ["This field may not be null."]},
                 id="null-segment"),
    pytest.param("/api/drafts/", json.dumps({"title": None, "body": None, "buttons": None}),
                 {"title": ["This field may not be null."], "body": ["This field may not be null."],
                  "buttons": ["This field may not be null."]}, id="null-draft"),
    pytest.param("/api/campaigns/", json.dumps({"name": None, "draft": None, "segment": None, "platforms": None,
                                                "send_at": None}),
                 {"name": ["This field may not be null."], "draft": ["This field may not be null."],
                  "segment": ["This field may not be null."], "platforms": ["This field may not be null."],
                  "send_at": ["This field may not be null."]}, id="null-campaign"),
    pytest.param("/api/subscribers/", json.dumps({"name": "a\u0000b"}),
                 {"name": ["Null characters are not allowed."]}, id="nul-in-text"),
    # PostgreSQL's jsonb cannot hold \u0000: these must be refused before they reach it
    pytest.param("/api/subscribers/", json.dumps({"name": "Anna", "attributes": {"note": "a\u0000b"}}),
                 None, id="nul-in-attributes"),
    pytest.param("/api/segments/", json.dumps({"name": "S", "rules": {"tags_all": ["vip\u0000"]}}),
                 None, id="nul-in-segment-rules"),
    pytest.param("/api/segments/", json.dumps({"name": "S", "rules": {"attributes": {"city\u0000": "Moscow"}}}),
                 None, id="nul-in-segment-attribute-name"),
]


@pytest.mark.parametrize(("path", "raw", "expected"), GARBAGE)
def test_garbage_input_is_a_400_that_writes_nothing(api, db_state, path, raw, expected):
    # given
    before = db_state()

    # when
    response = api.post(path, raw, content_type="application/json")

    # then
    assert response.status_code == 400, response.content[:300]
    assert response["Content-Type"] == "application/json"
    body = response.json()
    if expected is not None:
        assert body == expected
    else:
        assert isinstance(body, dict) and body
    assert db_state() == before


@pytest.mark.parametrize(
    ("query", "status", "expected"),
    [
        # refused before any filter sees it (config/middleware.py)
        ({"search": "\x00"}, 400, {"detail": "the query string contains a NUL character"}),
        ({"tag": "\x00"}, 400, {"detail": "the query string contains a NUL character"}),
        ({"page": "abc"}, 404, {"detail": "Invalid page."}),
        ({"ordering": "no_such_field"}, 200, {"count": 0, "next": None, "previous": None, "results": []}),
    ],
)
def test_garbage_in_the_query_string_never_gives_a_500(api, query, status, expected):
    # when
    response = api.get("/api/subscribers/", query)

    # then
    assert response.status_code == status
    assert response.json() == expected
