"""Erasure (GDPR art. 17; 152-FZ art. 21) end to end: a person reached by campaigns through a
real worker and the fake Telegram and WhatsApp servers is erased over the API; afterwards
nothing that identifies them is left in any API answer, admin page, export or database row,
a pseudonymous consent trail proves what happened, and a new /start starts afresh."""

from __future__ import annotations

import io
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from auditlog.models import LogEntry
from django.conf import settings as django_settings
from django.contrib import admin
from django.contrib.admin.models import LogEntry as AdminLogEntry
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from campaigns import delivery, rules, selectors, services
from campaigns.models import (
    Campaign,
    ConsentEvent,
    Delivery,
    ImportJob,
    Segment,
    SendList,
    Subscriber,
    Subscription,
    Tag,
)
from campaigns.services import privacy
from channels.inbound import consent_text
from channels.models import EarlyReceipt, InboundEvent, OutboxMessage, PendingUpdate
from tests.conftest import (
    CampaignFactory,
    DraftFactory,
    SegmentFactory,
    SubscriberFactory,
    subscribe,
)
from tests.fakes import whatsapp as wa
from tests.fakes.telegram import FakeTelegram
from tests.fakes.whatsapp import FakeWhatsApp, WhatsAppConfig

from .engine import Engine, wait_until
from .test_delivery import finished, policy

S = Delivery.Status
APP_SECRET = "whatsapp-app-secret"
TG_SECRET = "tg-webhook-secret"
ANNA = {"name": "Anna Erasable", "external_id": "crm-erase-me", "telegram": "555000111", "whatsapp": "+79990007788"}
BORIS = {"name": "Boris Kept", "external_id": "crm-keep-me", "telegram": "555000222", "whatsapp": "+79990007799"}
TEMPLATE = {"name": "black_friday", "language": "ru", "parameters": ["−30%"]}


def secrets_of(person: dict) -> list[str]:
    """Every string that identifies the person: name, CRM id, addresses (a phone also as
    WhatsApp's wa_id)."""
    return [person["name"], person["external_id"], person["telegram"], person["whatsapp"],
            person["whatsapp"].lstrip("+")]


def leaks(text: str, person: dict = ANNA) -> list[str]:
    return [secret for secret in secrets_of(person) if secret in text]


def staff(username: str, group: str | None = None, *, superuser: bool = False):
    from django.contrib.auth import get_user_model

    model = get_user_model()
    user = (model.objects.create_superuser(username, password="x-secret-123") if superuser
            else model.objects.create_user(username, password="x-secret-123", is_staff=True))
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


