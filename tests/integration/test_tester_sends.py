"""A test to yourself: POST /api/drafts/{id}/test/ and /api/campaigns/{id}/test/ (and the admin's
"Send test" button) reach exactly the testers' opted-in subscriptions, at once, through the same
adapters as a campaign (fake Telegram and WhatsApp over HTTP, Viber in the sandbox), outside caps,
quiet hours and every ledger; each message is listed with its outcome."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from campaigns import rules, selectors, services
from campaigns.models import Campaign, Delivery, FrequencyPolicy, Subscription, TestSend
from campaigns.services import privacy
from channels.models import OutboxMessage
from channels.ratelimit import limiter_from_settings
from tests.conftest import (
    CampaignFactory,
    DraftFactory,
    SegmentFactory,
    SubscriberFactory,
    subscribe,
)
from tests.fakes import whatsapp as wa
from tests.fakes.telegram import FakeTelegram
from tests.fakes.whatsapp import FakeWhatsApp

from .engine import Engine, wait_until

TOKEN = "123456:TEST-token"
BODY = "Hi {{ name }}, −30% today only\nDetails inside"
PRESS = {"_form_submitted": "True"}  # unfold's dialog form: the confirmation, posted


@pytest.fixture
def telegram():
    with FakeTelegram() as server:
        yield server


@pytest.fixture
def whatsapp():
    with FakeWhatsApp() as server:
        yield server


@pytest.fixture
def live_platforms(settings, telegram, whatsapp):
    """Telegram and WhatsApp through their real adapters to the fakes; Viber without credentials (sandbox)."""
    settings.TELEGRAM_BOT_TOKEN, settings.TELEGRAM_API_URL = TOKEN, telegram.base_url
    settings.WHATSAPP_ACCESS_TOKEN, settings.WHATSAPP_PHONE_NUMBER_ID = "wa-token", wa.PHONE_NUMBER_ID
    settings.WHATSAPP_API_URL = whatsapp.base_url
    settings.VIBER_AUTH_TOKEN = ""
    return telegram, whatsapp


def api_as(role: str) -> tuple[APIClient, User]:
    user = User.objects.create_user(f"u-{role.lower()}", password="x-secret-123", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client, user


def strict_policy(*, quiet_now: bool) -> rules.FrequencyPolicy:
    """One message a day; with quiet_now, quiet hours around this very moment (UTC)."""
    policy = FrequencyPolicy.current()
    policy.max_per_day, policy.max_per_week = 1, None
    now = datetime.now(UTC)
    if quiet_now:
        policy.quiet_start, policy.quiet_end = (now - timedelta(hours=2)).time(), (now + timedelta(hours=2)).time()
    else:
        policy.quiet_start = policy.quiet_end = datetime.min.time()
    policy.save()
    return policy


def person(name: str, *, tester: bool) -> object:
    return SubscriberFactory(name=name, tester=tester, timezone="UTC")


# --- the API -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_draft_test_reaches_exactly_the_testers_opted_in_subscriptions_in_quiet_hours_and_over_the_cap(
        live_platforms):
    telegram, whatsapp = live_platforms
    # given: Anna, a tester on all three platforms, in quiet hours and already at her daily cap
    policy = strict_policy(quiet_now=True)
    anna = person("Anna", tester=True)
    anna_tg = subscribe(anna, "telegram", "501")
    anna_wa = subscribe(anna, "whatsapp", "+79990000501")
    anna_vb = subscribe(anna, "viber", "anna-viber-id==")
    Subscription.objects.filter(pk=anna_wa.pk).update(last_inbound_at=timezone.now() - timedelta(hours=1))
    whatsapp.open_window("79990000501")
    earlier = CampaignFactory(status=Campaign.Status.COMPLETED)
    Delivery.objects.create(campaign=earlier, subscriber=anna, subscription=anna_tg, platform="telegram",
                            list_number=1, status=Delivery.Status.SENT, send_after=timezone.now(),
                            sent_at=timezone.now() - timedelta(minutes=5))
    now = timezone.now()
    assert rules.out_of_quiet_hours(now, UTC, policy.quiet_hours()) > now  # a campaign would hold her
    assert not rules.frequency_check([now - timedelta(minutes=5)], policy.as_rule(), now, UTC).allowed
    # and: Boris, a tester who opted out; Carl, opted in but no tester
    boris = person("Boris", tester=True)
    services.subscription_opt_out(subscription=subscribe(boris, "telegram", "502"),
                                  consent=services.Consent(source="test", text="stop"))
    carl = person("Carl", tester=False)
    subscribe(carl, "telegram", "503")
    subscribe(carl, "whatsapp", "+79990000503")
    draft = DraftFactory(body=BODY, buttons=[{"text": "Shop", "url": "https://shop.example/bf"}])
    client, user = api_as("Marketer")
    ledger_before = list(Delivery.objects.values_list("id", "status", "sent_at"))

    # when
    answer = client.post(f"/api/drafts/{draft.pk}/test/", {}, format="json")

    # then: 201, one outcome per message, all sent
    assert answer.status_code == 201, answer.content
    listed = answer.json()
    assert [(r["subscriber"], r["platform"], r["status"], r["reason"]) for r in listed] == [
        (anna.pk, "telegram", "sent", ""), (anna.pk, "whatsapp", "sent", ""), (anna.pk, "viber", "sent", "")]
    assert {r["draft"] for r in listed} == {draft.pk} and {r["campaign"] for r in listed} == {None}
    assert {r["text"] for r in listed} == {"Hi Anna, −30% today only\nDetails inside"}
    # and: exactly Anna's subscriptions got it; Boris and Carl nothing, not even an attempt
    assert telegram.count_by_chat(delivered_only=False) == {501: 1}
    [tg_call] = telegram.sent()
    assert tg_call.text == "Hi Anna, −30% today only\nDetails inside"
    assert whatsapp.count_by_recipient(delivered_only=False) == {"79990000501": 1}
    assert list(OutboxMessage.objects.values_list("platform", "address", "delivery_id")) == [
        ("viber", anna_vb.address, None)]
    # and: each send recorded with the platform's message id
    rows = {t.platform: t for t in TestSend.objects.all()}
    assert rows["telegram"].platform_message_id == str(tg_call.message_id)
    assert rows["whatsapp"].platform_message_id == whatsapp.sent()[0].message_id
    assert rows["viber"].platform_message_id.startswith("sandbox-test-")
    assert {t.requested_by_id for t in rows.values()} == {user.pk}
    # and: no ledger row was written or touched
    assert list(Delivery.objects.values_list("id", "status", "sent_at")) == ledger_before


@pytest.mark.django_db
def test_platforms_and_subscribers_narrow_the_test(live_platforms):
    telegram, whatsapp = live_platforms
    strict_policy(quiet_now=False)
    anna, bea = person("Anna", tester=True), person("Bea", tester=True)
    subscribe(anna, "telegram", "601")
    subscribe(anna, "whatsapp", "+79990000601")
    subscribe(bea, "telegram", "602")
    draft = DraftFactory(body="Hello\nthere")
    client, _ = api_as("Approver")

    # when: only WhatsApp
    only_wa = client.post(f"/api/drafts/{draft.pk}/test/", {"platforms": ["whatsapp"]}, format="json")
    # and: only Bea
    only_bea = client.post(f"/api/drafts/{draft.pk}/test/", {"subscribers": [bea.pk]}, format="json")

    # then
    assert only_wa.status_code == 201, only_wa.content
    assert [(r["subscriber"], r["platform"]) for r in only_wa.json()] == [(anna.pk, "whatsapp")]
    assert only_bea.status_code == 201, only_bea.content
    assert [(r["subscriber"], r["platform"]) for r in only_bea.json()] == [(bea.pk, "telegram")]
    assert telegram.count_by_chat(delivered_only=False) == {602: 1}


@pytest.mark.django_db
@pytest.mark.parametrize(("body", "field", "message"), [
    ({"platforms": ["icq"]}, "platforms", '"icq" is not a valid choice.'),
    ({"platforms": []}, "platforms", "This list may not be empty."),
    ({"subscribers": ["anna"]}, "subscribers", "A valid integer is required."),
])
def test_bad_input_is_refused_by_field_and_nothing_is_sent(live_platforms, body, field, message):
    telegram, whatsapp = live_platforms
    subscribe(person("Anna", tester=True), "telegram", "701")
    draft = DraftFactory()
    client, _ = api_as("Marketer")

    answer = client.post(f"/api/drafts/{draft.pk}/test/", body, format="json")

    assert answer.status_code == 400
    errors = answer.json()[field]
    assert message in str(errors)
    assert telegram.calls() == [] and TestSend.objects.count() == 0


@pytest.mark.django_db
def test_a_subscriber_who_is_no_tester_is_named_and_nobody_gets_anything(live_platforms):
    telegram, whatsapp = live_platforms
    anna = person("Anna", tester=True)
    subscribe(anna, "telegram", "801")
    carl = person("Carl", tester=False)
    subscribe(carl, "telegram", "802")
    draft = DraftFactory()
    client, _ = api_as("Marketer")

    answer = client.post(f"/api/drafts/{draft.pk}/test/", {"subscribers": [anna.pk, carl.pk]}, format="json")

    assert answer.status_code == 400
    assert answer.json() == {"subscribers": [
        f"not a tester: subscriber #{carl.pk}; mark them as testers first"]}
    assert telegram.calls() == [] and TestSend.objects.count() == 0


@pytest.mark.django_db
def test_without_testers_on_the_platforms_the_answer_says_so(live_platforms):
    telegram, whatsapp = live_platforms
    anna = person("Anna", tester=True)
    services.subscription_opt_out(subscription=subscribe(anna, "telegram", "901"),
                                  consent=services.Consent(source="test", text="stop"))
    subscribe(person("Carl", tester=False), "telegram", "902")
    campaign = CampaignFactory(platforms=["telegram"])
    client, _ = api_as("Marketer")

    answer = client.post(f"/api/campaigns/{campaign.pk}/test/", {}, format="json")

    assert answer.status_code == 400
    assert answer.json() == {"non_field_errors": [
        "no tester has an opted-in subscription on Telegram; mark a subscriber as a tester (tester: true) "
        "who has one"]}
    assert telegram.calls() == [] and TestSend.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["Analyst", "Operator"])
def test_a_role_without_the_permission_cannot_send_a_test(live_platforms, role):
    telegram, whatsapp = live_platforms
    subscribe(person("Anna", tester=True), "telegram", "1001")
    draft = DraftFactory()
    campaign = CampaignFactory(draft=draft)
    client, _ = api_as(role)

    by_draft = client.post(f"/api/drafts/{draft.pk}/test/", {}, format="json")
    by_campaign = client.post(f"/api/campaigns/{campaign.pk}/test/", {}, format="json")

    assert (by_draft.status_code, by_campaign.status_code) == (403, 403)
    assert telegram.calls() == [] and TestSend.objects.count() == 0


@pytest.mark.django_db
def test_a_refused_bot_token_is_a_listed_failure_not_a_500(live_platforms):
    telegram, whatsapp = live_platforms
    telegram.configure(token_revoked=True)
    anna = person("Anna", tester=True)
    subscribe(anna, "telegram", "1101")
    subscribe(anna, "whatsapp", "+79990001101")
    whatsapp.open_window("79990001101")
    Subscription.objects.filter(subscriber=anna, platform="whatsapp").update(last_inbound_at=timezone.now())
    client, _ = api_as("Marketer")

    answer = client.post(f"/api/drafts/{DraftFactory().pk}/test/", {}, format="json")

    assert answer.status_code == 201, answer.content
    [tg, wa_row] = answer.json()
    assert (tg["platform"], tg["status"]) == ("telegram", "failed")
    assert tg["reason"].startswith("cannot connect to telegram: Telegram refused the bot token")
    assert (wa_row["platform"], wa_row["status"]) == ("whatsapp", "sent")
    assert telegram.sent() == []


@pytest.mark.django_db
def test_a_person_who_blocked_the_bot_fails_and_is_suppressed(live_platforms):
    telegram, whatsapp = live_platforms
    telegram.configure(chat_rules={1201: "blocked"})
    anna = person("Anna", tester=True)
    subscription = subscribe(anna, "telegram", "1201")
    client, _ = api_as("Marketer")

    answer = client.post(f"/api/drafts/{DraftFactory().pk}/test/", {}, format="json")

    assert answer.status_code == 201, answer.content
    assert [(r["status"], r["reason"]) for r in answer.json()] == [
        ("failed", "Forbidden: bot was blocked by the user")]
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.BLOCKED


def test_a_campaign_test_sends_its_frozen_content_counts_nowhere_and_the_campaign_still_reaches_the_tester(
        live_platforms, tmp_path, transactional_db):
    telegram, whatsapp = live_platforms
    # given: one a day; Anna, a tester, is in the campaign's audience
    strict_policy(quiet_now=False)
    anna = person("Anna", tester=True)
    anna.tags.add(*selectors_tag("all"))
    subscribe(anna, "telegram", "1301")
    draft = DraftFactory(body="Frozen offer\nfor {{ name }}")
    segment = SegmentFactory(rules={"tags_all": ["all"], "tags_any": [], "platforms": [], "attributes": {}})
    send_at = timezone.now() + timedelta(seconds=2)
    campaign = services.campaign_schedule(
        campaign=CampaignFactory(draft=draft, segment=segment, platforms=["telegram"], send_at=send_at),
        now=timezone.now())
    draft.body = "Edited after scheduling\nnot sent"
    draft.save()
    client, _ = api_as("Marketer")

    # when: a test of the scheduled campaign
    answer = client.post(f"/api/campaigns/{campaign.pk}/test/", {}, format="json")

    # then: its frozen content went to Anna, and nothing was counted
    assert answer.status_code == 201, answer.content
    assert [(r["campaign"], r["platform"], r["status"], r["text"]) for r in answer.json()] == [
        (campaign.pk, "telegram", "sent", "Frozen offer\nfor Anna")]
    assert Delivery.objects.count() == 0
    assert selectors.campaign_stats(campaign)["sent"] == 0

    # when: the campaign runs with real workers right after
    engine = Engine(tmp_path, {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": telegram.base_url})
    try:
        engine.start(1)
        wait_until(lambda: Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.COMPLETED, 60,
                   "the campaign to complete")
    finally:
        engine.stop()

    # then: the test did not use up her one message a day: the campaign reached her too
    [row] = Delivery.objects.filter(campaign=campaign)
    assert (row.subscriber_id, row.status) == (anna.pk, Delivery.Status.SENT)
    assert [c.text for c in telegram.sent()] == ["Frozen offer\nfor Anna", "Frozen offer\nfor Anna"]
    assert selectors.campaign_stats(campaign)["sent"] == 1
    assert TestSend.objects.filter(campaign=campaign).count() == 1


def selectors_tag(*names: str):
    from campaigns.models import Tag

    return [Tag.objects.get_or_create(name=n)[0] for n in names]


# --- the subscriber's tester flag ------------------------------------------------------------------


@pytest.mark.django_db
def test_tester_is_set_and_filtered_over_the_api():
    client, _ = api_as("Marketer")
    anna, carl = person("Anna", tester=False), person("Carl", tester=False)

    changed = client.patch(f"/api/subscribers/{anna.pk}/", {"tester": True}, format="json")
    testers = client.get("/api/subscribers/?tester=true")

    assert changed.status_code == 200 and changed.json()["tester"] is True
    assert [s["id"] for s in testers.json()["results"]] == [anna.pk]
    assert client.get(f"/api/subscribers/{carl.pk}/").json()["tester"] is False


# --- the admin ---------------------------------------------------------------------------------------


def admin_as(role: str) -> Client:
    user = User.objects.create_user(f"a-{role.lower()}", password="x-secret-123", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_the_send_test_buttons_send_and_show_each_outcome(live_platforms):
    telegram, whatsapp = live_platforms
    anna = person("Anna", tester=True)
    subscribe(anna, "telegram", "1401")
    draft = DraftFactory(body="Admin test\nbody")
    campaign = CampaignFactory(draft=draft, platforms=["telegram"])
    marketer = admin_as("Marketer")

    # the buttons are on both pages
    assert f"/admin/campaigns/draft/{draft.pk}/send-test/" in marketer.get(
        f"/admin/campaigns/draft/{draft.pk}/change/").content.decode()
    assert f"/admin/campaigns/campaign/{campaign.pk}/send-test/" in marketer.get(
        f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()

    # when: pressed on each page
    by_draft = marketer.post(f"/admin/campaigns/draft/{draft.pk}/send-test/", PRESS, follow=True)
    by_campaign = marketer.post(f"/admin/campaigns/campaign/{campaign.pk}/send-test/", PRESS, follow=True)

    # then: each says what happened; the fake got two messages
    assert "Test sent to Anna on Telegram." in by_draft.content.decode()
    assert "Test sent to Anna on Telegram." in by_campaign.content.decode()
    assert telegram.count_by_chat() == {1401: 2}
    # and: the list of test sends shows them
    listing = marketer.get("/admin/campaigns/testsend/").content.decode()
    assert listing.count("Anna") >= 2


@pytest.mark.django_db
def test_an_analyst_has_no_send_test_button_and_a_post_is_refused(live_platforms):
    telegram, whatsapp = live_platforms
    subscribe(person("Anna", tester=True), "telegram", "1501")
    draft = DraftFactory()
    analyst = admin_as("Analyst")

    page = analyst.get(f"/admin/campaigns/draft/{draft.pk}/change/").content.decode()
    pressed = analyst.post(f"/admin/campaigns/draft/{draft.pk}/send-test/", PRESS)

    assert "send-test" not in page
    assert pressed.status_code == 403
    assert telegram.calls() == [] and TestSend.objects.count() == 0


@pytest.mark.django_db
def test_the_subscriber_admin_marks_testers_and_filters_them():
    marketer = admin_as("Marketer")
    anna, carl = person("Anna", tester=True), person("Carl", tester=False)

    listing = marketer.get("/admin/campaigns/subscriber/?tester=yes").content.decode()
    form = marketer.get(f"/admin/campaigns/subscriber/{carl.pk}/change/").content.decode()

    assert f"/admin/campaigns/subscriber/{anna.pk}/change/" in listing
    assert f"/admin/campaigns/subscriber/{carl.pk}/change/" not in listing
    assert 'name="tester"' in form


# --- privacy -------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_erasure_deletes_the_persons_test_sends_and_retention_purges_old_ones(settings):
    anna, bea = person("Anna", tester=True), person("Bea", tester=True)
    anna_sub, bea_sub = subscribe(anna, "telegram", "1601"), subscribe(bea, "telegram", "1602")
    draft = DraftFactory()
    TestSend.objects.create(draft=draft, subscription=anna_sub, platform="telegram", status="sent",
                            text="Hi Anna", platform_message_id="77")
    old = TestSend.objects.create(draft=draft, subscription=bea_sub, platform="telegram", status="sent", text="Hi Bea")
    young = TestSend.objects.create(draft=draft, subscription=bea_sub, platform="telegram", status="sent", text="Hi Bea")
    TestSend.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=31))

    report = privacy.subscriber_erase(subscriber=anna)
    purged = privacy.retention_purge()

    assert report.test_sends_deleted == 1
    anna.refresh_from_db()
    assert anna.tester is False
    assert purged["test_sends"] == 1
    assert list(TestSend.objects.values_list("pk", flat=True)) == [young.pk]


@pytest.mark.django_db
def test_the_persons_export_lists_the_tests_they_received():
    anna = person("Anna", tester=True)
    TestSend.objects.create(draft=DraftFactory(), subscription=subscribe(anna, "telegram", "1701"),
                            platform="telegram", status="sent", text="Hi Anna", platform_message_id="88")

    data = privacy.subscriber_export(subscriber=anna)

    assert [(t["platform"], t["status"], t["text"], t["platform_message_id"]) for t in data["test_sends"]] == [
        ("telegram", "sent", "Hi Anna", "88")]


@pytest.mark.django_db
def test_test_sends_take_their_slots_from_the_shared_rate_limiter(live_platforms, settings):
    telegram, whatsapp = live_platforms
    # given: one message a second on Telegram, and a campaign's worker that just took this second's slot
    settings.TACT_RATE = {**settings.TACT_RATE, "telegram": 1.0}
    for chat in ("1801", "1802"):
        subscribe(person(f"Tester {chat}", tester=True), "telegram", chat)
    client, _ = api_as("Marketer")
    taken = time.monotonic() + limiter_from_settings().reserve("tact:rate:telegram", 1, 1.0)

    # when
    answer = client.post(f"/api/drafts/{DraftFactory().pk}/test/", {}, format="json")

    # then: both sent, each in a window of its own, none in the worker's
    assert answer.status_code == 201, answer.content
    assert [r["status"] for r in answer.json()] == ["sent", "sent"]
    arrivals = sorted(c.monotonic for c in telegram.calls())
    assert arrivals[0] - taken >= 1.0
    assert arrivals[1] - arrivals[0] >= 1.0
