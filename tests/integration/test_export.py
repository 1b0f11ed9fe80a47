"""Right of access and portability (GDPR art. 15 and 20): everything held about one person,
as JSON, over the API and from the admin."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import Group
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from campaigns import services
from campaigns.models import (
    Campaign,
    Delivery,
    Segment,
    SendList,
    Subscriber,
    Subscription,
    Tag,
)
from campaigns.services import privacy
from tests.conftest import CampaignFactory, SubscriberFactory, subscribe

pytestmark = pytest.mark.django_db
S = Delivery.Status
SENT = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def staff(django_user_model, username: str, group: str | None):
    user = django_user_model.objects.create_user(username, password="x-secret-123", is_staff=True)
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


def api_as(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def anna() -> Subscriber:
    """A person with two subscriptions, a consent trail with evidence, tags, a static
    segment, and a campaign message that was delivered and read."""
    person = SubscriberFactory(name="Anna Petrova", external_id="crm-42", timezone="Europe/Moscow", language="ru",
                               attributes={"city": "Kazan", "avg_check": 5400})
    person.tags.add(Tag.objects.create(name="vip"))
    Segment.objects.create(name="VIP Kazan", kind=Segment.Kind.STATIC).members.add(person)
    telegram = services.subscription_add(subscriber=person, platform="telegram", address="700100200",
                                         consent=services.Consent(source="telegram_start", text="Press Start",
                                                                  at=datetime(2026, 11, 1, tzinfo=UTC),
                                                                  evidence={"payload": "vip", "user_id": 700100200},
                                                                  by_person=True))
    whatsapp = subscribe(person, "whatsapp", "+79990001122", saved_our_number=True)
    services.subscription_opt_out(subscription=whatsapp, consent=services.Consent(
        source="whatsapp_stop", text="STOP", at=datetime(2026, 11, 10, tzinfo=UTC), by_person=True,
        evidence={"message_id": "wamid.S1", "text": "STOP"}))
    campaign = CampaignFactory(name="Black Friday", status=Campaign.Status.COMPLETED, platforms=["telegram"],
                               content_body="−30% on everything today only\nDetails inside…",
                               content_buttons=[{"text": "Shop", "url": "https://example.com"}])
    send_list = SendList.objects.create(campaign=campaign, platform="telegram", number=1, size=1,
                                        state=SendList.State.DONE)
    Delivery.objects.create(campaign=campaign, subscriber=person, subscription=telegram, platform="telegram",
                            send_list=send_list, list_number=1, status=S.READ, send_after=SENT, sent_at=SENT,
                            delivered_at=SENT + timedelta(minutes=1), read_at=SENT + timedelta(minutes=5),
                            platform_message_id="4711", attempts=1)
    SubscriberFactory(name="Somebody Else")  # never in Anna's export
    return person


def test_the_export_returns_everything_held_about_the_person(anna, django_user_model):
    operator = staff(django_user_model, "operator", "Operator")
    answer = api_as(operator).get(f"/api/subscribers/{anna.pk}/export/")

    assert answer.status_code == 200
    assert answer["Content-Disposition"] == f'attachment; filename="subscriber-{anna.pk}.json"'
    data = answer.json()
    telegram, whatsapp = Subscription.objects.filter(subscriber=anna).order_by("id")
    assert data["subscriber"] == {
        "id": anna.pk, "external_id": "crm-42", "name": "Anna Petrova", "timezone": "Europe/Moscow",
        "language": "ru", "tags": ["vip"], "attributes": {"city": "Kazan", "avg_check": 5400},
        "static_segments": ["VIP Kazan"], "created_at": anna.created_at.isoformat(),
        "updated_at": Subscriber.objects.get(pk=anna.pk).updated_at.isoformat(),
    }
    assert data["subscriptions"] == [
        {"platform": "telegram", "address": "700100200", "status": "opted_in", "saved_our_number": False,
         "last_inbound_at": None, "created_at": telegram.created_at.isoformat()},
        {"platform": "whatsapp", "address": "+79990001122", "status": "opted_out", "saved_our_number": True,
         "last_inbound_at": None, "created_at": whatsapp.created_at.isoformat()},
    ]
    assert [{k: e[k] for k in ("platform", "address", "kind", "status", "source", "text", "evidence", "by_person",
                               "at")} for e in data["consent"]] == [
        {"platform": "telegram", "address": "700100200", "kind": "opt_in", "status": "opted_in",
         "source": "telegram_start", "text": "Press Start", "evidence": {"payload": "vip", "user_id": 700100200},
         "by_person": True, "at": "2026-11-01T00:00:00+00:00"},
        {"platform": "whatsapp", "address": "+79990001122", "kind": "opt_in", "status": "opted_in",
         "source": "test", "text": "Yes, send me offers", "evidence": {}, "by_person": False,
         "at": "2026-11-01T00:00:00+00:00"},
        {"platform": "whatsapp", "address": "+79990001122", "kind": "opt_out", "status": "opted_out",
         "source": "whatsapp_stop", "text": "STOP", "evidence": {"message_id": "wamid.S1", "text": "STOP"},
         "by_person": True, "at": "2026-11-10T00:00:00+00:00"},
    ]
    assert all(e["recorded_at"] for e in data["consent"])
    assert data["deliveries"] == [{
        "campaign": {"id": Campaign.objects.get(name="Black Friday").pk, "name": "Black Friday"},
        "platform": "telegram", "text": "−30% on everything today only\nDetails inside…",
        "buttons": [{"text": "Shop", "url": "https://example.com"}], "status": "read", "reason": "",
        "platform_message_id": "4711", "send_after": "2026-11-20T09:00:00+00:00",
        "sent_at": "2026-11-20T09:00:00+00:00", "delivered_at": "2026-11-20T09:01:00+00:00",
        "read_at": "2026-11-20T09:05:00+00:00",
    }]
    assert data["clicks"] == []  # Tact records no clicks per person (yet)
    assert "Somebody Else" not in answer.content.decode()
    # the access itself is in the audit log
    entry = LogEntry.objects.get(additional_data__verb="exported")
    assert (entry.object_pk, entry.actor) == (str(anna.pk), operator)


@pytest.mark.parametrize("group", ["Marketer", "Approver", "Analyst", None])
def test_the_export_is_refused_without_export_subscriber(anna, django_user_model, group):
    api = api_as(staff(django_user_model, "someone", group))
    entries = LogEntry.objects.count()

    answer = api.get(f"/api/subscribers/{anna.pk}/export/")

    assert answer.status_code == 403
    assert "Anna" not in answer.content.decode()
    assert LogEntry.objects.count() == entries


def test_the_export_of_an_erased_or_unknown_person_is_404(anna, django_user_model):
    privacy.subscriber_erase(subscriber=anna)
    api = api_as(staff(django_user_model, "operator", "Operator"))

    assert api.get(f"/api/subscribers/{anna.pk}/export/").status_code == 404
    assert api.get("/api/subscribers/999999/export/").status_code == 404


def test_the_export_masks_addresses_for_a_user_without_view_address(anna, django_user_model):
    from django.contrib.auth.models import Permission

    user = staff(django_user_model, "dpo", None)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_subscriber", "export_subscriber"]))

    data = api_as(user).get(f"/api/subscribers/{anna.pk}/export/").json()

    assert [s["address"] for s in data["subscriptions"]] == ["70*****00", "+7 999 ***-**-22"]
    assert data["consent"][0]["evidence"] == {"payload": "vip", "user_id": "70*****00"}
    assert "700100200" not in json.dumps(data) and "79990001122" not in json.dumps(data)


def test_the_admin_offers_the_export_to_those_allowed_and_serves_it_as_a_download(anna, django_user_model):
    operator, marketer = Client(), Client()
    operator.force_login(staff(django_user_model, "operator", "Operator"))
    marketer.force_login(staff(django_user_model, "marketer", "Marketer"))
    url = f"/admin/campaigns/subscriber/{anna.pk}/export/"

    assert f'href="{url}"' in operator.get(f"/admin/campaigns/subscriber/{anna.pk}/change/").content.decode()
    assert f'href="{url}"' not in marketer.get(f"/admin/campaigns/subscriber/{anna.pk}/change/").content.decode()
    download = operator.get(url)
    assert download.status_code == 200
    assert download["Content-Disposition"] == f'attachment; filename="subscriber-{anna.pk}.json"'
    assert json.loads(download.content)["subscriber"]["name"] == "Anna Petrova"
    assert marketer.get(url).status_code == 403