def api_as(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def admin_as(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def telegram_start(client: Client, update_id: int, chat_id: int, text: str = "/start", *, name: str = "Anna",
                   language: str = "en"):
    update = {"update_id": update_id, "message": {
        "message_id": update_id, "date": int(time.time()), "text": text,
        "chat": {"id": chat_id, "type": "private", "first_name": name},
        "from": {"id": chat_id, "is_bot": False, "first_name": name, "language_code": language},
        "entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]}}
    return client.post("/webhooks/telegram/", json.dumps(update), content_type="application/json",
                       headers={"X-Telegram-Bot-Api-Secret-Token": TG_SECRET})


def post_whatsapp(client: Client, payload: dict):
    body, headers = wa.signed(payload, APP_SECRET)
    return client.post("/webhooks/whatsapp/", body, content_type="application/json", headers=headers)


def database_mentions(strings: list[str]) -> dict[str, list[str]]:
    """Every table whose rows mention one of `strings` (as text, or as bytes in a bytea
    column): the whole database, not only the tables we think of."""
    found: dict[str, list[str]] = {}
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            for needle in strings:
                cursor.execute(
                    f'SELECT count(*) FROM "{table}" AS t WHERE t::text LIKE %s OR t::text LIKE %s',
                    [f"%{needle}%", f"%{needle.encode().hex()}%"],
                )
                if cursor.fetchone()[0]:
                    found.setdefault(table, []).append(needle)
    return found


# ---- the end-to-end test ---------------------------------------------------------------------


@pytest.fixture
def platforms(live_server, settings, tmp_path):
    settings.WHATSAPP_APP_SECRET = APP_SECRET
    settings.TELEGRAM_WEBHOOK_SECRET = TG_SECRET
    telegram = FakeTelegram().start()
    whatsapp = FakeWhatsApp(config=WhatsAppConfig(
        webhook_url=f"{live_server.url}/webhooks/whatsapp/", app_secret=APP_SECRET,
        statuses=("sent", "delivered", "read"), enforce_window=True,
    )).start()
    engine = Engine(tmp_path, {
        "TELEGRAM_BOT_TOKEN": "123456:TEST", "TELEGRAM_API_URL": telegram.base_url,
        "WHATSAPP_ACCESS_TOKEN": "wa-token", "WHATSAPP_PHONE_NUMBER_ID": wa.PHONE_NUMBER_ID,
        "WHATSAPP_API_URL": whatsapp.base_url,
    })
    try:
        yield telegram, whatsapp, engine
    finally:
        engine.stop()
        for server in (telegram, whatsapp):
            server.stop()


def _create_over_the_api(api: APIClient, person: dict) -> int:
    consent = {"source": "landing", "text": "Yes, send me offers", "at": "2026-11-01T10:00:00Z"}
    answer = api.post("/api/subscribers/", {
        "external_id": person["external_id"], "name": person["name"], "timezone": "Europe/Moscow", "language": "ru",
        "tags": ["all", "vip"], "attributes": {"city": "Kazan", "phone_alt": person["whatsapp"]},
        "subscriptions": [
            {"platform": "telegram", "address": person["telegram"], "consent": consent},
            {"platform": "whatsapp", "address": person["whatsapp"], "saved_our_number": True, "consent": consent},
        ]}, format="json")
    assert answer.status_code == 201, answer.content
    return answer.json()["id"]


def _launch(platform: str) -> Campaign:
    segment = SegmentFactory(rules={"tags_all": ["all"], "tags_any": [], "platforms": [], "attributes": {}})
    draft = DraftFactory(body="−30% on everything today only\nDetails inside…", whatsapp_template=TEMPLATE)
    send_at = timezone.now() + timedelta(seconds=1)
    campaign = CampaignFactory(segment=segment, draft=draft, platforms=[platform], send_at=send_at)
    return services.campaign_schedule(campaign=campaign, now=send_at - timedelta(seconds=5))


@pytest.mark.django_db(transaction=True)
def test_an_erased_person_is_gone_everywhere_and_a_new_start_begins_afresh(platforms, settings):
    telegram, whatsapp, engine = platforms
    policy()
    # given: Anna and Boris, created over the API by a marketer, in a static VIP segment
    marketer = api_as(staff("marketer", "Marketer"))
    anna_id = _create_over_the_api(marketer, ANNA)
    boris_id = _create_over_the_api(marketer, BORIS)
    vip = marketer.post("/api/segments/", {"name": "VIP", "kind": "static", "members": [anna_id, boris_id]},
                        format="json")
    assert vip.status_code == 201, vip.content
    # Anna wrote to our WhatsApp number (her 24-hour window is open); a marketer changed
    # her WhatsApp subscription in the admin
    web = Client()
    inbound = wa.inbound_text(ANNA["whatsapp"].lstrip("+"), "Hello", name=ANNA["name"])
    assert post_whatsapp(web, inbound).status_code == 200
    whatsapp.open_window(ANNA["whatsapp"])
    anna_whatsapp = Subscription.objects.get(platform="whatsapp", address=ANNA["whatsapp"])
    events = list(anna_whatsapp.consent_events.values_list("pk", flat=True))
    changed = admin_as(staff("boss", superuser=True)).post(
        f"/admin/campaigns/subscription/{anna_whatsapp.pk}/change/",
        {"saved_our_number": "", "consent_events-TOTAL_FORMS": "1", "consent_events-INITIAL_FORMS": "1",
         "consent_events-MIN_NUM_FORMS": "0", "consent_events-MAX_NUM_FORMS": "1000",
         "consent_events-0-id": str(events[0]), "consent_events-0-subscription": str(anna_whatsapp.pk)})
    assert changed.status_code == 302, changed.content.decode()[-2000:]
    assert AdminLogEntry.objects.filter(object_repr=f"WhatsApp {ANNA['whatsapp']}").count() == 1

    # and: a Telegram campaign and a WhatsApp campaign reach both through a real worker,
    # with WhatsApp's delivered and read receipts coming back through our webhook
    engine.start()
    on_telegram = finished(_launch("telegram"), 90, engine)
    on_whatsapp = finished(_launch("whatsapp"), 90, engine)
    assert telegram.count_by_chat() == {int(ANNA["telegram"]): 1, int(BORIS["telegram"]): 1}
    assert whatsapp.count_by_recipient() == {ANNA["whatsapp"].lstrip("+"): 1, BORIS["whatsapp"].lstrip("+"): 1}
    wait_until(lambda: Delivery.objects.filter(campaign=on_whatsapp, status=S.READ).count() == 2, 30, "read receipts")
    stats_before = {c.pk: selectors.campaign_stats(c) for c in (on_telegram, on_whatsapp)}
    assert stats_before[on_whatsapp.pk]["read"] == 2
    assert database_mentions(secrets_of(ANNA))  # the scan finds her before the erasure

    # when: an operator erases Anna over the API
    operator = staff("operator", "Operator")
    answer = api_as(operator).post(f"/api/subscribers/{anna_id}/erase/")

    # then: 200 with what was done, ids and counts only
    assert answer.status_code == 200, answer.content
    report = answer.json()
    assert leaks(answer.content.decode()) == []
    anna = Subscriber.objects.get(pk=anna_id)
    assert report["subscriber"] == anna_id
    assert datetime.fromisoformat(report["erased_at"]) == anna.erased_at
    counts = report["counts"]
    assert {k: counts[k] for k in ("subscriptions", "consent_events_scrubbed", "deliveries_scrubbed",
                                   "deliveries_skipped", "tags_removed", "static_segments_left")} == {
        "subscriptions": 2, "consent_events_scrubbed": 2, "deliveries_scrubbed": 2, "deliveries_skipped": 0,
        "tags_removed": 2, "static_segments_left": 1}
    # WhatsApp's sent/delivered/read keys of her message and the key of her own message
    assert counts["inbound_events_deleted"] == 4
    assert counts["admin_log_entries_scrubbed"] == 1

    # and: nothing identifying is left anywhere in the database (Boris is untouched)
    assert database_mentions(secrets_of(ANNA)) == {}
    assert set(database_mentions(secrets_of(BORIS))) >= {"campaigns_subscriber", "campaigns_subscription"}

    # and: no API answer mentions her, whoever asks (a superuser sees everything)
    api = api_as(staff("root", superuser=True))
    for url in [
        "/api/subscribers/", "/api/subscribers/?search=Anna", f"/api/subscribers/?search={ANNA['telegram']}",
        f"/api/subscribers/?external_id={ANNA['external_id']}", "/api/subscribers/?platform=telegram",
        "/api/subscribers/?tag=vip", f"/api/subscribers/{boris_id}/", f"/api/subscribers/{boris_id}/export/",
        "/api/deliveries/", f"/api/deliveries/?subscriber={anna_id}", "/api/campaigns/",
        f"/api/campaigns/{on_telegram.pk}/", f"/api/campaigns/{on_whatsapp.pk}/", "/api/segments/",
    ]:
        page = api.get(url)
        assert page.status_code == 200, url
        assert leaks(page.content.decode()) == [], url
    assert api.get("/api/subscribers/?search=Anna").json()["results"] == []
    for url in [f"/api/subscribers/{anna_id}/", f"/api/subscribers/{anna_id}/export/"]:
        assert api.get(url).status_code == 404, url
    assert api.post(f"/api/subscribers/{anna_id}/erase/").status_code == 404
    assert api.get(f"/api/segments/{vip.json()['id']}/").json()["members"] == [boris_id]
    rows = api.get(f"/api/deliveries/?subscriber={anna_id}").json()["results"]
    erased_addresses = {f"erased:{s.pk}" for s in Subscription.objects.filter(subscriber_id=anna_id)}
    assert {r["address"] for r in rows} == erased_addresses
    assert {r["status"] for r in rows} == {S.SENT, S.READ}
    # campaign counts stay right
    for campaign in (on_telegram, on_whatsapp):
        assert api.get(f"/api/campaigns/{campaign.pk}/").json()["stats"] == stats_before[campaign.pk]

    # and: no admin page mentions her
    boss = admin_as(staff("auditor", superuser=True))
    for url, query in [("/admin/campaigns/subscriber/", ANNA["name"]), ("/admin/campaigns/subscriber/", ANNA["telegram"]),
                       ("/admin/campaigns/subscription/", ANNA["whatsapp"].lstrip("+"))]:
        page = boss.get(url, {"q": query}).content.decode()
        assert "0 results" in page, query
        assert leaks(page.replace(query, "")) == [], query  # the search box shows what was searched
    pages = [
        "/admin/", "/admin/campaigns/subscriber/", "/admin/campaigns/subscription/", "/admin/campaigns/consentevent/",
        "/admin/campaigns/delivery/", f"/admin/campaigns/segment/{vip.json()['id']}/change/",
        f"/admin/campaigns/campaign/{on_whatsapp.pk}/change/", "/admin/tact_channels/outboxmessage/",
    ]
    pages += [f"/admin/campaigns/consentevent/{e.pk}/change/"
              for e in ConsentEvent.objects.filter(subscription__subscriber_id=anna_id)]
    pages += [f"/admin/campaigns/delivery/{d.pk}/change/" for d in Delivery.objects.filter(subscriber_id=anna_id)]
    if admin.site.is_registered(LogEntry):
        pages += ["/admin/auditlog/logentry/"]
        pages += [f"/admin/auditlog/logentry/{e.pk}/change/" for e in LogEntry.objects.all()]
    for url in pages:
        page = boss.get(url)
        assert page.status_code == 200, url
        assert leaks(page.content.decode()) == [], url
    consent_list = boss.get("/admin/campaigns/consentevent/").content.decode()
    assert all(address in consent_list for address in erased_addresses)
    for url in [f"/admin/campaigns/subscriber/{anna_id}/change/",
                *[f"/admin/campaigns/subscription/{pk}/change/"
                  for pk in Subscription.objects.filter(subscriber_id=anna_id).values_list("pk", flat=True)]]:
        assert boss.get(url).status_code == 302, url  # "doesn't exist. Perhaps it was deleted?"

    # and: the consent-log export holds her pseudonymous trail and nothing identifying
    export = boss.post("/admin/campaigns/consentevent/", {
        "action": "export_csv", "_selected_action": list(ConsentEvent.objects.values_list("pk", flat=True))})
    assert export.status_code == 200
    assert leaks(export.content.decode("utf-8-sig")) == []

    # and: the consent trail remains, kinds, sources and dates, ending with "erased"
    for platform in ("telegram", "whatsapp"):
        subscription = Subscription.objects.get(subscriber_id=anna_id, platform=platform)
        assert subscription.address == f"erased:{subscription.pk}"
        assert subscription.status == Subscription.Status.OPTED_OUT
        assert subscription.address_hash == rules.address_hash(django_settings.TACT_PSEUDONYM_KEY, platform,
                                                                 ANNA[platform])
        trail = list(subscription.consent_events.order_by("id").values_list("kind", "source", "text", "evidence",
                                                                            "by_person"))
        assert trail == [("opt_in", "landing", "", {}, False), ("erased", "erasure", "", {}, False)]
        first, last = subscription.consent_events.order_by("id")
        assert first.at == datetime(2026, 11, 1, 10, tzinfo=UTC)
        assert last.at == anna.erased_at
    assert (anna.name, anna.external_id, anna.attributes, list(anna.tags.all())) == ("", "", {}, [])
    assert LogEntry.objects.filter(additional_data__verb="erased", object_pk=str(anna_id)).get().actor == operator

    # when: the same Telegram chat sends /start again
    answer = telegram_start(web, 990001, int(ANNA["telegram"]), "/start again", name="Anna", language="ru")

    # then: a fresh subscriber with a new id and a fresh opt-in; the erased rows stay as they were
    assert answer.status_code == 200
    fresh = Subscription.objects.get(platform="telegram", address=ANNA["telegram"])
    assert fresh.subscriber_id not in (anna_id, boris_id) and fresh.subscriber_id > boris_id
    assert fresh.status == Subscription.Status.OPTED_IN
    assert list(fresh.consent_events.values_list("kind", "source", "text", "evidence")) == [
        ("opt_in", "telegram_start", consent_text("telegram", "ru"),
         {"payload": "again", "user_id": int(ANNA["telegram"]), "username": None, "language_code": "ru"})]
    assert Subscriber.objects.get(pk=anna_id).erased_at == anna.erased_at
    assert Subscription.objects.filter(subscriber_id=anna_id).count() == 2


# ---- what erasure removes from the channels' records ---------------------------------------


def _delivery(subscription: Subscription, status: str, message_id: str = "") -> Delivery:
    campaign = CampaignFactory(platforms=[subscription.platform], status=Campaign.Status.COMPLETED,
                               content_body="Sale\nDetails")
    send_list = SendList.objects.create(campaign=campaign, platform=subscription.platform, number=1, size=1,
                                        state=SendList.State.DONE)
    sent = datetime(2026, 11, 20, 9, tzinfo=UTC)
    return Delivery.objects.create(
        campaign=campaign, subscriber=subscription.subscriber, subscription=subscription,
        platform=subscription.platform, send_list=send_list, list_number=1, status=status,
        reason="WhatsApp 131026: undeliverable" if status == S.FAILED else "",
        send_after=sent, platform_message_id=message_id, attempts=1,
        sent_at=sent if status in (S.SENT, S.DELIVERED, S.READ) else None,
        delivered_at=sent + timedelta(minutes=1) if status in (S.DELIVERED, S.READ) else None,
        read_at=sent + timedelta(minutes=2) if status == S.READ else None,
    )


def _person(data: dict, viber: str | None = None) -> Subscriber:
    person = SubscriberFactory(name=data["name"], external_id=data["external_id"], attributes={"city": "Kazan"})
    subscribe(person, "telegram", data["telegram"])
    subscribe(person, "whatsapp", data["whatsapp"])
    if viber:
        subscribe(person, "viber", viber)
    return person


def _whatsapp_batch(*items: dict) -> bytes:
    return json.dumps({"object": "whatsapp_business_account", "entry": [{"id": wa.WABA_ID, "changes": [{
        "field": "messages", "value": {"messaging_product": "whatsapp", "contacts": [i["contact"] for i in items],
                                       "messages": [i["message"] for i in items]}}]}]}).encode()


def _wa_item(phone: str, message_id: str, text: str) -> dict:
    wa_id = phone.lstrip("+")
    return {"contact": {"wa_id": wa_id, "profile": {"name": "x"}},
            "message": {"from": wa_id, "id": message_id, "timestamp": "1795000000", "type": "text",
                        "text": {"body": text}}}


@pytest.mark.django_db
def test_erasure_removes_the_channels_records_about_the_person_and_keeps_everyone_elses():
    # given: Anna and Boris with deliveries, sandbox outbox rows, receipts, callback keys,
    # kept callbacks, refused import rows and audit entries
    anna, boris = _person(ANNA, viber="annaViberId0001=="), _person(BORIS)
    anna_wa = Subscription.objects.get(subscriber=anna, platform="whatsapp")
    anna_wamid, boris_wamid = wa.new_wamid(ANNA["whatsapp"].lstrip("+")), wa.new_wamid(BORIS["whatsapp"].lstrip("+"))
    mine = [_delivery(anna_wa, S.READ, "wamid.SENT-TO-ANNA"),
            _delivery(Subscription.objects.get(subscriber=anna, platform="telegram"), S.FAILED, "17"),
            _delivery(Subscription.objects.get(subscriber=anna, platform="viber"), S.PLANNED)]
    theirs = _delivery(Subscription.objects.get(subscriber=boris, platform="whatsapp"), S.READ, "wamid.SENT-TO-BORIS")
    for person in (ANNA, BORIS):
        OutboxMessage.objects.create(platform="whatsapp", address=person["whatsapp"], text="You are unsubscribed")
    EarlyReceipt.objects.create(platform="viber", message_id="5001", address="annaViberId0001==", status="delivered",
                                at=timezone.now())
    EarlyReceipt.objects.create(platform="whatsapp", message_id="wamid.SENT-TO-ANNA", status="read", at=timezone.now())
    EarlyReceipt.objects.create(platform="whatsapp", message_id="wamid.SENT-TO-BORIS", status="read", at=timezone.now())
    keys = {
        ("whatsapp", "status:wamid.SENT-TO-ANNA:read"): True,
        ("whatsapp", f"preference:{ANNA['whatsapp'].lstrip('+')}:1795000000:stop"): True,
        ("whatsapp", f"message:{anna_wamid}"): True,  # her own message: the wamid carries her number
        ("viber", "subscribed:None:annaViberId0001=="): True,
        ("telegram", "update:17"): False,  # Telegram keys are update ids, never a person's
        ("whatsapp", "status:wamid.SENT-TO-BORIS:read"): False,
        ("whatsapp", f"message:{boris_wamid}"): False,
    }
    for platform, key in keys:
        InboundEvent.objects.create(platform=platform, key=key)
    now = timezone.now()
    telegram_update = json.dumps({"update_id": 5, "message": {"chat": {"id": int(ANNA["telegram"])}}}).encode()
    batch = _whatsapp_batch(_wa_item(ANNA["whatsapp"], "wamid.A", "STOP"), _wa_item(BORIS["whatsapp"], "wamid.B", "STOP"))
    boris_only = _whatsapp_batch(_wa_item(BORIS["whatsapp"], "wamid.C", "Hello"))
    kept = {name: PendingUpdate.objects.create(platform=platform, body=body, next_try_at=now)
            for name, platform, body in [("telegram", "telegram", telegram_update), ("batch", "whatsapp", batch),
                                         ("boris", "whatsapp", boris_only)]}
    job = ImportJob.objects.create(errors=[
        {"line": 2, "error": f"telegram address {ANNA['telegram']} already belongs to {ANNA['name']}"},
        {"line": 3, "error": "unknown time zone 'Mars/Base'"}])

    # when
    report = privacy.subscriber_erase(subscriber=anna)

    # then: exactly what was about her is gone
    assert report.counts() == {
        "subscriptions": 3, "consent_events_scrubbed": 3, "deliveries_scrubbed": 3, "deliveries_skipped": 1,
        "tags_removed": 0, "static_segments_left": 0, "outbox_messages_deleted": 1, "early_receipts_deleted": 2,
        "inbound_events_deleted": 4, "pending_updates_deleted": 1, "pending_updates_pruned": 1,
        "import_errors_scrubbed": 1, "audit_entries_scrubbed": report.audit_entries_scrubbed,
        "admin_log_entries_scrubbed": 0, "test_sends_deleted": 0}
    assert list(OutboxMessage.objects.values_list("address", flat=True)) == [BORIS["whatsapp"]]
    assert list(EarlyReceipt.objects.values_list("message_id", flat=True)) == ["wamid.SENT-TO-BORIS"]
    assert set(InboundEvent.objects.values_list("platform", "key")) == {k for k, kept_ in keys.items() if not kept_}
    assert not PendingUpdate.objects.filter(pk=kept["telegram"].pk).exists()
    pruned = json.loads(bytes(PendingUpdate.objects.get(pk=kept["batch"].pk).body))
    value = pruned["entry"][0]["changes"][0]["value"]
    assert [m["id"] for m in value["messages"]] == ["wamid.B"]
    assert [c["wa_id"] for c in value["contacts"]] == [BORIS["whatsapp"].lstrip("+")]
    assert bytes(PendingUpdate.objects.get(pk=kept["boris"].pk).body) == boris_only
    job.refresh_from_db()
    assert job.errors == [{"line": 2, "error": "(erased)"}, {"line": 3, "error": "unknown time zone 'Mars/Base'"}]
    # her ledger rows keep their statuses and send times; ids, reasons and receipt times go;
    # a row still waiting is skipped
    rows = {d.pk: d for d in Delivery.objects.filter(subscriber=anna)}
    assert [(rows[d.pk].status, rows[d.pk].platform_message_id, rows[d.pk].reason, rows[d.pk].sent_at,
             rows[d.pk].delivered_at, rows[d.pk].read_at) for d in mine] == [
        (S.READ, "", "", mine[0].sent_at, None, None),
        (S.FAILED, "", "", mine[1].sent_at, None, None),
        (S.SKIPPED, "", "the person was erased", None, None, None)]
    theirs_now = Delivery.objects.get(pk=theirs.pk)
    assert (theirs_now.platform_message_id, theirs_now.read_at) == ("wamid.SENT-TO-BORIS", theirs.read_at)
    # and: Boris's kept WhatsApp message is still handled later (his opt-out is not lost)
    from channels import pending

    pending.pending_retry_due(now=timezone.now() + timedelta(minutes=1))
    assert Subscription.objects.get(platform="whatsapp", address=BORIS["whatsapp"]).status == "opted_out"


@pytest.mark.django_db
def test_erasure_scrubs_the_audit_log_and_the_admin_history_about_the_person(client, django_user_model):
    # given: Anna created over the API and put in a static segment with Boris (the audit
    # log records both, naming her), and her subscription changed in the admin
    root = django_user_model.objects.create_superuser("root", password="x-secret-123")
    api = api_as(root)
    anna_id = _create_over_the_api(api, ANNA)
    boris_id = _create_over_the_api(api, BORIS)
    segment = api.post("/api/segments/", {"name": "VIP", "kind": "static", "members": [anna_id, boris_id]},
                       format="json").json()
    client.force_login(root)
    sub = Subscription.objects.get(subscriber_id=anna_id, platform="telegram")
    event = sub.consent_events.get()
    assert client.post(f"/admin/campaigns/subscription/{sub.pk}/change/", {
        "saved_our_number": "on", "consent_events-TOTAL_FORMS": "1", "consent_events-INITIAL_FORMS": "1",
        "consent_events-MIN_NUM_FORMS": "0", "consent_events-MAX_NUM_FORMS": "1000",
        "consent_events-0-id": str(event.pk), "consent_events-0-subscription": str(sub.pk)}).status_code == 302
    mentioning = [e.pk for e in LogEntry.objects.all() if leaks(json.dumps(
        [e.object_repr, e.changes, e.changes_text, e.serialized_data, e.additional_data], ensure_ascii=False))]
    assert len(mentioning) >= 4
    about_her = LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Subscriber), object_pk=str(anna_id)).count() + \
        LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(Subscription),
                                object_pk__in=[str(pk) for pk in Subscription.objects.filter(
                                    subscriber_id=anna_id).values_list("pk", flat=True)]).count()
    segment_entries = LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(Segment),
                                              object_pk=str(segment["id"]), changes__has_key="members")
    assert [e.changes["members"]["objects"] for e in segment_entries] == [[ANNA["name"], BORIS["name"]]]

    # when
    report = privacy.subscriber_erase(subscriber=Subscriber.objects.get(pk=anna_id), actor=root)

    # then: the entries stay (who did what, when), saying nothing about her
    assert report.admin_log_entries_scrubbed == 1
    assert report.audit_entries_scrubbed == about_her + 1
    for entry in LogEntry.objects.filter(pk__in=mentioning):
        text = json.dumps([entry.object_repr, entry.changes, entry.changes_text, entry.serialized_data,
                           entry.additional_data], ensure_ascii=False)
        assert leaks(text) == [], text
        assert entry.actor == root
    assert [e.changes["members"]["objects"] for e in segment_entries.all()] == [["(erased)", BORIS["name"]]]
    assert list(AdminLogEntry.objects.values_list("object_repr", flat=True)) == [f"Telegram erased:{sub.pk}"]
    erased = LogEntry.objects.get(additional_data__verb="erased")
    assert erased.object_repr == f"subscriber #{anna_id}" and erased.actor == root
    assert erased.additional_data["counts"] == report.counts()
    # the database guard let exactly this scrub through: outside an erasure it still refuses
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        LogEntry.objects.filter(pk=erased.pk).update(object_repr="tampered")
    with pytest.raises(IntegrityError), transaction.atomic():
        ConsentEvent.objects.filter(subscription=sub).update(text="tampered")


