"""The fatigue guard: campaigns received in a row without a read, click or reply. At the
threshold a person is held out (nothing sent, the forecast counts them, the ledger says why)
until they interact again. Real worker processes and a fake Telegram over real HTTP. And the
trend of opt-outs within 48 h per campaign on the home page, figures read from its table."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from html import unescape
from urllib.parse import urlparse

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client, TestCase
from django.utils import timezone

from campaigns import services
from campaigns.admin.attention import QUEUES_CACHE_KEY
from campaigns.models import Campaign, Delivery, FrequencyPolicy, Subscriber, UserProfile
from tests.conftest import CampaignFactory, DraftFactory, SegmentFactory, SubscriberFactory, subscribe
from tests.fakes import viber as viber_fake
from tests.fakes import whatsapp as whatsapp_fake
from tests.fakes.telegram import FakeTelegram

from .engine import Engine
from .test_delivery import _tags, finished, policy

S = Delivery.Status
TOKEN = "123456:TEST-token"
FATIGUED = "fatigue: 10 campaigns in a row without a read, click or reply"


@pytest.fixture
def telegram():
    with FakeTelegram() as server:
        yield server


def people(chats: list[int], tag: str = "all") -> list[Subscriber]:
    found = []
    for chat in chats:
        someone = SubscriberFactory()
        someone.tags.add(*_tags(tag))
        subscribe(someone, "telegram", str(chat))
        found.append(someone)
    return found


def draft_campaign(tag: str = "all") -> Campaign:
    """A draft campaign with a tracked button, due in a minute."""
    segment = SegmentFactory(rules={"tags_all": [tag], "tags_any": [], "platforms": [], "attributes": {}})
    return CampaignFactory(segment=segment, platforms=["telegram"], draft=DraftFactory(),
                           send_at=timezone.now() + timedelta(minutes=1))


def run(campaign: Campaign, engine: Engine) -> Campaign:
    send_at = timezone.now() + timedelta(seconds=1)
    Campaign.objects.filter(pk=campaign.pk).update(send_at=send_at)
    campaign.refresh_from_db()
    return finished(services.campaign_schedule(campaign=campaign, now=send_at - timedelta(seconds=5)), 120, engine)


def unanswered(*persons: Subscriber) -> list[int]:
    return [Subscriber.objects.get(pk=p.pk).unanswered for p in persons]


@pytest.mark.django_db(transaction=True)
def test_at_the_threshold_a_person_is_held_out_until_a_click_brings_them_back(telegram, tmp_path, admin_client_api):
    # given: the default threshold (10); one person already received 9 campaigns in a row
    # without a read, click or reply; two others none
    policy()
    assert FrequencyPolicy.current().fatigue_threshold == 10
    tired, fresh, other = people([8401, 8402, 8403])
    Subscriber.objects.filter(pk=tired.pk).update(unanswered=9)
    engine = Engine(tmp_path, {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": telegram.base_url}).start()
    try:
        # when: a campaign: the tired one still gets it, and has now 10 unanswered
        run(draft_campaign(), engine)
        assert telegram.count_by_chat() == {8401: 1, 8402: 1, 8403: 1}
        assert unanswered(tired, fresh, other) == [10, 1, 1]

        # then: the next campaign's forecast holds them back for fatigue
        second = draft_campaign()
        forecast = admin_client_api.get(f"/api/campaigns/{second.pk}/forecast/").json()
        assert (forecast["audience"], forecast["receivers"]) == (3, 2)
        assert forecast["held_back"]["fatigue"] == 1 and forecast["held_back"]["no_consent"] == 0
        assert "10" in forecast["notes"]["fatigue"]
        # and the campaign sends them nothing; its ledger says why
        second = run(second, engine)
        assert telegram.count_by_chat() == {8401: 1, 8402: 2, 8403: 2}
        held = Delivery.objects.get(campaign=second, subscriber=tired)
        assert (held.status, held.reason, held.sent_at) == (S.SKIPPED, FATIGUED, None)
        assert unanswered(tired, fresh, other) == [10, 2, 2]

        # when: they tap the button of the first campaign's message
        button = next(c for c in telegram.sent() if c.chat_id == 8401).reply_markup["inline_keyboard"][0][0]["url"]
        assert Client().get(urlparse(button).path).status_code == 302
        assert unanswered(tired) == [0]

        # then: they get the following campaign again
        run(draft_campaign(), engine)
        assert telegram.count_by_chat() == {8401: 2, 8402: 3, 8403: 3}
        assert unanswered(tired, fresh, other) == [1, 3, 3]
    except BaseException:
        print(engine.logs())
        raise
    finally:
        engine.stop()


@pytest.mark.django_db
def test_a_read_a_reply_on_any_platform_resets_the_count_and_test_sends_do_not_add(settings, telegram,
                                                                                  admin_client_api):
    settings.WHATSAPP_APP_SECRET = "wa-secret"
    settings.VIBER_AUTH_TOKEN = "viber-token"
    settings.TELEGRAM_WEBHOOK_SECRET = "tg-secret"
    settings.TELEGRAM_BOT_TOKEN, settings.TELEGRAM_API_URL = TOKEN, telegram.base_url
    reader, wa_writer, tg_writer, viber_writer, tester, bystander = (SubscriberFactory() for _ in range(6))
    Subscriber.objects.update(unanswered=7)
    reader_sub = subscribe(reader, "whatsapp", "+79990007001")
    subscribe(wa_writer, "whatsapp", "+79990007002")
    subscribe(tg_writer, "telegram", "8501")
    subscribe(viber_writer, "viber", "viberFatigue01AA==")
    subscribe(bystander, "telegram", "8502")
    subscribe(tester, "telegram", "8503")
    Subscriber.objects.filter(pk=tester.pk).update(tester=True, unanswered=0)
    campaign = CampaignFactory(platforms=["whatsapp"], status=Campaign.Status.COMPLETED)
    Delivery.objects.create(campaign=campaign, subscriber=reader, subscription=reader_sub, platform="whatsapp",
                            list_number=1, status=S.DELIVERED, send_after=campaign.send_at,
                            sent_at=timezone.now(), platform_message_id="wamid.fatigue-1")
    web = Client()

    def post(url: str, body: bytes, headers: dict[str, str]) -> None:
        with TestCase.captureOnCommitCallbacks(execute=True):
            assert web.post(url, data=body, content_type="application/json", headers=headers).status_code == 200

    # a read receipt (WhatsApp "read")
    post("/webhooks/whatsapp/", *whatsapp_fake.signed(
        whatsapp_fake.status_payload("wamid.fatigue-1", "read", "79990007001"), "wa-secret"))
    # a message in WhatsApp, in Telegram (not a command: any message is a reply), in Viber
    post("/webhooks/whatsapp/", *whatsapp_fake.signed(whatsapp_fake.inbound_text("79990007002", "Is it in blue?"),
                                                       "wa-secret"))
    update = {"update_id": 990001, "message": {
        "message_id": 11, "date": int(time.time()), "text": "Is it in blue?",
        "chat": {"id": 8501, "type": "private", "first_name": "Tom"},
        "from": {"id": 8501, "is_bot": False, "first_name": "Tom"}}}
    with TestCase.captureOnCommitCallbacks(execute=True):
        answer = web.post("/webhooks/telegram/", data=update, content_type="application/json",
                          headers={"X-Telegram-Bot-Api-Secret-Token": "tg-secret"})
    assert answer.status_code == 200
    post("/webhooks/viber/", *viber_fake.signed(viber_fake.message_payload("viberFatigue01AA==", "Blue?"),
                                                 "viber-token"))
    # a test send of a draft to the testers
    draft = DraftFactory()
    assert admin_client_api.post(f"/api/drafts/{draft.pk}/test/", {"platforms": ["telegram"]},
                                 format="json").status_code == 201
    assert telegram.count_by_chat() == {8503: 1}

    assert unanswered(reader, wa_writer, tg_writer, viber_writer, bystander, tester) == [0, 0, 0, 0, 7, 0]
    # shown read-only in the API
    shown = admin_client_api.get(f"/api/subscribers/{bystander.pk}/").json()
    assert shown["unanswered"] == 7
    admin_client_api.patch(f"/api/subscribers/{bystander.pk}/", {"unanswered": 0}, format="json")
    assert unanswered(bystander) == [7]
    # and on the subscriber's admin page
    operator = User.objects.create_superuser("olga", "olga@example.com", "x-secret-123")
    page = Client()
    page.force_login(operator)
    shown = page.get(f"/admin/campaigns/subscriber/{bystander.pk}/change/").content.decode()
    assert "7 campaigns in a row without a read, click or reply (held out from 10)" in shown


# --- the trend of opt-outs within 48 h per campaign -----------------------------------------


@pytest.fixture
def _workers_asked_afresh():
    cache.delete(QUEUES_CACHE_KEY)
    yield
    cache.delete(QUEUES_CACHE_KEY)


def trend_table(page: str) -> list[tuple[str, str, list[float]]]:
    """(datetime attribute, label, [sent, opted out, rate]) per row of the opt-out trend's table."""
    block = re.search(r'data-chart="opt-out-trend".*?</table>', page, re.S).group(0)
    return [(iso, unescape(label), [float(v) for v in re.findall(r"<td[^>]*>([^<]*)</td>", cells)])
            for iso, label, cells in re.findall(r'<time datetime="([^"]+)">(.*?)</time></th>(.*?)</tr>', block, re.S)]


