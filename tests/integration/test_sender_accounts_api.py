"""Sender accounts over REST (/api/accounts/): operators keep them, every role reads them,
credentials are write-only and checked per platform (400 naming credentials.<field>); a
campaign picks its account per platform by slug; subscriptions and the ledger say which
account; scheduling refuses an inactive one; "check" asks the fake platform over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from campaigns.models import Campaign, Delivery, SenderAccount, SendList, Subscription
from campaigns.services.sender_accounts import account_save
from tests.conftest import CampaignFactory, DraftFactory, SegmentFactory, SubscriberFactory, subscribe
from tests.fakes import whatsapp as whatsapp_fake
from tests.fakes.telegram import FakeTelegram
from tests.fakes.viber import FakeViber
from tests.fakes.whatsapp import FakeWhatsApp

pytestmark = pytest.mark.django_db
TOKEN = "111111:vip-bot-token"
SECRET = "webhook-secret-of-the-vip-bot"


def client_of(django_user_model, role: str) -> APIClient:
    user = django_user_model.objects.create_user(f"u-{role.lower()}", password="x-secret-123", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def operator(django_user_model) -> APIClient:
    return client_of(django_user_model, "Operator")


@pytest.fixture
def marketer(django_user_model) -> APIClient:
    return client_of(django_user_model, "Marketer")


def account(slug: str = "vip", platform: str = "telegram", *, active: bool = True, rate: float | None = None,
            **credentials: str) -> SenderAccount:
    credentials = credentials or {"token": TOKEN}
    return account_save(account=SenderAccount(), values={"platform": platform, "name": f"{slug} account", "slug": slug,
                                                         "active": active, "rate_per_second": rate},
                        credentials=credentials)


# --- the accounts themselves --------------------------------------------------------------


def test_an_operator_adds_a_bot_and_its_token_is_never_answered(operator, settings):
    # given
    settings.TACT_PUBLIC_URL = "https://tact.example.com"

    # when
    created = operator.post("/api/accounts/", {
        "platform": "telegram", "name": "VIP bot", "slug": "vip", "rate_per_second": 12,
        "credentials": {"token": TOKEN, "webhook_secret": SECRET, "api_url": "http://127.0.0.1:9"},
    }, format="json")
    listed = operator.get("/api/accounts/")

    # then: stored encrypted, answered without a secret
    assert created.status_code == 201, created.json()
    saved = SenderAccount.objects.get()
    assert created.json() == {
        "id": saved.pk, "platform": "telegram", "name": "VIP bot", "slug": "vip", "rate_per_second": 12.0,
        "active": True, "credentials_set": ["token", "webhook_secret", "api_url"],
        "public_credentials": {"api_url": "http://127.0.0.1:9"}, "credentials_readable": True,
        "webhook_url": "https://tact.example.com/webhooks/telegram/vip/",
        "created_at": created.json()["created_at"], "updated_at": created.json()["updated_at"],
    }
    assert saved.credentials == {"token": TOKEN, "webhook_secret": SECRET, "api_url": "http://127.0.0.1:9"}
    assert TOKEN not in saved.credentials_encrypted and SECRET not in saved.credentials_encrypted
    assert listed.json()["results"] == [created.json()]
    for answer in (created, listed):
        assert TOKEN.encode() not in answer.content and SECRET.encode() not in answer.content


def test_a_change_keeps_the_credentials_not_given_and_removes_those_given_as_null(operator):
    # given
    vip = account(token=TOKEN, webhook_secret=SECRET)

    # when
    changed = operator.patch(f"/api/accounts/{vip.pk}/", {
        "name": "VIP bot (Moscow)", "credentials": {"webhook_secret": None, "api_url": "http://127.0.0.1:9"}},
        format="json")

    # then
    assert changed.status_code == 200, changed.json()
    assert changed.json()["credentials_set"] == ["token", "api_url"]
    vip.refresh_from_db()
    assert (vip.name, vip.credentials) == ("VIP bot (Moscow)", {"token": TOKEN, "api_url": "http://127.0.0.1:9"})


@pytest.mark.parametrize(("body", "errors"), [
    ({"platform": "telegram", "name": "No token", "slug": "no-token", "credentials": {"webhook_secret": "x"}},
     {"credentials": {"token": ["required for a Telegram account"]}}),
    ({"platform": "telegram", "name": "No credentials", "slug": "none"},
     {"credentials": {"token": ["required for a Telegram account"]}}),
    ({"platform": "whatsapp", "name": "Number", "slug": "number", "credentials": {"access_token": "EAAG"}},
     {"credentials": {"phone_number_id": ["required for a WhatsApp account"]}}),
    ({"platform": "viber", "name": "Viber", "slug": "viber-bot", "credentials": {"auth_token": "t", "token": "x"}},
     {"credentials": {"token": ["not a Viber credential; one of auth_token, sender_name, api_url"]}}),
    ({"platform": "telegram", "name": "Bot", "slug": "bot", "credentials": {"token": TOKEN, "api_url": "ftp://x"}},
     {"credentials": {"api_url": ["an http(s) URL of the platform's API server (empty: the platform's own)"]}}),
    ({"platform": "telegram", "name": "Bot", "slug": "bot", "credentials": {"token": 12}},
     {"credentials": {"token": ["a string or null"]}}),
    ({"platform": "telegram", "name": "Bot", "slug": "bot", "credentials": ["token"]},
     {"credentials": ["an object such as {\"token\": \"...\"}"]}),
    ({"platform": "telegram", "name": "Paid", "slug": "paid", "credentials": {"token": TOKEN}},
     {"slug": ["“paid” is reserved (it names the default account or paid broadcasts); choose another slug"]}),
    ({"platform": "telegram", "name": "Default", "slug": "Default", "credentials": {"token": TOKEN}},
     {"slug": ["“Default” is reserved (it names the default account or paid broadcasts); choose another slug"]}),
    ({"platform": "telegram", "name": "Bad slug", "slug": "a b", "credentials": {"token": TOKEN}},
     {"slug": ['Enter a valid "slug" consisting of letters, numbers, underscores or hyphens.']}),
    ({"platform": "telegram", "name": "Too fast", "slug": "fast", "rate_per_second": 0, "credentials": {"token": TOKEN}},
     {"rate_per_second": ["Ensure this value is greater than or equal to 0.01."]}),
])
def test_bad_input_is_a_400_naming_the_field_and_nothing_is_saved(operator, body, errors):
    # when
    answer = operator.post("/api/accounts/", body, format="json")

    # then
    assert (answer.status_code, answer.json()) == (400, errors)
    assert not SenderAccount.objects.exists()


def test_a_taken_slug_and_a_change_of_platform_are_refused(operator):
    # given
    vip = account("vip")

    # when
    taken = operator.post("/api/accounts/", {"platform": "viber", "name": "Viber", "slug": "vip",
                                             "credentials": {"auth_token": "t"}}, format="json")
    moved = operator.patch(f"/api/accounts/{vip.pk}/", {"platform": "viber"}, format="json")

    # then
    assert (taken.status_code, list(taken.json())) == (400, ["slug"])
    assert (moved.status_code, list(moved.json())) == (400, ["platform"])
    assert SenderAccount.objects.get().platform == "telegram"


def test_other_roles_read_the_accounts_but_change_none(marketer, django_user_model):
    # given
    vip = account("vip")
    analyst = client_of(django_user_model, "Analyst")

    # when
    read = marketer.get(f"/api/accounts/{vip.pk}/")
    refused = [marketer.post("/api/accounts/", {"platform": "telegram", "name": "x", "slug": "x",
                                                "credentials": {"token": TOKEN}}, format="json"),
               marketer.patch(f"/api/accounts/{vip.pk}/", {"active": False}, format="json"),
               marketer.delete(f"/api/accounts/{vip.pk}/"),
               marketer.post(f"/api/accounts/{vip.pk}/check/"),
               analyst.patch(f"/api/accounts/{vip.pk}/", {"active": False}, format="json")]

    # then
    assert read.status_code == 200 and read.json()["credentials_set"] == ["token"]
    assert TOKEN.encode() not in read.content
    assert [r.status_code for r in refused] == [403] * 5
    vip.refresh_from_db()
    assert vip.active and SenderAccount.objects.count() == 1


def test_an_account_in_use_is_kept_and_an_unused_one_deleted(operator):
    # given
    used, unused = account("used"), account("unused")
    Subscription.objects.filter(pk=subscribe(SubscriberFactory(), "telegram").pk).update(account=used)

    # when
    kept = operator.delete(f"/api/accounts/{used.pk}/")
    deleted = operator.delete(f"/api/accounts/{unused.pk}/")

    # then
    assert kept.status_code == 409
    assert deleted.status_code == 204
    assert list(SenderAccount.objects.values_list("slug", flat=True)) == ["used"]


def test_the_audit_log_says_what_changed_and_never_the_credentials(operator):
    # when
    created = operator.post("/api/accounts/", {"platform": "telegram", "name": "VIP bot", "slug": "vip",
                                               "credentials": {"token": TOKEN}}, format="json")
    operator.patch(f"/api/accounts/{created.json()['id']}/", {"credentials": {"webhook_secret": SECRET}},
                   format="json")

    # then
    entries = LogEntry.objects.filter(content_type__model="senderaccount").order_by("id")
    logged = " ".join(str(e.changes) + str(e.additional_data) for e in entries)
    assert TOKEN not in logged and SECRET not in logged
    assert "credentials_encrypted" not in logged
    assert SenderAccount.objects.get().credentials_encrypted not in logged
    assert entries[0].changes_dict["slug"] == ["None", "vip"]
    assert entries.last().changes_dict == {"credentials changed": [None, ["webhook_secret"]]}
    assert entries.last().actor.username == "u-operator"


# --- check on the platform -----------------------------------------------------------------


def test_check_asks_each_platform_who_the_credentials_belong_to(operator):
    # given: a fake of each platform that takes only its account's token
    with FakeTelegram(token=TOKEN) as telegram, FakeWhatsApp(token="wa-token") as whatsapp, \
            FakeViber(token="viber-token") as viber:
        bot = account("vip", token=TOKEN, api_url=telegram.root_url)
        revoked = account("old-bot", token="222222:revoked", api_url=telegram.root_url)
        number = account("number", "whatsapp", access_token="wa-token", phone_number_id=whatsapp_fake.PHONE_NUMBER_ID,
                         api_url=whatsapp.base_url)
        viber_bot = account("viber-bot", "viber", auth_token="viber-token", api_url=viber.base_url)

        # when
        answers = {a.slug: operator.post(f"/api/accounts/{a.pk}/check/") for a in (bot, revoked, number, viber_bot)}

    # then
    assert {slug: a.status_code for slug, a in answers.items()} == dict.fromkeys(answers, 200)
    assert answers["vip"].json() == {"ok": True, "detail": "Telegram bot @fake_bot (Fake Bot, id 111111)"}
    assert answers["old-bot"].json() == {"ok": False, "detail": "Telegram refused the bot token: Unauthorized"}
    assert answers["number"].json() == {"ok": True, "detail": "WhatsApp number 15550000000 (Fake Shop)"}
    assert answers["viber-bot"].json() == {"ok": True, "detail": "Viber bot Fake Bot (fakebot)"}
    assert b"222222:revoked" not in answers["old-bot"].content


def test_check_of_a_platform_that_cannot_be_reached_says_so(operator):
    # given: nothing listens on port 9
    bot = account("vip", token=TOKEN, api_url="http://127.0.0.1:9")

    # when
    answer = operator.post(f"/api/accounts/{bot.pk}/check/")

    # then
    assert answer.status_code == 200
    assert answer.json()["ok"] is False
    assert answer.json()["detail"].startswith("Telegram not reached")
    assert TOKEN not in answer.json()["detail"]


# --- a campaign's accounts -----------------------------------------------------------------


def campaign_body(**fields) -> dict:
    draft, segment = DraftFactory(), SegmentFactory()
    return {"name": "BF 2026", "draft": draft.pk, "segment": segment.pk, "platforms": ["telegram", "viber"],
            "send_at": "2030-01-01T09:00:00Z", **fields}


def test_a_campaign_picks_its_accounts_by_slug(admin_client_api):
    # given
    account("vip")
    account("viber-bot", "viber", auth_token="viber-token")

    # when
    created = admin_client_api.post("/api/campaigns/", campaign_body(telegram_account="vip",
                                                                     viber_account="viber-bot"), format="json")
    back_to_default = admin_client_api.patch(f"/api/campaigns/{created.json()['id']}/", {"viber_account": None},
                                             format="json")

    # then
    assert created.status_code == 201, created.json()
    assert {k: created.json()[k] for k in ("telegram_account", "whatsapp_account", "viber_account")} == {
        "telegram_account": "vip", "whatsapp_account": None, "viber_account": "viber-bot"}
    assert back_to_default.status_code == 200 and back_to_default.json()["viber_account"] is None
    campaign = Campaign.objects.get()
    assert (campaign.telegram_account.slug, campaign.viber_account) == ("vip", None)


@pytest.mark.parametrize(("fields", "errors"), [
    ({"telegram_account": "nobody"}, {"telegram_account": ["Object with slug=nobody does not exist."]}),
    ({"telegram_account": "viber-bot"}, {"telegram_account": ["“viber-bot” is not a Telegram account"]}),
    ({"telegram_account": "asleep"}, {"telegram_account": ["the Telegram account “asleep” is inactive"]}),
    ({"whatsapp_account": "number"}, {"whatsapp_account": [
        "WhatsApp is not among the campaign's platforms: add it, or set this to null"]}),
    ({"telegram_account": 12}, {"telegram_account": ["Object with slug=12 does not exist."]}),
])
def test_a_wrong_account_is_a_400_naming_the_field(admin_client_api, fields, errors):
    # given
    account("vip")
    account("asleep", active=False)
    account("viber-bot", "viber", auth_token="viber-token")
    account("number", "whatsapp", access_token="wa", phone_number_id="1065")

    # when
    answer = admin_client_api.post("/api/campaigns/", campaign_body(**fields), format="json")

    # then
    assert (answer.status_code, answer.json()) == (400, errors)
    assert not Campaign.objects.exists()


def test_a_campaign_past_its_draft_keeps_its_account(admin_client_api):
    # given
    vip, other = account("vip"), account("other")
    campaign = CampaignFactory(telegram_account=vip)
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.SCHEDULED)

    # when
    answer = admin_client_api.patch(f"/api/campaigns/{campaign.pk}/", {"telegram_account": other.slug}, format="json")

    # then
    assert answer.status_code == 400 and list(answer.json()) == ["status"]
    campaign.refresh_from_db()
    assert campaign.telegram_account_id == vip.pk


def test_scheduling_refuses_a_campaign_whose_account_became_inactive(admin_client_api):
    # given: the account was active when picked
    vip = account("vip")
    subscriber = SubscriberFactory()
    Subscription.objects.filter(pk=subscribe(subscriber, "telegram").pk).update(account=vip)
    campaign = CampaignFactory(telegram_account=vip)
    vip.active = False
    vip.save()

    # when
    answer = admin_client_api.post(f"/api/campaigns/{campaign.pk}/schedule/")

    # then
    assert answer.status_code == 400
    assert answer.json() == {"telegram_account": [
        "the Telegram account “vip account” (vip) is inactive: activate it or pick another (empty: the default "
        "account)"]}
    campaign.refresh_from_db()
    assert (campaign.status, campaign.scheduled_at) == (Campaign.Status.DRAFT, None)


def test_the_forecast_names_each_platforms_account_its_ceiling_and_whether_it_is_live(admin_client_api, settings):
    # given: a live VIP bot at 12/s and its 3 subscribers; 2 of the default bot (no token: sandbox)
    settings.TELEGRAM_BOT_TOKEN = ""
    vip = account("vip", rate=12)
    for _ in range(3):
        Subscription.objects.filter(pk=subscribe(SubscriberFactory(), "telegram").pk).update(account=vip)
    for _ in range(2):
        subscribe(SubscriberFactory(), "telegram")
    on_vip, on_default = CampaignFactory(telegram_account=vip), CampaignFactory()

    # when
    vip_forecast = admin_client_api.get(f"/api/campaigns/{on_vip.pk}/forecast/").json()["platforms"]["telegram"]
    default_forecast = admin_client_api.get(f"/api/campaigns/{on_default.pk}/forecast/").json()["platforms"]["telegram"]

    # then
    assert {k: vip_forecast[k] for k in ("receivers", "rate_per_second", "account", "account_name", "sandbox")} == {
        "receivers": 3, "rate_per_second": 12.0, "account": "vip", "account_name": "vip account", "sandbox": False}
    assert {k: default_forecast[k] for k in ("receivers", "rate_per_second", "account", "sandbox")} == {
        "receivers": 2, "rate_per_second": 30.0, "account": None, "sandbox": True}


# --- subscriptions and the ledger ----------------------------------------------------------


def test_subscriptions_say_which_account_they_belong_to(admin_client_api):
    # given
    vip = account("vip")
    anna = SubscriberFactory()
    Subscription.objects.filter(pk=subscribe(anna, "telegram", "700100200").pk).update(account=vip)
    subscribe(anna, "whatsapp", "+79990001122")

    # when
    answer = admin_client_api.get(f"/api/subscribers/{anna.pk}/")

    # then
    assert [(s["platform"], s["account"]) for s in answer.json()["subscriptions"]] == [
        ("telegram", "vip"), ("whatsapp", None)]


def ledger_rows(campaign: Campaign, n: int, send_list: SendList) -> None:
    for _ in range(n):
        person = SubscriberFactory()
        Delivery.objects.create(campaign=campaign, subscriber=person, subscription=subscribe(person, "telegram"),
                                platform="telegram", send_list=send_list, list_number=send_list.number,
                                send_after=datetime(2030, 1, 1, 9, tzinfo=UTC))


def test_the_ledger_says_which_account_sent_each_row_without_a_query_per_row(admin_client_api):
    # given: one list sent from the VIP bot, one from the default bot
    vip = account("vip")
    campaign = CampaignFactory(telegram_account=vip)
    from_vip = SendList.objects.create(campaign=campaign, platform="telegram", number=1, size=2, account=vip)
    from_default = SendList.objects.create(campaign=campaign, platform="telegram", number=2, size=1)
    ledger_rows(campaign, 2, from_vip)
    ledger_rows(campaign, 1, from_default)

    # when
    with CaptureQueriesContext(connection) as few:
        small = admin_client_api.get("/api/deliveries/", {"campaign": campaign.pk})
    ledger_rows(campaign, 20, from_vip)
    with CaptureQueriesContext(connection) as many:
        large = admin_client_api.get("/api/deliveries/", {"campaign": campaign.pk})

    # then
    assert [row["account"] for row in small.json()["results"]] == ["vip", "vip", None]
    assert [row["account"] for row in large.json()["results"]].count("vip") == 22
    assert len(many) == len(few)