# ---- refusals ------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("group", ["Marketer", "Approver", "Analyst", None])
def test_erasure_by_someone_without_erase_subscriber_is_403_and_changes_nothing(group, db_state):
    anna = _person(ANNA)
    _delivery(Subscription.objects.get(subscriber=anna, platform="telegram"), S.SENT, "17")
    api = api_as(staff("someone", group))
    before = db_state()
    audit = LogEntry.objects.count()

    answer = api.post(f"/api/subscribers/{anna.pk}/erase/")

    assert answer.status_code == 403
    assert db_state() == before
    assert LogEntry.objects.count() == audit
    assert Subscriber.objects.get(pk=anna.pk).erased_at is None


@pytest.mark.django_db
def test_erasure_waits_while_a_message_to_the_person_is_in_flight(db_state):
    anna = _person(ANNA)
    _delivery(Subscription.objects.get(subscriber=anna, platform="telegram"), S.SENDING)
    before = db_state()

    answer = api_as(staff("operator", "Operator")).post(f"/api/subscribers/{anna.pk}/erase/")

    assert answer.status_code == 400
    assert answer.json() == {"non_field_errors": [
        "a message to this person is being sent right now; erase again in a minute"]}
    assert db_state() == before


# ---- afresh after erasure --------------------------------------------------------------------