@pytest.mark.django_db
def test_the_opt_out_trend_shows_the_last_20_completed_campaigns_with_exact_figures(_workers_asked_afresh):
    # given: 22 completed campaigns an hour apart; campaign i reached 3 + i % 4 people, of whom
    # i % 3 opted out within 48 h and one more only after 72 h (not counted)
    base = timezone.now() - timedelta(days=12)
    expected = []
    for i in range(22):
        sent_at = base + timedelta(hours=i)
        campaign = CampaignFactory(name=f"Trend {i:02d}", status=Campaign.Status.COMPLETED, started_at=sent_at,
                                   finished_at=sent_at + timedelta(minutes=30))
        reached = 3 + i % 4
        for n in range(reached):
            someone = SubscriberFactory()
            subscription = subscribe(someone, "telegram", str(900000 + i * 10 + n))
            Delivery.objects.create(campaign=campaign, subscriber=someone, subscription=subscription,
                                    platform="telegram", list_number=1, status=S.SENT, send_after=sent_at,
                                    sent_at=sent_at)
            late = timedelta(hours=47) if n < i % 3 else timedelta(hours=72) if n == reached - 1 else None
            if late is not None:
                services.subscription_opt_out(subscription=subscription, consent=services.Consent(
                    source="test", text="stop", at=sent_at + late))
        expected.append((f"Trend {i:02d}", reached, i % 3))
    # one whose ledger the retention purge removed (its counts kept), and two that do not count
    archived = CampaignFactory(name="Archived", status=Campaign.Status.COMPLETED, started_at=base,
                               finished_at=base + timedelta(hours=30),
                               stats_archive={"sent": 400, "opted_out_48h": 6})
    expected.append((archived.name, 400, 6))
    CampaignFactory(name="Sent nothing", status=Campaign.Status.COMPLETED, started_at=base,
                    finished_at=base + timedelta(hours=31))
    CampaignFactory(name="Still running", status=Campaign.Status.RUNNING, started_at=base)

    user = User.objects.create_superuser("viewer", "viewer@example.com", "x-secret-123")
    UserProfile.objects.create(user=user, timezone="UTC", language="en")
    client = Client()
    client.force_login(user)
    page = client.get("/admin/").content.decode()

    # then: the last 20, oldest first, with sent, opted out and the rate in percent
    rows = trend_table(page)
    want = expected[-20:]
    assert [label.rsplit(" (", 1)[0] for _iso, label, _v in rows] == [name for name, _s, _o in want]
    assert [values for _iso, _label, values in rows] == [
        [sent, opted, round(100 * opted / sent, 2)] for _name, sent, opted in want]
    assert rows[-1][2] == [400, 6, 1.5] and rows[0][2] == [6, 0, 0.0] and rows[1][2] == [3, 1, 33.33]
    assert 'data-chart="opt-out-trend"' in page and "Opted out within 48 h" in page
