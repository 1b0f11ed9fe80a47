"""Masked addresses: users without campaigns.view_address (the Analyst group) see phone
numbers and chat ids masked (`+7 999 ***-**-67`) wherever addresses appear, in the API and
in the admin's HTML; a Marketer sees them whole."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from campaigns import services
from campaigns.models import (
    Campaign,
    ConsentEvent,
    Delivery,
    SendList,
    Subscriber,
    Subscription,
)
from channels.models import OutboxMessage
from tests.conftest import CampaignFactory, SubscriberFactory

pytestmark = pytest.mark.django_db

CHAT, PHONE = "700100200", "+79991234567"
CHAT_MASKED, PHONE_MASKED = "70*****00", "+7 999 ***-**-67"
RAW = [CHAT, PHONE, PHONE.lstrip("+")]


def raw_in(text: str) -> list[str]:
    return [raw for raw in RAW if raw in text]


@pytest.fixture
def anna() -> Subscriber:
    """Anna on Telegram (her consent evidence names her chat id) and WhatsApp, with a
    delivered WhatsApp message and a sandbox reply in the outbox."""
    person = SubscriberFactory(name="Anna Petrova")
    services.subscription_add(subscriber=person, platform="telegram", address=CHAT, consent=services.Consent(
        source="telegram_start", text="Press Start", at=datetime(2026, 11, 1, tzinfo=UTC),
        evidence={"payload": "vip", "user_id": int(CHAT)}, by_person=True))
    whatsapp = services.subscription_add(subscriber=person, platform="whatsapp", address=PHONE,
                                         consent=services.Consent(source="whatsapp_start", text="Write START",
                                                                  evidence={"from": PHONE.lstrip("+")},
                                                                  at=datetime(2026, 11, 1, tzinfo=UTC)))
    campaign = CampaignFactory(status=Campaign.Status.COMPLETED, platforms=["whatsapp"])
    send_list = SendList.objects.create(campaign=campaign, platform="whatsapp", number=1, size=1)
    sent = datetime(2026, 11, 20, 9, tzinfo=UTC)
    Delivery.objects.create(campaign=campaign, subscriber=person, subscription=whatsapp, platform="whatsapp",
                            send_list=send_list, list_number=1, status=Delivery.Status.SENT, send_after=sent,
                            sent_at=sent)
    OutboxMessage.objects.create(platform="whatsapp", address=PHONE, text="You are subscribed")
    return person


def user_in(django_user_model, username: str, group: str | None = None, perms: tuple[str, ...] = ()):
    user = django_user_model.objects.create_user(username, password="x-secret-123", is_staff=True)
    if group:
        user.groups.add(Group.objects.get(name=group))
    if perms:
        user.user_permissions.add(*Permission.objects.filter(codename__in=perms))
    return user


def api_as(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def admin_as(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# ---- the API ---------------------------------------------------------------------------------


def test_an_analyst_sees_masked_addresses_in_every_api_answer(anna, django_user_model):
    api = api_as(user_in(django_user_model, "analyst", "Analyst"))

    listed = api.get("/api/subscribers/")
    detail = api.get(f"/api/subscribers/{anna.pk}/")
    deliveries = api.get("/api/deliveries/")

    for answer in (listed, detail, deliveries):
        assert answer.status_code == 200
        assert raw_in(answer.content.decode()) == []
    subscriptions = detail.json()["subscriptions"]
    assert [(s["platform"], s["address"]) for s in subscriptions] == [("telegram", CHAT_MASKED),
                                                                       ("whatsapp", PHONE_MASKED)]
    assert subscriptions[0]["consent"]["evidence"] == {"payload": "vip", "user_id": CHAT_MASKED}
    assert subscriptions[1]["consent"]["evidence"] == {"from": PHONE_MASKED}
    assert [d["address"] for d in deliveries.json()["results"]] == [PHONE_MASKED]
    assert listed.json()["results"][0]["subscriptions"][1]["address"] == PHONE_MASKED


def test_an_analyst_cannot_find_a_person_by_their_address(anna, django_user_model):
    api = api_as(user_in(django_user_model, "analyst", "Analyst"))

    assert api.get("/api/subscribers/", {"search": CHAT}).json()["results"] == []
    assert [p["id"] for p in api.get("/api/subscribers/", {"search": "Anna"}).json()["results"]] == [anna.pk]


def test_a_marketer_sees_and_finds_the_addresses_whole(anna, django_user_model):
    api = api_as(user_in(django_user_model, "marketer", "Marketer"))

    detail = api.get(f"/api/subscribers/{anna.pk}/").json()
    deliveries = api.get("/api/deliveries/").json()["results"]
    found = api.get("/api/subscribers/", {"search": CHAT}).json()["results"]

    assert [s["address"] for s in detail["subscriptions"]] == [CHAT, PHONE]
    assert detail["subscriptions"][0]["consent"] == {
        "source": "telegram_start", "text": "Press Start", "at": "2026-11-01T00:00:00Z",
        "evidence": {"payload": "vip", "user_id": int(CHAT)}}
    assert [d["address"] for d in deliveries] == [PHONE]
    assert [p["id"] for p in found] == [anna.pk]


# ---- the admin -------------------------------------------------------------------------------


def _admin_pages(anna: Subscriber) -> list[str]:
    telegram, whatsapp = Subscription.objects.filter(subscriber=anna).order_by("id")
    delivery = Delivery.objects.get(subscriber=anna)
    return [
        "/admin/campaigns/subscriber/", f"/admin/campaigns/subscriber/{anna.pk}/change/",
        "/admin/campaigns/subscription/", f"/admin/campaigns/subscription/{telegram.pk}/change/",
        f"/admin/campaigns/subscription/{whatsapp.pk}/change/", f"/admin/campaigns/subscription/{whatsapp.pk}/history/",
        "/admin/campaigns/delivery/", f"/admin/campaigns/delivery/{delivery.pk}/change/",
    ]


def test_an_analysts_admin_pages_show_masked_addresses_and_never_the_raw_ones(anna, django_user_model):
    analyst = admin_as(user_in(django_user_model, "analyst", "Analyst"))
    telegram, whatsapp = Subscription.objects.filter(subscriber=anna).order_by("id")

    pages = {url: analyst.get(url) for url in _admin_pages(anna)}

    for url, page in pages.items():
        assert page.status_code == 200, url
        assert raw_in(page.content.decode()) == [], url
    subscriber_page = pages[f"/admin/campaigns/subscriber/{anna.pk}/change/"].content.decode()
    assert f"<p>{CHAT_MASKED}</p>" in subscriber_page  # the subscriptions inline
    assert f"<td>Telegram {CHAT_MASKED}</td>" in subscriber_page  # the consent history
    assert PHONE_MASKED in pages["/admin/campaigns/subscription/"].content.decode()
    whatsapp_page = pages[f"/admin/campaigns/subscription/{whatsapp.pk}/change/"].content.decode()
    assert f"WhatsApp {PHONE_MASKED}" in whatsapp_page  # title and breadcrumbs
    assert f"WhatsApp {PHONE_MASKED}" in pages[f"/admin/campaigns/delivery/{Delivery.objects.get().pk}/change/"
                                               ].content.decode()
    # nor can an address be searched for
    assert "0 results" in analyst.get("/admin/campaigns/subscription/", {"q": PHONE.lstrip("+")}).content.decode()
    assert "0 results" in analyst.get("/admin/campaigns/subscriber/", {"q": CHAT}).content.decode()


def test_a_marketers_admin_pages_show_the_addresses_whole(anna, django_user_model):
    marketer = admin_as(user_in(django_user_model, "marketer", "Marketer"))
    telegram, whatsapp = Subscription.objects.filter(subscriber=anna).order_by("id")

    subscriber_page = marketer.get(f"/admin/campaigns/subscriber/{anna.pk}/change/").content.decode()
    subscriptions = marketer.get("/admin/campaigns/subscription/").content.decode()
    whatsapp_page = marketer.get(f"/admin/campaigns/subscription/{whatsapp.pk}/change/").content.decode()

    assert f"<p>{CHAT}</p>" in subscriber_page and f"<td>Telegram {CHAT}</td>" in subscriber_page
    assert PHONE in subscriptions and PHONE_MASKED not in subscriptions
    assert f"WhatsApp {PHONE}" in whatsapp_page
    assert "1 result" in marketer.get("/admin/campaigns/subscription/", {"q": PHONE.lstrip("+")}).content.decode()


def test_consent_events_and_the_outbox_are_masked_for_a_viewer_without_view_address(anna, django_user_model):
    # given: someone who may read consent events, subscriptions and the outbox, not addresses
    viewer = admin_as(user_in(django_user_model, "viewer", perms=(
        "view_consentevent", "view_outboxmessage", "view_subscription", "view_subscriber")))
    event = ConsentEvent.objects.get(subscription__platform="telegram")

    pages = [viewer.get(url) for url in (
        "/admin/campaigns/consentevent/", f"/admin/campaigns/consentevent/{event.pk}/change/",
        "/admin/tact_channels/outboxmessage/", f"/admin/campaigns/subscription/{event.subscription_id}/change/")]
    export = viewer.post("/admin/campaigns/consentevent/", {
        "action": "export_csv", "_selected_action": list(ConsentEvent.objects.values_list("pk", flat=True))})

    for page in pages:
        assert page.status_code == 200
        assert raw_in(page.content.decode()) == []
    assert f"Telegram {CHAT_MASKED}" in pages[0].content.decode()
    assert f"Telegram {CHAT_MASKED}" in pages[1].content.decode()
    evidence = re.sub(r"<[^>]+>", "", pages[1].content.decode()).replace("&quot;", '"')  # highlighted JSON
    assert '"user_id": "70*****00"' in evidence  # the evidence
    assert PHONE_MASKED in pages[2].content.decode()
    assert "&quot;user_id&quot;: &quot;70*****00&quot;" in pages[3].content.decode()  # the consent inline
    assert raw_in(export.content.decode("utf-8-sig")) == []
    assert PHONE_MASKED in export.content.decode("utf-8-sig")
