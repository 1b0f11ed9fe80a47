"""Lists for the phone apps: a manual campaign packs its audience into WhatsApp broadcast lists
(at most 256, only people who saved our number) and Viber groups (199, configurable up to 250),
offers each list as a vCard and a CSV, and is recorded in the ledger when the marketer marks a
list sent; no worker ever sends it."""

from __future__ import annotations

import csv
import io
import random
import time
from datetime import timedelta

import pytest
import vobject
from auditlog.models import LogEntry
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from campaigns import delivery, rules, services
from campaigns.delivery.manual import NO_PHONE, NOT_SAVED
from campaigns.delivery.planning import audience_choices
from campaigns.models import Campaign, Delivery, SendList, Subscriber, Subscription
from campaigns.services.manual_lists import send_list_mark_sent
from tests.conftest import CampaignFactory, DraftFactory, SegmentFactory, SubscriberFactory, subscribe
from tests.fakes import whatsapp as whatsapp_fake
from tests.fakes.whatsapp import FakeWhatsApp

from .engine import Engine, wait_until
from .test_delivery import policy

pytestmark = pytest.mark.django_db
S = Delivery.Status
PLAIN = {"body": "−30% on everything today only\nДетали в магазине", "buttons": [], "track_links": False}


def _everyone():
    return SegmentFactory(rules={"tags_all": [], "tags_any": [], "platforms": [], "attributes": {}})


def _manual(platforms=("whatsapp",), **fields) -> Campaign:
    """A manual draft campaign whose send time has just passed (scheduled and started with the
    test's clock), so that the API, on the wall clock, may mark its lists sent."""
    draft = DraftFactory(**{**PLAIN, **fields.pop("draft", {})})
    fields.setdefault("send_at", timezone.now() - timedelta(seconds=30))
    return CampaignFactory(draft=draft, segment=_everyone(), platforms=list(platforms), manual=True, **fields)


def _scheduled(campaign: Campaign) -> Campaign:
    return services.campaign_schedule(campaign=campaign, now=campaign.send_at - timedelta(minutes=1))


def _start_and_plan(campaign: Campaign) -> Campaign:
    """What beat's tick and the plan task do at the send time, driven by the test's clock."""
    now = campaign.send_at + timedelta(seconds=1)
    assert delivery.campaigns_start_due(now=now, enqueue_plan=lambda pk: None) == [campaign.pk]
    delivery.campaign_plan(campaign_id=campaign.pk, now=now)
    return Campaign.objects.get(pk=campaign.pk)


def _sizes(campaign: Campaign, platform: str) -> list[int]:
    return list(SendList.objects.filter(campaign=campaign, platform=platform).order_by("number")
                .values_list("size", flat=True))


def _whatsapp_people(saved: int, unsaved: int) -> tuple[list[Subscription], list[Subscription]]:
    """People in an order that does not flatter the code: saved and unsaved interleaved."""
    kinds = [True] * saved + [False] * unsaved
    random.Random(12).shuffle(kinds)
    made: dict[bool, list[Subscription]] = {True: [], False: []}
    for is_saved in kinds:
        made[is_saved].append(subscribe(SubscriberFactory(), "whatsapp", saved_our_number=is_saved))
    return made[True], made[False]


