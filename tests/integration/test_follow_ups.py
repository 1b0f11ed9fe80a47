"""Follow-ups of a campaign that went out: a follow-up campaign that reaches exactly the people
who did not read (WhatsApp and Viber read receipts through our webhooks; Telegram has none),
resend to `uncertain` rows only when confirmed, resend to temporary failures only. Real worker
processes, fake platforms over real HTTP; counts taken at the fakes."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import httpx
import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import Group, User
from django.test import Client
from django.utils import timezone

from campaigns import services
from campaigns.models import Campaign, Delivery, SendList, Subscription
from campaigns.services import follow_ups
from tests.conftest import CampaignFactory, DraftFactory, SegmentFactory, SubscriberFactory, subscribe
from tests.fakes import viber as viber_fake
from tests.fakes import whatsapp as whatsapp_fake
from tests.fakes.telegram import FakeTelegram
from tests.fakes.viber import FakeViber, ViberConfig
from tests.fakes.whatsapp import FakeWhatsApp, WhatsAppConfig

from .engine import Engine, wait_until
from .test_delivery import _tags, finished, policy, statuses

pytestmark = pytest.mark.django_db(transaction=True)
S = Delivery.Status
TOKEN = "123456:TEST-token"
APP_SECRET = "whatsapp-app-secret"
VIBER_TOKEN = "viber-auth-token"


# --- fixtures and helpers -------------------------------------------------------------


@pytest.fixture
def telegram():
    with FakeTelegram() as server:
        yield server


@pytest.fixture
def engine_factory(tmp_path):
    engines: list[Engine] = []

    def make(**env: str) -> Engine:
        engine = Engine(tmp_path, env)
        engines.append(engine)
        return engine.start()

    yield make
    for engine in engines:
        engine.stop()


@pytest.fixture
def readers(live_server, settings, engine_factory):
    """Telegram, WhatsApp and Viber fakes; WhatsApp reports delivered, Viber delivered: reads
    come from the test, for some people only, through our webhooks."""
    settings.WHATSAPP_APP_SECRET = APP_SECRET
    settings.VIBER_AUTH_TOKEN = VIBER_TOKEN
    telegram = FakeTelegram().start()
    whatsapp = FakeWhatsApp(config=WhatsAppConfig(
        webhook_url=f"{live_server.url}/webhooks/whatsapp/", app_secret=APP_SECRET, statuses=("sent", "delivered"),
    )).start()
    viber = FakeViber(token=VIBER_TOKEN, config=ViberConfig(
        webhook_url=f"{live_server.url}/webhooks/viber/", events=("delivered",),
    )).start()
    engine = engine_factory(
        TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=telegram.base_url,
        WHATSAPP_ACCESS_TOKEN="wa-token", WHATSAPP_PHONE_NUMBER_ID=whatsapp_fake.PHONE_NUMBER_ID,
        WHATSAPP_API_URL=whatsapp.base_url, VIBER_AUTH_TOKEN=VIBER_TOKEN, VIBER_API_URL=viber.base_url,
    )
    try:
        yield telegram, whatsapp, viber, engine
    finally:
        for server in (telegram, whatsapp, viber):
            server.stop()


def person(platform: str, address: str, tag: str = "all") -> Subscription:
    someone = SubscriberFactory()
    someone.tags.add(*_tags(tag))
    subscription = subscribe(someone, platform, address, saved_our_number=platform == "whatsapp")
    if platform == "whatsapp":  # wrote to us an hour ago: free text inside the 24-hour window
        Subscription.objects.filter(pk=subscription.pk).update(last_inbound_at=timezone.now() - timedelta(hours=1))
    return subscription


def launch(platforms: list[str], tag: str = "all", **fields) -> Campaign:
    """A campaign due now, scheduled through the service."""
    segment = SegmentFactory(rules={"tags_all": [tag], "tags_any": [], "platforms": [], "attributes": {}})
    send_at = timezone.now() + timedelta(seconds=1)
    campaign = CampaignFactory(segment=segment, platforms=platforms, send_at=send_at,
                               draft=DraftFactory(track_links=False), **fields)
    return services.campaign_schedule(campaign=campaign, now=send_at - timedelta(seconds=5))


def post_webhook(url: str, body: bytes, headers: dict[str, str]) -> None:
    assert httpx.post(url, content=body, headers=headers, timeout=30).status_code == 200


def staff(username: str, role: str) -> User:
    user = User.objects.create_user(username, password="x-secret-123", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user


# --- a follow-up to those who did not read ---------------------------------------------


def test_a_follow_up_reaches_exactly_the_people_who_did_not_read(readers, live_server):
    telegram, whatsapp, viber, engine = readers
    policy()
    phones = [f"+7999555{i:04d}" for i in range(6)]
    viber_ids = [f"viberFollow{i:02d}AA==" for i in range(6)]
    chats = [str(8100 + i) for i in range(3)]
    for phone in phones:
        person("whatsapp", phone)
    for user in viber_ids:
        person("viber", user)
    for chat in chats:
        person("telegram", chat)
    campaign = finished(launch(["telegram", "whatsapp", "viber"]), 120, engine)
    wait_until(lambda: Delivery.objects.filter(campaign=campaign, status=S.DELIVERED).count() == 12, 60,
               "the delivered receipts of WhatsApp and Viber")

    # some read it: WhatsApp "read" statuses and Viber "seen" callbacks come to our webhooks
    read_phones, read_viber = phones[:2], viber_ids[:3]
    for phone in read_phones:
        wamid = Delivery.objects.get(campaign=campaign, subscription__address=phone).platform_message_id
        body, headers = whatsapp_fake.signed(whatsapp_fake.status_payload(wamid, "read", phone.lstrip("+")),
                                             APP_SECRET)
        post_webhook(f"{live_server.url}/webhooks/whatsapp/", body, headers)
    for user in read_viber:
        token = int(Delivery.objects.get(campaign=campaign, subscription__address=user).platform_message_id)
        body, headers = viber_fake.signed(viber_fake.seen_payload(token, user), VIBER_TOKEN)
        post_webhook(f"{live_server.url}/webhooks/viber/", body, headers)
    assert statuses(campaign) == {S.READ: 5, S.DELIVERED: 7, S.SENT: 3}

    # when: two hours later, a follow-up to those who did not read within an hour
    later = timezone.now() + timedelta(hours=2)
    draft = DraftFactory(title="Reminder", body="Last day: −30% ends tonight\nDetails inside…", track_links=False)
    made = follow_ups.campaign_follow_up(campaign=campaign, rule="not_read", hours=1, draft=draft, now=later)

    # then: a draft over exactly the non-readers on the platforms that report reads
    follow_up = made.campaign
    non_readers = {*phones[2:], *viber_ids[3:]}
    assert (follow_up.status, follow_up.follow_up_of_id, follow_up.follow_up_rule) == (
        Campaign.Status.DRAFT, campaign.pk, "not_read:1h")
    assert follow_up.platforms == campaign.platforms and follow_up.draft_id == draft.pk
    members = set(Subscription.objects.filter(subscriber__static_segments=follow_up.segment)
                  .values_list("address", flat=True))
    assert members == non_readers and made.people == 7
    assert made.no_read_receipts == 3  # Telegram reports no reads: left out, and said so
    assert "Telegram" in follow_ups.follow_up_note(made)

    # and, scheduled and run, it reaches exactly them, once more each
    send_at = timezone.now() + timedelta(seconds=1)
    Campaign.objects.filter(pk=follow_up.pk).update(send_at=send_at)
    follow_up.refresh_from_db()
    follow_up = finished(services.campaign_schedule(campaign=follow_up, now=send_at - timedelta(seconds=5)),
                         120, engine)
    reached = statuses(follow_up)  # sent, or delivered once the receipt came
    assert sum(reached.values()) == 7 and set(reached) <= {S.SENT, S.DELIVERED}
    reminders = Counter(
        [c.wa_id for c in whatsapp.sent() if c.text and c.text.startswith("Last day")]
        + [r for c in viber.calls() if c.text and c.text.startswith("Last day") for r in c.accepted]
    )
    assert reminders == {**{p.lstrip("+"): 1 for p in phones[2:]}, **{u: 1 for u in viber_ids[3:]}}
    assert whatsapp.count_by_recipient() == {**{p.lstrip("+"): 1 for p in read_phones},
                                             **{p.lstrip("+"): 2 for p in phones[2:]}}
    assert Counter(viber.delivered()) == {**{u: 1 for u in read_viber}, **{u: 2 for u in viber_ids[3:]}}
    assert telegram.count_by_chat() == {int(c): 1 for c in chats}  # nothing more on Telegram


def test_a_follow_up_by_clicks_counts_telegram_and_is_refused_before_its_hours_or_without_anyone(admin_client_api):
    # given: a completed campaign sent 3 hours ago; one person clicked, one read, one neither
    campaign = CampaignFactory(platforms=["telegram", "whatsapp"], status=Campaign.Status.COMPLETED)
    sent_at = timezone.now() - timedelta(hours=3)
    clicker, reader, silent = SubscriberFactory(), SubscriberFactory(), SubscriberFactory()
    for someone, platform, status, extra in ((clicker, "telegram", S.SENT, {"clicked_at": sent_at}),
                                             (reader, "whatsapp", S.READ, {"read_at": sent_at}),
                                             (silent, "telegram", S.SENT, {})):
        Delivery.objects.create(campaign=campaign, subscriber=someone, subscription=subscribe(someone, platform),
                                platform=platform, list_number=1, status=status, send_after=sent_at,
                                sent_at=sent_at, **extra)
    url = f"/api/campaigns/{campaign.pk}/follow-up/"

    # 4 hours have not passed for anyone: 400 naming hours, nothing made
    early = admin_client_api.post(url, {"rule": "not_clicked", "hours": 4}, format="json")
    assert early.status_code == 400 and list(early.json()) == ["hours"]
    # "did not read": the reader read it, and Telegram reports no reads: nobody qualifies
    nobody = admin_client_api.post(url, {"rule": "not_read", "hours": 2}, format="json")
    assert nobody.status_code == 400 and list(nobody.json()) == ["rule"] and "Telegram" in nobody.json()["rule"][0]
    # bad input: 400 naming each field
    bad = admin_client_api.post(url, {"rule": "unread", "hours": 0, "draft": 999999}, format="json")
    assert bad.status_code == 400 and set(bad.json()) == {"rule", "hours", "draft"}
    assert Campaign.objects.count() == 1

    # when: a follow-up to those who did not click within 2 hours
    made = admin_client_api.post(url, {"rule": "not_clicked", "hours": 2}, format="json")

    # then: the reader and the silent one, whatever their platform
    assert made.status_code == 201, made.json()
    body = made.json()
    follow_up = Campaign.objects.get(pk=body["campaign"])
    assert set(follow_up.segment.members.values_list("pk", flat=True)) == {reader.pk, silent.pk}
    assert (body["people"], body["no_read_receipts"], body["rule"]) == (2, 0, "not_clicked:2h")
    assert follow_up.segment.name == f"{campaign.name} — did not click within 2 h"
    shown = admin_client_api.get(f"/api/campaigns/{follow_up.pk}/").json()
    assert (shown["status"], shown["follow_up_of"], shown["follow_up_rule"]) == ("draft", campaign.pk, "not_clicked:2h")


# --- resend to the uncertain -------------------------------------------------------------


def test_resend_to_uncertain_is_refused_without_confirmation_and_confirmed_sends_exactly_those_once_more(
        telegram, engine_factory, admin_client_api):
    # given: every 4th message is taken by Telegram but its answer lost: those rows are uncertain
    policy()
    chats = [8200 + i for i in range(12)]
    for chat in chats:
        person("telegram", str(chat))
    telegram.configure(lose_every=4, lost_answer="502")
    engine = engine_factory(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=telegram.base_url)
    campaign = finished(launch(["telegram"]), 120, engine)
    uncertain = {int(a) for a in Delivery.objects.filter(campaign=campaign, status=S.UNCERTAIN)
                 .values_list("subscription__address", flat=True)}
    assert len(uncertain) == 3 and telegram.count_by_chat() == {c: 1 for c in chats}
    telegram.configure(lose_every=None)
    url = f"/api/campaigns/{campaign.pk}/resend/"

    # when: asked without confirming
    refused = admin_client_api.post(url, {"which": "uncertain"}, format="json")

    # then: 400 naming confirm, with how many; nothing changes and nothing is sent
    assert refused.status_code == 400 and list(refused.json()) == ["confirm"]
    assert "3 people" in refused.json()["confirm"][0] and "twice" in refused.json()["confirm"][0]
    assert statuses(campaign) == {S.SENT: 9, S.UNCERTAIN: 3}
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.COMPLETED
    assert telegram.count_by_chat() == {c: 1 for c in chats}

    # when: confirmed
    done = admin_client_api.post(url, {"which": "uncertain", "confirm": True}, format="json")

    # then: exactly the uncertain get it once more; the campaign completes again
    assert done.status_code == 200 and done.json() == {"campaign": campaign.pk, "which": "uncertain", "resent": 3,
                                                       "status": "running"}
    finished(campaign, 120, engine)
    assert telegram.count_by_chat() == {c: 2 if c in uncertain else 1 for c in chats}
    assert statuses(campaign) == {S.SENT: 12}
    again = admin_client_api.post(url, {"which": "uncertain", "confirm": True}, format="json")
    assert again.status_code == 400 and list(again.json()) == ["which"]  # nothing left to resend
    entry = LogEntry.objects.get_for_object(campaign).get(additional_data__verb="resent")
    assert (entry.actor.username, entry.additional_data["rows"]) == ("marketer", 3)


def test_the_admin_page_says_how_many_and_asks_to_confirm_before_resending_the_uncertain():
    # given: a completed campaign with 2 uncertain rows out of 3
    campaign = CampaignFactory(status=Campaign.Status.COMPLETED, started_at=timezone.now(),
                               finished_at=timezone.now())
    send_list = SendList.objects.create(campaign=campaign, platform="telegram", number=1, size=3,
                                        state=SendList.State.DONE)
    rows = []
    for status in (S.UNCERTAIN, S.UNCERTAIN, S.SENT):
        someone = SubscriberFactory()
        rows.append(Delivery.objects.create(
            campaign=campaign, subscriber=someone, subscription=subscribe(someone), platform="telegram",
            send_list=send_list, list_number=1, status=status, send_after=campaign.send_at,
            sent_at=timezone.now(), reason="the worker stopped during the platform call; not resent"))
    client = Client()
    client.force_login(staff("mia", "Marketer"))
    url = f"/admin/campaigns/campaign/{campaign.pk}/follow-up/"

    page = client.get(url)
    assert page.status_code == 200
    text = page.content.decode()
    assert "2 people&#x27;s messages are uncertain" in text or "2 people's messages are uncertain" in text
    assert "some of them may get it twice" in text
    campaign_page = client.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()
    assert url in campaign_page  # the button and the section lead there

    # without the box ticked: the page again with the error, nothing changed
    unconfirmed = client.post(url, {"do": "uncertain"})
    assert unconfirmed.status_code == 200 and "Tick the box to confirm" in unconfirmed.content.decode()
    assert sorted(Delivery.objects.filter(campaign=campaign).values_list("status", flat=True)) == [
        S.SENT, S.UNCERTAIN, S.UNCERTAIN]

    # confirmed: the two rows wait in line again, due now, and the campaign runs
    confirmed = client.post(url, {"do": "uncertain", "confirm": "on"})
    assert confirmed.status_code == 302
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.RUNNING
    resent = Delivery.objects.filter(campaign=campaign, status=S.PLANNED)
    assert set(resent.values_list("pk", flat=True)) == {rows[0].pk, rows[1].pk}
    assert set(resent.values_list("reason", "attempts", "sent_at")) == {("resent at mia's request", 0, None)}
    assert SendList.objects.get(pk=send_list.pk).state == SendList.State.WAITING


# --- resend to temporary failures ------------------------------------------------------------


def test_resend_to_failed_takes_only_temporary_failures_never_permanent_ones_or_people_gone(
        telegram, engine_factory, admin_client_api):
    # given: a completed campaign's ledger as the sender leaves it: 2 rows gave up after their
    # retries (Telegram not reached), one failed for good, one person blocked the bot, 2 sent
    campaign = launch(["telegram"], tag="failing")
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.COMPLETED, started_at=timezone.now(),
                                                   planned_at=timezone.now(), finished_at=timezone.now())
    send_list = SendList.objects.create(campaign=campaign, platform="telegram", number=1, size=6,
                                        state=SendList.State.DONE)
    ledger = {
        8301: (S.FAILED, "gave up after 5 attempts: Telegram not reached: connection refused"),
        8302: (S.FAILED, "gave up after 5 attempts: Telegram not reached: connection refused"),
        8303: (S.FAILED, "Bad Request: message is too long"),
        8304: (S.FAILED, "Forbidden: bot was blocked by the user"),
        8305: (S.SENT, ""),
        8306: (S.SENT, ""),
    }
    for chat, (status, reason) in ledger.items():
        subscription = person("telegram", str(chat), tag="failing")
        Delivery.objects.create(campaign=campaign, subscriber_id=subscription.subscriber_id,
                                subscription=subscription, platform="telegram", send_list=send_list, list_number=1,
                                status=status, reason=reason, attempts=5 if reason.startswith("gave") else 0,
                                send_after=campaign.send_at,
                                sent_at=timezone.now() - timedelta(hours=1) if status == S.SENT else None)
    services.subscription_opt_out(subscription=Subscription.objects.get(address="8304"), status="blocked",
                                  consent=services.Consent(source="telegram:delivery", text="blocked the bot"))
    policy()
    engine = engine_factory(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=telegram.base_url)

    # when
    answer = admin_client_api.post(f"/api/campaigns/{campaign.pk}/resend/", {"which": "failed"}, format="json")

    # then: the two temporary failures are sent; nothing to the others
    assert answer.status_code == 200 and answer.json()["resent"] == 2
    finished(campaign, 120, engine)
    assert telegram.count_by_chat() == {8301: 1, 8302: 1}
    assert statuses(campaign) == {S.SENT: 4, S.FAILED: 2}
    assert set(Delivery.objects.filter(campaign=campaign, status=S.FAILED)
               .values_list("subscription__address", flat=True)) == {"8303", "8304"}
    nothing = admin_client_api.post(f"/api/campaigns/{campaign.pk}/resend/", {"which": "failed"}, format="json")
    assert nothing.status_code == 400 and list(nothing.json()) == ["which"]