@pytest.mark.django_db
def test_after_erasure_an_import_and_an_api_create_with_the_same_address_make_new_people():
    anna = _person(ANNA)
    privacy.subscriber_erase(subscriber=anna)
    api = api_as(staff("marketer", "Marketer"))
    csv_file = io.BytesIO((
        "external_id,name,timezone,language,tags,platform,address,saved_our_number,consent_source,consent_text,"
        "consent_at\n"
        f"{ANNA['external_id']},{ANNA['name']},Europe/Moscow,ru,,telegram,{ANNA['telegram']},,form,Yes,"
        "2026-11-02T10:00:00Z\n").encode())
    csv_file.name = "people.csv"

    imported = api.post("/api/subscribers/import/", {"file": csv_file}, format="multipart")
    created = api.post("/api/subscribers/", {"name": "Anna again", "subscriptions": [
        {"platform": "whatsapp", "address": ANNA["whatsapp"],
         "consent": {"source": "form", "text": "Yes", "at": "2026-11-02T10:00:00Z"}}]}, format="json")

    assert imported.status_code == 200 and imported.json()["created"] == 1, imported.content
    assert created.status_code == 201, created.content
    by_address = {s.platform: s.subscriber for s in Subscription.objects.filter(
        address__in=[ANNA["telegram"], ANNA["whatsapp"]])}
    assert by_address["telegram"].external_id == ANNA["external_id"]
    assert by_address["whatsapp"].name == "Anna again"
    assert anna.pk not in {p.pk for p in by_address.values()}
    assert Subscriber.objects.get(pk=anna.pk).erased_at is not None