def _api(django_user_model, username: str, group: str) -> APIClient:
    user = django_user_model.objects.create_user(username, password="x-secret-123", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


# --- packing ---------------------------------------------------------------------------------


def test_whatsapp_lists_hold_only_people_who_saved_our_number_and_never_more_than_256():
    # given: 600 people who saved our number and 37 who did not, interleaved
    policy()
    saved, unsaved = _whatsapp_people(600, 37)
    campaign = _manual()

    # when: the forecast before scheduling, then planning at the send time
    forecast = delivery.campaign_forecast(campaign=campaign, now=timezone.now())
    campaign = _start_and_plan(_scheduled(campaign))

    # then
    assert forecast["manual"]["lists"]["whatsapp"] == {"list_size": 256, "sizes": [200, 200, 200]}
    assert forecast["platforms"]["whatsapp"]["receivers"] == 600
    assert forecast["held_back"]["whatsapp_not_saved"] == 37 and forecast["held_back"]["no_consent"] == 0
    assert _sizes(campaign, "whatsapp") == [200, 200, 200]
    rows = Delivery.objects.filter(campaign=campaign)
    assert set(rows.values_list("subscription_id", flat=True)) == {s.pk for s in saved}
    assert set(rows.values_list("status", flat=True)) == {S.PLANNED}
    for send_list in SendList.objects.filter(campaign=campaign):
        assert send_list.deliveries.count() == send_list.size <= 256
    assert campaign.status == Campaign.Status.RUNNING


def test_a_person_who_did_not_save_our_number_is_reached_in_a_viber_group_instead():
    # given: unsaved on WhatsApp, but on Viber with a phone number as address
    policy()
    person = SubscriberFactory()
    subscribe(person, "whatsapp", saved_our_number=False)
    viber = subscribe(person, "viber", "+79161112233")
    only_unsaved = SubscriberFactory()
    subscribe(only_unsaved, "whatsapp", saved_our_number=False)

    # when
    campaign = _manual(("whatsapp", "viber"))
    forecast = delivery.campaign_forecast(campaign=campaign, now=timezone.now())
    campaign = _start_and_plan(_scheduled(campaign))

    # then
    assert list(Delivery.objects.filter(campaign=campaign).values_list("subscription_id", "platform")) == [
        (viber.pk, "viber")]
    assert (forecast["held_back"]["whatsapp_not_saved"], forecast["held_back"]["no_consent"]) == (1, 0)
    assert [c.excluded for c in audience_choices(campaign) if c.platform is None] == [NOT_SAVED]


def _viber_people(n: int) -> list[Subscriber]:
    """Viber people whose phone comes from each of the three places, in shuffled order."""
    people = []
    sources = ["viber_phone", "whatsapp", "attribute"] * (n // 3 + 1)
    random.Random(7).shuffle(sources)
    for i, source in enumerate(sources[:n]):
        person = SubscriberFactory(attributes={"phone": f"+7 916 {i // 10000:03d}-{i % 10000:04d}"}
                                   if source == "attribute" else {})
        if source == "viber_phone":
            subscribe(person, "viber", f"+7917{i:07d}")
        else:
            subscribe(person, "viber", f"ViberUser{i:08d}=")
        if source == "whatsapp":
            whatsapp = subscribe(person, "whatsapp", f"+7918{i:07d}")
            services.subscription_opt_out(subscription=whatsapp, consent=services.Consent(source="test"))
        people.append(person)
    return people


@pytest.mark.parametrize(("configured", "expected"), [(None, [125, 125]), (250, [250])])
def test_viber_groups_never_exceed_their_configured_size_and_need_a_phone_number(settings, configured, expected):
    # given: 250 Viber people with a phone number somewhere, 3 without one
    policy()
    if configured is not None:
        settings.TACT_MANUAL_LIST_SIZE_VIBER = configured
    people = _viber_people(250)
    nobody = [SubscriberFactory(attributes=attributes) for attributes in ({}, {"phone": "8 916 123-45-67"},
                                                                        {"phone": "call me"})]
    for i, person in enumerate(nobody):
        subscribe(person, "viber", f"NoPhone{i:08d}=")

    # when
    campaign = _manual(("viber",))
    forecast = delivery.campaign_forecast(campaign=campaign, now=timezone.now())
    campaign = _start_and_plan(_scheduled(campaign))

    # then
    assert _sizes(campaign, "viber") == expected
    assert max(expected) <= (configured or 199)
    assert forecast["manual"]["lists"]["viber"]["sizes"] == expected
    assert forecast["held_back"]["no_phone"] == 3
    planned = set(Delivery.objects.filter(campaign=campaign).values_list("subscriber_id", flat=True))
    assert planned == {p.pk for p in people}
    assert [c.excluded for c in audience_choices(campaign) if c.platform is None] == [NO_PHONE] * 3


# --- downloads ---------------------------------------------------------------------------------


NAMES = ["Анна Петрова", "Smith, John; Jr.", "Ёжик \\ в тумане", ""]


def test_a_list_downloads_as_vcards_a_phone_imports_and_a_csv_with_the_text_to_paste(admin_client_api):
    # given: a planned WhatsApp list with Cyrillic names, commas and semicolons, and a button
    policy()
    subscriptions = []
    for name in NAMES:
        subscriptions.append(subscribe(SubscriberFactory(name=name, external_id=""), "whatsapp",
                                       saved_our_number=True))
    campaign = _start_and_plan(_scheduled(_manual(draft={"buttons": [
        {"text": "Shop", "url": "https://example.com/sale"}]})))
    base = f"/api/campaigns/{campaign.pk}/lists/"

    # when
    listed = admin_client_api.get(base)
    vcard = admin_client_api.get(f"{base}1/vcard/")
    table = admin_client_api.get(f"{base}1/csv/")

    # then: the lists
    assert listed.status_code == 200
    assert [(row["number"], row["platform"], row["size"], row["state"]) for row in listed.json()] == [
        (1, "whatsapp", 4, "to_send")]
    # a vCard 3.0 per person, read back as a phone's importer would
    assert vcard.status_code == 200 and vcard["Content-Type"] == "text/vcard; charset=utf-8"
    assert vcard["Content-Disposition"].endswith('-list-1-whatsapp.vcf"')
    cards = list(vobject.readComponents(vcard.content.decode("utf-8")))
    shown = [name or s.address for name, s in zip(NAMES, subscriptions, strict=True)]
    assert [(c.version.value, c.fn.value, c.n.value.given, c.tel.value) for c in cards] == [
        ("3.0", name, name, s.address) for name, s in zip(shown, subscriptions, strict=True)]
    # the CSV: name, phone, the message to paste with the button as a line
    assert table.status_code == 200 and table["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(table.content.decode("utf-8-sig"), newline="")))
    message = "−30% on everything today only\nДетали в магазине\nShop: https://example.com/sale"
    assert rows == [["name", "phone", "message"],
                    *[[name, s.address, message] for name, s in zip(NAMES, subscriptions, strict=True)]]
    # both downloads are in the audit log
    verbs = LogEntry.objects.get_for_object(campaign).filter(additional_data__verb="list downloaded")
    assert sorted(e.additional_data["format"] for e in verbs) == ["csv", "vcard"]


def test_someone_who_opted_out_since_planning_is_not_in_the_files(admin_client_api):
    policy()
    stays = subscribe(SubscriberFactory(name="Stays"), "whatsapp", saved_our_number=True)
    leaves = subscribe(SubscriberFactory(name="Leaves"), "whatsapp", saved_our_number=True)
    campaign = _start_and_plan(_scheduled(_manual()))

    services.subscription_opt_out(subscription=leaves, consent=services.Consent(source="test"))
    vcard = admin_client_api.get(f"/api/campaigns/{campaign.pk}/lists/1/vcard/")

    assert [c.tel.value for c in vobject.readComponents(vcard.content.decode())] == [stays.address]


def test_downloads_need_the_permission_to_see_phone_numbers(django_user_model):
    # given: an analyst (sees campaigns, phone numbers masked) and a marketer
    policy()
    subscribe(SubscriberFactory(), "whatsapp", saved_our_number=True)
    campaign = _start_and_plan(_scheduled(_manual()))
    analyst = _api(django_user_model, "analyst", "Analyst")
    marketer = _api(django_user_model, "marketer", "Marketer")
    base = f"/api/campaigns/{campaign.pk}/lists/"

    # then
    assert analyst.get(base).status_code == 200  # the lists themselves hold no number
    assert analyst.get(f"{base}1/vcard/").status_code == 403
    assert analyst.get(f"{base}1/csv/").status_code == 403
    assert analyst.post(f"{base}1/sent/").status_code == 403
    assert not LogEntry.objects.filter(additional_data__verb="list downloaded").exists()
    assert marketer.get(f"{base}1/vcard/").status_code == 200
    assert marketer.get(f"{base}9/vcard/").status_code == 404
    assert marketer.get(f"/api/campaigns/{CampaignFactory().pk}/lists/").status_code == 404  # not manual


# --- scheduling ----------------------------------------------------------------------------------


def test_manual_is_refused_with_telegram_naming_platforms(admin_client_api):
    draft, segment = DraftFactory(**PLAIN), _everyone()
    body = {"name": "By hand", "draft": draft.pk, "segment": segment.pk, "platforms": ["whatsapp", "telegram"],
            "send_at": "2030-01-01T09:00:00Z", "manual": True}

    refused = admin_client_api.post("/api/campaigns/", body, format="json")
    made = admin_client_api.post("/api/campaigns/", {**body, "platforms": ["whatsapp", "viber"]}, format="json")
    patched = admin_client_api.patch(f"/api/campaigns/{made.json()['id']}/", {"platforms": ["telegram"]},
                                     format="json")

    assert refused.status_code == 400 and "telegram" in refused.json()["platforms"][0]
    assert made.status_code == 201 and made.json()["manual"] is True
    assert patched.status_code == 400 and list(patched.json()) == ["platforms"]
    assert Campaign.objects.get(pk=made.json()["id"]).platforms == ["whatsapp", "viber"]


@pytest.mark.parametrize("draft", [
    {"body": "Hello {{ first_name }}, −30% today"},
    {"buttons": [{"text": "Shop", "url": "https://example.com"}], "track_links": True},
    {"body": "All on https://example.com/sale today", "track_body_links": True},
])
def test_scheduling_refuses_per_person_text_and_tracked_links(admin_client_api, draft):
    subscribe(SubscriberFactory(), "whatsapp", saved_our_number=True)
    campaign = _manual(draft=draft, send_at=timezone.now() + timedelta(hours=1))

    answer = admin_client_api.post(f"/api/campaigns/{campaign.pk}/schedule/")

    assert answer.status_code == 400
    assert list(answer.json()) == ["draft"]
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.DRAFT


# --- marking sent ----------------------------------------------------------------------------------


def test_marking_a_list_sent_records_it_once_and_the_campaign_completes_with_its_last_list(
        admin_client_api, settings):
    # given: two lists of two (a list size of 2 for the test); one person of list 1 opted out since
    policy()
    settings.TACT_MANUAL_LIST_SIZE_WHATSAPP = 2
    for _ in range(4):
        subscribe(SubscriberFactory(), "whatsapp", saved_our_number=True)
    campaign = _start_and_plan(_scheduled(_manual()))
    first = list(Delivery.objects.filter(campaign=campaign, list_number=1).order_by("pk"))
    gone = Subscription.objects.get(pk=first[1].subscription_id)
    services.subscription_opt_out(subscription=gone, consent=services.Consent(source="test"))
    url = f"/api/campaigns/{campaign.pk}/lists/1/sent/"

    # when
    marked = admin_client_api.post(url)
    again = admin_client_api.post(url)

    # then: the first says what it did, the second that nothing changed
    assert marked.status_code == 200, marked.json()
    assert {k: marked.json()[k] for k in ("number", "already_marked", "sent", "skipped", "marked_sent_by")} == {
        "number": 1, "already_marked": False, "sent": 1, "skipped": 0, "marked_sent_by": "marketer"}
    assert again.status_code == 200
    assert {k: again.json()[k] for k in ("already_marked", "sent", "skipped")} == {
        "already_marked": True, "sent": 0, "skipped": 0}
    assert "already" in again.json()["detail"]
    rows = {d.subscription_id: d for d in Delivery.objects.filter(campaign=campaign, list_number=1)}
    kept = rows[first[0].subscription_id]
    assert (kept.status, kept.reason) == (S.SENT, "sent by hand from the app by marketer")
    assert kept.sent_at is not None
    assert rows[gone.pk].status == S.SKIPPED and rows[gone.pk].sent_at is None  # never counted as sent
    assert Subscriber.objects.get(pk=kept.subscriber_id).unanswered == 1  # the fatigue guard counts it
    assert Subscriber.objects.get(pk=gone.subscriber_id).unanswered == 0
    assert set(Delivery.objects.filter(campaign=campaign, list_number=2).values_list("status", flat=True)) == {
        S.PLANNED}
    send_list = SendList.objects.get(campaign=campaign, number=1)
    assert send_list.state == SendList.State.DONE and send_list.marked_sent_by.username == "marketer"
    assert LogEntry.objects.get_for_object(campaign).filter(additional_data__verb="list marked sent").count() == 1
    assert admin_client_api.get(f"/api/campaigns/{campaign.pk}/").json()["stats"]["sent"] == 1
    # the campaign runs until its last list is marked, then completes
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.RUNNING
    assert admin_client_api.post(f"/api/campaigns/{campaign.pk}/lists/2/sent/").json()["sent"] == 2
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.COMPLETED


def test_a_list_cannot_be_marked_sent_before_its_send_time_nor_after_a_cancel(admin_client_api):
    policy()
    subscribe(SubscriberFactory(), "whatsapp", saved_our_number=True)
    campaign = _start_and_plan(_scheduled(_manual()))

    with pytest.raises(services.ServiceError) as early:
        send_list_mark_sent(campaign=campaign, number=1, now=campaign.send_at - timedelta(minutes=1))
    services.campaign_cancel(campaign=campaign)
    cancelled = admin_client_api.post(f"/api/campaigns/{campaign.pk}/lists/1/sent/")

    assert list(early.value.by_field) == ["send_at"]
    assert cancelled.status_code == 400
    assert list(Delivery.objects.filter(campaign=campaign).values_list("status", flat=True)) == [S.SKIPPED]
    assert admin_client_api.get(f"/api/campaigns/{campaign.pk}/lists/").json()[0]["state"] == "closed"


# --- the admin -------------------------------------------------------------------------------------


def _admin(django_user_model, username: str, group: str) -> Client:
    user = django_user_model.objects.create_user(username, password="x-secret-123", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def _form_defaults(page) -> dict:
    """The add form's initial values, as a browser submits them when nobody touches them."""
    form = page.context_data["adminform"].form
    values = {name: form[name].value() for name in form.fields}
    return {name: "on" if value is True else value for name, value in values.items()
            if value not in (None, "", False, [], ())}


def test_the_admin_form_refuses_manual_with_telegram_and_saves_it_with_whatsapp(django_user_model):
    client = _admin(django_user_model, "mia", "Marketer")
    add = client.get("/admin/campaigns/campaign/add/")
    form = {**_form_defaults(add), "name": "By hand", "draft": DraftFactory(**PLAIN).pk, "segment": _everyone().pk,
            "send_at_0": "2030-03-25", "send_at_1": "10:00:00", "manual": "on"}

    refused = client.post("/admin/campaigns/campaign/add/", {**form, "platforms": ["telegram", "whatsapp"]})
    saved = client.post("/admin/campaigns/campaign/add/", {**form, "platforms": ["whatsapp", "viber"]})

    assert refused.status_code == 200
    assert "works for WhatsApp and Viber only, not telegram" in refused.content.decode()
    assert saved.status_code == 302, saved.context_data["adminform"].form.errors
    assert Campaign.objects.values_list("manual", "platforms").get() == (True, ["whatsapp", "viber"])


def test_the_campaign_page_offers_each_list_and_marks_it_sent_after_a_confirmation(django_user_model):
    # given: a planned manual campaign with one WhatsApp list
    policy()
    subscription = subscribe(SubscriberFactory(name="Анна"), "whatsapp", saved_our_number=True)
    campaign = _start_and_plan(_scheduled(_manual()))
    marketer = _admin(django_user_model, "mia", "Marketer")
    analyst = _admin(django_user_model, "ann", "Analyst")
    base = f"/admin/campaigns/campaign/{campaign.pk}/lists/1/"

    # when
    page = marketer.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()
    analyst_page = analyst.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()
    vcard = marketer.get(f"{base}vcard/")
    confirm = marketer.get(f"{base}sent/")
    rows_after_get = set(Delivery.objects.filter(campaign=campaign).values_list("status", flat=True))
    marked = marketer.post(f"{base}sent/")

    # then: the table with downloads and the button, for the marketer only
    assert "Lists for the phone apps" in page and 'data-testid="manual-lists"' in page
    assert f'href="{base}vcard/"' in page and f'href="{base}csv/"' in page and f'href="{base}sent/"' in page
    assert f'href="{base}vcard/"' not in analyst_page and f'href="{base}sent/"' not in analyst_page
    assert "needs the permission to see phone numbers" in analyst_page
    assert analyst.get(f"{base}vcard/").status_code == 403 and analyst.get(f"{base}csv/").status_code == 403
    assert analyst.post(f"{base}sent/").status_code == 403
    assert vcard.status_code == 200
    assert [c.tel.value for c in vobject.readComponents(vcard.content.decode())] == [subscription.address]
    # a GET only asks; the POST marks and goes back to the page
    assert confirm.status_code == 200 and "Yes, I sent it" in confirm.content.decode()
    assert rows_after_get == {S.PLANNED}
    assert marked.status_code == 302 and marked["Location"].endswith(f"/campaign/{campaign.pk}/change/")
    assert set(Delivery.objects.filter(campaign=campaign).values_list("status", flat=True)) == {S.SENT}
    after = marketer.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()
    assert "List 1 marked sent: 1 sent, 0 skipped" in after and "sent by hand, marked" in after
    assert f'href="{base}sent/"' not in after


# --- the engine ------------------------------------------------------------------------------------


@pytest.fixture
def whatsapp(settings, tmp_path):
    fake = FakeWhatsApp(token="wa-token").start()
    settings.WHATSAPP_ACCESS_TOKEN = "wa-token"
    settings.WHATSAPP_API_URL = fake.base_url
    engine = Engine(tmp_path, {"WHATSAPP_ACCESS_TOKEN": "wa-token", "WHATSAPP_API_URL": fake.base_url,
                               "WHATSAPP_PHONE_NUMBER_ID": whatsapp_fake.PHONE_NUMBER_ID})
    try:
        yield fake, engine
    finally:
        engine.stop()
        fake.stop()


@pytest.mark.django_db(transaction=True)
def test_no_worker_sends_a_manual_campaign_and_its_marked_rows_count_against_the_cap(whatsapp, admin_client_api):
    # given: a cap of one a day; people inside WhatsApp's 24-hour window who saved our number
    fake, engine = whatsapp
    policy(per_day=1)
    zone = _a_zone_at_midday()  # "the same day" for the daily cap, whenever the test runs
    people = [subscribe(SubscriberFactory(timezone=zone), "whatsapp", saved_our_number=True) for _ in range(3)]
    Subscription.objects.filter(pk__in=[p.pk for p in people]).update(last_inbound_at=timezone.now())
    fake.open_window(*[p.address for p in people])
    send_at = timezone.now() + timedelta(seconds=2)
    manual = services.campaign_schedule(campaign=CampaignFactory(
        draft=DraftFactory(**PLAIN), segment=_everyone(), platforms=["whatsapp"], manual=True, send_at=send_at),
        now=send_at - timedelta(seconds=5))

    # when: a real worker and beat run well past the send time and several sweeps
    engine.start()
    wait_until(lambda: Campaign.objects.get(pk=manual.pk).planned_at is not None, 120, "the manual campaign's plan")
    time.sleep(8)  # ticks dispatch due lists every 0.5 s and the sweeper runs every second

    # then: nothing reached WhatsApp, the list waits for the marketer, the campaign runs
    assert fake.calls() == []
    assert list(SendList.objects.filter(campaign=manual).values_list("state", flat=True)) == [SendList.State.WAITING]
    assert set(Delivery.objects.filter(campaign=manual).values_list("status", flat=True)) == {S.PLANNED}
    assert Campaign.objects.get(pk=manual.pk).status == Campaign.Status.RUNNING

    # when: the marketer marks the list sent
    marked = admin_client_api.post(f"/api/campaigns/{manual.pk}/lists/1/sent/")

    # then: the rows are sent, the campaign completes
    assert marked.status_code == 200 and marked.json()["sent"] == 3
    wait_until(lambda: Campaign.objects.get(pk=manual.pk).status == Campaign.Status.COMPLETED, 60,
               "the manual campaign to complete")

    # when: a second campaign (through the API, by the worker) to the same people the same day
    send_at = timezone.now() + timedelta(seconds=2)
    second = services.campaign_schedule(campaign=CampaignFactory(
        draft=DraftFactory(**PLAIN), segment=_everyone(), platforms=["whatsapp"], send_at=send_at),
        now=send_at - timedelta(seconds=5))
    wait_until(lambda: Delivery.objects.filter(campaign=second).count() == 3
               and not Delivery.objects.filter(campaign=second, status=S.PLANNED).exists(), 120,
               "the second campaign's rows to be judged")

    # then: the cap holds them all (the hand-sent rows count), and still nothing reached WhatsApp
    assert set(Delivery.objects.filter(campaign=second).values_list("status", flat=True)) == {S.HELD}
    assert all(r.startswith(rules.DAILY_CAP) for r in Delivery.objects.filter(campaign=second)
               .values_list("reason", flat=True))
    assert fake.calls() == []


def _a_zone_at_midday() -> str:
    """A fixed-offset zone whose local time is near noon now (Etc/GMT-3 is UTC+3)."""
    offset = max(-12, min(14, 12 - timezone.now().hour))
    return "UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"