# ---- the admin action ------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_admin_erase_action_asks_first_and_lists_who_and_what_goes():
    anna, boris = _person(ANNA), _person(BORIS)
    anna.tags.add(Tag.objects.create(name="vip"))
    operator = admin_as(staff("operator", "Operator"))
    changelist = operator.get("/admin/campaigns/subscriber/").content.decode()
    assert 'value="erase"' in changelist

    # when: the action is chosen
    page = operator.post("/admin/campaigns/subscriber/", {"action": "erase", "_selected_action": [anna.pk]})

    # then: a confirmation page, nothing erased yet
    text = page.content.decode()
    assert page.status_code == 200
    assert "Erase the selected people?" in text
    assert ANNA["name"] in text and f"Telegram {ANNA['telegram']}" in text and f"WhatsApp {ANNA['whatsapp']}" in text
    assert BORIS["name"] not in text
    assert '<input type="hidden" name="confirm" value="yes">' in text
    assert Subscriber.objects.get(pk=anna.pk).erased_at is None

    # when: confirmed
    done = operator.post("/admin/campaigns/subscriber/", {
        "action": "erase", "_selected_action": [anna.pk], "confirm": "yes"}, follow=True)

    # then: erased, and gone from the list
    assert "1 people erased" in done.content.decode()
    assert Subscriber.objects.get(pk=anna.pk).erased_at is not None
    assert Subscriber.objects.get(pk=boris.pk).erased_at is None
    assert ANNA["name"] not in operator.get("/admin/campaigns/subscriber/").content.decode()


@pytest.mark.django_db
def test_the_admin_erase_action_is_not_offered_to_a_marketer_and_does_nothing_for_them(db_state):
    anna = _person(ANNA)
    marketer = admin_as(staff("marketer", "Marketer"))
    assert 'value="erase"' not in marketer.get("/admin/campaigns/subscriber/").content.decode()
    before = db_state()

    marketer.post("/admin/campaigns/subscriber/", {"action": "erase", "_selected_action": [anna.pk], "confirm": "yes"})

    assert db_state() == before
    assert Subscriber.objects.get(pk=anna.pk).erased_at is None


@pytest.mark.django_db
def test_a_planned_campaign_no_longer_reaches_an_erased_person():
    anna, boris = _person(ANNA), _person(BORIS)
    tag = Tag.objects.create(name="all")
    for person in (anna, boris):
        person.tags.add(tag)
    privacy.subscriber_erase(subscriber=anna)
    segment = SegmentFactory(rules={"tags_all": [], "tags_any": [], "platforms": [], "attributes": {}})
    campaign = CampaignFactory(segment=segment, status=Campaign.Status.RUNNING, send_at=timezone.now(),
                               started_at=timezone.now())

    delivery.campaign_plan(campaign_id=campaign.pk)

    assert list(Delivery.objects.filter(campaign=campaign).values_list("subscriber_id", flat=True)) == [boris.pk]
    assert selectors.segment_sizes(segment)["total"] == 1
